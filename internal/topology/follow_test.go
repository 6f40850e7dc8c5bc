package topology_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver for database/sql
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/topology"
)

// replicaHost is a sensor's picture: a host with an address, a listening
// database, and a client calling the next host's database (an edge
// between two sensors, drawn from the graph's address index).
func replicaHost(i int, procs []string) *report.Report {
	ip := fmt.Sprintf("10.9.0.%d", i+1)
	peer := fmt.Sprintf("10.9.0.%d", (i+1)%3+1)
	r := &report.Report{Version: report.Version, SensorID: fmt.Sprintf("s%d", i), RunID: "run", SensorVersion: "test", IntervalSeconds: 1,
		Time: time.Now().UTC(),
		Host: &report.Host{Hostname: fmt.Sprintf("host-%d", i), Interfaces: []report.Interface{{Name: "eth0", Up: true, Addrs: []string{ip + "/24"}}}}}
	r.Processes = append(r.Processes,
		report.Process{PID: 10, StartTicks: 1, Name: "postgres", Exe: "/usr/bin/postgres", Listen: []report.Endpoint{ep("0.0.0.0", 5432)}},
		report.Process{PID: 11, StartTicks: 1, Name: "app", Exe: "/usr/bin/app"})
	for k, p := range procs {
		r.Processes = append(r.Processes, report.Process{PID: 100 + k, StartTicks: 1, Name: p, Exe: "/usr/bin/" + p})
	}
	r.Connections = append(r.Connections,
		conn("LISTEN", r.Processes[0].Key(), ep("0.0.0.0", 5432), report.Endpoint{}),
		conn("ESTABLISHED", r.Processes[1].Key(), ep(ip, 40000), ep(peer, 5432)))
	return r
}

// graphOf is what a replica shows: its nodes (gone ones too) and edges.
func graphOf(t *testing.T, topo *topology.Topology) ([]string, []string) {
	t.Helper()
	items, _, err := topo.Nodes(topology.NodeQuery{Limit: 10000, IncludeGone: true})
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for _, n := range items {
		nodes = append(nodes, fmt.Sprintf("%s %s gone=%v", n.ID, n.Label, n.Gone))
	}
	g, err := topo.Graph(topology.GraphQuery{View: topology.ViewProcesses, MaxNodes: 20000})
	if err != nil {
		t.Fatal(err)
	}
	var edges []string
	for _, e := range g.Edges {
		edges = append(edges, e.Source+" "+e.Kind+" "+e.Target)
	}
	slices.Sort(nodes)
	slices.Sort(edges)
	return nodes, edges
}

