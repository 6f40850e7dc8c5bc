package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/web"
)

var update = flag.Bool("update", false, "copy the main screenshots to docs/screenshots/ for the README")

// readme lists the screenshots -update copies to docs/screenshots/.
var readme = []string{
	"01-register", "02-overview", "04-invitations", "05-accept-invitation",
	"07-users", "08-users-last-admin", "09-audit", "10-api-key",
	"11-scans-read-only", "12-scans-schedules", "13-sensors", "14-feeds-diagnosis",
}

// TestConsoleInBrowser registers the first admin, signs out and in (with the
// keyboard only), invites a read-only user who accepts in a fresh browser,
// revokes another invitation, checks the read-only user is kept out of the
// admin pages and the admin API, disables and enables that user, sends them
// a password reset link, refuses a used invitation, refuses to demote the
// last admin, resets API keys and changes a password; the browser must log
// no console error on the way (console.mjs lists the steps).
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser end-to-end test; not in -short")
	}
	root := testenv.ModuleRoot(t)
	chromium := lookPath(t, "RISKMAP_E2E_CHROMIUM", "chromium", "Chromium", "apt-get install chromium")
	node := lookPath(t, "RISKMAP_E2E_NODE", "node", "Node.js", "apt-get install nodejs")
	for _, need := range []struct{ file, what string }{
		{"web/node_modules/playwright-core/package.json", "playwright-core"},
		{"web/dist/app/index.html", "the built web app"},
	} {
		if _, err := os.Stat(filepath.Join(root, need.file)); err != nil {
			testenv.Missing(t, need.what, "run `make web` (npm ci && npm run build in web/)")
		}
	}

	bin := riskmapBinary(t, root)
	if !hasCommand(t, bin, "console") {
		t.Skip("this build of riskmap has no `console` command yet (issue 2)")
	}

	work := t.TempDir()
	certFile, keyFile, pool, spki := testCertificate(t, work)
	addr := freeLoopbackAddr(t)
	base := "https://" + addr
	startConsole(t, bin, work, addr, certFile, keyFile)
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	waitReady(t, client, base)
	checkServesApp(t, client, base)

	// A real registry (CNCF distribution, token authentication, its own
	// certificate) the browser adds as an account and syncs.
	reg := registryWithImages(t)

	artifacts := artifactDir(t)
	receiver := startWebhookReceiver(t)
	mailbox := testenv.StartMailbox(t)
	admin := account{Email: "ada@example.com", Password: "correct horse battery staple 1"}
	reader := account{Email: "rita@example.com", Password: "correct horse battery staple 2"}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(root, "web", "e2e", "console.mjs"))
	cmd.Dir = filepath.Join(root, "web")
	cmd.Env = append(os.Environ(),
		"RISKMAP_URL="+base,
		"RISKMAP_E2E_ARTIFACTS="+artifacts,
		"RISKMAP_E2E_PROFILES="+filepath.Join(work, "profiles"),
		"RISKMAP_E2E_CHROMIUM="+chromium,
		"RISKMAP_E2E_SPKI="+spki,
		"RISKMAP_E2E_PIN="+certPin(t, certFile),
		"RISKMAP_E2E_ADMIN_EMAIL="+admin.Email,
		"RISKMAP_E2E_ADMIN_PASSWORD="+admin.Password,
		"RISKMAP_E2E_READER_EMAIL="+reader.Email,
		"RISKMAP_E2E_READER_PASSWORD="+reader.Password,
		"RISKMAP_E2E_REGISTRY_URL="+reg.URL,
		"RISKMAP_E2E_REGISTRY_USERNAME="+reg.Username,
		"RISKMAP_E2E_REGISTRY_PASSWORD="+reg.Password,
		"RISKMAP_E2E_REGISTRY_CA="+string(reg.CAPEM),
		"RISKMAP_E2E_FEEDS="+testenv.SharedFeeds(t),
	)
	cmd.Env = append(cmd.Env, receiver.env()...)
	cmd.Env = append(cmd.Env, mailboxEnv(mailbox)...)
	out, err := cmd.CombinedOutput()
	t.Logf("browser run:\n%s", out)
	t.Logf("screenshots: %s", artifacts)
	if err != nil {
		t.Fatalf("browser run failed: %v", err)
	}

	checkReport(t, mailbox)
	var res struct {
		InviteURL      string `json:"inviteURL"`
		ReaderKey      string `json:"readerKey"`
		AdminOldKey    string `json:"adminOldKey"`
		AdminKey       string `json:"adminKey"`
		AdminPassword  string `json:"adminPassword"`
		ReaderPassword string `json:"readerPassword"`
	}
	data, err := os.ReadFile(filepath.Join(artifacts, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	receiver.check(t)
	api := apiClient{t: t, c: client, base: base}
	checkAPI(t, api, res.AdminKey, res.AdminOldKey, res.ReaderKey, admin, reader)
	checkRegistry(t, api, res.AdminKey, res.ReaderKey, reg)
	// The passwords changed in the browser (own change, reset link) are the ones that work now.
	for _, l := range []struct {
		email, password string
		want            int
	}{
		{admin.Email, res.AdminPassword, 200},
		{admin.Email, admin.Password, 401},
		{reader.Email, res.ReaderPassword, 200},
		{reader.Email, reader.Password, 401},
	} {
		body := map[string]string{"email": l.email, "password": l.password}
		if status := api.do("POST", "/api/v1/auth/login", "", body, nil); status != l.want {
			t.Errorf("login %s with the password %q: %d, want %d", l.email, l.password, status, l.want)
		}
	}

	if *update && !t.Failed() {
		copyScreenshots(t, root, artifacts, readme)
	}
}

type account struct{ Email, Password string }

// checkServesApp checks the console serves the embedded app with its
// security headers for client routes, and keeps /api paths to the API.
func checkServesApp(t *testing.T, c *http.Client, base string) {
	t.Helper()
	resp, err := c.Get(base + "/settings/users")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `<div id="root">`) {
		t.Fatalf("GET /settings/users: %d %.300q, want the app's index.html", resp.StatusCode, body)
	}
	for k, want := range map[string]string{
		"Content-Security-Policy": web.ContentSecurityPolicy,
		"Cache-Control":           "no-cache",
		"Referrer-Policy":         "no-referrer",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("GET /settings/users: %s = %q, want %q", k, got, want)
		}
	}
	resp, err = c.Get(base + "/api/v1/no-such-route")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		t.Errorf("GET /api/v1/no-such-route: %d %s, want a 404 problem", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// checkAPI checks on the API what the browser run did: each key belongs to
// its user with their role, the admin's first key died when it was reset,
// the read-only user is refused every admin route, and no user listing
// shows a secret.
func checkAPI(t *testing.T, api apiClient, adminKey, adminOldKey, readerKey string, admin, reader account) {
	t.Helper()
	for _, k := range []struct {
		name, key, email, role string
	}{
		{"admin", adminKey, admin.Email, "admin"},
		{"reader", readerKey, reader.Email, "read-only"},
	} {
		var me struct{ Email, Role string }
		if status := api.do("GET", "/api/v1/me", k.key, nil, &me); status != 200 {
			t.Errorf("%s key: GET /me = %d, want 200", k.name, status)
		} else if me.Email != k.email || me.Role != k.role {
			t.Errorf("%s key: /me = %s %s, want %s %s", k.name, me.Email, me.Role, k.email, k.role)
		}
	}
	if status := api.do("GET", "/api/v1/me", adminOldKey, nil, nil); status != 401 {
		t.Errorf("admin's key before the reset: GET /me = %d, want 401", status)
	}

	var users struct {
		Items []map[string]any `json:"items"`
	}
	if status := api.do("GET", "/api/v1/users", adminKey, nil, &users); status != 200 {
		t.Fatalf("admin: GET /users = %d", status)
	}
	var readerID string
	for _, u := range users.Items {
		if u["email"] == reader.Email {
			readerID, _ = u["id"].(string)
		}
		for field := range u {
			f := strings.ToLower(field)
			for _, secret := range []string{"key", "hash", "password", "secret", "token"} {
				if strings.Contains(f, secret) {
					t.Errorf("GET /users shows field %q of %v", field, u["email"])
				}
			}
		}
	}
	if readerID == "" {
		t.Fatalf("GET /users does not list %s: %v", reader.Email, users.Items)
	}

	refused := []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/users", nil},
		{"GET", "/api/v1/invitations", nil},
		{"GET", "/api/v1/audit", nil},
		{"POST", "/api/v1/invitations", map[string]string{"email": "mallory@example.com", "role": "admin"}},
		{"PATCH", "/api/v1/users/" + readerID, map[string]string{"role": "admin"}},
		{"POST", "/api/v1/users/" + readerID + "/password-reset", nil},
		{"POST", "/api/v1/scans", map[string]any{"filter": map[string]string{"kind": "host"}}},
		{"POST", "/api/v1/scan-schedules", map[string]any{"name": "x", "cron": "@daily", "filter": map[string]string{"kind": "host"}}},
	}
	for _, r := range refused {
		if status := api.do(r.method, r.path, readerKey, r.body, nil); status != 403 {
			t.Errorf("read-only key: %s %s = %d, want 403", r.method, r.path, status)
		}
	}
	var me struct{ Role string }
	if api.do("GET", "/api/v1/me", readerKey, nil, &me); me.Role != "read-only" {
		t.Errorf("after the refused self-promotion the reader's role is %q", me.Role)
	}
}

