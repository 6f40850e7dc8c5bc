package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/store"
)

// realConsole starts the real console (SQLite, its generated self-signed
// certificate) on loopback, registers the first user and returns its URL,
// certificate fingerprint and an admin API key.
func realConsole(t *testing.T) (url, pin, apiKey string) {
	t.Helper()
	url, pin, apiKey, _ = realConsoleWith(t)
	return url, pin, apiKey
}

// realConsoleWith is realConsole with modules; stop shuts the console
// down and waits for it.
func realConsoleWith(t *testing.T, modules ...console.Module) (url, pin, apiKey string, stop func() error) {
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
	srv, err := console.New(ctx, console.Options{Config: cfg, Store: st, Version: "test", Modules: modules})
	if err != nil {
		t.Fatal(err)
	}
	run, err := srv.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var stopErr error
	stop = func() error { once.Do(func() { cancel(); stopErr = run.Wait() }); return stopErr }
	t.Cleanup(func() { _ = stop() })
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
	return url, run.Fingerprint, k.APIKey, stop
}

// adminCall sends a JSON request with the admin's API key.
func adminCall(t *testing.T, url, pin, key, method, path string, body, out any) int {
	t.Helper()
	pinned, err := client.PinnedTLS(pin)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: pinned}}
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// TestRealConsoleEnrolment runs the sensor client's enrolment, key
// exchange, rotation and revocation against the real console over TLS with
// its pinned self-signed certificate: a wrong pin is refused before
// anything is sent, a wrong or used-up token is refused, the sensor's own
// key works where a user's API key does not, an old key works for the
// grace after a rotation, a revoked sensor is refused at its next request.
func TestRealConsoleEnrolment(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the console")
	}
	url, pin, admin := realConsole(t)
	ctx := context.Background()
	var tok struct {
		ID, Token string
	}
	if code := adminCall(t, url, pin, admin, http.MethodPost, "/api/v1/enrolment-tokens", map[string]any{"name": "two hosts", "maxSensors": 2}, &tok); code != http.StatusCreated {
		t.Fatalf("create enrolment token: %d", code)
	}
	mk := func(pin, key string) *client.Client {
		c, err := client.New(client.Config{ConsoleURL: url, Key: key, PinSHA256: pin, Timeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	enrol := func(c *client.Client, host string) (sensorproto.EnrolResponse, error) {
		return c.Enrol(ctx, sensorproto.EnrolRequest{Token: tok.Token, Hostname: host, MachineID: "mid-" + host, Version: "1.2.3"})
	}
	if _, err := enrol(mk(strings.Repeat("00", 32), ""), "h0"); !errors.Is(err, client.ErrPinMismatch) {
		t.Fatalf("wrong pin: %v, want ErrPinMismatch", err)
	}
	var se *client.StatusError
	if _, err := mk(pin, "").Enrol(ctx, sensorproto.EnrolRequest{Token: "rme_" + strings.Repeat("A", 43), Hostname: "h"}); !errors.As(err, &se) || se.Code != 401 {
		t.Fatalf("unknown token: %v, want 401", err)
	}
	a, b := mk(pin, ""), mk(pin, "")
	ea, err := enrol(a, "web-1")
	if err != nil {
		t.Fatal(err)
	}
	eb, err := enrol(b, "web-2")
	if err != nil || eb.SensorID == ea.SensorID {
		t.Fatalf("second enrolment: %+v %v", eb, err)
	}
	if _, err := enrol(mk(pin, ""), "web-3"); !errors.As(err, &se) || se.Code != 401 || !strings.Contains(se.Detail, "enrolled all the sensors") {
		t.Fatalf("third enrolment with a token capped at 2: %v", err)
	}
	if err := a.Authenticate(ctx); err != nil {
		t.Fatalf("sensor key exchange: %v", err)
	}
	// A user's API key cannot act as a sensor, nor a sensor's key as a user.
	if code := adminCall(t, url, pin, admin, http.MethodPost, sensorproto.PathKey, map[string]any{}, nil); code != http.StatusUnauthorized {
		t.Fatalf("a user's API key on a sensor route: %d, want 401", code)
	}
	if code := adminCall(t, url, pin, ea.Key, http.MethodGet, "/api/v1/me", nil, nil); code != http.StatusForbidden {
		t.Fatalf("a sensor key on a user route: %d, want 403", code)
	}
	// Rotation: the new key works, the old one for the grace.
	old := a.Key()
	if _, err := a.RotateKey(ctx); err != nil {
		t.Fatal(err)
	}
	if err := mk(pin, a.Key()).Authenticate(ctx); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	if err := mk(pin, old).Authenticate(ctx); err != nil {
		t.Fatalf("old key within its grace: %v", err)
	}
	// Revocation: refused at the next request, with its access token or
	// its key.
	if _, err := a.RotateKey(ctx); err != nil {
		t.Fatalf("a request before revocation: %v", err)
	}
	if code := adminCall(t, url, pin, admin, http.MethodPost, "/api/v1/sensors/"+ea.SensorID+"/revoke", nil, nil); code != http.StatusOK {
		t.Fatalf("revoke: %d", code)
	}
	if _, err := a.RotateKey(ctx); !errors.As(err, &se) || se.Code != 401 || !strings.Contains(se.Detail, "revoked") {
		t.Fatalf("a request after revocation: %v, want 401 revoked", err)
	}
	if code := adminCall(t, url, pin, a.Key(), http.MethodPost, sensorproto.PathKey, map[string]any{}, nil); code != http.StatusUnauthorized {
		t.Fatalf("the revoked sensor's key: %d, want 401", code)
	}
	if _, err := b.RotateKey(ctx); err != nil {
		t.Fatalf("the other sensor after the revocation: %v", err)
	}
	var list struct {
		Items []struct {
			ID, Hostname, Version, LastAddress string
			RevokedAt                          *time.Time
		}
	}
	adminCall(t, url, pin, admin, http.MethodGet, "/api/v1/sensors", nil, &list)
	if len(list.Items) != 2 {
		t.Fatalf("sensors: %+v", list.Items)
	}
	for _, x := range list.Items {
		if x.Version != "1.2.3" || x.LastAddress != "127.0.0.1" || (x.ID == ea.SensorID) != (x.RevokedAt != nil) {
			t.Errorf("sensor %+v", x)
		}
	}
}

// blockingReports serves the report route, holding each report until
// release is closed (entered tells that one arrived).
type blockingReports struct{ entered, release chan struct{} }

func (b blockingReports) Routes(_ huma.API, r chi.Router) {
	r.Post(sensorproto.PathReports, func(w http.ResponseWriter, _ *http.Request) {
		b.entered <- struct{}{}
		<-b.release
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"nextReportSeconds":10,"fullReportRequested":false}`))
	})
}

// TestStreamShutdownAnswersInFlight: a console shutting down answers the
// report in flight on a sensor stream before it closes the stream, and
// waits for it.
func TestStreamShutdownAnswersInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the console")
	}
	b := blockingReports{entered: make(chan struct{}, 1), release: make(chan struct{})}
	url, pin, admin, stop := realConsoleWith(t, b)
	var tok struct{ Token string }
	if code := adminCall(t, url, pin, admin, http.MethodPost, "/api/v1/enrolment-tokens", map[string]any{"name": "one", "maxSensors": 1}, &tok); code != http.StatusCreated {
		t.Fatalf("create enrolment token: %d", code)
	}
	cl, err := client.New(client.Config{ConsoleURL: url, PinSHA256: pin, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Enrol(ctx, sensorproto.EnrolRequest{Token: tok.Token, Hostname: "h1"}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		ack sensorproto.Ack
		err error
	}
	pushed := make(chan result, 1)
	go func() {
		a, err := cl.PushReport(ctx, testReport(1))
		pushed <- result{a, err}
	}()
	select {
	case <-b.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the report did not reach the route")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case err := <-stopped:
		t.Fatalf("the console stopped (%v) with a report in flight on a stream", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(b.release)
	select {
	case r := <-pushed:
		if r.err != nil || r.ack.NextReportSeconds != 10 {
			t.Fatalf("the report in flight at shutdown: %+v %v, want its answer", r.ack, r.err)
		}
		if !cl.Streaming() {
			t.Fatal("the report went as a request, not on the sensor stream")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer to the report in flight")
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the console did not stop after answering the report in flight")
	}
}
