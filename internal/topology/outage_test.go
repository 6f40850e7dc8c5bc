package topology_test

import (
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/topology"
)

// TestSensorSurvivesConsoleOutage stops the real console while the real
// sensor runs, starts a listening process during the outage, and starts the
// console again on the same address: the same sensor (not restarted)
// reconnects and the topology is complete again, the new listener
// included. RISKMAP_TEST_OUTAGE sets the outage (default 3s; the issue's
// scenario is 2m).
func TestSensorSurvivesConsoleOutage(t *testing.T) {
	outage := 3 * time.Second
	if v := os.Getenv("RISKMAP_TEST_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("RISKMAP_TEST_OUTAGE: %v", err)
		}
		outage = d
	}
	const interval = time.Second
	e := startConsole(t, t.TempDir(), "", testenv.NewClock(time.Now()), topology.Config{Interval: interval, SensorRefill: 100 * time.Millisecond})
	e.startRealClock()
	e.register()

	stopped := e.runSensor(interval, slog.LevelError)

	hasPID := func(pid int) bool {
		var g topology.Graph
		if e.get("/api/v1/topology/graph?view=processes&maxNodes=20000", &g) != http.StatusOK {
			return false
		}
		for _, n := range g.Nodes {
			if p, _ := strconv.Atoi(n.Attrs["pid"]); p == pid {
				return true
			}
		}
		return false
	}
	waitFor(t, "the sensor's first report", 30*time.Second, func() bool { return hasPID(os.Getpid()) })

	e.stop()
	_, pid := testenv.NetHelper(t, "listen") // appears while the console is away
	time.Sleep(outage)
	if ok, err := stopped(); ok {
		t.Fatalf("the sensor stopped during the outage: %v", err)
	}
	e.start()
	back := time.Now()
	waitFor(t, "the listener started during the outage", 60*time.Second, func() bool { return hasPID(pid) })
	t.Logf("topology complete %s after the console came back (report interval %s, outage %s)",
		time.Since(back).Round(10*time.Millisecond), interval, outage)
	if ok, err := stopped(); ok {
		t.Fatalf("the sensor stopped: %v", err)
	}
}