// registryWithImages starts a registry with team/web:1.0, team/web:2.0
// and a two-platform index base/multi:v1.
func registryWithImages(t *testing.T) *testenv.RegistryServer {
	t.Helper()
	reg := testenv.Registry(t, testenv.RegistryToken)
	push := func(ref string, img v1.Image) {
		r, err := name.ParseReference(reg.Host + "/" + ref)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(r, img, reg.Remote(context.Background())...); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
	}
	for _, tag := range []string{"1.0", "2.0"} {
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		push("team/web:"+tag, img)
	}
	var idx v1.ImageIndex = empty.Index
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	r, _ := name.ParseReference(reg.Host + "/base/multi:v1")
	if err := remote.WriteIndex(r, idx, reg.Remote(context.Background())...); err != nil {
		t.Fatalf("push index: %v", err)
	}
	return reg
}

// checkRegistry checks on the API the account the browser added: synced,
// its password set and never shown, the catalogue the registry holds;
// read-only users see it and may not change it.
func checkRegistry(t *testing.T, api apiClient, adminKey, readerKey string, reg *testenv.RegistryServer) {
	t.Helper()
	var accounts struct {
		Items []struct {
			ID      string                     `json:"id"`
			Host    string                     `json:"host"`
			Secrets map[string]map[string]bool `json:"secrets"`
			Tags    int                        `json:"tags"`
			Sync    struct {
				State string `json:"state"`
			} `json:"sync"`
		} `json:"items"`
	}
	raw := map[string]any{}
	if status := api.do("GET", "/api/v1/registries/accounts", readerKey, nil, &raw); status != 200 {
		t.Fatalf("read-only: GET /registries/accounts = %d", status)
	}
	b, _ := json.Marshal(raw)
	if strings.Contains(string(b), reg.Password) {
		t.Errorf("the accounts answer holds the registry password")
	}
	json.Unmarshal(b, &accounts)
	if len(accounts.Items) != 1 || accounts.Items[0].Host != reg.Host || !accounts.Items[0].Secrets["password"]["set"] || accounts.Items[0].Tags != 3 {
		t.Fatalf("registry accounts: %s", b)
	}
	id := accounts.Items[0].ID
	for _, r := range []struct{ method, path string }{
		{"POST", "/api/v1/registries/accounts/" + id + "/sync"},
		{"DELETE", "/api/v1/registries/accounts/" + id},
		{"POST", "/api/v1/registries/scans"},
	} {
		if status := api.do(r.method, r.path, readerKey, map[string]any{}, nil); status != 403 {
			t.Errorf("read-only key: %s %s = %d, want 403", r.method, r.path, status)
		}
	}
	var tags struct {
		Items []struct {
			Reference string   `json:"reference"`
			Platforms []string `json:"platforms"`
		} `json:"items"`
	}
	if status := api.do("GET", "/api/v1/registries/tags?accountId="+id, adminKey, nil, &tags); status != 200 || len(tags.Items) != 3 {
		t.Errorf("tags: %d %+v", status, tags.Items)
	}
}

