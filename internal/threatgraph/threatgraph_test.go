package threatgraph_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/risk"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/threatgraph"
	"github.com/riskmap/riskmap/internal/topology"
)

func ep(addr string, port uint16) report.Endpoint { return report.Endpoint{Addr: addr, Port: port} }

// shopNode is a Kubernetes node with a public address: gunicorn (pod
// shop/web-1, container web, port 8080 published) behind the
// LoadBalancer service shop/web, loading libssl, calls the api process of
// pod shop/api-1.
func shopNode() *report.Report {
	r := &report.Report{Version: report.Version, SensorID: "kn-shop", RunID: "run-s", Seq: 1, Kind: report.KindFull, Time: time.Now().UTC(),
		Host: &report.Host{Hostname: "node-a", Interfaces: []report.Interface{
			{Name: "eth0", Up: true, Addrs: []string{"203.0.113.20/24"}}, {Name: "eth1", Up: true, Addrs: []string{"10.0.0.5/24"}}}},
		Kubernetes: &report.Kubernetes{ClusterID: "shop-cluster", ClusterName: "prod", NodeName: "node-a",
			Pods: []report.Pod{
				{UID: "pw", Name: "web-1", Namespace: "shop", Node: "node-a", Phase: "Running", Labels: map[string]string{"app": "web"}},
				{UID: "pa", Name: "api-1", Namespace: "shop", Node: "node-a", Phase: "Running", Labels: map[string]string{"app": "api"}},
			},
			Services: []report.Service{{UID: "s1", Name: "web", Namespace: "shop", Type: "LoadBalancer", LoadBalancer: []string{"203.0.113.50"},
				Ports: []report.ServicePort{{Proto: "TCP", Port: 80, TargetPort: "8080"}}, Selector: map[string]string{"app": "web"}}},
		},
		Containers: []report.Container{
			{ID: "cweb", Runtime: "containerd", Namespace: "k8s.io", Name: "web", Image: "shop/web:1", ImageID: "sha256:web", State: "running",
				Ports: []report.Port{{HostIP: "0.0.0.0", HostPort: 8080, ContainerPort: 8080, Proto: "tcp"}},
				Pod:   &report.PodRef{UID: "pw", Name: "web-1", Namespace: "shop", Container: "web"}},
			{ID: "capi", Runtime: "containerd", Namespace: "k8s.io", Name: "api", Image: "shop/api:1", ImageID: "sha256:api", State: "running",
				Pod: &report.PodRef{UID: "pa", Name: "api-1", Namespace: "shop", Container: "api"}},
		},
		Processes: []report.Process{
			{PID: 10, PPID: 1, StartTicks: 100, Name: "gunicorn", Exe: "/usr/bin/python3", ContainerID: "cweb", Listen: []report.Endpoint{ep("0.0.0.0", 8080)},
				Loaded: []string{"/usr/bin/python3", "/usr/lib/libssl.so.3"}},
			{PID: 20, PPID: 1, StartTicks: 200, Name: "api", Exe: "/app/api", ContainerID: "capi", Listen: []report.Endpoint{ep("0.0.0.0", 9000)}},
		},
		Connections: []report.Connection{
			{Source: report.SourceProc, Proto: "tcp", State: "LISTEN", Local: ep("0.0.0.0", 8080), Remote: ep("0.0.0.0", 0), ProcessKey: "10:100", NetNS: 11},
			{Source: report.SourceProc, Proto: "tcp", State: "LISTEN", Local: ep("0.0.0.0", 9000), Remote: ep("0.0.0.0", 0), ProcessKey: "20:200", NetNS: 12},
			{Source: report.SourceProc, Proto: "tcp", State: "ESTABLISHED", Local: ep("10.0.0.5", 41000), Remote: ep("10.0.0.5", 9000), ProcessKey: "10:100", NetNS: 11},
		},
	}
	report.SortByKey(r)
	return r
}

// batchHost is a private host the internet does not reach: its findings
// are not on the threat graph.
func batchHost() *report.Report {
	r := &report.Report{Version: report.Version, SensorID: "batch-1", RunID: "run-b", Seq: 1, Kind: report.KindFull, Time: time.Now().UTC(),
		Host:      &report.Host{Hostname: "batch-1", Interfaces: []report.Interface{{Name: "eth0", Up: true, Addrs: []string{"10.0.0.30/24"}}}},
		Processes: []report.Process{{PID: 5, PPID: 1, StartTicks: 50, Name: "cron", Exe: "/usr/sbin/cron", Loaded: []string{"/usr/lib/libssl.so.3"}}},
	}
	report.SortByKey(r)
	return r
}

