package scans_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/diagnosis"
	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/posture"
	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/risk"
	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/sensor"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensor/command"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/topology"
	"github.com/riskmap/riskmap/internal/vulndb/kbtest"
)

var e2eBackends = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return "" }},
	{"postgres", func(t *testing.T) string { return testenv.PostgresURL(t) }},
}

// vulnImage builds (once, cached by content) an image FROM scratch holding
// /app (a static Go binary linking golang.org/x/text v0.3.0, GO-2020-0015),
// /sleeper (a Go binary without it), a Python urllib3 1.26.0 dist-info and
// the package database of Debian 12 with 3 packages (testdata/debian12),
// which the shared feeds do not cover.
func vulnImage(t *testing.T) string {
	t.Helper()
	testenv.Docker(t)
	src := filepath.Join(testenv.ModuleRoot(t), "internal", "scans", "testdata", "vulnapp")
	dir := filepath.Join(testenv.CacheDir(t), "scans-vulnapp")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	build := func(out, pkg string) []byte {
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-mod=mod", "GOWORK=off")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	app := build(filepath.Join(dir, "app"), ".")
	sleeper := build(filepath.Join(dir, "sleeper"), "./sleeper")
	metadata := []byte("Metadata-Version: 2.1\nName: urllib3\nVersion: 1.26.0\nSummary: HTTP library\n")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, mode int64, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(b)), ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	for _, d := range []string{"usr/", "usr/lib/", "usr/lib/python3.11/", "usr/lib/python3.11/site-packages/", "usr/lib/python3.11/site-packages/urllib3-1.26.0.dist-info/"} {
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)})
	}
	add("app", 0o755, app)
	add("sleeper", 0o755, sleeper)
	add("usr/lib/python3.11/site-packages/urllib3-1.26.0.dist-info/METADATA", 0o644, metadata)
	for _, d := range []string{"etc/", "var/", "var/lib/", "var/lib/dpkg/"} {
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)})
	}
	for _, f := range debian12Files {
		b, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "internal", "scans", "testdata", "debian12", f))
		if err != nil {
			t.Fatal(err)
		}
		add(f, 0o644, b)
	}
	tw.Close()
	sum := sha256.Sum256(buf.Bytes())
	tag := "riskmap-test/scans-vulnapp:" + hex.EncodeToString(sum[:6])
	if exec.Command("docker", "image", "inspect", tag).Run() != nil {
		cmd := exec.Command("docker", "import", "-", tag)
		cmd.Stdin = &buf
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker import: %v\n%s", err, b)
		}
	}
	return tag
}

// debian12Files are the files of testdata/debian12 the test image holds: a
// Debian 12 root's os-release and package database (3 packages).
var debian12Files = []string{"etc/os-release", "var/lib/dpkg/status"}

func runContainer(t *testing.T, image string, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", append([]string{"run", "-d", "--network", "none", image}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker run %v: %v\n%s", args, err, out)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
	return id
}

// reportExposure answers Exposure from a real sensor report, the way the
// topology does from ingested reports: a container node's processes with
// their mapped files and listening sockets.
type reportExposure struct {
	mu        sync.Mutex
	rep       *report.Report
	container map[string]string // node id → container id
}

func (r *reportExposure) Exposure(_ context.Context, nodeID string) (risk.Exposure, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cid, ok := r.container[nodeID]
	if !ok || r.rep == nil {
		return risk.Exposure{}, nil
	}
	ex := risk.Exposure{Known: true}
	for _, p := range r.rep.Processes {
		if p.ContainerID != cid {
			continue
		}
		rp := risk.Process{PID: p.PID, Name: p.Name, LoadedFiles: p.Loaded}
		for _, l := range p.Listen {
			rp.Listening = append(rp.Listening, risk.Endpoint{Proto: "tcp", Addr: l.Addr, Port: int(l.Port)})
		}
		ex.Processes = append(ex.Processes, rp)
	}
	return ex, nil
}

// api is a signed-in HTTPS client of the console.
type api struct {
	t      *testing.T
	base   string
	hc     *http.Client
	bearer string
}

