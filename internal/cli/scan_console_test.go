package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/match/remote"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/vulndb"
	"github.com/riskmap/riskmap/internal/vulndb/kbtest"
)

// remoteConsole is a real console started in-process over HTTPS, its
// knowledge base the one compiled from the shared feeds.
type remoteConsole struct {
	url, pin, key string
	certPEM       string
}

func startMatchConsole(t *testing.T, withKB bool) *remoteConsole {
	t.Helper()
	dataDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dataDir, "feeds"), 0o700); err != nil {
		t.Fatal(err)
	}
	if withKB {
		kb, err := os.ReadFile(filepath.Join(kbtest.SharedDataDir(t), vulndb.FileName))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dataDir, "feeds", vulndb.FileName), kb, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, _, err := config.LoadConsole("console", []string{"--listen", "127.0.0.1:0", "--data-dir", dataDir,
		"--argon2-memory", "64", "--argon2-iterations", "1", "--feed-interval", "0"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	app, err := openConsole(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		app.run.Wait()
		app.store.Close()
	})
	rc := &remoteConsole{url: app.run.URL, pin: "sha256:" + app.run.Fingerprint}
	if !strings.HasPrefix(rc.url, "https://") {
		rc.url = "https://" + app.run.Addr.String()
	}
	certDER, err := os.ReadFile(filepath.Join(dataDir, "tls", "console.crt"))
	if err == nil {
		rc.certPEM = string(certDER)
	}

	// The first user registers and takes an API key.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // the pin is checked below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if console.Fingerprint(cs.PeerCertificates[0].Raw) != app.run.Fingerprint {
				return fmt.Errorf("unexpected certificate")
			}
			return nil
		}}}}
	post := func(path string, body, out any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, rc.url+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		u := req.URL
		for _, ck := range jar.Cookies(u) {
			if ck.Name == console.CSRFCookie {
				req.Header.Set(console.CSRFHeader, ck.Value)
			}
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, rb)
		}
		if out != nil {
			if err := json.Unmarshal(rb, out); err != nil {
				t.Fatal(err)
			}
		}
	}
	post("/api/v1/auth/register", map[string]string{"email": "ci@example.com", "password": "match test password", "name": "CI", "organisation": "Match"}, nil)
	var key struct {
		APIKey string `json:"apiKey"`
	}
	post("/api/v1/me/api-key", nil, &key)
	rc.key = key.APIKey
	return rc
}

// withoutTimes drops what differs between two runs of the same scan: the
// report's own time.
func withoutTimes(t *testing.T, out string) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	delete(doc, "generatedAt")
	return doc
}

