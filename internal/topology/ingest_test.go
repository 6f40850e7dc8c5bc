package topology_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/risk"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/topology"
)

func ep(addr string, port uint16) report.Endpoint { return report.Endpoint{Addr: addr, Port: port} }

func conn(state, proc string, local, remote report.Endpoint) report.Connection {
	return report.Connection{Source: report.SourceProc, Proto: "tcp", State: state, Local: local, Remote: remote, ProcessKey: proc, NetNS: 4026531840}
}

// webHost is a web server with a public address: nginx (listening on :80,
// reached from the internet) proxies to a local app (127.0.0.1:8080) that
// calls a public API and the database host; a containerised worker talks
// to an unmonitored private address.
func webHost(withApp bool) *report.Report {
	r := &report.Report{Version: report.Version, SensorID: "web-1", RunID: "run-a", Kind: report.KindFull, Time: time.Now().UTC(),
		SensorVersion: "test",
		Host: &report.Host{Hostname: "web-1", OS: report.OS{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux 12"}, Kernel: "6.1.0",
			Interfaces: []report.Interface{{Name: "lo", Up: true, Addrs: []string{"127.0.0.1/8"}},
				{Name: "eth0", Up: true, Addrs: []string{"203.0.113.10/24"}},
				{Name: "eth1", Up: true, Addrs: []string{"10.0.0.10/24"}},
				{Name: "docker0", Up: true, Addrs: []string{"172.17.0.1/16"}}}},
		Processes: []report.Process{
			{PID: 2, PPID: 0, StartTicks: 1, Name: "kthreadd"},
			{PID: 100, PPID: 1, StartTicks: 1000, Name: "nginx", Exe: "/usr/sbin/nginx", Listen: []report.Endpoint{ep("0.0.0.0", 80)},
				Loaded: []string{"/usr/lib/x86_64-linux-gnu/libssl.so.3", "/usr/sbin/nginx"}},
			{PID: 300, PPID: 1, StartTicks: 3000, Name: "worker", Exe: "/app/worker", ContainerID: "c1c1c1c1c1c1c1c1", Loaded: []string{"/app/worker"}},
		},
		Connections: []report.Connection{
			conn("LISTEN", "100:1000", ep("0.0.0.0", 80), ep("0.0.0.0", 0)),
			conn("ESTABLISHED", "100:1000", ep("203.0.113.10", 80), ep("198.51.100.7", 51000)),
			conn("ESTABLISHED", "300:3000", ep("172.17.0.2", 41000), ep("10.9.9.9", 5432)),
		},
		Containers: []report.Container{{ID: "c1c1c1c1c1c1c1c1", Runtime: "docker", Name: "/worker", Image: "acme/worker:1", ImageID: "sha256:aaaa", State: "running"}},
		Images:     []report.Image{{ID: "sha256:aaaa", Runtime: "docker", RepoTags: []string{"acme/worker:1"}}},
	}
	if withApp {
		r.Processes = append(r.Processes, report.Process{PID: 200, PPID: 1, StartTicks: 2000, Name: "app", Exe: "/usr/bin/python3",
			Listen: []report.Endpoint{ep("127.0.0.1", 8080)}, Loaded: []string{"/usr/bin/python3", "/usr/lib/python3/dist-packages/yaml/_yaml.so"}})
		r.Connections = append(r.Connections,
			conn("LISTEN", "200:2000", ep("127.0.0.1", 8080), ep("0.0.0.0", 0)),
			conn("ESTABLISHED", "100:1000", ep("127.0.0.1", 40000), ep("127.0.0.1", 8080)),
			conn("ESTABLISHED", "200:2000", ep("127.0.0.1", 8080), ep("127.0.0.1", 40000)),
			conn("ESTABLISHED", "200:2000", ep("203.0.113.10", 40500), ep("93.184.216.34", 443)),
			conn("ESTABLISHED", "200:2000", ep("10.0.0.10", 40600), ep("10.0.0.20", 5432)))
	}
	report.SortByKey(r)
	return r
}

func dbHost() *report.Report {
	return &report.Report{Version: report.Version, SensorID: "db-1", RunID: "run-b", Seq: 1, Kind: report.KindFull, Time: time.Now().UTC(),
		Host: &report.Host{Hostname: "db-1", Interfaces: []report.Interface{{Name: "eth0", Up: true, Addrs: []string{"10.0.0.20/24"}}}},
		Processes: []report.Process{{PID: 500, PPID: 1, StartTicks: 5000, Name: "postgres", Exe: "/usr/lib/postgresql/15/bin/postgres",
			Listen: []report.Endpoint{ep("0.0.0.0", 5432)}}},
		Connections: []report.Connection{conn("LISTEN", "500:5000", ep("0.0.0.0", 5432), ep("0.0.0.0", 0)),
			conn("ESTABLISHED", "500:5000", ep("10.0.0.20", 5432), ep("10.0.0.10", 40600))},
	}
}

// edgeLabels renders a graph's edges as "source → target" by label.
func edgeLabels(g *topology.Graph) []string {
	label := map[string]string{}
	for _, n := range g.Nodes {
		label[n.ID] = n.Label
	}
	var out []string
	for _, e := range g.Edges {
		out = append(out, label[e.Source]+" → "+label[e.Target])
	}
	slices.Sort(out)
	return out
}

func labels(refs []topology.NodeRef) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Label)
	}
	return out
}

