package topology_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/topology"
)

// TestOnChange checks that a committed report tells the listener which
// nodes appeared and changed (the host of a changed process included), so
// risk is recomputed from events rather than by a periodic sweep.
func TestOnChange(t *testing.T) {
	type call struct{ changed, appeared []string }
	var mu sync.Mutex
	var calls []call
	got := make(chan struct{}, 16)
	clk := &clock{t: time.Now().UTC().Truncate(time.Millisecond)}
	e := startConsole(t, t.TempDir(), "", clk, topology.Config{SensorBurst: 100,
		OnChange: func(_ context.Context, changed, appeared []string) {
			mu.Lock()
			calls = append(calls, call{changed, appeared})
			mu.Unlock()
			got <- struct{}{}
		}})
	e.register()
	cl := e.sensorClient()
	push(t, cl, dbHost())
	select {
	case <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("OnChange was not called after a report")
	}
	var nodes topology.NodePage
	e.get("/api/v1/topology/nodes?kind=host", &nodes)
	if len(nodes.Items) != 1 {
		t.Fatalf("hosts: %+v", nodes.Items)
	}
	host := nodes.Items[0].ID
	mu.Lock()
	first := calls[0]
	mu.Unlock()
	if !slices.Contains(first.appeared, host) || !slices.Contains(first.changed, host) {
		t.Errorf("first call %+v; want host %s appeared and changed", first, host)
	}
	var procs topology.NodePage
	e.get("/api/v1/topology/nodes?kind=process", &procs)
	for _, p := range procs.Items {
		if !slices.Contains(first.changed, p.ID) {
			t.Errorf("process %s (%s) not reported as changed", p.ID, p.Label)
		}
	}
}
