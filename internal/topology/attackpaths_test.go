package topology_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/risk"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/topology"
)

// shopNode is a Kubernetes node with a public address (203.0.113.20):
// pod shop/web-1 runs gunicorn (container web, port 8080 published on the
// node) behind the LoadBalancer service shop/web (203.0.113.50:80 →
// 8080); gunicorn calls the api process of pod shop/api-1 (port 9000, not
// published, selected by no public service); pod shop/cache-1 runs redis
// listening on loopback only.
func shopNode() *report.Report {
	const ns = 4026532000
	r := &report.Report{Version: report.Version, SensorID: "kn-shop", RunID: "run-s", Seq: 1, Kind: report.KindFull, Time: time.Now().UTC(),
		Host: &report.Host{Hostname: "node-a", Interfaces: []report.Interface{
			{Name: "eth0", Up: true, Addrs: []string{"203.0.113.20/24"}},
			{Name: "eth1", Up: true, Addrs: []string{"10.0.0.5/24"}}}},
		Kubernetes: &report.Kubernetes{ClusterID: "shop-cluster", ClusterName: "prod", NodeName: "node-a",
			Pods: []report.Pod{
				{UID: "pw", Name: "web-1", Namespace: "shop", Node: "node-a", Phase: "Running", PodIP: "10.244.0.11", Labels: map[string]string{"app": "web"}},
				{UID: "pa", Name: "api-1", Namespace: "shop", Node: "node-a", Phase: "Running", PodIP: "10.244.0.12", Labels: map[string]string{"app": "api"}},
				{UID: "pc", Name: "cache-1", Namespace: "shop", Node: "node-a", Phase: "Running", PodIP: "10.244.0.13", Labels: map[string]string{"app": "web"}},
			},
			Services: []report.Service{
				{UID: "s1", Name: "web", Namespace: "shop", Type: "LoadBalancer", ClusterIPs: []string{"10.96.0.10"}, LoadBalancer: []string{"203.0.113.50"},
					Ports: []report.ServicePort{{Proto: "TCP", Port: 80, TargetPort: "8080"}}, Selector: map[string]string{"app": "web"}},
				{UID: "s2", Name: "api", Namespace: "shop", Type: "ClusterIP", ClusterIPs: []string{"10.96.0.11"},
					Ports: []report.ServicePort{{Proto: "TCP", Port: 9000}}, Selector: map[string]string{"app": "api"}},
			},
		},
		Containers: []report.Container{
			{ID: "cweb", Runtime: "containerd", Namespace: "k8s.io", Name: "web", Image: "shop/web:1", ImageID: "sha256:web", State: "running",
				Ports: []report.Port{{HostIP: "0.0.0.0", HostPort: 8080, ContainerPort: 8080, Proto: "tcp"}},
				Pod:   &report.PodRef{UID: "pw", Name: "web-1", Namespace: "shop", Container: "web"}},
			{ID: "capi", Runtime: "containerd", Namespace: "k8s.io", Name: "api", Image: "shop/api:1", ImageID: "sha256:api", State: "running",
				Pod: &report.PodRef{UID: "pa", Name: "api-1", Namespace: "shop", Container: "api"}},
			{ID: "ccache", Runtime: "containerd", Namespace: "k8s.io", Name: "cache", Image: "redis:7", ImageID: "sha256:redis", State: "running",
				Pod: &report.PodRef{UID: "pc", Name: "cache-1", Namespace: "shop", Container: "cache"}},
		},
		Processes: []report.Process{
			{PID: 10, PPID: 1, StartTicks: 100, Name: "gunicorn", Exe: "/usr/bin/python3", ContainerID: "cweb", Listen: []report.Endpoint{ep("0.0.0.0", 8080)}},
			{PID: 20, PPID: 1, StartTicks: 200, Name: "api", Exe: "/app/api", ContainerID: "capi", Listen: []report.Endpoint{ep("0.0.0.0", 9000)}},
			{PID: 30, PPID: 1, StartTicks: 300, Name: "redis", Exe: "/usr/bin/redis-server", ContainerID: "ccache", Listen: []report.Endpoint{ep("127.0.0.1", 6379)}},
		},
		Connections: []report.Connection{
			{Source: report.SourceProc, Proto: "tcp", State: "LISTEN", Local: ep("0.0.0.0", 8080), Remote: ep("0.0.0.0", 0), ProcessKey: "10:100", NetNS: ns + 1},
			{Source: report.SourceProc, Proto: "tcp", State: "LISTEN", Local: ep("0.0.0.0", 9000), Remote: ep("0.0.0.0", 0), ProcessKey: "20:200", NetNS: ns + 2},
			{Source: report.SourceProc, Proto: "tcp", State: "ESTABLISHED", Local: ep("10.0.0.5", 41000), Remote: ep("10.0.0.5", 9000), ProcessKey: "10:100", NetNS: ns + 1},
		},
	}
	report.SortByKey(r)
	return r
}

