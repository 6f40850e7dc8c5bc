package sensor_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensor"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensor/client/consoletest"
)

func hasListener(r *report.Report, pid int, port string) bool {
	if r == nil {
		return false
	}
	p, _ := strconv.Atoi(port)
	return slices.ContainsFunc(r.Connections, func(c report.Connection) bool {
		return c.State == "LISTEN" && c.PID == pid && int(c.Local.Port) == p
	})
}

// TestRunSurvivesConsoleFaults runs the report loop against a TLS console
// with a pinned self-signed certificate: reports arrive (full, then
// deltas); malformed, oversized and 429 answers are survived; the console
// stopped and started again gets a full, complete topology within two
// intervals of coming back, without restarting the sensor.
func TestRunSurvivesConsoleFaults(t *testing.T) {
	con := consoletest.Start(t)
	cl, err := client.New(client.Config{ConsoleURL: con.URL(), Key: con.Key, PinSHA256: con.Pin(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cfg := sensor.Config{DockerHost: "off", ContainerdSockets: []string{"off"}, CloudMetadataURL: "off",
		Interval: time.Second, MinInterval: 100 * time.Millisecond, MaxBackoff: time.Second, FullEvery: 1000,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	s, err := sensor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, cl) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}()

	self := os.Getpid()
	waitFor(t, "this process in the console's topology", 20*time.Second, func() bool {
		snap := con.Snapshot()
		return snap != nil && slices.ContainsFunc(snap.Processes, func(p report.Process) bool { return p.PID == self })
	})
	waitFor(t, "a delta report", 20*time.Second, func() bool {
		return slices.ContainsFunc(con.Reports(), func(r *report.Report) bool { return r.Kind == report.KindDelta })
	})
	if r := con.Reports()[0]; r.Kind != report.KindFull {
		t.Fatalf("first report kind %s, want full", r.Kind)
	}

	// Bad answers: the sensor keeps going and recovers when they stop.
	for _, f := range []consoletest.Fault{consoletest.Malformed, consoletest.Oversized, consoletest.Overloaded} {
		con.SetFault(f)
		time.Sleep(2500 * time.Millisecond)
		con.SetFault(consoletest.None)
		n := len(con.Reports())
		waitFor(t, "reports after a fault", 20*time.Second, func() bool { return len(con.Reports()) > n })
		if last := con.Reports()[n]; last.Kind != report.KindFull {
			t.Errorf("fault %d: first report accepted afterwards is %s, want full", f, last.Kind)
		}
	}

	// The console goes away; meanwhile a process starts listening.
	// RISKMAP_TEST_OUTAGE=2m runs the two-minute outage.
	outage := 3 * time.Second
	if d, err := time.ParseDuration(os.Getenv("RISKMAP_TEST_OUTAGE")); err == nil {
		outage = d
	}
	con.Stop()
	time.Sleep(outage)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	listening := time.Now()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	before := len(con.Reports())
	con.Restart()
	waitFor(t, "the new listener after the console came back", 30*time.Second, func() bool { return hasListener(con.Snapshot(), self, port) })
	// Complete again with the first report accepted after the outage (a
	// full one), and the listener in the first report collected after it
	// opened (or in one begun just before, which may have seen it), which
	// is the first or the second accepted: so well within two intervals.
	// Counted in reports, not wall time, to stay deterministic on a loaded
	// machine. (A report collected just before the listener opened and
	// pushed just after the console came back need not have it.)
	rs := con.Reports()[before:]
	if rs[0].Kind != report.KindFull {
		t.Errorf("first report after the outage: kind %s, want full", rs[0].Kind)
	}
	first := slices.IndexFunc(rs, func(r *report.Report) bool { return hasListener(r, self, port) || !r.Time.Before(listening) })
	switch {
	case first < 0:
		t.Errorf("no report with the listener or collected after it opened, of %d after the outage", len(rs))
	case first > 1:
		t.Errorf("the first report collected after the listener opened is the %dth after the outage; want the first or second", first+1)
	case !hasListener(rs[first], self, port):
		t.Errorf("report %d (kind %s, collected %s after the listener opened) lacks it", rs[first].Seq, rs[first].Kind, rs[first].Time.Sub(listening))
	}
	if _, _, rejected := con.Counts(); rejected != 0 {
		t.Errorf("console rejected %d reports", rejected)
	}
}

// TestRunResendsFullAtOnce: a delta the console cannot apply (a console
// replica that never saw the sensor's base) is answered "full report
// needed", and the sensor sends its full report at once, not an interval
// later.
func TestRunResendsFullAtOnce(t *testing.T) {
	con := consoletest.Start(t)
	con.NextReportSeconds = 3
	cl, err := client.New(client.Config{ConsoleURL: con.URL(), Key: con.Key, PinSHA256: con.Pin(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cfg := sensor.Config{DockerHost: "off", ContainerdSockets: []string{"off"}, CloudMetadataURL: "off",
		Interval: 3 * time.Second, MinInterval: time.Second, MaxBackoff: time.Second, FullEvery: 1000,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	s, err := sensor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, cl) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "a delta report", 20*time.Second, func() bool {
		return slices.ContainsFunc(con.Reports(), func(r *report.Report) bool { return r.Kind == report.KindDelta })
	})
	con.ForgetBase()
	var refused, full consoletest.Received
	waitFor(t, "a refused delta and the full report after it", 20*time.Second, func() bool {
		rs := con.Received()
		for i, r := range rs {
			if r.FullRequested && i+1 < len(rs) {
				refused, full = r, rs[i+1]
				return true
			}
		}
		return false
	})
	if full.Kind != report.KindFull || full.FullRequested {
		t.Fatalf("after the refused delta %d: %+v, want a full report", refused.Seq, full)
	}
	if gap := full.At.Sub(refused.At); gap > 1500*time.Millisecond {
		t.Errorf("full report %s after the refused delta; want at once (the interval is 3 s)", gap)
	}
}
