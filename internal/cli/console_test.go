package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// riskmapBinary builds cmd/riskmap once per test run into a world-readable
// temporary directory (removed by TestMain).
func riskmapBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "riskmap-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		_ = os.Chmod(dir, 0o755)
		binPath = filepath.Join(dir, "riskmap")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/riskmap")
		cmd.Dir = testenv.ModuleRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// proc is a running `riskmap console`.
type proc struct {
	cmd         *exec.Cmd
	addr        string
	url         string
	fingerprint string
	banner      string
	stderr      *bytes.Buffer
	exited      chan error
}

// startConsole runs the binary and waits for its banner (URL, address,
// fingerprint) on stdout.
func startConsole(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, stderr: &bytes.Buffer{}, exited: make(chan error, 1)}
	cmd.Stderr = &lockedWriter{w: p.stderr}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	deadline := time.After(60 * time.Second)
	var banner strings.Builder
	for p.fingerprint == "" || p.addr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("console exited before its banner:\n%s\nstderr:\n%s", banner.String(), p.stderr)
			}
			banner.WriteString(l + "\n")
			f := strings.Fields(l)
			switch {
			case strings.HasPrefix(strings.TrimSpace(l), "URL:"):
				p.url = f[len(f)-1]
			case strings.HasPrefix(strings.TrimSpace(l), "listening on:"):
				p.addr = f[len(f)-1]
			case strings.Contains(l, "fingerprint:"):
				p.fingerprint = f[len(f)-1]
			}
		case <-deadline:
			t.Fatalf("no banner after 60s:\n%s\nstderr:\n%s", banner.String(), p.stderr)
		}
	}
	go func() {
		for range lines {
		}
	}()
	p.banner = banner.String()
	return p
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// pinnedClient trusts exactly the certificate with the printed SHA-256
// fingerprint, the way a sensor pins a self-signed console.
func pinnedClient(fingerprint string) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || console.Fingerprint(cs.PeerCertificates[0].Raw) != fingerprint {
				return errors.New("certificate does not match the pinned fingerprint")
			}
			return nil
		},
	}}}
}