func hopNames(hops []risk.Hop) []string {
	var out []string
	for _, h := range hops {
		out = append(out, h.Name)
	}
	return out
}

func backends(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "" },
		"postgres": func(t *testing.T) string { return testenv.PostgresURL(t) },
	}
}

// TestIngestAndGraph pushes reports through the sensor's client to the
// real console over HTTPS (pinned self-signed certificate) and checks the
// graph views, the node table, node details, Exposure, deltas, a delta on
// an unknown base, a console restart, the gone timeout and pruning, on
// SQLite and PostgreSQL.
func TestIngestAndGraph(t *testing.T) {
	for name, dbURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			clk := testenv.NewClock(time.Now().UTC().Truncate(time.Millisecond))
			e := startConsole(t, t.TempDir(), dbURL(t), clk, topology.Config{SensorBurst: 100, GoneAfter: 5 * time.Minute, Retention: 24 * time.Hour})
			e.register()
			cl := e.sensorClient()

			db := dbHost()
			if ack := push(t, cl, db); ack.FullReportRequested || ack.NextReportSeconds != 15 {
				t.Errorf("db-1 ack %+v; want no full report requested, next in 15 s", ack)
			}
			tr := report.NewTracker(100)
			first := tr.Next(webHost(true))
			if first.Kind != report.KindFull {
				t.Fatalf("first report %s", first.Kind)
			}
			push(t, cl, first)
			tr.Ack(first)
			// db-1 reported before web-1 was known: its inbound connection
			// came from an unmonitored private address. Now it is web-1's.
			db.Seq = 2
			push(t, cl, db)

			var g topology.Graph
			if code := e.get("/api/v1/topology/graph?view=processes", &g); code != http.StatusOK {
				t.Fatalf("graph: %d", code)
			}
			want := []string{
				"The Internet (inbound) → nginx",
				"app → The Internet (outbound)",
				"app → postgres",
				"nginx → app",
				"worker → Unmonitored private network",
			}
			if d := cmp.Diff(want, edgeLabels(&g)); d != "" {
				t.Errorf("process view edges (-want +got):\n%s", d)
			}
			if slices.ContainsFunc(g.Nodes, func(n topology.GraphNode) bool { return n.Label == "kthreadd" }) {
				t.Error("kernel thread in the process view")
			}
			e.get("/api/v1/topology/graph?view=hosts", &g)
			want = []string{
				"The Internet (inbound) → web-1",
				"web-1 → The Internet (outbound)",
				"web-1 → Unmonitored private network",
				"web-1 → db-1",
			}
			if d := cmp.Diff(want, edgeLabels(&g)); d != "" {
				t.Errorf("host view edges (-want +got):\n%s", d)
			}
			e.get("/api/v1/topology/graph?view=containers", &g)
			if d := cmp.Diff([]string{"The Internet (inbound) → web-1", "web-1 → The Internet (outbound)", "web-1 → db-1",
				"worker → Unmonitored private network"}, edgeLabels(&g)); d != "" {
				t.Errorf("container view edges (-want +got):\n%s", d)
			}
			e.get("/api/v1/topology/graph?view=images", &g)
			if !slices.ContainsFunc(g.Nodes, func(n topology.GraphNode) bool { return n.Kind == "image" && n.Label == "acme/worker:1" }) {
				t.Errorf("image view lacks acme/worker:1: %+v", g.Nodes)
			}
			// Aggregation: at most 2 nodes → groups by host.
			e.get("/api/v1/topology/graph?view=processes&maxNodes=2&group=host", &g)
			if !g.Aggregated || g.Total != 7 {
				t.Errorf("aggregated %v total %d; want aggregated, 7 nodes before", g.Aggregated, g.Total)
			}

			// Node table and details.
			var page topology.NodePage
			e.get("/api/v1/topology/nodes?kind=process&sort=label&order=desc&limit=2", &page)
			if got := []string{page.Items[0].Label, page.Items[1].Label}; page.Total != 4 || page.NextCursor != "2" || !slices.Equal(got, []string{"worker", "postgres"}) {
				t.Errorf("process table page 1: total %d next %q items %v", page.Total, page.NextCursor, got)
			}
			e.get("/api/v1/topology/nodes?q=python3", &page)
			if page.Total != 1 || page.Items[0].Label != "app" {
				t.Fatalf("search python3: %+v", page)
			}
			appID := page.Items[0].ID
			var det topology.NodeDetail
			nginxID := topology.ProcessNodeID(e.id("web-1"), "100:1000")
			e.get("/api/v1/topology/nodes/"+nginxID, &det)
			if det.Label != "nginx" || det.PID != 100 || len(det.Loaded) != 2 || labels(det.Ancestors)[0] != "web-1" {
				t.Errorf("nginx detail: %+v", det)
			}
			var conns []string
			for _, c := range det.Connections {
				conns = append(conns, fmt.Sprintf("%s %s %v", c.Direction, c.Peer.Label, c.Remote))
			}
			if d := cmp.Diff([]string{"in The Internet (inbound) [198.51.100.7]", "out app []"}, conns); d != "" {
				t.Errorf("nginx connections (-want +got):\n%s", d)
			}
			if code := e.get("/api/v1/topology/nodes/host-0000", nil); code != http.StatusNotFound {
				t.Errorf("unknown node: %d", code)
			}

			// Exposure: nginx is reached from the internet, the app through
			// nginx, postgres through the app; the worker is not.
			ex, err := e.topo.Exposure(context.Background(), topology.HostNodeID(e.id("web-1")))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for _, p := range ex.Processes {
				got[p.Exe] = hopNames(p.Path)
			}
			if d := cmp.Diff(map[string][]string{
				"/usr/sbin/nginx":  {"The Internet (inbound)", "web-1", "nginx"},
				"/usr/bin/python3": {"The Internet (inbound)", "web-1", "nginx", "app"},
				"/app/worker":      nil,
			}, got); d != "" {
				t.Errorf("web-1 exposure paths (-want +got):\n%s", d)
			}
			ex, _ = e.topo.Exposure(context.Background(), topology.HostNodeID(e.id("db-1")))
			if len(ex.Processes) != 1 || !ex.Processes[0].InternetReachable ||
				cmp.Diff([]string{"The Internet (inbound)", "web-1", "nginx", "app", "db-1", "postgres"}, hopNames(ex.Processes[0].Path)) != "" {
				t.Errorf("db-1 exposure: %+v", ex)
			}
			ex, _ = e.topo.Exposure(context.Background(), topology.ContainerNodeID(e.id("web-1"), "docker", "", "c1c1c1c1c1c1c1c1"))
			if len(ex.Processes) != 1 || ex.Processes[0].Exe != "/app/worker" || ex.Internet {
				t.Errorf("worker container exposure: %+v", ex)
			}
			// The worker's image is deployed: its exposure is its running
			// container's processes.
			ex, _ = e.topo.Exposure(context.Background(), topology.ImageNodeID("sha256:aaaa"))
			if !ex.Known || ex.NotDeployed || len(ex.Processes) != 1 || ex.Processes[0].Exe != "/app/worker" {
				t.Errorf("worker image exposure: %+v", ex)
			}

			// A delta removing the app: it is gone, with its edges.
			delta := tr.Next(webHost(false))
			if delta.Kind != report.KindDelta || delta.Removed == nil || len(delta.Removed.Processes) != 1 {
				t.Fatalf("second report: %s removed %+v", delta.Kind, delta.Removed)
			}
			if ack := push(t, cl, delta); ack.FullReportRequested {
				t.Error("delta on the acknowledged base: full report requested")
			}
			tr.Ack(delta)
			e.get("/api/v1/topology/graph?view=processes", &g)
			if d := cmp.Diff([]string{"The Internet (inbound) → nginx", "worker → Unmonitored private network"}, edgeLabels(&g)); d != "" {
				t.Errorf("edges after the app left (-want +got):\n%s", d)
			}
			e.get("/api/v1/topology/nodes/"+appID, &det)
			if !det.Gone {
				t.Error("app not marked gone")
			}

			// A delta on a base the console does not hold.
			bad := *delta
			bad.Seq, bad.BaseSeq = 10, 9
			if ack := push(t, cl, &bad); !ack.FullReportRequested {
				t.Error("delta on an unknown base: no full report requested")
			}

			// Restart: acknowledged data is there; deltas need a full report.
			e.restart()
			cl = e.sensorClient()
			e.get("/api/v1/topology/graph?view=processes", &g)
			if d := cmp.Diff([]string{"The Internet (inbound) → nginx", "worker → Unmonitored private network"}, edgeLabels(&g)); d != "" {
				t.Errorf("edges after restart (-want +got):\n%s", d)
			}
			d2 := tr.Next(webHost(false))
			if ack := push(t, cl, d2); !ack.FullReportRequested {
				t.Error("delta after a console restart: no full report requested")
			}
			tr.RequestFull()
			full := tr.Next(webHost(true))
			if ack := push(t, cl, full); ack.FullReportRequested {
				t.Error("full report answered with fullReportRequested")
			}
			e.get("/api/v1/topology/graph?view=processes", &g)
			if len(g.Edges) != 5 {
				t.Errorf("after a full report with the app again: %v", edgeLabels(&g))
			}

			// Silence: gone after GoneAfter, pruned after Retention.
			clk.Advance(6 * time.Minute)
			push(t, cl, func() *report.Report { r := dbHost(); r.Seq = 3; return r }())
			if err := e.topo.Sweep(context.Background()); err != nil {
				t.Fatal(err)
			}
			e.get("/api/v1/topology/graph?view=hosts", &g)
			if d := cmp.Diff([]string{"db-1"}, nodeLabels(&g, "host")); d != "" {
				t.Errorf("hosts after web-1 went silent (-want +got):\n%s", d)
			}
			e.get("/api/v1/topology/graph?view=hosts&includeGone=true", &g)
			if d := cmp.Diff([]string{"db-1", "web-1"}, nodeLabels(&g, "host")); d != "" {
				t.Errorf("hosts including gone (-want +got):\n%s", d)
			}
			clk.Advance(25 * time.Hour)
			push(t, cl, func() *report.Report { r := dbHost(); r.Seq = 4; return r }())
			if err := e.topo.Sweep(context.Background()); err != nil {
				t.Fatal(err)
			}
			if code := e.get("/api/v1/topology/nodes/"+nginxID, nil); code != http.StatusNotFound {
				t.Errorf("nginx after retention: %d, want 404", code)
			}
			e.restart()
			if code := e.get("/api/v1/topology/nodes/"+nginxID, nil); code != http.StatusNotFound {
				t.Errorf("nginx after retention and restart: %d, want 404", code)
			}
			if code := e.get("/api/v1/topology/nodes/"+topology.HostNodeID(e.id("db-1")), &det); code != http.StatusOK || det.Gone {
				t.Errorf("db-1 after restart: %d gone %v", code, det.Gone)
			}
			// An image on db-1 that no container runs is not deployed; an
			// image id the topology never saw is unknown, not idle.
			idle := dbHost()
			idle.Seq = 5
			idle.Images = []report.Image{{ID: "sha256:bbbb", Runtime: "docker", RepoTags: []string{"acme/batch:2"}}}
			push(t, cl, idle)
			ex, _ = e.topo.Exposure(context.Background(), topology.ImageNodeID("sha256:bbbb"))
			if !ex.Known || !ex.NotDeployed || len(ex.Processes) != 0 {
				t.Errorf("idle image exposure: %+v", ex)
			}
			if ex, _ = e.topo.Exposure(context.Background(), topology.ImageNodeID("sha256:cccc")); ex.Known || ex.NotDeployed {
				t.Errorf("unknown image exposure: %+v", ex)
			}
		})
	}
}

