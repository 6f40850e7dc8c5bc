package deploytest_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
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
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/testenv"
)

// TestComposeStarts starts deploy/docker-compose.yml as a user would,
// with images built locally (no registry): PostgreSQL and the console
// first; the console's fingerprint read from its log; the first account
// registered and an enrolment token made through the API; then the
// sensor profile with that token and pin. The sensor's report must reach
// the console (the host appears in the topology) and the UI must answer.
func TestComposeStarts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds images and runs containers")
	}
	compose := testenv.Compose(t)
	imgs := buildImages(t)
	root := testenv.ModuleRoot(t)
	file := filepath.Join(root, "deploy", "docker-compose.yml")
	t.Run("Images", func(t *testing.T) { checkImages(t, imgs) })

	ports := freePorts(t, 2)
	listen := "127.0.0.1:" + strconv.Itoa(ports[0])
	base := "https://" + listen
	project := "riskmaptest" + randomHex(t, 4)
	env := []string{
		"RISKMAP_CONSOLE_IMAGE=" + imgs.console, "RISKMAP_SENSOR_IMAGE=" + imgs.sensor, "RISKMAP_POSTGRES_IMAGE=" + imgs.postgres,
		"RISKMAP_POSTGRES_PASSWORD=" + randomHex(t, 16), "RISKMAP_POSTGRES_PORT=" + strconv.Itoa(ports[1]),
		"RISKMAP_LISTEN=" + listen, "RISKMAP_PUBLIC_URL=" + base, "RISKMAP_SENSOR_CONSOLE_URL=" + base,
		// No feed downloads: the test's traffic stays on loopback.
		"RISKMAP_FEED_INTERVAL=0",
	}
	dc := func(args ...string) string {
		t.Helper()
		all := append(append(compose[1:], "-p", project, "-f", file), args...)
		return run(t, root, env, compose[0], all...)
	}
	t.Cleanup(func() {
		args := append(append(compose[1:], "-p", project, "-f", file, "--profile", "sensor"), "logs", "--no-color", "--tail", "60")
		if t.Failed() {
			cmd := exec.Command(compose[0], args...)
			cmd.Env = append(os.Environ(), env...)
			out, _ := cmd.CombinedOutput()
			t.Logf("compose logs:\n%s", tail(out, 12000))
		}
		down := append(append(compose[1:], "-p", project, "-f", file, "--profile", "sensor"), "down", "-v", "--timeout", "10")
		cmd := exec.Command(compose[0], down...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
	})

	start := time.Now()
	dc("up", "-d", "--no-build")
	// The console prints its certificate's fingerprint at start-up; the
	// user reads it from the log (docs/deploy.md) and so does the test.
	fpRe := regexp.MustCompile(`fingerprint: ([0-9A-F:]{95})`)
	var fingerprint string
	waitFor(t, 3*time.Minute, "the console's fingerprint in its log", func() bool {
		if m := fpRe.FindStringSubmatch(dc("logs", "--no-color", "console")); m != nil {
			fingerprint = m[1]
		}
		return fingerprint != ""
	})
	c := pinnedClient(t, fingerprint)
	waitFor(t, 2*time.Minute, "/readyz", func() bool {
		resp, err := c.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	t.Logf("console ready on PostgreSQL %s after compose up", time.Since(start).Round(time.Second))

	// The UI answers: the app's HTML (the binary embeds the built app).
	resp, err := c.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte(`<div id="root"`)) || !bytes.Contains(page, []byte("<title>Riskmap</title>")) {
		t.Fatalf("GET / = %d, want the web app's HTML:\n%.600s", resp.StatusCode, page)
	}

	// The first account, then an enrolment token for the sensor.
	if code, err := call(c, http.MethodPost, base+"/api/v1/auth/register", map[string]string{
		"email": "admin@example.com", "password": "correct horse battery staple", "name": "Admin", "organisation": "Example",
	}, nil); err != nil || code != http.StatusCreated {
		t.Fatalf("register: %d %v", code, err)
	}
	var tok struct{ Token string }
	if code, err := call(c, http.MethodPost, base+"/api/v1/enrolment-tokens", map[string]any{"name": "compose sensor", "maxSensors": 1}, &tok); err != nil || tok.Token == "" {
		t.Fatalf("enrolment token: %d %v", code, err)
	}
	env = append(env, "RISKMAP_ENROLMENT_TOKEN="+tok.Token, "RISKMAP_CONSOLE_CA_SHA256="+fingerprint)
	dc("--profile", "sensor", "up", "-d", "--no-build", "sensor")

	// The sensor enrols and reports: this host appears in the topology.
	hostname, _ := os.Hostname()
	var hosts []string
	waitFor(t, 3*time.Minute, "the sensor's host in the topology", func() bool {
		var page struct {
			Items []struct{ Kind, Label, SensorID string }
		}
		if _, err := call(c, http.MethodGet, base+"/api/v1/topology/nodes?kind=host", nil, &page); err != nil {
			t.Logf("topology nodes: %v", err)
			return false
		}
		hosts = hosts[:0]
		for _, n := range page.Items {
			hosts = append(hosts, n.Label)
		}
		return len(page.Items) > 0
	})
	var sensors struct {
		Items []struct{ ID, Hostname, Version string }
	}
	if _, err := call(c, http.MethodGet, base+"/api/v1/sensors", nil, &sensors); err != nil {
		t.Fatal(err)
	}
	if len(sensors.Items) != 1 || sensors.Items[0].Version != "deploy-test" {
		t.Errorf("sensors = %+v, want the compose sensor (version deploy-test)", sensors.Items)
	}
	t.Logf("sensor reported host %v (this machine: %s) %s after compose up", hosts, hostname, time.Since(start).Round(time.Second))

	// The console container runs as the image's non-root user.
	out := dc("ps", "-q", "console")
	id := strings.TrimSpace(out)
	if user := strings.TrimSpace(run(t, root, nil, "docker", "inspect", "-f", "{{.Config.User}}", id)); user != "65532:65532" {
		t.Errorf("console container user %q, want 65532:65532", user)
	}
}

// checkImages checks the console image (non-root, no shell, the binary
// answers) and the sensor image (the scan engines and their data).
func checkImages(t *testing.T, imgs images) {
	root := testenv.ModuleRoot(t)
	if user := strings.TrimSpace(run(t, root, nil, "docker", "image", "inspect", "-f", "{{.Config.User}}", imgs.console)); user != "65532:65532" {
		t.Errorf("console image user %q, want 65532:65532", user)
	}
	if out := run(t, root, nil, "docker", "run", "--rm", "--network", "none", imgs.console, "--version"); !strings.Contains(out, "deploy-test") {
		t.Errorf("riskmap --version in the console image: %q", out)
	}
	for _, sh := range []string{"/bin/sh", "/bin/bash", "/usr/bin/apt-get"} {
		if out, err := exec.Command("docker", "run", "--rm", "--network", "none", "--entrypoint", sh, imgs.console, "-c", "true").CombinedOutput(); err == nil {
			t.Errorf("the console image has %s (%s); it should hold the static binary only", sh, out)
		}
	}
	// The sensor image carries the scan engines.
	for _, prog := range [][]string{{"oscap", "--version"}, {"yara", "--version"}, {"kube-bench", "version"}, {"riskmap", "--version"}} {
		args := append([]string{"run", "--rm", "--network", "none", "--entrypoint", prog[0], imgs.sensor}, prog[1:]...)
		run(t, root, nil, "docker", args...)
	}
	out := run(t, root, nil, "docker", "run", "--rm", "--network", "none", "--entrypoint", "sh", imgs.sensor, "-c",
		"ls /usr/share/xml/scap/ssg/content/*-ds.xml | wc -l")
	if n, _ := strconv.Atoi(strings.TrimSpace(out)); n == 0 {
		t.Errorf("no SCAP data streams in the sensor image")
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(time.Second)
	}
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// pinnedClient trusts only the certificate with the given SHA-256
// fingerprint (colon-separated hex, as the console prints it), as the
// sensor does.
func pinnedClient(t *testing.T, fingerprint string) *http.Client {
	t.Helper()
	want := strings.ToLower(strings.ReplaceAll(fingerprint, ":", ""))
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if hex.EncodeToString(sum[:]) != want {
				return errors.New("certificate does not match the pinned fingerprint")
			}
			return nil
		},
	}}}
}

// call sends a JSON request with the session's CSRF header and decodes a
// 2xx answer into out.
func call(c *http.Client, method, url string, body, out any) (int, error) {
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
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %.300s", method, url, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %.300s: %w", b, err)
		}
	}
	return resp.StatusCode, nil
}