func call(c *http.Client, method, url string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, ck := range c.Jar.Cookies(req.URL) {
		if ck.Name == console.CSRFCookie {
			req.Header.Set(console.CSRFHeader, ck.Value)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", b, err)
		}
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return resp.StatusCode, nil
}

func consoleCmd(bin, dataDir string, extra ...string) *exec.Cmd {
	args := append([]string{"console", "--listen", "127.0.0.1:0", "--data-dir", dataDir,
		"--argon2-memory", "64", "--argon2-iterations", "1", "--log-format", "json"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "RISKMAP_CONFIG=")
	return cmd
}

// TestCrashSafety SIGKILLs the console while it acknowledges writes, then
// checks the database opens cleanly and holds every acknowledged write.
func TestCrashSafety(t *testing.T) {
	bin := riskmapBinary(t)
	dataDir := t.TempDir()
	p := startConsole(t, consoleCmd(bin, dataDir))
	base := "https://" + p.addr
	c := pinnedClient(p.fingerprint)
	if _, err := call(c, "POST", base+"/api/v1/auth/register", map[string]string{
		"email": "admin@example.com", "password": "crash test password", "name": "A", "organisation": "Crash"}, nil); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var inv console.CreatedInvitation
				_, err := call(c, "POST", base+"/api/v1/invitations", map[string]string{"email": fmt.Sprintf("w%d-%d@example.com", w, i), "role": "read-only"}, &inv)
				if err != nil {
					return // the server died: this write was not acknowledged
				}
				mu.Lock()
				acked = append(acked, inv.ID)
				mu.Unlock()
			}
		}()
	}
	// Kill once a good number of writes were acknowledged, mid-stream.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 200 || time.Now().After(deadline) {
			break
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-p.exited
	close(stop)
	wg.Wait()
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("console did not die by SIGKILL: %v", err)
	}
	mu.Lock()
	want := append([]string(nil), acked...)
	mu.Unlock()
	t.Logf("%d invitations acknowledged before SIGKILL", len(want))
	if len(want) < 50 {
		t.Fatalf("only %d writes acknowledged before the kill; the test needs more", len(want))
	}

	// The file opens cleanly and passes SQLite's integrity check.
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: dataDir})
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	if err := st.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	st.Close()

	// The restarted console serves every acknowledged write.
	p2 := startConsole(t, consoleCmd(bin, dataDir))
	if p2.fingerprint != p.fingerprint {
		t.Errorf("certificate changed across restart: %s then %s", p.fingerprint, p2.fingerprint)
	}
	base = "https://" + p2.addr
	c = pinnedClient(p2.fingerprint)
	if _, err := call(c, "POST", base+"/api/v1/auth/login", map[string]string{"email": "admin@example.com", "password": "crash test password"}, nil); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	cursor := ""
	for {
		var page console.List[console.Invitation]
		if _, err := call(c, "GET", base+"/api/v1/invitations?limit=500&cursor="+cursor, nil, &page); err != nil {
			t.Fatal(err)
		}
		for _, inv := range page.Items {
			have[inv.ID] = true
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	missing := 0
	for _, id := range want {
		if !have[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged invitations lost after SIGKILL", missing, len(want))
	}
	t.Logf("after restart: %d invitations stored, all %d acknowledged ones present", len(have), len(want))
}

// TestGracefulShutdown: SIGTERM drains and exits 0.
func TestGracefulShutdown(t *testing.T) {
	bin := riskmapBinary(t)
	p := startConsole(t, consoleCmd(bin, t.TempDir()))
	c := pinnedClient(p.fingerprint)
	if _, err := call(c, "GET", "https://"+p.addr+"/readyz", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("console did not stop within 30s of SIGTERM")
	}
	if !strings.Contains(p.stderr.String(), "console stopped") {
		t.Errorf("no shutdown log:\n%s", p.stderr)
	}
}

// TestConsoleStartsWithNoConfiguration runs `riskmap console` with no flags,
// no RISKMAP_* variables and no config file, as an ordinary user with an
// empty home directory, and measures how long it takes to print its URL
// and certificate fingerprint. The time is reported, not asserted (beyond a
// generous bound): the 2 s target is for a fresh machine.
func TestConsoleStartsWithNoConfiguration(t *testing.T) {
	bin := riskmapBinary(t)
	home := t.TempDir()
	_ = os.Chmod(filepath.Dir(home), 0o755)
	_ = os.Chmod(home, 0o777)
	var args []string
	if ln, err := net.Listen("tcp", ":8443"); err == nil {
		ln.Close()
	} else {
		// Another program holds the default port on this machine.
		t.Logf("port 8443 is busy (%v); using --listen 127.0.0.1:0 instead", err)
		args = []string{"--listen", "127.0.0.1:0"}
	}
	cmd := exec.Command(bin, append([]string{"console"}, args...)...)
	cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin"}
	cmd.Dir = home
	if os.Geteuid() == 0 {
		// As root the default data directory is /var/lib/riskmap; run as
		// nobody so the test uses the per-user default in the empty home.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	begin := time.Now()
	p := startConsole(t, cmd)
	elapsed := time.Since(begin)
	t.Logf("riskmap console with no configuration printed its URL and fingerprint after %s:\n%s", elapsed.Round(time.Millisecond), p.banner)
	if elapsed > 30*time.Second {
		t.Errorf("start took %s", elapsed)
	}
	if !strings.HasPrefix(p.url, "https://") {
		t.Errorf("URL %q", p.url)
	}
	if _, err := os.Stat(filepath.Join(home, ".local", "share", "riskmap", "riskmap.db")); err != nil {
		t.Errorf("default data directory not used: %v", err)
	}
	_, port, _ := net.SplitHostPort(p.addr)
	c := pinnedClient(p.fingerprint)
	if _, err := call(c, "GET", "https://127.0.0.1:"+port+"/healthz", nil, nil); err != nil {
		t.Fatalf("pinned request to the printed fingerprint: %v", err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.exited
}

// TestResetPasswordCommand runs `riskmap console reset-password EMAIL` on
// the console host while the console runs, and uses the printed link.
func TestResetPasswordCommand(t *testing.T) {
	bin := riskmapBinary(t)
	dataDir := t.TempDir()
	p := startConsole(t, consoleCmd(bin, dataDir))
	base := "https://" + p.addr
	c := pinnedClient(p.fingerprint)
	if _, err := call(c, "POST", base+"/api/v1/auth/register", map[string]string{
		"email": "admin@example.com", "password": "forgotten password", "name": "A", "organisation": "O"}, nil); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "console", "reset-password", "--data-dir", dataDir, "--public-url", "https://console.example:8443", "Admin@Example.com").CombinedOutput()
	if err != nil {
		t.Fatalf("reset-password: %v\n%s", err, out)
	}
	link := strings.TrimSpace(string(out[bytes.LastIndexByte(bytes.TrimSpace(out), '\n')+1:]))
	token, ok := strings.CutPrefix(link, "https://console.example:8443/reset-password#token=")
	if !ok {
		t.Fatalf("reset-password printed %q", out)
	}
	if _, err := call(c, "POST", base+"/api/v1/auth/password-reset", map[string]string{"token": token, "newPassword": "remembered password"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := call(pinnedClient(p.fingerprint), "POST", base+"/api/v1/auth/login", map[string]string{"email": "admin@example.com", "password": "remembered password"}, nil); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(bin, "console", "reset-password", "--data-dir", dataDir, "nobody@example.com").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "nobody@example.com") {
		t.Errorf("reset-password for an unknown email: %v\n%s", err, out)
	}
}

// enrolSensor has the signed-in admin (session in c) create a single-use
// enrolment token and enrols a sensor with it: the sensor's key and the id
// the console assigned.
func enrolSensor(t *testing.T, c *http.Client, base, hostname string) (key, sensorID string) {
	t.Helper()
	var tok struct{ Token string }
	if code, err := call(c, "POST", base+"/api/v1/enrolment-tokens", map[string]any{"name": "test " + hostname, "maxSensors": 1}, &tok); err != nil || code != http.StatusCreated {
		t.Fatalf("enrolment token: %d %v", code, err)
	}
	var en struct{ SensorID, Key string }
	if code, err := call(c, "POST", base+"/api/v1/sensor/enrol", map[string]any{"token": tok.Token, "hostname": hostname}, &en); err != nil || code != http.StatusCreated {
		t.Fatalf("enrol %s: %d %v", hostname, code, err)
	}
	return en.Key, en.SensorID
}
