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
	"sync"
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
	// enrolToken enrols the test's sensors; sensors are their clients and
	// console-assigned ids by the name the test gives them.
	enrolToken string
	sensorsMu  sync.Mutex
	sensors    map[string]*enrolled
	cancel     context.CancelFunc
	wait       func()
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
	req, _ = http.NewRequest(http.MethodPost, e.base+"/api/v1/enrolment-tokens", strings.NewReader(`{"name":"tests","maxSensors":0}`))
	req.Header.Set("Authorization", "Bearer "+e.apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp2, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var tok struct{ Token string }
	if err := json.NewDecoder(resp2.Body).Decode(&tok); err != nil || tok.Token == "" {
		t.Fatalf("enrolment token: %d %v", resp2.StatusCode, err)
	}
	e.enrolToken = tok.Token
	return k.APIKey
}

// enrolled is a sensor the test enrolled.
type enrolled struct {
	cl *client.Client
	id string
}

// sensor returns the client of the sensor the test calls name, enrolling
// it (hostname name) the first time.
func (e *env) sensor(name string) *enrolled {
	e.t.Helper()
	e.sensorsMu.Lock()
	defer e.sensorsMu.Unlock()
	if x := e.sensors[name]; x != nil {
		return x
	}
	cl, err := client.New(client.Config{ConsoleURL: e.base, PinSHA256: e.pin, Timeout: 10 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	en, err := cl.Enrol(context.Background(), sensorproto.EnrolRequest{Token: e.enrolToken, Hostname: name})
	if err != nil {
		e.t.Fatalf("enrol sensor %s: %v", name, err)
	}
	if e.sensors == nil {
		e.sensors = map[string]*enrolled{}
	}
	x := &enrolled{cl: cl, id: en.SensorID}
	e.sensors[name] = x
	return x
}

// id is the console-assigned id of the sensor the test calls name.
func (e *env) id(name string) string { return e.sensor(name).id }

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

// post sends a raw body with the user's API key.
func (e *env) post(path string, body io.Reader, encoding string) (*http.Response, []byte) {
	e.t.Helper()
	return e.postWith(e.apiKey, path, body, encoding)
}

// postAs sends a raw body as the sensor the test calls name (its key).
func (e *env) postAs(name, path string, body io.Reader, encoding string) (*http.Response, []byte) {
	e.t.Helper()
	return e.postWith(e.sensor(name).cl.Key(), path, body, encoding)
}

func (e *env) postWith(cred, path string, body io.Reader, encoding string) (*http.Response, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.base+path, body)
	req.Header.Set("Authorization", "Bearer "+cred)
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

// sensorClient pushes reports as the sensors they name: each report goes
// through its sensor's own client (enrolled on first use), with the
// console-assigned id in place of the name the test wrote.
func (e *env) sensorClient() *fleet { return &fleet{e: e} }

type fleet struct{ e *env }

func (f *fleet) push(t testing.TB, r *report.Report) (sensorproto.Ack, error) {
	x := f.e.sensor(r.SensorID)
	c := *r
	c.SensorID = x.id
	gz, err := report.Marshal(&c, report.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return x.cl.PushReport(context.Background(), gz)
}

// runSensor runs the real sensor (host probes only) against the console,
// reporting every interval, until the test ends. level bounds its log.
// stopped tells whether the sensor has stopped by itself, and its error.
func (e *env) runSensor(interval time.Duration, level slog.Level) (stopped func() (bool, error)) {
	e.t.Helper()
	hostname, _ := sensor.HostFacts("/", "/proc")
	x := e.sensor(hostname)
	s, err := sensor.New(sensor.Config{SensorID: x.id, DockerHost: "off", ContainerdSockets: []string{"off"}, CloudMetadataURL: "off",
		Interval: interval, MinInterval: 200 * time.Millisecond, MaxInterval: interval, MaxBackoff: interval,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	var runErr error
	go func() { runErr = s.Run(ctx, x.cl); close(exited) }()
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

func push(t testing.TB, cl *fleet, r *report.Report) sensorproto.Ack {
	t.Helper()
	ack, err := cl.push(t, r)
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