type apiClient struct {
	t    *testing.T
	c    *http.Client
	base string
}

// do sends a request with a Bearer key and decodes a JSON answer into out;
// an error answer must be a problem document.
func (a apiClient) do(method, path, key string, body, out any) int {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	if resp.StatusCode >= 400 {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			a.t.Errorf("%s %s: %d with Content-Type %q, want application/problem+json", method, path, resp.StatusCode, ct)
		}
		return resp.StatusCode
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			a.t.Errorf("%s %s: decode %.200q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

// lookPath finds a program: $envVar, else name on PATH, else Missing.
func lookPath(t *testing.T, envVar, name, what, how string) string {
	t.Helper()
	if p := os.Getenv(envVar); p != "" {
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		testenv.Missing(t, what, how)
	}
	return p
}

// riskmapBinary builds ./cmd/riskmap (with the web app embedded), or uses
// RISKMAP_E2E_BINARY.
func riskmapBinary(t *testing.T, root string) string {
	t.Helper()
	if p := os.Getenv("RISKMAP_E2E_BINARY"); p != "" {
		return p
	}
	bin := filepath.Join(t.TempDir(), "riskmap")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/riskmap")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/riskmap: %v\n%s", err, out)
	}
	return bin
}

func hasCommand(t *testing.T, bin, name string) bool {
	t.Helper()
	out, _ := exec.Command(bin, "--help").CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

// testCertificate writes a self-signed ECDSA certificate for 127.0.0.1 and
// returns its files, a pool trusting it, and the base64 SHA-256 of its public
// key, which Chromium is told to accept (and nothing else).
// certPin is the fingerprint the console shows for its certificate: the
// sensors page must print exactly this.
func certPin(t *testing.T, certFile string) string {
	t.Helper()
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", certFile)
	}
	return console.Fingerprint(blk.Bytes)
}