// TestAttackPaths: a process behind a public Kubernetes service and a
// published port of a public node has an attack path from each entry
// point (the load balancer's service, the node), named by label, each
// hop once; the api process gunicorn calls inherits both, one hop on;
// the loopback-only redis has none. Reachable lays the union out by
// distance from the internet with each node's predecessors.
func TestAttackPaths(t *testing.T) {
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	e := startConsole(t, t.TempDir(), "", clk, topology.Config{SensorBurst: 100, GoneAfter: time.Hour})
	e.register()
	cl := e.sensorClient()
	tr := report.NewTracker(100)
	cur := shopNode()
	first := tr.Next(cur)
	push(t, cl, first)
	tr.Ack(first)
	ctx := context.Background()
	sid := e.id("kn-shop")
	ctrWeb := topology.ContainerNodeID(sid, "containerd", "k8s.io", "cweb")
	ctrAPI := topology.ContainerNodeID(sid, "containerd", "k8s.io", "capi")
	ctrCache := topology.ContainerNodeID(sid, "containerd", "k8s.io", "ccache")

	paths := func(ex risk.Exposure) [][]string {
		var out [][]string
		for _, p := range ex.Paths {
			out = append(out, hopNames(p))
		}
		return out
	}
	inet := "The Internet (inbound)"
	ex, err := e.topo.Exposure(ctx, ctrWeb)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{inet, "node-a", "shop/web-1", "web", "gunicorn"},
		{inet, "shop/web", "shop/web-1", "web", "gunicorn"},
	}
	if d := cmp.Diff(want, paths(ex)); d != "" {
		t.Errorf("web container's attack paths (-want +got):\n%s", d)
	}
	if !ex.Internet || cmp.Diff(want[0], hopNames(ex.Path)) != "" {
		t.Errorf("web container's Path is not the first of its paths: %v", hopNames(ex.Path))
	}
	for _, p := range ex.Paths {
		seen := map[string]bool{}
		for _, h := range p {
			if seen[h.NodeID] || h.NodeID == "" {
				t.Errorf("path %v repeats or lacks a node id: %+v", hopNames(p), h)
			}
			seen[h.NodeID] = true
		}
	}
	if ex.Paths[1][1].NodeID != topology.ServiceNodeID("shop-cluster", "shop", "web") || ex.Paths[1][1].Kind != topology.KindService {
		t.Errorf("second path's entry: %+v", ex.Paths[1][1])
	}
	if ex.Processes[0].Reason == "" {
		t.Errorf("gunicorn has no reason: %+v", ex.Processes[0])
	}

	ex, _ = e.topo.Exposure(ctx, ctrAPI)
	want = [][]string{
		{inet, "node-a", "shop/web-1", "web", "gunicorn", "shop/api-1", "api", "api"},
		{inet, "shop/web", "shop/web-1", "web", "gunicorn", "shop/api-1", "api", "api"},
	}
	if d := cmp.Diff(want, paths(ex)); d != "" {
		t.Errorf("api container's attack paths (-want +got):\n%s", d)
	}
	if ex, _ = e.topo.Exposure(ctx, ctrCache); ex.Internet || len(ex.Paths) != 0 {
		t.Errorf("loopback-only redis is reachable: %+v", ex)
	}

	// The risk engine carries every path to the finding, the shortest as
	// Path.
	f := match.Finding{ID: "CVE-2024-1", Severity: match.SeverityHigh, Package: match.PackageRef{Name: "libssl3", Version: "1.0"}}
	ex, _ = e.topo.Exposure(ctx, ctrWeb)
	ex.Processes[0].LoadedFiles = []string{"/usr/lib/libssl.so.3"}
	r := risk.Score(&f, []string{"/usr/lib/libssl.so.3"}, ex, risk.Hop{NodeID: ctrWeb, Kind: "container", Name: "cweb"})
	if len(r.Paths) != 2 || cmp.Diff(r.Paths[0], r.Path) != "" || r.Path[len(r.Path)-1].Name != "libssl3 1.0" {
		t.Errorf("finding paths: %+v", r)
	}

	got, err := e.topo.Reachable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	label := map[string]string{topology.InternetInbound: "internet"}
	for _, n := range got {
		label[n.ID] = n.Label
	}
	var layout []string
	for _, n := range got {
		var ps []string
		for _, p := range n.Preds {
			ps = append(ps, label[p])
		}
		slices.Sort(ps)
		layout = append(layout, strings.Join([]string{strconv.Itoa(n.Distance), n.Kind, n.Label, "←", strings.Join(ps, ",")}, " "))
	}
	wantLayout := []string{
		"1 host node-a ← internet",
		"1 service shop/web ← internet",
		"2 pod shop/web-1 ← node-a,shop/web",
		"3 container web ← shop/web-1",
		"4 process gunicorn ← web",
		"5 pod shop/api-1 ← gunicorn",
		"6 container api ← shop/api-1",
		"7 process api ← api",
	}
	if d := cmp.Diff(wantLayout, layout); d != "" {
		t.Errorf("reachable layers (-want +got):\n%s", d)
	}
	if got[0].Reason == "" || !strings.Contains(got[1].Reason, "load balancer 203.0.113.50") {
		t.Errorf("entry points' reasons: %q, %q", got[0].Reason, got[1].Reason)
	}

	// The service stops selecting the web pod: the scope of the rescore
	// holds the processes whose entry points changed, and (read after
	// the scope, as the rescore does) the service's path is gone.
	e.topo.ExposureScope(nil)
	for i := range cur.Kubernetes.Services {
		if cur.Kubernetes.Services[i].Name == "web" {
			cur.Kubernetes.Services[i].Selector = map[string]string{"app": "none"}
		}
	}
	push(t, cl, tr.Next(cur))
	scope := e.topo.ExposureScope(nil)
	for _, id := range []string{topology.ProcessNodeID(sid, "10:100"), topology.ProcessNodeID(sid, "20:200"), ctrWeb, ctrAPI} {
		if !slices.Contains(scope, id) {
			t.Errorf("scope after the service changed lacks %s: %v", id, scope)
		}
	}
	ex, _ = e.topo.Exposure(ctx, ctrWeb)
	if d := cmp.Diff([][]string{{inet, "node-a", "shop/web-1", "web", "gunicorn"}}, paths(ex)); d != "" {
		t.Errorf("paths once the service selects nothing (-want +got):\n%s", d)
	}
}
