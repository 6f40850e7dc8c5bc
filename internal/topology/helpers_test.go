package topology_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensor"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/topology"
)

// TestMain doubles as the helper processes of the end-to-end tests: the
// network helpers of testenv.RunNetHelper, and
//
//	RISKMAP_TOPOLOGY_HELPER=console:DIR run a console on DIR, print "URL PIN", serve
func TestMain(m *testing.M) {
	testenv.RunNetHelper()
	if h := os.Getenv("RISKMAP_TOPOLOGY_HELPER"); strings.HasPrefix(h, "console:") {
		// A console in its own process (killed by the fault test).
		runConsoleHelper(strings.TrimPrefix(h, "console:"))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// clock is the tests' settable clock.
type clock = testenv.Clock

// env is a real console (HTTPS on 127.0.0.1, its generated certificate)
// with the topology module, on SQLite in dataDir or on PostgreSQL.
type env struct {
	t       testing.TB
	dataDir string
	dbURL   string
	clk     *clock
	tcfg    topology.Config
	topo    *topology.Topology
	st      *store.Store
	base    string
	pin     string
	pool    *x509.CertPool
	apiKey  string
	cancel  context.CancelFunc
	wait    func()
}

func startConsole(t testing.TB, dataDir, dbURL string, clk *clock, tcfg topology.Config) *env {
	t.Helper()
	e := &env{t: t, dataDir: dataDir, dbURL: dbURL, clk: clk, tcfg: tcfg}
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *env) start() {
	t := e.t
	t.Helper()
	cfg := config.DefaultConsole()
	cfg.DataDir, cfg.Listen, cfg.Database = e.dataDir, "127.0.0.1:0", e.dbURL
	if e.base != "" {
		// A restarted console comes back on the same address, as a real
		// one does, so running sensors can reconnect.
		cfg.Listen = strings.TrimPrefix(e.base, "https://")
	}
	cfg.Argon2MemoryKiB, cfg.Argon2Iterations = 64, 1
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	st, err := store.Open(ctx, store.Config{DataDir: cfg.DataDir, URL: cfg.Database, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	tc := e.tcfg
	tc.Now, tc.Logger = e.clk.Now, log
	topo, err := topology.New(ctx, st, tc)
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan struct{})
	go func() { topo.Run(ctx); close(runDone) }()
	srv, err := console.New(ctx, console.Options{Config: cfg, Store: st, Now: e.clk.Now, Version: "test", Logger: log, Modules: []console.Module{topo}})
	if err != nil {
		t.Fatal(err)
	}
	run, err := srv.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := os.ReadFile(filepath.Join(cfg.DataDir, "tls", "console.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	e.topo, e.st, e.base, e.pin, e.pool, e.cancel = topo, st, "https://"+run.Addr.String(), run.Fingerprint, pool, cancel
	e.wait = func() {
		run.Wait()
		<-runDone
		st.Close()
	}
}

func (e *env) stop() {
	if e.cancel != nil {
		e.cancel()
		e.wait()
		e.cancel = nil
	}
}

func (e *env) restart() {
	e.stop()
	e.start()
}

func (e *env) httpClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: e.pool, MinVersion: tls.VersionTLS12}}}
}

// register creates the first user and an API key for it.
func (e *env) register() string {
	t := e.t
	t.Helper()
	hc := e.httpClient()
	resp, err := hc.Post(e.base+"/api/v1/auth/register", "application/json", strings.NewReader(
		`{"email":"admin@example.com","password":"correct horse battery staple","name":"Ada","organisation":"Acme"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, e.base+"/api/v1/me/api-key", nil)
	u, _ := req.URL.Parse(e.base)
	for _, c := range hc.Jar.Cookies(u) {
		if c.Name == console.CSRFCookie {
			req.Header.Set(console.CSRFHeader, c.Value)
		}
	}
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var k struct{ APIKey string }
	if err := json.NewDecoder(resp.Body).Decode(&k); err != nil || k.APIKey == "" {
		t.Fatalf("api key: %d %v", resp.StatusCode, err)
	}
	e.apiKey = k.APIKey
	return k.APIKey
}

// get calls the API with the API key and decodes the JSON answer.
func (e *env) get(path string, out any) int {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.apiKey)
	resp, err := e.httpClient().Do(req)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("GET %s: %v in %s", path, err, b)
		}
	}
	return resp.StatusCode
}

// post sends a raw body to the ingest route.
func (e *env) post(path string, body io.Reader, encoding string) (*http.Response, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.base+path, body)
	req.Header.Set("Authorization", "Bearer "+e.apiKey)
	req.Header.Set("Content-Type", "application/json")
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := e.httpClient().Do(req)
	if err != nil {
		e.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// sensorClient is the sensor's own client, pinned to the console's
// self-signed certificate.
func (e *env) sensorClient() *client.Client {
	e.t.Helper()
	cl, err := client.New(client.Config{ConsoleURL: e.base, APIKey: e.apiKey, PinSHA256: e.pin, Timeout: 10 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	return cl
}

// runSensor runs the real sensor (host probes only) against the console,
// reporting every interval, until the test ends. level bounds its log.
// stopped tells whether the sensor has stopped by itself, and its error.
func (e *env) runSensor(interval time.Duration, level slog.Level) (stopped func() (bool, error)) {
	e.t.Helper()
	s, err := sensor.New(sensor.Config{DockerHost: "off", ContainerdSockets: []string{"off"}, CloudMetadataURL: "off",
		Interval: interval, MinInterval: 200 * time.Millisecond, MaxInterval: interval, MaxBackoff: interval,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	var runErr error
	go func() { runErr = s.Run(ctx, e.sensorClient()); close(exited) }()
	e.t.Cleanup(func() { cancel(); <-exited })
	return func() (bool, error) {
		select {
		case <-exited:
			return true, runErr
		default:
			return false, nil
		}
	}
}

func push(t testing.TB, cl *client.Client, r *report.Report) sensorproto.Ack {
	t.Helper()
	gz, err := report.Marshal(r, report.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	ack, err := cl.PushReport(context.Background(), gz)
	if err != nil {
		t.Fatalf("push report %s seq %d: %v", r.SensorID, r.Seq, err)
	}
	return ack
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func runConsoleHelper(dir string) {
	cfg := config.DefaultConsole()
	cfg.DataDir, cfg.Listen = dir, "127.0.0.1:0"
	cfg.Argon2MemoryKiB, cfg.Argon2Iterations = 64, 1
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		fmt.Println("ERR", err)
		return
	}
	topo, err := topology.New(ctx, st, topology.Config{SensorBurst: 1000})
	if err != nil {
		fmt.Println("ERR", err)
		return
	}
	go topo.Run(ctx)
	srv, err := console.New(ctx, console.Options{Config: cfg, Store: st, Version: "test", Modules: []console.Module{topo}})
	if err != nil {
		fmt.Println("ERR", err)
		return
	}
	run, err := srv.Start(ctx)
	if err != nil {
		fmt.Println("ERR", err)
		return
	}
	fmt.Println("https://"+run.Addr.String(), run.Fingerprint)
	run.Wait()
}
