package topology_test

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/sensor"
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
	e := startConsole(t, t.TempDir(), "", &clock{t: time.Now()}, topology.Config{Interval: interval, SensorRefill: 100 * time.Millisecond})
	e.startRealClock()
	e.register()

	s, err := sensor.New(sensor.Config{DockerHost: "off", ContainerdSockets: []string{"off"}, CloudMetadataURL: "off",
		Interval: interval, MinInterval: 200 * time.Millisecond, MaxInterval: interval, MaxBackoff: interval,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, e.sensorClient()) }()
	defer func() { cancel(); <-done }()

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
	select {
	case err := <-done:
		t.Fatalf("the sensor stopped during the outage: %v", err)
	default:
	}
	e.start()
	back := time.Now()
	waitFor(t, "the listener started during the outage", 60*time.Second, func() bool { return hasPID(pid) })
	t.Logf("topology complete %s after the console came back (report interval %s, outage %s)",
		time.Since(back).Round(10*time.Millisecond), interval, outage)
	select {
	case err := <-done:
		t.Fatalf("the sensor stopped: %v", err)
	default:
	}
}