// TestReplicasFollow: two topology modules on one PostgreSQL (two
// replicas in one process); what one ingests, the other shows within a
// second or two; a sensor moving to the other replica is asked for a full
// report for a delta, and after it the old replica follows its changes.
func TestReplicasFollow(t *testing.T) {
	url := testenv.PostgresURL(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func() *topology.Topology {
		st, err := store.Open(ctx, store.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		cfg := topology.Default()
		cfg.FollowEvery = 200 * time.Millisecond
		cfg.GoneAfter = 3 * time.Second
		cfg.SweepEvery = time.Hour // the test sweeps
		topo, err := topology.New(ctx, st, cfg)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { topo.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		return topo
	}
	a, b := open(), open()
	equal := func(what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			na, ea := graphOf(t, a)
			nb, eb := graphOf(t, b)
			dn, de := cmp.Diff(na, nb), cmp.Diff(ea, eb)
			if dn == "" && de == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: replicas differ after 5 s:\nnodes (-a +b):\n%s\nedges (-a +b):\n%s", what, dn, de)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	ingest := func(topo *topology.Topology, tr *report.Tracker, cur *report.Report) bool {
		t.Helper()
		out := tr.Next(cur)
		ack, err := topo.Ingest(ctx, out)
		if err != nil {
			t.Fatal(err)
		}
		tr.Ack(out)
		if ack.FullReportRequested {
			tr.RequestFull()
		}
		return ack.FullReportRequested
	}
	var trs []*report.Tracker
	for i := range 3 {
		trs = append(trs, report.NewTracker(report.DefaultFullEvery))
		ingest(a, trs[i], replicaHost(i, []string{"cron"}))
	}
	lastReport := time.Now() // sensor 2's: it reports no more

	equal("after the first full reports on a")
	// Deltas on a: one process replaced on each host.
	for i := range 3 {
		ingest(a, trs[i], replicaHost(i, []string{"sshd"}))
	}
	lastReport = time.Now()
	equal("after deltas on a")
	if st := b.Follow(); !st.On || st.Applied == 0 {
		t.Fatalf("b's follower: %+v", st)
	}
	// Sensor 0 moves to b: its delta lacks a base there.
	if !ingest(b, trs[0], replicaHost(0, []string{"sshd", "nginx"})) {
		t.Fatal("a delta to the replica without its base was acknowledged without asking for a full report")
	}
	if full := ingest(b, trs[0], replicaHost(0, []string{"sshd", "nginx"})); full {
		t.Fatal("the full report was answered with another request for a full report")
	}
	ingest(b, trs[0], replicaHost(0, []string{"nginx"})) // a delta b can apply: sshd goes
	equal("after sensor 0 moved to b")
	nodes, _ := graphOf(t, a)
	if !slices.ContainsFunc(nodes, func(s string) bool { return slices.Contains([]string{"nginx"}, labelOf(s)) }) {
		t.Fatalf("a does not show the process sensor 0 reported to b:\n%v", nodes)
	}
	// Back to a, which lost track of sensor 0's base: a full report again.
	if !ingest(a, trs[0], replicaHost(0, []string{"redis"})) {
		t.Fatal("a applied a delta whose base it never saw")
	}
	ingest(a, trs[0], replicaHost(0, []string{"redis"}))
	equal("after sensor 0 moved back to a")

	// Sensor 1's periodic full report on a, which holds its snapshot:
	// derived as a delta on it. Its change still carries the sensor's whole
	// claim set, the one the same report derived whole on b gives.
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	claimSet := func() []string {
		t.Helper()
		var body string
		if err := db.QueryRowContext(ctx, "SELECT body FROM topology_changes ORDER BY seq DESC LIMIT 1").Scan(&body); err != nil {
			t.Fatal(err)
		}
		var c struct {
			S []struct {
				ID  string   `json:"id"`
				All bool     `json:"all"`
				Add []string `json:"add"`
			} `json:"s"`
		}
		if err := json.Unmarshal([]byte(body), &c); err != nil {
			t.Fatal(err)
		}
		if len(c.S) != 1 || c.S[0].ID != "s1" || !c.S[0].All {
			t.Fatalf("the last change is not sensor 1's whole claim set: %s", body)
		}
		slices.Sort(c.S[0].Add)
		return c.S[0].Add
	}
	rebased := counter(t, a, "riskmap_topology_rebased_reports_total")
	trs[1].RequestFull()
	ingest(a, trs[1], replicaHost(1, []string{"sshd", "cups"}))
	if n := counter(t, a, "riskmap_topology_rebased_reports_total"); n != rebased+1 {
		t.Fatalf("sensor 1's full report on a: %v reports rebased, want %v", n, rebased+1)
	}
	onA := claimSet()
	equal("after a full report rebased on a")
	if !ingest(b, trs[1], replicaHost(1, []string{"sshd", "cups"})) {
		t.Fatal("b applied a delta whose base it never saw")
	}
	ingest(b, trs[1], replicaHost(1, []string{"sshd", "cups"}))
	if diff := cmp.Diff(claimSet(), onA); diff != "" {
		t.Fatalf("sensor 1's claims, rebased on a (+) and derived whole on b (-):\n%s", diff)
	}
	equal("after sensor 1 moved to b")
	if err := a.Ready(ctx); err != nil {
		t.Fatalf("a not ready: %v", err)
	}

	// Sensor 2 falls silent; a's sweep releases it; b's sweep, which has
	// followed that, does not release it again.
	for time.Since(lastReport) < 3*time.Second {
		ingest(a, trs[0], replicaHost(0, []string{"redis"}))
		ingest(b, trs[1], replicaHost(1, []string{"sshd"}))
		time.Sleep(500 * time.Millisecond)
	}
	if err := a.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	silentChanges := func() int {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM topology_changes WHERE body LIKE '%"silent":true%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := silentChanges(); n != 1 {
		t.Fatalf("a's sweep recorded %d silent sensors, want 1 (sensor 2)", n)
	}
	if err := b.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := silentChanges(); n != 1 {
		t.Fatalf("after b's sweep: %d silent-sensor changes, want still 1 (b released sensor 2 again)", n)
	}
	equal("after sensor 2 fell silent")
	for _, s := range b.Sensors() {
		if s.ID == "s2" && !s.Silent {
			t.Error("b does not show sensor 2 silent")
		}
	}

	// A host becomes reachable from the internet: both replicas check the
	// exposure (as each does every few seconds); node.exposed is published
	// once.
	for _, topo := range []*topology.Topology{a, b, a, b} {
		if err := topo.CheckExposure(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ingest(b, report.NewTracker(report.DefaultFullEvery), webHost(false))
	equal("after a web host appeared")
	for _, topo := range []*topology.Topology{b, a, b, a} {
		if err := topo.CheckExposure(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var exposedEvents int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM events WHERE type = 'node.exposed'").Scan(&exposedEvents); err != nil {
		t.Fatal(err)
	}
	if exposedEvents != 1 {
		t.Errorf("%d node.exposed events from two replicas, want 1", exposedEvents)
	}
}

func labelOf(s string) string {
	var id, label string
	fmt.Sscanf(s, "%s %s", &id, &label)
	return label
}

// counter is a module's counter, by name.
func counter(t *testing.T, topo *topology.Topology, name string) float64 {
	t.Helper()
	for _, c := range topo.Collectors() {
		ch := make(chan *prometheus.Desc, 1)
		c.Describe(ch)
		if strings.Contains((<-ch).String(), `"`+name+`"`) {
			return testutil.ToFloat64(c)
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}
