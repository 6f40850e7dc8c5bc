package topology_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/topology"
)

// kubeHost is a sensor on Kubernetes node node-a of cluster prod: its own
// pods, every service of the cluster and its own node object.
func kubeHost() *report.Report {
	r := &report.Report{Version: report.Version, SensorID: "kn-1", RunID: "run-k", Kind: report.KindFull, Time: time.Now().UTC(),
		Host: &report.Host{Hostname: "node-a", Interfaces: []report.Interface{{Name: "eth0", Up: true, Addrs: []string{"10.0.0.5/24"}}}},
		Kubernetes: &report.Kubernetes{ClusterID: "kube-system-uid", ClusterName: "prod", NodeName: "node-a",
			Namespaces: []report.Namespace{{Name: "default"}, {Name: "shop"}},
			Pods: []report.Pod{
				{UID: "p1", Name: "web-1", Namespace: "shop", Node: "node-a", Phase: "Running", PodIP: "10.244.0.11", Labels: map[string]string{"app": "web", "tier": "front"}},
				{UID: "p2", Name: "web-2", Namespace: "shop", Node: "node-a", Phase: "Running", PodIP: "10.244.0.12", Labels: map[string]string{"app": "web"}},
				{UID: "p3", Name: "db-0", Namespace: "shop", Node: "node-a", Phase: "Running", PodIP: "10.244.0.13", Labels: map[string]string{"app": "db"}},
				{UID: "p4", Name: "web-x", Namespace: "default", Node: "node-a", Phase: "Running", Labels: map[string]string{"app": "web"}},
			},
			Services: []report.Service{
				{UID: "s1", Name: "web", Namespace: "shop", Type: "LoadBalancer", ClusterIPs: []string{"10.96.0.10"}, LoadBalancer: []string{"203.0.113.50"},
					Ports: []report.ServicePort{{Proto: "TCP", Port: 80, TargetPort: "8080", NodePort: 30080}}, Selector: map[string]string{"app": "web"}},
				{UID: "s2", Name: "external-db", Namespace: "shop", Type: "ClusterIP", ClusterIPs: []string{"10.96.0.20"}},
			},
			Nodes: []report.Node{{Name: "node-a", UID: "n1", Ready: true, InternalIPs: []string{"10.0.0.5"}, KubeletVersion: "v1.37.2",
				OSImage: "Debian GNU/Linux 12 (bookworm)", Labels: map[string]string{"kubernetes.io/os": "linux"}}},
		},
	}
	report.SortByKey(r)
	return r
}