func (a *api) do(method, path string, body any, out any) int {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+a.bearer)
	} else if u, _ := http.NewRequest("GET", a.base, nil); u != nil {
		for _, c := range a.hc.Jar.Cookies(u.URL) {
			if c.Name == console.CSRFCookie {
				req.Header.Set(console.CSRFHeader, c.Value)
			}
		}
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if s, ok := out.(*string); ok {
			*s = string(b)
		} else if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	if resp.StatusCode >= 300 {
		a.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

type e2eConsole struct {
	api         *api
	fingerprint string
	st          *store.Store
	svc         *scans.Service
	topo        *topology.Topology
	jobs        *jobs.Queue
}

func startE2EConsole(t *testing.T, dbURL string, ex findings.ExposureSource) *e2eConsole {
	t.Helper()
	return startE2EConsoleWith(t, dbURL, ex, scans.SensorLimits{})
}

// startE2EConsoleWith starts the console with the given sensor rate limits.
// It is the console's composition (internal/cli) with the test's exposure
// answer in place of the topology's.
func startE2EConsoleWith(t *testing.T, dbURL string, ex findings.ExposureSource, limits scans.SensorLimits) *e2eConsole {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	cfg := config.DefaultConsole()
	cfg.DataDir, cfg.Listen, cfg.Database = dir, "127.0.0.1:0", dbURL
	cfg.Argon2MemoryKiB, cfg.Argon2Iterations = 64, 1
	var log *slog.Logger
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	st, err := store.Open(ctx, store.Config{URL: dbURL, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	kb := feeds.NewKB(feeds.New(feeds.Config{DataDir: kbtest.SharedDataDir(t)}), feeds.KBConfig{Logger: log})
	if kb.DB() == nil {
		t.Fatal("shared knowledge base not loaded")
	}
	topo, err := topology.New(ctx, st, topology.Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if ex == nil {
		ex = topo
	}
	q := jobs.New(st, jobs.Config{Logger: log, RescueEvery: time.Second})
	fnd := findings.New(findings.Config{Store: st, KB: kb, Exposure: ex, Logger: log, Version: "test"})
	pst := posture.New(posture.Config{Store: st, Findings: fnd, Nodes: topo, Logger: log})
	svc := scans.NewService(scans.ServiceConfig{Store: st, Jobs: q, Findings: fnd, Posture: pst, Topology: topo, Logger: log, Version: "test",
		Queue: scans.QueueConfig{Lease: 20 * time.Second, RetryBase: time.Second}, SensorLimits: limits})
	topo.AddDetailSource(svc)
	q.MustRegister(svc.ScanKind(scans.TypeVulnerability), svc.ScanKind(scans.TypeSecret), svc.ScanKind(scans.TypeMalware), svc.ScanKind(scans.TypeCompliance),
		svc.AutoScanKind(), svc.SchedulesKind(), svc.RematchKind())
	diag := diagnosis.New(diagnosis.Sources{Store: st, KB: kb, Topology: topo, Scans: svc, Findings: fnd, Jobs: q})
	bg := make(chan struct{}, 2)
	go func() { topo.Run(ctx); bg <- struct{}{} }()
	go func() { q.Run(ctx); bg <- struct{}{} }()
	srv, err := console.New(ctx, console.Options{Config: cfg, Store: st, Logger: log, Version: "test", Modules: []console.Module{topo, svc, fnd, pst, kb, diag}})
	if err != nil {
		t.Fatal(err)
	}
	run, err := srv.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		run.Wait()
		<-bg
		<-bg
		st.Close()
	})
	pem, err := os.ReadFile(filepath.Join(dir, "tls", "console.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	jar, _ := cookiejar.New(nil)
	a := &api{t: t, base: "https://" + run.Addr.String(), hc: &http.Client{Jar: jar, Timeout: time.Minute,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}}
	if c := a.do("POST", "/api/v1/auth/register", map[string]string{"email": "admin@example.com", "password": "correct horse battery staple",
		"name": "Ada", "organisation": "Acme"}, nil); c != http.StatusCreated {
		t.Fatalf("register: %d", c)
	}
	var key struct {
		APIKey string `json:"apiKey"`
	}
	if c := a.do("POST", "/api/v1/me/api-key", nil, &key); c != http.StatusOK {
		t.Fatalf("api key: %d", c)
	}
	a.bearer = key.APIKey
	return &e2eConsole{api: a, fingerprint: run.Fingerprint, st: st, svc: svc, topo: topo, jobs: q}
}

// enrol creates an enrolment token as the admin and enrols a sensor with
// it: the sensor's client and the id the console assigned.
func (c *e2eConsole) enrol(t *testing.T, hostname string) (*client.Client, string) {
	t.Helper()
	var tok struct{ Token string }
	if code := c.api.do("POST", "/api/v1/enrolment-tokens", map[string]any{"name": "e2e " + hostname, "maxSensors": 1}, &tok); code != http.StatusCreated {
		t.Fatalf("enrolment token: %d", code)
	}
	cl, err := client.New(client.Config{ConsoleURL: c.api.base, PinSHA256: c.fingerprint, Version: "e2e-1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	en, err := cl.Enrol(context.Background(), sensorproto.EnrolRequest{Token: tok.Token, Hostname: hostname, Version: "e2e-1.2.3"})
	if err != nil {
		t.Fatalf("enrol %s: %v", hostname, err)
	}
	return cl, en.SensorID
}

type findingsPage struct {
	Items []findings.NodeFinding `json:"items"`
	Total int                    `json:"total"`
}

func waitTerminal(t *testing.T, a *api, ids ...string) map[string]scans.Scan {
	t.Helper()
	out := map[string]scans.Scan{}
	deadline := time.Now().Add(4 * time.Minute)
	for _, id := range ids {
		for {
			var s scans.Scan
			a.do("GET", "/api/v1/scans/"+id, nil, &s)
			if s.Terminal() {
				out[id] = s
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("scan %s still %s (%s)", id, s.Status, s.Message)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return out
}

// TestEndToEnd runs the real console (HTTPS, SQLite and PostgreSQL) with
// the scans module and the knowledge base from the shared feeds, and the
// real sensor (probes, command runner, inventory scanner) scanning two
// containers of one image holding a vulnerable Go module and a vulnerable
// Python package: one container runs the vulnerable binary listening on a
// socket, the other leaves it unused.
func TestEndToEnd(t *testing.T) {
	img := vulnImage(t)
	listening := runContainer(t, img, "/app", "listen", "18081")
	idle := runContainer(t, img, "/sleeper")
	sc := sensor.Default()
	sc.SensorID, sc.Conntrack, sc.ContainerdSockets, sc.Version = "e2e-sensor", false, []string{"off"}, "e2e-1.2.3"
	sen, err := sensor.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	defer sen.Close()
	var rep *report.Report
	for range 50 { // the listening socket appears once the process is up
		rep = sen.Collect(context.Background())
		if hasListener(rep, listening) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !hasListener(rep, listening) {
		t.Fatalf("the sensor does not see container %s listening", listening[:12])
	}

	for _, b := range e2eBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			ex := &reportExposure{rep: rep, container: map[string]string{}}
			c := startE2EConsole(t, b.url(t), ex)
			a := c.api
			// The sensor enrols: its reports carry the id the console assigned.
			cl, sensorID := c.enrol(t, "e2e-host")
			enrolledRep := *rep
			enrolledRep.SensorID = sensorID
			// The topology module (its writer is the only one of nodes and
			// edges) stores the sensor's report: the containers become nodes.
			listenNode, idleNode := seedTopology(t, c.topo, &enrolledRep, listening, idle)
			ex.container[listenNode], ex.container[idleNode] = listening, idle

			rctx, stop := context.WithCancel(ctx)
			runnerDone := make(chan struct{})
			go func() {
				defer close(runnerDone)
				command.New(command.Config{SensorID: sensorID, Slots: 2, PollInterval: 200 * time.Millisecond, Heartbeat: time.Second,
					Scan: sen.Scan}, cl).Run(rctx)
			}()
			defer func() { stop(); <-runnerDone }()

			var started struct {
				Items []scans.Scan `json:"items"`
			}
			if code := a.do("POST", "/api/v1/scans", map[string]any{"nodeIds": []string{listenNode, idleNode}}, &started); code != http.StatusCreated || len(started.Items) != 2 {
				t.Fatalf("start scans: %d %+v", code, started)
			}
			got := waitTerminal(t, a, started.Items[0].ID, started.Items[1].ID)
			for id, s := range got {
				if s.Status != scans.StatusComplete || s.Findings == 0 {
					t.Fatalf("scan %s: %s %q with %d findings", id, s.Status, s.Message, s.Findings)
				}
				// The image's Debian 12 packages: the shared feeds hold no
				// Debian 12 records, so they were not judged, and the scan
				// says so.
				if want := []match.Uncovered{{Ecosystem: "Debian:12", Packages: 3}}; !slices.Equal(s.Uncovered, want) {
					t.Errorf("scan %s: uncovered %+v, want %+v", id, s.Uncovered, want)
				}
			}

			// The same vulnerability ranks higher where a listening process
			// loads the package.
			var xtext findingsPage
			a.do("GET", "/api/v1/findings?vulnId=GO-2020-0015", nil, &xtext)
			score := map[string]findings.NodeFinding{}
			for _, f := range xtext.Items {
				score[f.NodeID] = f
			}
			lf, idf := score[listenNode], score[idleNode]
			if xtext.Total != 2 || lf.Risk.Score <= idf.Risk.Score {
				t.Fatalf("GO-2020-0015: listening %v (%+v), idle %v (%+v), total %d", lf.Risk.Score, lf.Risk.Factors, idf.Risk.Score, idf.Risk.Factors, xtext.Total)
			}
			// The app listens on 127.0.0.1 (the test's containers share no
			// network): a local attack surface, below a network listener.
			if lf.Risk.Factors[2].Value != risk.ExposureLocal || idf.Risk.Factors[2].Value != risk.ExposureUnused {
				t.Errorf("exposure: listening %+v, idle %+v", lf.Risk.Factors[2], idf.Risk.Factors[2])
			}
			if n := len(lf.Risk.Path); n < 3 || lf.Risk.Path[n-1].Kind != "package" || lf.Risk.Path[n-2].Kind != "process" {
				t.Errorf("attack path %+v", lf.Risk.Path)
			}
			var py findingsPage
			a.do("GET", "/api/v1/findings?package=urllib3&nodeId="+idleNode, nil, &py)
			if py.Total == 0 || py.Items[0].Finding.Package.Ecosystem != "PyPI" {
				t.Errorf("no urllib3 findings on the idle container: %+v", py)
			}

			var top findingsPage
			a.do("GET", "/api/v1/findings/top?limit=500", nil, &top)
			posL, posI := -1, -1
			for i, f := range top.Items {
				if slices.Contains(f.Finding.AllIDs(), "GO-2020-0015") && f.NodeID == listenNode {
					posL = i
				}
				if slices.Contains(f.Finding.AllIDs(), "GO-2020-0015") && f.NodeID == idleNode {
					posI = i
				}
			}
			if posL < 0 || posI < 0 || posL > posI {
				t.Errorf("top: GO-2020-0015 at %d on the listening container, %d on the idle one", posL, posI)
			}

			// Decisions are honoured and exported.
			var d findings.Decision
			if code := a.do("POST", "/api/v1/findings/decisions", map[string]any{"vulnId": "CVE-2020-14040", "nodeId": idleNode,
				"status": "not_affected", "justification": "vulnerable_code_not_in_execute_path", "reason": "the binary never runs here"}, &d); code != http.StatusCreated {
				t.Fatalf("decide: %d", code)
			}
			a.do("GET", "/api/v1/findings?vulnId=GO-2020-0015", nil, &xtext)
			if xtext.Total != 1 || xtext.Items[0].NodeID != listenNode {
				t.Errorf("after not_affected on the idle node: %+v", xtext)
			}
			var vex string
			a.do("GET", "/api/v1/findings/decisions/openvex", nil, &vex)
			if !strings.Contains(vex, `"not_affected"`) || !strings.Contains(vex, "CVE-2020-14040") || !strings.Contains(vex, "pkg:golang/golang.org/x/text@") {
				t.Errorf("OpenVEX: %s", vex)
			}

			// Downloads.
			for _, q := range []string{"/api/v1/scans/" + started.Items[0].ID + "/report?format=cyclonedx-json",
				"/api/v1/scans/" + started.Items[0].ID + "/report?format=sarif",
				"/api/v1/scans/" + started.Items[0].ID + "/sbom?format=spdx-json",
				"/api/v1/findings/export?format=csv&kev=false"} {
				var body string
				if code := a.do("GET", q, nil, &body); code != http.StatusOK || len(body) < 100 {
					t.Errorf("GET %s: %d %q", q, code, body)
				}
			}

			// A second scan of the listening container: history and diff.
			var again struct {
				Items []scans.Scan `json:"items"`
			}
			a.do("POST", "/api/v1/scans", map[string]any{"nodeIds": []string{listenNode}}, &again)
			waitTerminal(t, a, again.Items[0].ID)
			var hist struct {
				Items []scans.Scan `json:"items"`
			}
			a.do("GET", "/api/v1/scans?nodeId="+listenNode, nil, &hist)
			if len(hist.Items) != 2 {
				t.Errorf("history of the listening container: %d scans", len(hist.Items))
			}
			first := started.Items[0].ID
			if started.Items[0].NodeID != listenNode {
				first = started.Items[1].ID
			}
			var diff findings.Diff
			a.do("GET", "/api/v1/scans/"+again.Items[0].ID+"/diff/"+first, nil, &diff)
			if len(diff.New) != 0 || len(diff.Fixed) != 0 || diff.Unchanged == 0 {
				t.Errorf("diff of two scans of the same container: %+v", diff)
			}

			// The containers' image, a node no sensor owns, is scanned by a
			// sensor that holds it: the same vulnerable packages.
			ci := slices.IndexFunc(rep.Containers, func(rc report.Container) bool { return rc.ID == listening })
			imgNode := topology.ImageNodeID(rep.Containers[ci].ImageID)
			var imgScan struct {
				Items []scans.Scan `json:"items"`
			}
			if code := a.do("POST", "/api/v1/scans", map[string]any{"nodeIds": []string{imgNode}}, &imgScan); code != http.StatusCreated || len(imgScan.Items) != 1 {
				t.Fatalf("start an image node scan: %d %+v", code, imgScan)
			}
			if is := imgScan.Items[0]; is.SensorID != sensorID || is.Target.Kind != scans.KindImage || is.NodeID != imgNode {
				t.Errorf("image scan target: %+v", is)
			}
			img := waitTerminal(t, a, imgScan.Items[0].ID)[imgScan.Items[0].ID]
			if img.Status != scans.StatusComplete || img.Findings == 0 {
				t.Fatalf("image scan: %s %q with %d findings", img.Status, img.Message, img.Findings)
			}
			var imgFindings findingsPage
			a.do("GET", "/api/v1/findings?vulnId=GO-2020-0015&nodeId="+imgNode, nil, &imgFindings)
			if imgFindings.Total != 1 {
				t.Errorf("GO-2020-0015 on the image node: %+v", imgFindings)
			}
			var node topology.NodeDetail
			a.do("GET", "/api/v1/topology/nodes/"+imgNode, nil, &node)
			if node.Scans == nil || node.Scans.LatestComplete == nil || node.Scans.LatestComplete.ID != img.ID {
				t.Errorf("image node details: %+v", node.Scans)
			}

			var diag diagnosis.Diagnosis
			if code := a.do("GET", "/api/v1/diagnosis", nil, &diag); code != http.StatusOK {
				t.Fatalf("diagnosis: %d", code)
			}
			if len(diag.Sensors) != 1 || diag.Sensors[0].SensorID != sensorID || diag.Sensors[0].LastPoll == nil || diag.Scans[scans.StatusComplete] != 4 ||
				diag.Storage.DatabaseBytes == 0 || diag.Feeds == nil || !diag.Feeds.Loaded {
				t.Errorf("diagnosis: %+v", diag)
			}
			if diag.Sensors[0].Version != "e2e-1.2.3" {
				t.Errorf("diagnosis: sensor version %q, want the version the sensor reports", diag.Sensors[0].Version)
			}
			if diag.JobKinds[scans.KindVulnerability][jobs.Completed] != 4 {
				t.Errorf("diagnosis: scan jobs %v", diag.JobKinds)
			}
			// The coverage check names the release the nodes run that the
			// feeds do not cover: both containers and their image.
			if c := diag.Coverage; c == nil || c.Healthy || len(c.Gaps) != 1 || c.Gaps[0].Ecosystem != "Debian:12" || c.Gaps[0].Nodes != 3 ||
				c.Gaps[0].Packages != 9 || !strings.Contains(c.Gaps[0].Remedy, "holds no Debian 12 records") {
				t.Errorf("diagnosis: coverage %+v", c)
			}
			// The scan's report says it too (JSON "uncovered", a SARIF
			// notification).
			var rep struct {
				Uncovered []match.Uncovered `json:"uncovered"`
			}
			if code := a.do("GET", "/api/v1/scans/"+img.ID+"/report?format=json", nil, &rep); code != http.StatusOK ||
				!slices.Equal(rep.Uncovered, []match.Uncovered{{Ecosystem: "Debian:12", Packages: 3}}) {
				t.Errorf("report of the image scan: %d, uncovered %+v", code, rep.Uncovered)
			}
		})
	}
}

// seedTopology ingests the sensor's report through the console's topology
// module and returns the node ids of the given containers.
func seedTopology(t *testing.T, topo *topology.Topology, rep *report.Report, containerIDs ...string) (string, string) {
	t.Helper()
	full := *rep
	full.Kind, full.RunID, full.Seq, full.BaseSeq, full.Removed = report.KindFull, "e2e", 1, 0, nil
	if _, err := topo.Ingest(context.Background(), &full); err != nil {
		t.Fatalf("ingest the sensor's report: %v", err)
	}
	var ids []string
	for _, cid := range containerIDs {
		i := slices.IndexFunc(rep.Containers, func(c report.Container) bool { return c.ID == cid })
		if i < 0 {
			t.Fatalf("the sensor's report lacks container %s", cid)
		}
		c := rep.Containers[i]
		ids = append(ids, topology.ContainerNodeID(rep.SensorID, c.Runtime, c.Namespace, c.ID))
	}
	return ids[0], ids[1]
}

func hasListener(rep *report.Report, cid string) bool {
	for _, p := range rep.Processes {
		if p.ContainerID == cid && len(p.Listen) > 0 {
			return true
		}
	}
	return false
}
