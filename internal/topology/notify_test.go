package topology_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/topology"
)

// outbox reads the events the topology wrote to the outbox, by type.
func outbox(t *testing.T, st *store.Store) map[string][]json.RawMessage {
	t.Helper()
	rows, err := st.Read().QueryContext(context.Background(), `SELECT type, payload FROM events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]json.RawMessage{}
	for rows.Next() {
		var typ, p string
		if err := rows.Scan(&typ, &p); err != nil {
			t.Fatal(err)
		}
		out[typ] = append(out[typ], json.RawMessage(p))
	}
	return out
}

// TestEvents checks that a committed report writes, in its transaction,
// which nodes appeared and changed (the host of a changed process
// included), and that a silent sensor's nodes going writes node.gone and
// sensor.offline: risk and auto-scan follow these events, not a sweep.
func TestEvents(t *testing.T) {
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	e := startConsole(t, t.TempDir(), "", clk, topology.Config{SensorBurst: 100, GoneAfter: 5 * time.Minute})
	e.register()
	cl := e.sensorClient()
	push(t, cl, dbHost())
	var nodes topology.NodePage
	e.get("/api/v1/topology/nodes?kind=host", &nodes)
	if len(nodes.Items) != 1 {
		t.Fatalf("hosts: %+v", nodes.Items)
	}
	host := nodes.Items[0].ID
	evs := outbox(t, e.st)
	if len(evs[topology.EventNodesChanged]) != 1 || len(evs[topology.EventNodesAppeared]) != 1 {
		t.Fatalf("events after the first report: %v", evs)
	}
	var changed topology.NodesChanged
	var appeared topology.NodesAppeared
	json.Unmarshal(evs[topology.EventNodesChanged][0], &changed)
	json.Unmarshal(evs[topology.EventNodesAppeared][0], &appeared)
	if !slices.Contains(changed.Nodes, host) || !slices.ContainsFunc(appeared.Nodes, func(r topology.NodeRef) bool { return r.ID == host && r.Kind == "host" }) {
		t.Errorf("host %s: changed %v, appeared %v", host, changed.Nodes, appeared.Nodes)
	}
	var procs topology.NodePage
	e.get("/api/v1/topology/nodes?kind=process", &procs)
	if len(procs.Items) == 0 {
		t.Fatal("no processes")
	}
	for _, p := range procs.Items {
		if !slices.Contains(changed.Nodes, p.ID) {
			t.Errorf("process %s (%s) not reported as changed", p.ID, p.Label)
		}
	}
	// The same report again changes nothing: no new events.
	push(t, cl, dbHost())
	if got := outbox(t, e.st); len(got[topology.EventNodesChanged]) != 1 || len(got[topology.EventNodesAppeared]) != 1 {
		t.Errorf("an unchanged report wrote events: %v", got)
	}
	// Silence: the sensor goes offline and its nodes are gone.
	clk.Advance(6 * time.Minute)
	if err := e.topo.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs = outbox(t, e.st)
	if len(evs[topology.EventSensorOffline]) != 1 || len(evs[topology.EventNodesGone]) != 1 {
		t.Fatalf("events after silence: %v", evs)
	}
	var gone topology.NodesGone
	json.Unmarshal(evs[topology.EventNodesGone][0], &gone)
	if !slices.Contains(gone.Nodes, host) {
		t.Errorf("gone %v misses the host", gone.Nodes)
	}
}

// TestExposedEvents checks node.exposed: the first pass records what the
// internet reaches as a baseline without news; a host that becomes
// reachable (nginx on its public address, connections from the internet)
// is published once, with why; a host unreachable for ExposureForget is
// news again when reached again; a restarted console repeats nothing.
func TestExposedEvents(t *testing.T) {
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	e := startConsole(t, t.TempDir(), "", clk, topology.Config{SensorBurst: 100, ExposureEvery: time.Hour, ExposureForget: 10 * time.Minute, GoneAfter: time.Hour})
	e.register()
	cl := e.sensorClient()
	ctx := context.Background()
	check := func() {
		t.Helper()
		if err := e.topo.CheckExposure(ctx); err != nil {
			t.Fatal(err)
		}
	}
	exposed := func() []topology.ExposedNode {
		var out []topology.ExposedNode
		for _, p := range outbox(t, e.st)[topology.EventNodesExposed] {
			var ev topology.NodesExposed
			if err := json.Unmarshal(p, &ev); err != nil {
				t.Fatal(err)
			}
			out = append(out, ev.Nodes...)
		}
		return out
	}
	web := func(seq uint64, listening bool) *report.Report {
		r := webHost(false)
		r.Seq = seq
		if !listening { // nginx stopped
			r.Processes = slices.DeleteFunc(r.Processes, func(p report.Process) bool { return p.Name == "nginx" })
			r.Connections = nil
		}
		return r
	}
	push(t, cl, dbHost())
	check()
	if got := exposed(); len(got) != 0 {
		t.Fatalf("a private database host is news: %+v", got)
	}
	push(t, cl, web(1, true))
	check()
	got := exposed()
	if len(got) != 1 || got[0].Label != "web-1" || got[0].Kind != topology.KindHost || got[0].Process != "nginx" || got[0].Reason == "" {
		t.Fatalf("after the web host: %+v; want web-1 with nginx and why", got)
	}
	id := got[0].ID
	ctxs := e.topo.Describe(id, "no-such-node")
	if c, ok := ctxs[id]; !ok || !c.Internet || c.Host != "web-1" || len(ctxs) != 1 {
		t.Errorf("Describe(web-1) = %+v", ctxs)
	}
	check()
	if got := exposed(); len(got) != 1 {
		t.Fatalf("repeated: %+v", got)
	}
	// Unreachable for longer than ExposureForget, then reachable again.
	push(t, cl, web(2, false))
	check()
	if c := e.topo.Describe(id)[id]; c.Internet {
		t.Fatalf("web-1 without nginx is still reachable: %+v", c)
	}
	clk.Advance(11 * time.Minute)
	check()
	push(t, cl, web(3, true))
	check()
	if got := exposed(); len(got) != 2 || got[1].ID != id {
		t.Fatalf("after forgetting and reaching again: %+v", got)
	}
	e.restart()
	check()
	if got := exposed(); len(got) != 2 {
		t.Fatalf("after a restart: %+v", got)
	}
}

// TestExposureScope: when the internet starts reaching web-1's nginx (a
// public address, a connection from the internet), the
// nodes whose exposure follows (the app behind nginx, the database behind
// the app, their hosts) are in the scope of the rescore, though the batch
// changed none of them; a process's scope holds its container, the
// container's image and its host.
func TestExposureScope(t *testing.T) {
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	e := startConsole(t, t.TempDir(), "", clk, topology.Config{SensorBurst: 100, GoneAfter: time.Hour})
	e.register()
	cl := e.sensorClient()
	push(t, cl, dbHost())
	closed := webHost(true)
	closed.Seq = 1
	closed.Connections = slices.DeleteFunc(closed.Connections, func(c report.Connection) bool { return c.Remote.Addr == "198.51.100.7" })
	// No public address yet either: nothing of web-1 is reachable.
	closed.Host.Interfaces = slices.DeleteFunc(closed.Host.Interfaces, func(i report.Interface) bool { return i.Name == "eth0" })
	push(t, cl, closed)
	app := topology.ProcessNodeID(e.id("web-1"), "200:2000")
	postgres := topology.ProcessNodeID(e.id("db-1"), "500:5000")
	if ex, _ := e.topo.Exposure(context.Background(), app); ex.Internet {
		t.Fatalf("the app is reachable before the internet connection: %+v", ex)
	}
	e.topo.ExposureScope(nil) // the reachability the findings were scored with

	open := webHost(true)
	open.Seq = 2
	push(t, cl, open)
	scope := e.topo.ExposureScope(nil)
	for _, id := range []string{app, postgres, topology.HostNodeID(e.id("web-1")), topology.HostNodeID(e.id("db-1"))} {
		if !slices.Contains(scope, id) {
			t.Errorf("scope after the internet reached nginx lacks %s: %v", id, scope)
		}
	}
	if again := e.topo.ExposureScope(nil); len(again) != 0 {
		t.Errorf("scope with nothing changed since: %v", again)
	}

	worker := topology.ProcessNodeID(e.id("web-1"), "300:3000")
	scope = e.topo.ExposureScope([]string{worker})
	for _, id := range []string{worker, topology.ContainerNodeID(e.id("web-1"), "docker", "", "c1c1c1c1c1c1c1c1"),
		topology.ImageNodeID("sha256:aaaa"), topology.HostNodeID(e.id("web-1"))} {
		if !slices.Contains(scope, id) {
			t.Errorf("the worker's scope lacks %s: %v", id, scope)
		}
	}
}

// A process of a container started with --network none reaches nothing
// beyond its own namespace, whatever address it binds: its sockets are
// marked isolated for the risk engine, unlike the same socket in a
// container with a network.
func TestExposureIsolatedContainer(t *testing.T) {
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	e := startConsole(t, t.TempDir(), "", clk, topology.Config{SensorBurst: 100, GoneAfter: time.Hour})
	e.register()
	cl := e.sensorClient()
	r := webHost(true)
	r.Seq = 1
	r.Processes = append(r.Processes, report.Process{PID: 400, PPID: 1, StartTicks: 4000, Name: "api", Exe: "/app/api",
		ContainerID: "c2c2c2c2c2c2c2c2", Listen: []report.Endpoint{ep("0.0.0.0", 8080)}, Loaded: []string{"/app/api"}})
	r.Containers = append(r.Containers, report.Container{ID: "c2c2c2c2c2c2c2c2", Runtime: "docker", Name: "/api", Image: "acme/api:1",
		ImageID: "sha256:bbbb", State: "running", NetworkMode: "none"})
	for i := range r.Processes {
		if r.Processes[i].PID == 300 { // the worker, in a container on the bridge
			r.Processes[i].Listen = []report.Endpoint{ep("0.0.0.0", 9090)}
		}
	}
	push(t, cl, r)
	for pid, want := range map[string]bool{"400:4000": true, "300:3000": false} {
		ex, err := e.topo.Exposure(context.Background(), topology.ProcessNodeID(e.id("web-1"), pid))
		if err != nil || len(ex.Processes) != 1 || len(ex.Processes[0].Listening) != 1 {
			t.Fatalf("exposure of %s: %+v, %v", pid, ex, err)
		}
		if l := ex.Processes[0].Listening[0]; l.Isolated != want || l.Loopback() != want {
			t.Errorf("process %s listening on %+v: isolated %v, loopback-only %v, want %v", pid, l, l.Isolated, l.Loopback(), want)
		}
	}
}
