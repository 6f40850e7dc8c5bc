package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/store"
)

// realConsole starts the real console (SQLite, its generated self-signed
// certificate) on loopback, registers the first user and returns its URL,
// certificate fingerprint and a fresh API key.
func realConsole(t *testing.T) (url, pin, apiKey string) {
	t.Helper()
	cfg := config.DefaultConsole()
	cfg.DataDir, cfg.Listen = t.TempDir(), "127.0.0.1:0"
	cfg.Argon2MemoryKiB, cfg.Argon2Iterations = 64, 1
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := store.Open(ctx, store.Config{DataDir: cfg.DataDir, URL: cfg.Database})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := console.New(ctx, console.Options{Config: cfg, Store: st, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	run, err := srv.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); run.Wait() })
	url = "https://" + run.Addr.String()

	// A browser-like client that trusts exactly this certificate (by pin).
	pinned, err := client.PinnedTLS(run.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: pinned}}
	post := func(path string, body any) *http.Response {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, url+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		for _, c := range jar.Cookies(req.URL) {
			if c.Name == "riskmap_csrf" {
				req.Header.Set("X-CSRF-Token", c.Value)
			}
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode >= 300 {
			t.Fatalf("POST %s: %s", path, resp.Status)
		}
		return resp
	}
	post("/api/v1/auth/register", map[string]string{"email": "ops@example.com", "password": "correct horse battery staple", "name": "Ops", "organisation": "Example"}).Body.Close()
	resp := post("/api/v1/me/api-key", map[string]string{})
	defer resp.Body.Close()
	var k struct {
		APIKey string `json:"apiKey"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&k); err != nil || k.APIKey == "" {
		t.Fatalf("api key: %v", err)
	}
	return url, run.Fingerprint, k.APIKey
}

// TestRealConsoleAuthentication runs the sensor client's key exchange
// against the real console over TLS with its pinned self-signed
// certificate: the right pin and key work, a wrong pin is refused before
// the key is sent, a wrong key gets 401, an unpinned client does not trust
// the self-signed certificate. (Report ingest and commands are tested
// against consoletest until the console's sensor endpoints land.)
func TestRealConsoleAuthentication(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the console")
	}
	url, pin, key := realConsole(t)
	ctx := context.Background()
	mk := func(pin, key string) *client.Client {
		c, err := client.New(client.Config{ConsoleURL: url, APIKey: key, PinSHA256: pin, Timeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if err := mk(pin, key).Authenticate(ctx); err != nil {
		t.Fatalf("pinned console, right key: %v", err)
	}
	if err := mk(strings.Repeat("00", 32), key).Authenticate(ctx); !errors.Is(err, client.ErrPinMismatch) {
		t.Fatalf("wrong pin: %v, want ErrPinMismatch", err)
	}
	var se *client.StatusError
	if err := mk(pin, "rmk_not_a_key").Authenticate(ctx); !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
		t.Fatalf("wrong key: %v, want 401", err)
	}
	if err := mk("", key).Authenticate(ctx); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("unpinned: %v, want a certificate error", err)
	}
}