type fnd struct {
	id, pkg, sev string
	kev          bool
	epss         float64
	fixed        string
	files        []string
}

// store keeps findings as the latest complete scan of a node, then has
// them rescored from the topology, as the console does.
func storeFindings(t *testing.T, st *store.Store, s *findings.Service, node string, fs ...fnd) {
	t.Helper()
	ctx := context.Background()
	o := findings.Origin{ScanID: "scan-" + node, Key: "node:" + node, Target: findings.Target{NodeID: node, SensorID: "s", Kind: "container", Ref: node}}
	var rows []findings.Row
	for _, f := range fs {
		mf := match.Finding{ID: f.id, Severity: f.sev, Package: match.PackageRef{Name: f.pkg, Version: "1.0", Ecosystem: "Debian:12"}}
		if f.kev {
			mf.KEV = &match.KEVInfo{DateAdded: "2024-01-01"}
		}
		if f.epss > 0 {
			mf.EPSS = &match.EPSSInfo{Score: f.epss, Percentile: 0.9}
		}
		if f.fixed != "" {
			mf.FixedVersions = []string{f.fixed}
		}
		rows = append(rows, findings.Row{Finding: mf, Files: f.files, Risk: risk.Score(&mf, f.files, risk.Exposure{}, risk.Hop{})})
	}
	err := st.Tx(ctx, func(tx store.Querier) error {
		// The scan the findings come from (the scans module's row, made
		// here as it would be).
		if _, err := tx.ExecContext(ctx, `INSERT INTO scans (id, target_kind, target_ref, status, created_at) VALUES (?, 'container', ?, 'complete', 0)`,
			o.ScanID, node); err != nil {
			return err
		}
		if err := s.ReplaceTx(ctx, tx, o, rows, findings.StatePending); err != nil {
			return err
		}
		return s.CommitTx(ctx, tx, o)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rescore(ctx, node); err != nil {
		t.Fatal(err)
	}
}

// TestThreatGraph builds the threat graph of a real topology (reports
// ingested by the topology module) and stored findings, on SQLite and
// PostgreSQL: the entry points (the public node, the load balancer's
// service) at distance 1, then pod, container, process, and the api
// behind gunicorn; exploitable counts per node and per hop (KEV, EPSS,
// high or critical; not a medium with only a fix, nor a decided one), a process counted
// with the findings whose attack path ends at it, what each entry point
// reaches, nothing of the private host, and the limit.
func TestThreatGraph(t *testing.T) {
	for name, dbURL := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "" },
		"postgres": func(t *testing.T) string { return testenv.PostgresURL(t) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx, st, topo, fs := shopEstate(t, dbURL(t))
			web := topology.ContainerNodeID("kn-shop", "containerd", "k8s.io", "cweb")
			api := topology.ContainerNodeID("kn-shop", "containerd", "k8s.io", "capi")
			batch := topology.HostNodeID("batch-1")
			storeFindings(t, st, fs, web,
				fnd{id: "CVE-2024-0001", pkg: "libssl3", sev: "critical", kev: true, files: []string{"/usr/lib/libssl.so.3"}},
				fnd{id: "CVE-2024-0002", pkg: "zlib", sev: "high", fixed: "1.1"},
				fnd{id: "CVE-2024-0003", pkg: "bash", sev: "low"},
				fnd{id: "CVE-2024-0004", pkg: "curl", sev: "medium", fixed: "8.0"},
				fnd{id: "CVE-2024-0007", pkg: "tar", sev: "medium", fixed: "1.35"})
			storeFindings(t, st, fs, api, fnd{id: "CVE-2024-0005", pkg: "glibc", sev: "medium", epss: 0.2})
			storeFindings(t, st, fs, batch, fnd{id: "CVE-2024-0006", pkg: "libssl3", sev: "critical", kev: true, files: []string{"/usr/lib/libssl.so.3"}})
			if _, err := fs.Decide(ctx, findings.DecisionInput{VulnID: "CVE-2024-0004", Status: "accepted", Reason: "not reachable code"}, "test"); err != nil {
				t.Fatal(err)
			}

			tg := threatgraph.New(topo, fs, slog.New(slog.DiscardHandler))
			g, err := tg.Build(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range g.Nodes {
				c := n.Counts
				got = append(got, fmt.Sprintf("%d %s %s: %d/%d %v kev %d", n.Distance, n.Kind, n.Label, c.Exploitable, c.Findings, c.BySeverity, c.KEV))
			}
			want := []string{
				"1 host node-a: 0/0 map[] kev 0",
				"1 service shop/web: 0/0 map[] kev 0",
				"2 pod shop/web-1: 0/0 map[] kev 0",
				"3 container web: 2/4 map[critical:1 high:1] kev 1",
				"4 process gunicorn: 1/1 map[critical:1] kev 1",
				"5 pod shop/api-1: 0/0 map[] kev 0",
				"6 container api: 1/1 map[medium:1] kev 0",
				"7 process api: 0/0 map[] kev 0",
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("threat graph nodes (-want +got):\n%s", d)
			}
			if g.Truncated || g.Total != 8 || g.Internet != topology.InternetInbound {
				t.Errorf("total %d truncated %v internet %q", g.Total, g.Truncated, g.Internet)
			}
			for _, n := range g.Nodes {
				if n.Distance == 1 && (len(n.Preds) != 1 || n.Preds[0] != topology.InternetInbound || n.Reason == "") {
					t.Errorf("entry point %s: preds %v reason %q", n.Label, n.Preds, n.Reason)
				}
				if n.Label == "shop/web-1" && len(n.Preds) != 2 {
					t.Errorf("the web pod is reached from both entry points: %v", n.Preds)
				}
				if n.ID == batch || strings.Contains(n.Label, "batch") {
					t.Errorf("the private host is on the threat graph: %+v", n)
				}
			}
			if web := g.Nodes[3].Counts; web.MaxScore <= 0 || web.MaxScore != g.Nodes[4].Counts.MaxScore {
				t.Errorf("worst score of the web container %v, of gunicorn %v (the KEV finding's)", web.MaxScore, g.Nodes[4].Counts.MaxScore)
			}
			var hops []string
			for _, h := range g.Hops {
				hops = append(hops, fmt.Sprintf("%d: %d nodes, %d exploitable", h.Distance, h.Nodes, h.Counts.Exploitable))
			}
			wantHops := []string{"1: 2 nodes, 0 exploitable", "2: 1 nodes, 0 exploitable", "3: 1 nodes, 2 exploitable",
				"4: 1 nodes, 0 exploitable", "5: 1 nodes, 0 exploitable", "6: 1 nodes, 1 exploitable", "7: 1 nodes, 0 exploitable"}
			if d := cmp.Diff(wantHops, hops); d != "" {
				t.Errorf("hops (-want +got):\n%s", d)
			}
			if g.Exploitable.Exploitable != 3 || g.Exploitable.KEV != 1 || g.Exploitable.Findings != 5 {
				t.Errorf("estate totals: %+v", g.Exploitable)
			}
			for _, n := range g.Nodes[:2] {
				if n.Reaches == nil || n.Reaches.Nodes != 6 || n.Reaches.Counts.Exploitable != 3 {
					t.Errorf("what %s reaches: %+v", n.Label, n.Reaches)
				}
			}

			g, err = tg.Build(ctx, 3)
			if err != nil {
				t.Fatal(err)
			}
			if !g.Truncated || len(g.Nodes) != 3 || g.Total != 8 || len(g.Hops) != 7 || g.Exploitable.Exploitable != 3 {
				t.Errorf("limited to 3: %d nodes, total %d, truncated %v, %d hops, %d exploitable", len(g.Nodes), g.Total, g.Truncated, len(g.Hops), g.Exploitable.Exploitable)
			}
		})
	}
}

// shopEstate is the estate the threat graph tests share: a store (dbURL
// "" for SQLite), a running topology fed shopNode and batchHost, and the
// findings over them, all stopped when the test ends.
func shopEstate(t *testing.T, dbURL string) (context.Context, *store.Store, *topology.Topology, *findings.Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir(), URL: dbURL, Now: clk.Now})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	topo, err := topology.New(ctx, st, topology.Config{Now: clk.Now, SensorBurst: 100})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { topo.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for _, r := range []*report.Report{shopNode(), batchHost()} {
		if _, err := topo.Ingest(ctx, r); err != nil {
			t.Fatalf("ingest %s: %v", r.SensorID, err)
		}
	}
	return ctx, st, topo, findings.New(findings.Config{Store: st, Exposure: topo, Now: clk.Now})
}
