package console_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

// clock is the tests' settable clock.
type clock = testenv.Clock

// testConfig is a console configuration for tests: loopback, a temporary
// data directory and cheap password hashing.
func testConfig(t testing.TB) config.Console {
	c := config.DefaultConsole()
	c.DataDir = t.TempDir()
	c.Listen = "127.0.0.1:0"
	c.Argon2MemoryKiB, c.Argon2Iterations = 64, 1
	c.LoginAddressLimit = 1000
	return c
}

type env struct {
	t     testing.TB
	srv   *console.Server
	st    *store.Store
	clk   *clock
	cfg   config.Console
	base  string
	pool  *x509.CertPool
	print string
}

type envOpt func(*config.Console, *console.Options)

// start runs a console on a real HTTPS listener on 127.0.0.1 with its
// generated certificate; clients trust exactly that certificate.
func start(t testing.TB, opts ...envOpt) *env {
	t.Helper()
	cfg := testConfig(t)
	o := console.Options{Version: "test"}
	for _, f := range opts {
		f(&cfg, &o)
	}
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, store.Config{DataDir: cfg.DataDir, URL: cfg.Database, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	o.Config, o.Store, o.Now = cfg, st, clk.Now
	o.Modules = append(o.Modules, productionModules(t, st, cfg, clk.Now)...)
	if testing.Verbose() {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := console.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	run, err := srv.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := run.Wait(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		st.Close()
	})
	certFile := filepath.Join(cfg.DataDir, "tls", "console.crt")
	if cfg.TLSCert != "" {
		certFile = cfg.TLSCert
	}
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("generated certificate does not parse")
	}
	return &env{t: t, srv: srv, st: st, clk: clk, cfg: cfg, base: "https://" + run.Addr.String(), pool: pool, print: run.Fingerprint}
}

// client is a browser-like HTTPS client: it keeps cookies and, when csrf is
// set, echoes the CSRF cookie in X-CSRF-Token like the web UI does.
type client struct {
	e      *env
	hc     *http.Client
	csrf   bool
	bearer string
	header http.Header
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, csrf: true, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: e.pool, MinVersion: tls.VersionTLS12},
	}}}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) problem(t testing.TB) map[string]any {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("status %d with Content-Type %q; want application/problem+json (body %s)", r.status, ct, r.body)
	}
	var p map[string]any
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Errorf("problem body %q: %v", r.body, err)
	}
	return p
}

func (c *client) cookie(name string) string {
	req, _ := http.NewRequest(http.MethodGet, c.e.base+"/", nil)
	for _, ck := range c.hc.Jar.Cookies(req.URL) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

func (c *client) do(method, path string, body any) response {
	c.e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.e.base+path, rd)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf {
		if v := c.cookie(console.CSRFCookie); v != "" {
			req.Header.Set(console.CSRFHeader, v)
		}
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: b}
	c.e.checkAnswer(method, path, r)
	return r
}

// must performs a request and fails the test unless it answers want; it
// decodes the JSON body into out when out is non-nil.
func (c *client) must(want int, method, path string, body, out any) response {
	c.e.t.Helper()
	r := c.do(method, path, body)
	if r.status != want {
		c.e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			c.e.t.Fatalf("%s %s: decode %s: %v", method, path, r.body, err)
		}
	}
	return r
}

const adminPassword = "correct horse battery staple"

// registerAdmin registers the first user and returns the signed-in client.
func (e *env) registerAdmin() (*client, console.User) {
	c := e.client()
	var u console.User
	c.must(http.StatusCreated, "POST", "/api/v1/auth/register", map[string]string{
		"email": "admin@example.com", "password": adminPassword, "name": "Ada Admin", "organisation": "Acme"}, &u)
	return c, u
}

// invite creates a user with role through an invitation and returns the
// signed-in client.
func (e *env) invite(admin *client, email, role string) (*client, console.User) {
	e.t.Helper()
	var inv console.CreatedInvitation
	admin.must(http.StatusCreated, "POST", "/api/v1/invitations", map[string]string{"email": email, "role": role}, &inv)
	c := e.client()
	var u console.User
	c.must(http.StatusCreated, "POST", "/api/v1/invitations/"+inv.Token+"/accept", map[string]string{"name": email, "password": adminPassword}, &u)
	return c, u
}

func (e *env) login(email, password string) *client {
	e.t.Helper()
	c := e.client()
	c.must(http.StatusOK, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password}, nil)
	return c
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }
func jsonDecode(b []byte, v any) error { return json.Unmarshal(b, v) }
func itoa(i int) string                { return strconv.Itoa(i) }