// TestKubernetesServicesAndNodes checks that services and Kubernetes nodes
// become graph nodes: services under their namespace with "selects" edges
// to the pods their selector picks (shown in the services and pods views,
// not in the connection views), the node linked to the host of the sensor
// on it, and a changed selector moving the edges. SQLite and PostgreSQL.
func TestKubernetesServicesAndNodes(t *testing.T) {
	for name, dbURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			clk := testenv.NewClock(time.Now().UTC().Truncate(time.Millisecond))
			e := startConsole(t, t.TempDir(), dbURL(t), clk, topology.Config{SensorBurst: 100})
			e.register()
			cl := e.sensorClient()
			tr := report.NewTracker(100)
			cur := kubeHost()
			first := tr.Next(cur)
			push(t, cl, first)
			tr.Ack(first)

			var g topology.Graph
			if code := e.get("/api/v1/topology/graph?view=services", &g); code != http.StatusOK {
				t.Fatalf("services view: %d", code)
			}
			if d := cmp.Diff([]string{"shop/web → shop/web-1", "shop/web → shop/web-2"}, edgeLabels(&g)); d != "" {
				t.Errorf("services view edges (-want +got):\n%s", d)
			}
			if !slices.ContainsFunc(g.Nodes, func(n topology.GraphNode) bool {
				return n.Label == "shop/external-db" && n.Kind == topology.KindService
			}) {
				t.Errorf("services view lacks the selector-less service: %+v", g.Nodes)
			}
			e.get("/api/v1/topology/graph?view=pods", &g)
			if d := cmp.Diff([]string{"shop/web → shop/web-1", "shop/web → shop/web-2"}, edgeLabels(&g)); d != "" {
				t.Errorf("pods view edges (-want +got):\n%s", d)
			}
			e.get("/api/v1/topology/graph?view=hosts", &g)
			if slices.ContainsFunc(g.Nodes, func(n topology.GraphNode) bool { return n.Kind == topology.KindService }) || len(g.Edges) != 0 {
				t.Errorf("hosts view shows services or their edges: %+v %+v", g.Nodes, g.Edges)
			}

			var page topology.NodePage
			if e.get("/api/v1/topology/nodes?kind=service", &page); page.Total != 2 {
				t.Errorf("services in the node table: %d", page.Total)
			}
			svcID := topology.ServiceNodeID("kube-system-uid", "shop", "web")
			var det topology.NodeDetail
			if code := e.get("/api/v1/topology/nodes/"+svcID, &det); code != http.StatusOK {
				t.Fatalf("service details: %d", code)
			}
			wantMeta := map[string]string{"name": "web", "namespace": "shop", "uid": "s1", "type": "LoadBalancer", "clusterIps": "10.96.0.10",
				"loadBalancer": "203.0.113.50", "ports": "80/TCP→8080 nodePort 30080", "selector": "app=web"}
			if d := cmp.Diff(wantMeta, det.Meta); d != "" {
				t.Errorf("service meta (-want +got):\n%s", d)
			}
			if d := cmp.Diff([]string{"prod", "shop"}, labels(det.Ancestors)); d != "" {
				t.Errorf("service ancestors (-want +got):\n%s", d)
			}
			if d := cmp.Diff([]string{"10.96.0.10", "203.0.113.50"}, det.IPs); d != "" {
				t.Errorf("service addresses (-want +got):\n%s", d)
			}
			var out []string
			for _, c := range det.Connections {
				out = append(out, c.Direction+" "+c.Kind+" "+c.Peer.Label)
			}
			if d := cmp.Diff([]string{"out selects shop/web-1", "out selects shop/web-2"}, out); d != "" {
				t.Errorf("service edges (-want +got):\n%s", d)
			}

			kubeNodeID := topology.KubeNodeID("kube-system-uid", "node-a")
			if code := e.get("/api/v1/topology/nodes/"+kubeNodeID, &det); code != http.StatusOK {
				t.Fatalf("kubernetes node details: %d", code)
			}
			if det.Kind != topology.KindKubeNode || det.Meta["ready"] != "true" || det.Meta["kubeletVersion"] != "v1.37.2" ||
				det.Meta["internalIps"] != "10.0.0.5" || det.Host != topology.HostNodeID(e.id("kn-1")) || labels(det.Ancestors)[0] != "prod" {
				t.Errorf("kubernetes node details: %+v", det)
			}
			e.get("/api/v1/topology/nodes/"+topology.HostNodeID(e.id("kn-1")), &det)
			if det.Meta["kubernetesNodeId"] != kubeNodeID {
				t.Errorf("host meta kubernetesNodeId %q, want %q", det.Meta["kubernetesNodeId"], kubeNodeID)
			}

			// The service now selects the database: a delta moves the edges.
			for i := range cur.Kubernetes.Services {
				if cur.Kubernetes.Services[i].Name == "web" {
					cur.Kubernetes.Services[i].Selector = map[string]string{"app": "db"}
				}
			}
			next := tr.Next(cur)
			if next.Kind != report.KindDelta || len(next.Kubernetes.Services) != 1 {
				t.Fatalf("second report: %s with %d services", next.Kind, len(next.Kubernetes.Services))
			}
			push(t, cl, next)
			tr.Ack(next)
			e.get("/api/v1/topology/graph?view=services", &g)
			if d := cmp.Diff([]string{"shop/web → shop/db-0"}, edgeLabels(&g)); d != "" {
				t.Errorf("services view after the selector changed (-want +got):\n%s", d)
			}
		})
	}
}