// TestScanOnConsole scans the same targets locally and against a real
// console's knowledge base (the same data): the reports must be identical,
// in every format that carries findings, with --only-fixed and --fail-on.
func TestScanOnConsole(t *testing.T) {
	rc := startMatchConsole(t, true)
	db, invTarget := scanEnv(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte("django==3.2.0\nurllib3==1.26.4\njinja2==2.10\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "Cargo.lock"), []byte("version = 3\n\n[[package]]\nname = \"smallvec\"\nversion = \"1.6.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n"), 0o644)
	remoteArgs := []string{"--console", rc.url, "--api-key", rc.key, "--pin", rc.pin}
	for _, tc := range []struct {
		name   string
		target string
		args   []string
	}{
		{"inventory_json", invTarget, []string{"--format", "json"}},
		{"dir_json", "dir:" + dir, []string{"--format", "json"}},
		{"dir_only_fixed", "dir:" + dir, []string{"--format", "json", "--only-fixed"}},
		{"inventory_cyclonedx", invTarget, []string{"--format", "cyclonedx-json"}},
		{"inventory_sarif", invTarget, []string{"--format", "sarif"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local, lerr, lcode := run(t, append(append([]string{"scan", "--quiet", "--db", db}, tc.args...), tc.target)...)
			remote, rerr, rcode := run(t, append(append(append([]string{"scan", "--quiet"}, remoteArgs...), tc.args...), tc.target)...)
			if lcode != 0 || rcode != 0 {
				t.Fatalf("exit local %d (%s), console %d (%s)", lcode, lerr, rcode, rerr)
			}
			if strings.HasPrefix(tc.args[1], "json") {
				var doc struct{ Findings []any }
				json.Unmarshal([]byte(local), &doc)
				if len(doc.Findings) == 0 {
					t.Fatalf("local scan found nothing: the comparison would prove nothing\n%s", local)
				}
			}
			l, r := withoutTimes(t, local), withoutTimes(t, remote)
			if tc.args[1] != "json" { // serial numbers and timestamps inside the document
				l, r = stripVolatile(l), stripVolatile(r)
			}
			if d := cmp.Diff(l, r); d != "" {
				t.Errorf("console report differs from the local one (-local +console):\n%s", d)
			}
		})
	}

	t.Run("fail_on_and_env_key", func(t *testing.T) {
		t.Setenv("RISKMAP_API_KEY", rc.key)
		code, msg := runErr("scan", "--quiet", "--console", rc.url, "--pin", rc.pin, "--fail-on", "high", "--format", "json", invTarget)
		if code != 1 {
			t.Errorf("exit %d, want 1 (--fail-on high reached): %s", code, msg)
		}
	})
	t.Run("ca_cert", func(t *testing.T) {
		if rc.certPEM == "" {
			t.Skip("console certificate file not found")
		}
		ca := filepath.Join(t.TempDir(), "ca.pem")
		os.WriteFile(ca, []byte(rc.certPEM), 0o600)
		// The self-signed certificate names 127.0.0.1 among its hosts.
		if code, msg := runErr("scan", "--quiet", "--console", rc.url, "--api-key", rc.key, "--ca-cert", ca, "--format", "json", invTarget); code != 0 {
			t.Errorf("exit %d with --ca-cert: %s", code, msg)
		}
	})

	t.Run("route_refusals_and_rate_limit", func(t *testing.T) {
		hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, // the pin is checked below
			VerifyConnection: func(cs tls.ConnectionState) error {
				if "sha256:"+console.Fingerprint(cs.PeerCertificates[0].Raw) != rc.pin {
					return errors.New("unexpected certificate")
				}
				return nil
			}}}}
		send := func(query, encoding, body string) (int, http.Header, string) {
			req, _ := http.NewRequest(http.MethodPost, rc.url+"/api/v1/match"+query, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+rc.key)
			req.Header.Set("Content-Type", "application/json")
			if encoding != "" {
				req.Header.Set("Content-Encoding", encoding)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, resp.Header, string(b)
		}
		inv := `{"schemaVersion":"1.0.0","target":{"kind":"dir","ref":"x"},"packages":[{"name":"django","version":"3.2.0","ecosystem":"PyPI"}]}`
		for _, tc := range []struct {
			name, query, encoding, body string
			want                        int
		}{
			{"plain_json", "", "", inv, http.StatusOK},
			{"brotli", "", "br", inv, http.StatusUnsupportedMediaType},
			{"not_gzip", "", "gzip", inv, http.StatusBadRequest},
			{"unknown_field", "", "", `{"schemaVersion":"1.0.0","x":1}`, http.StatusBadRequest},
			{"unknown_parameter", "?format=xml", "", inv, http.StatusBadRequest},
		} {
			code, _, body := send(tc.query, tc.encoding, tc.body)
			if code != tc.want {
				t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
			}
		}
		// Unauthenticated callers are refused before anything is read.
		req, _ := http.NewRequest(http.MethodPost, rc.url+"/api/v1/match", strings.NewReader(inv))
		if resp, err := hc.Do(req); err != nil {
			t.Error(err)
		} else if resp.Body.Close(); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("without a key: %d, want 401", resp.StatusCode)
		}
		// The per-user budget runs out (the requests above counted too).
		var last int
		var hdr http.Header
		for i := 0; i < remote.MatchRateLimit+1 && last != http.StatusTooManyRequests; i++ {
			last, hdr, _ = send("", "", inv)
		}
		if last != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
			t.Errorf("after %d requests: status %d, Retry-After %q", remote.MatchRateLimit+1, last, hdr.Get("Retry-After"))
		}
		if code, msg := runErr("scan", "--quiet", "--console", rc.url, "--api-key", rc.key, "--pin", rc.pin, invTarget); code != 2 || !strings.Contains(msg, "429") {
			t.Errorf("scan over the rate limit: exit %d, %s", code, msg)
		}
	})

	wrongPin := "sha256:" + strings.Repeat("ab", 32)
	otherPEM := filepath.Join(t.TempDir(), "other.pem")
	os.WriteFile(otherPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSignedDER(t)}), 0o600)
	for _, tc := range []struct {
		name, want string
		args       []string
	}{
		{"bad_key", "401", []string{"--api-key", "rmk_" + strings.Repeat("A", 43), "--pin", rc.pin}},
		{"malformed_key", "401", []string{"--api-key", "not-a-key", "--pin", rc.pin}},
		{"wrong_pin", "does not match the pinned", []string{"--api-key", rc.key, "--pin", wrongPin}},
		{"bad_pin", "64 hex digits", []string{"--api-key", rc.key, "--pin", "sha256:1234"}},
		{"untrusted_without_pin", "certificate", []string{"--api-key", rc.key}},
		{"other_ca", "certificate", []string{"--api-key", rc.key, "--ca-cert", otherPEM}},
		{"no_key", "RISKMAP_API_KEY", []string{"--pin", rc.pin}},
		{"pin_and_ca", "not both", []string{"--api-key", rc.key, "--pin", rc.pin, "--ca-cert", otherPEM}},
		{"plain_http", "HTTPS only", []string{"--api-key", rc.key, "--console-override", "http://127.0.0.1:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("RISKMAP_API_KEY", "")
			url := rc.url
			args := tc.args
			if len(args) >= 2 && args[len(args)-2] == "--console-override" {
				url, args = args[len(args)-1], args[:len(args)-2]
			}
			code, msg := runErr(append(append([]string{"scan", "--quiet", "--console", url}, args...), "--format", "json", invTarget)...)
			t.Log(msg)
			if code != 2 || !strings.Contains(msg, tc.want) {
				t.Errorf("exit %d, error %q; want exit 2 and %q", code, msg, tc.want)
			}
		})
	}
}