func nodeLabels(g *topology.Graph, kind string) []string {
	var out []string
	for _, n := range g.Nodes {
		if n.Kind == kind {
			out = append(out, n.Label)
		}
	}
	slices.Sort(out)
	return out
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestIngestRefusals: what the ingest route refuses, and how.
func TestIngestRefusals(t *testing.T) {
	clk := testenv.NewClock(time.Now().UTC())
	e := startConsole(t, t.TempDir(), "", clk, topology.Config{SensorBurst: 2, SensorRefill: time.Minute})
	e.register()
	// Each case is sent by a sensor of its own: the per-sensor limit is
	// checked (against the authenticated sensor) before the body is read.
	validFor := func(name string) []byte {
		r := dbHost()
		r.SensorID = e.id(name)
		b, _ := report.Marshal(r, report.DefaultLimits())
		return b
	}
	big := make([]byte, 5<<20)
	rand.Read(big)
	for _, tc := range []struct {
		name     string
		body     []byte
		encoding string
		want     int
	}{
		{"not_gzip", []byte(`{}`), "", http.StatusUnsupportedMediaType},
		{"bad_gzip", []byte("not gzip at all"), "gzip", http.StatusBadRequest},
		{"bad_json", gz([]byte(`{"version":"1.0",`)), "gzip", http.StatusBadRequest},
		{"unknown_field", gz([]byte(`{"version":"1.0","sensorId":"x","runId":"r","seq":1,"kind":"full","time":"2026-01-01T00:00:00Z","bogus":1}`)), "gzip", http.StatusBadRequest},
		{"wrong_major", gz([]byte(`{"version":"2.0"}`)), "gzip", http.StatusBadRequest},
		{"too_large_body", big, "gzip", http.StatusRequestEntityTooLarge},
		{"gzip_bomb", gz(bytes.Repeat([]byte(" "), 65<<20)), "gzip", http.StatusRequestEntityTooLarge},
		{"gzip_bomb_of_zeros", gz(make([]byte, 65<<20)), "gzip", http.StatusBadRequest}, // refused at its first byte
		{"another_sensors_report", validFor("victim"), "gzip", http.StatusForbidden},
		{"valid", nil, "gzip", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			if body == nil {
				body = validFor(tc.name)
			}
			resp, got := e.postAs(tc.name, "/api/v1/sensor/reports", bytes.NewReader(body), tc.encoding)
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.want, got)
			}
		})
	}
	// Rate limit: the bucket holds two reports per sensor.
	valid := validFor("db-1")
	for i := range 2 {
		if resp, _ := e.postAs("db-1", "/api/v1/sensor/reports", bytes.NewReader(valid), "gzip"); resp.StatusCode != http.StatusOK {
			t.Fatalf("report %d: %d", i+1, resp.StatusCode)
		}
	}
	resp, body := e.postAs("db-1", "/api/v1/sensor/reports", bytes.NewReader(valid), "gzip")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "60" {
		t.Errorf("third report: %d Retry-After %q, want 429 after 60 s: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// Another sensor is not held back by db-1's limit.
	if resp, _ := e.postAs("web-9", "/api/v1/sensor/reports", bytes.NewReader(validFor("web-9")), "gzip"); resp.StatusCode != http.StatusOK {
		t.Errorf("another sensor while db-1 is limited: %d", resp.StatusCode)
	}
	clk.Advance(time.Minute)
	if resp, _ := e.postAs("db-1", "/api/v1/sensor/reports", bytes.NewReader(valid), "gzip"); resp.StatusCode != http.StatusOK {
		t.Errorf("after a minute: %d", resp.StatusCode)
	}
	// A user's API key is not a sensor's credential.
	if resp, _ := e.post("/api/v1/sensor/reports", bytes.NewReader(valid), "gzip"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("report with a user's API key: %d, want 401", resp.StatusCode)
	}
	// Without credentials.
	req, _ := http.NewRequest(http.MethodPost, e.base+"/api/v1/sensor/reports", bytes.NewReader(valid))
	req.Header.Set("Content-Encoding", "gzip")
	r2, err := e.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous report: %d", r2.StatusCode)
	}
	var g topology.Graph
	if code := e.get("/api/v1/topology/graph?view=bogus", &g); code != http.StatusUnprocessableEntity && code != http.StatusBadRequest {
		t.Errorf("bad view: %d", code)
	}
	if code := e.get("/api/v1/topology/nodes?cursor="+url.QueryEscape("x"), nil); code != http.StatusBadRequest {
		t.Errorf("bad cursor: %d", code)
	}
}