func testCertificate(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool, spki string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "riskmap e2e"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return certFile, keyFile, pool, base64.StdEncoding.EncodeToString(sum[:])
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// consoleArgs is how the test starts the console: its own data directory,
// address and certificate; invitation and reset links name that address.
// Its feeds come from a mirror on a loopback port nothing listens on
// (port 9, discard): the console is offline, and never reaches out.
func consoleArgs(dataDir, addr, certFile, keyFile string) []string {
	return []string{"console", "--data-dir", dataDir, "--listen", addr, "--public-url", "https://" + addr,
		"--tls-cert", certFile, "--tls-key", keyFile, "--feed-mirror", offlineMirror, "--feed-interval=0"}
}

// offlineMirror is a feed mirror URL that refuses connections.
const offlineMirror = "http://127.0.0.1:9"

// startConsole runs the console until the test ends (SIGTERM, then SIGKILL
// after 10 s); its log is shown when the test fails.
func startConsole(t *testing.T, bin, work, addr, certFile, keyFile string) {
	t.Helper()
	dataDir := filepath.Join(work, "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(work, "console.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, consoleArgs(dataDir, addr, certFile, keyFile)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "RISKMAP_LOG_FORMAT=json")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", strings.Join(cmd.Args, " "), err)
	}
	stopAtEnd(t, cmd, "console", 10*time.Second, logFile, 60)
	t.Logf("console: %s (log %s)", strings.Join(cmd.Args, " "), logPath)
}

// stopAtEnd waits for cmd in the background and, when the test ends, stops
// it (SIGTERM, then SIGKILL after grace), closes its log and shows the last
// tailLines of the log if the test failed. It returns the channel that
// receives cmd's exit.
func stopAtEnd(t *testing.T, cmd *exec.Cmd, name string, grace time.Duration, logFile *os.File, tailLines int) <-chan error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Logf("%s exited: %v", name, err)
			}
		case <-time.After(grace):
			t.Errorf("%s did not stop within %s of SIGTERM", name, grace)
			_ = cmd.Process.Kill()
			<-done
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("%s log (%s):\n%s", name, logFile.Name(), tail(b, tailLines))
		}
	})
	return done
}

func waitReady(t *testing.T, c *http.Client, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := c.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("console at %s not ready within 30 s: %s", base, last)
}

// artifactDir is where screenshots go: $RISKMAP_E2E_ARTIFACTS, else a
// directory under the test's temp dir that is kept (its path is logged).
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("RISKMAP_E2E_ARTIFACTS")
	if dir == "" {
		var err error
		dir, err = os.MkdirTemp("", "riskmap-e2e-screenshots-")
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func tail(b []byte, lines int) string {
	var all []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		all = append(all, sc.Text())
	}
	if len(all) > lines {
		all = append([]string{fmt.Sprintf("... (%d lines before)", len(all)-lines)}, all[len(all)-lines:]...)
	}
	return strings.Join(all, "\n")
}