// runErr runs the CLI and returns the exit code and the error message
// main would print.
func runErr(args ...string) (int, string) {
	err := Run(context.Background(), args, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil {
		return 0, ""
	}
	var xe *ExitError
	if errors.As(err, &xe) {
		return xe.Code, err.Error()
	}
	return -1, err.Error()
}

// stripVolatile drops the fields derived from the report's time.
func stripVolatile(doc map[string]any) map[string]any {
	for _, k := range []string{"serialNumber", "timestamp", "@id"} {
		delete(doc, k)
	}
	if md, ok := doc["metadata"].(map[string]any); ok {
		delete(md, "timestamp")
	}
	return doc
}

// selfSignedDER is a certificate the console does not use.
func selfSignedDER(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestScanRebuildsOlderSchema: a knowledge base written by an older riskmap
// (another schema version) is rebuilt from the feeds stored beside it, and
// the scan goes on.
func TestScanRebuildsOlderSchema(t *testing.T) {
	shared := testenv.SharedFeeds(t)
	src := filepath.Join(t.TempDir(), "osv", "crates.io")
	os.MkdirAll(src, 0o755)
	zip, err := os.ReadFile(filepath.Join(shared, "osv", "crates.io", "all.zip"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "all.zip"), zip, 0o644)
	dataDir := t.TempDir()
	rep, err := feeds.New(feeds.DefaultConfig(dataDir)).Import(context.Background(), filepath.Dir(filepath.Dir(src)))
	if err != nil || rep.Failed() != nil {
		t.Fatalf("import: %v %v", err, rep.Failed())
	}
	kbPath := filepath.Join(dataDir, vulndb.FileName)
	kb, err := os.ReadFile(kbPath)
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(kb[8:], vulndb.SchemaVersion-1)
	os.WriteFile(kbPath, kb, 0o600)
	if _, err := vulndb.Open(kbPath); !errors.Is(err, vulndb.ErrSchema) {
		t.Fatalf("older file opened: %v", err)
	}
	inv := filepath.Join(t.TempDir(), "inv.json")
	os.WriteFile(inv, []byte(`{"schemaVersion":"1.0.0","target":{"kind":"dir","ref":"x"},"packages":[{"name":"smallvec","version":"1.6.0","ecosystem":"crates.io"}]}`), 0o644)
	out, stderr, code := run(t, "scan", "--db", dataDir, "--format", "json", "inventory:"+inv)
	if code != 0 || !strings.Contains(stderr, "rebuilding it from the feeds") {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	var doc struct{ Findings []struct{ ID string } }
	json.Unmarshal([]byte(out), &doc)
	if len(doc.Findings) == 0 {
		t.Errorf("no findings for smallvec 1.6.0 (RUSTSEC-2021-0003) after the rebuild")
	}
	if _, err := vulndb.Open(kbPath); err != nil {
		t.Errorf("rebuilt file: %v", err)
	}
}

// TestScanOnConsoleWithoutKB: a console that has no knowledge base yet
// answers 503 and the scan exits 2 saying so.
func TestScanOnConsoleWithoutKB(t *testing.T) {
	rc := startMatchConsole(t, false)
	_, invTarget := scanEnv(t)
	code, msg := runErr("scan", "--quiet", "--console", rc.url, "--api-key", rc.key, "--pin", rc.pin, invTarget)
	if code != 2 || !strings.Contains(msg, "503") || !strings.Contains(msg, "no knowledge base") {
		t.Errorf("exit %d: %s", code, msg)
	}
}
