package topology_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/topology"

	"github.com/riskmap/riskmap/internal/testenv"
)

// TestSensorToConsole runs the real sensor (its probes on this machine's
// /proc, its client pinned to the console's self-signed certificate) against
// the real console: the host, its processes and a loopback connection
// between two processes (a listener and a client started here) appear in
// the graph, and Exposure lists the listener's socket and loaded files.
// SQLite and PostgreSQL.
func TestSensorToConsole(t *testing.T) {
	for name, dbURL := range backends(t) {
		t.Run(name, func(t *testing.T) { sensorToConsole(t, dbURL(t)) })
	}
}

func sensorToConsole(t *testing.T, dbURL string) {
	e := startConsole(t, t.TempDir(), dbURL, testenv.NewClock(time.Now()), topology.Config{Interval: time.Second, SensorRefill: 100 * time.Millisecond})
	e.startRealClock()
	e.register()

	addr, listenPID := testenv.NetHelper(t, "listen")
	_, connectPID := testenv.NetHelper(t, "connect:"+addr)

	e.runSensor(time.Second, slog.LevelWarn)

	pidOf := func(n topology.GraphNode) int { p, _ := strconv.Atoi(n.Attrs["pid"]); return p }
	var g topology.Graph
	var listenID, connectID string
	waitFor(t, "the loopback connection between the two helper processes", 30*time.Second, func() bool {
		if e.get("/api/v1/topology/graph?view=processes&maxNodes=20000", &g) != http.StatusOK {
			return false
		}
		for _, n := range g.Nodes {
			switch pidOf(n) {
			case listenPID:
				listenID = n.ID
			case connectPID:
				connectID = n.ID
			}
		}
		for _, ed := range g.Edges {
			if ed.Source == connectID && ed.Target == listenID {
				return true
			}
		}
		return false
	})
	var hosts topology.Graph
	e.get("/api/v1/topology/graph?view=hosts", &hosts)
	hostname, _ := os.Hostname()
	if !strings.Contains(fmt.Sprint(nodeLabels(&hosts, "host")), hostname) {
		t.Errorf("hosts %v lack %s", nodeLabels(&hosts, "host"), hostname)
	}
	var det topology.NodeDetail
	e.get("/api/v1/topology/nodes/"+listenID, &det)
	port, _ := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	if len(det.Listening) == 0 || int(det.Listening[0].Port) != port || det.Host == "" {
		t.Errorf("listener detail: listening %v host %q", det.Listening, det.Host)
	}
	ex, err := e.topo.Exposure(context.Background(), det.Host)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	self, _ := os.Executable()
	for _, p := range ex.Processes {
		if p.PID == listenPID {
			found = true
			if len(p.Listening) == 0 || len(p.LoadedFiles) == 0 || !strings.Contains(strings.Join(p.LoadedFiles, " "), filepath.Base(self)) {
				t.Errorf("listener exposure: listening %v loaded %v", p.Listening, p.LoadedFiles)
			}
			if p.InternetReachable {
				t.Errorf("a 127.0.0.1 listener is internet reachable: %+v", p)
			}
		}
	}
	if !found {
		t.Errorf("host exposure lacks the listener (pid %d)", listenPID)
	}
}

// startRealClock makes the test console's clock follow the wall clock
// (the sensor loop runs in real time).
func (e *env) startRealClock() {
	stop := make(chan struct{})
	go func() {
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				e.clk.Set(time.Now())
			}
		}
	}()
	e.t.Cleanup(func() { close(stop) })
}

// TestKillDuringIngest SIGKILLs a console process while sensors push
// reports, restarts it on the same data directory, and checks that every
// report it acknowledged is there.
func TestKillDuringIngest(t *testing.T) {
	dir := t.TempDir()
	startProc := func() (*exec.Cmd, string, string) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "RISKMAP_TOPOLOGY_HELPER=console:"+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		var url, pin string
		if _, err := fmt.Fscan(out, &url, &pin); err != nil || url == "ERR" {
			t.Fatalf("console helper: %q %v", url, err)
		}
		return cmd, url, pin
	}
	cmd, url, pin := startProc()
	e := &env{t: t, dataDir: dir, clk: testenv.NewClock(time.Now())}
	e.base, e.pin = url, pin
	pemBytes, err := os.ReadFile(filepath.Join(dir, "tls", "console.crt"))
	if err != nil {
		t.Fatal(err)
	}
	e.pool = x509.NewCertPool()
	e.pool.AppendCertsFromPEM(pemBytes)
	e.register()

	// Sensors push full reports, each with a process named after its
	// sequence number (pid 1000+seq: pid 2 would be the kernel's kthreadd),
	// until the console dies.
	var mu sync.Mutex
	acked := map[string]uint64{} // sensor → highest acknowledged seq
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := e.sensor(fmt.Sprintf("kill-%d", i))
			id, cl := x.id, x.cl
			for seq := uint64(1); ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				r := &report.Report{Version: report.Version, SensorID: id, RunID: "r", Seq: seq, Kind: report.KindFull, Time: time.Now().UTC(),
					Host:      &report.Host{Hostname: id},
					Processes: []report.Process{{PID: 1000 + int(seq), PPID: 1, StartTicks: seq, Name: fmt.Sprintf("p%d", seq), Exe: "/bin/p"}}}
				gz, _ := report.Marshal(r, report.DefaultLimits())
				if _, err := cl.PushReport(context.Background(), gz); err != nil {
					return // the console is gone
				}
				mu.Lock()
				acked[id] = seq
				mu.Unlock()
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	close(stop)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no report acknowledged before the kill")
	}

	_, url, pin = startProc()
	e.base, e.pin = url, pin
	total := 0
	for id, seq := range acked {
		total += int(seq)
		// The last acknowledged report is stored: its process is present,
		// live unless the next report (committed, but killed before its
		// answer) replaced it.
		var det topology.NodeDetail
		nid := topology.ProcessNodeID(id, fmt.Sprintf("%d:%d", 1000+seq, seq))
		if code := e.get("/api/v1/topology/nodes/"+nid, &det); code != http.StatusOK || det.Label != fmt.Sprintf("p%d", seq) {
			t.Errorf("%s seq %d (acknowledged): status %d label %q", id, seq, code, det.Label)
			continue
		}
		if det.Gone {
			var next topology.NodeDetail
			nid := topology.ProcessNodeID(id, fmt.Sprintf("%d:%d", 1000+seq+1, seq+1))
			if code := e.get("/api/v1/topology/nodes/"+nid, &next); code != http.StatusOK || next.Gone {
				t.Errorf("%s seq %d (acknowledged) is gone, but no later report replaced it (seq %d: %d, gone %v)", id, seq, seq+1, code, next.Gone)
			}
		}
	}
	t.Logf("%d reports acknowledged by %d sensors before SIGKILL; all present after restart", total, len(acked))
}
