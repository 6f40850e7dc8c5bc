package topology

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// graphRisk is the risk each node of g carries.
func graphRisk(g *Graph) map[string]NodeRisk {
	out := map[string]NodeRisk{}
	for _, n := range g.Nodes {
		if n.Risk != nil {
			out[n.ID] = *n.Risk
		}
	}
	return out
}

// The map's risk: each graph node sums the findings of the nodes shown as
// it, drawn one by one or aggregated into groups.
func TestGraphRisk(t *testing.T) {
	tp := newMemTopology()
	put := func(n *Node) { tp.g.putNode(n) }
	put(&Node{ID: "host-a", Kind: KindHost, Label: "a", nodeData: nodeData{Host: "host-a", Cluster: "cluster-1"}})
	put(&Node{ID: "host-b", Kind: KindHost, Label: "b", nodeData: nodeData{Host: "host-b", Cluster: "cluster-1"}})
	put(&Node{ID: "host-c", Kind: KindHost, Label: "c", nodeData: nodeData{Host: "host-c"}})
	put(&Node{ID: "container-1", Kind: KindContainer, Label: "web", nodeData: nodeData{Parent: "host-a", Host: "host-a", Image: "image-x"}})
	put(&Node{ID: "image-x", Kind: KindImage, Label: "nginx:1"})
	put(&Node{ID: "container-gone", Kind: KindContainer, Label: "old", GoneAt: time.Unix(1e9, 0), nodeData: nodeData{Parent: "host-a", Host: "host-a"}})
	risk := map[string]NodeRisk{
		"host-a":      {High: 2, Worst: "high", MaxScore: 7},
		"container-1": {Critical: 1, Secrets: 1, Worst: "critical", MaxScore: 9.5},
		"host-b":      {Compliance: 3, Worst: "medium", MaxScore: 4},
		"image-x":     {Low: 5, Worst: "low", MaxScore: 2}, // an image is not shown as a host
		"gone-node":   {Critical: 9, Worst: "critical"},
		// A gone container's findings are not its host's.
		"container-gone": {Critical: 7, Worst: "critical"},
	}

	t.Run("hosts_one_by_one", func(t *testing.T) {
		g, err := tp.Graph(GraphQuery{View: ViewHosts, Risk: risk})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]NodeRisk{
			"host-a": {Critical: 1, High: 2, Secrets: 1, Worst: "critical", MaxScore: 9.5},
			"host-b": {Compliance: 3, Worst: "medium", MaxScore: 4},
		}
		if d := cmp.Diff(want, graphRisk(g)); d != "" {
			t.Errorf("risk (-want +got):\n%s", d)
		}
	})
	t.Run("containers", func(t *testing.T) {
		g, err := tp.Graph(GraphQuery{View: ViewContainers, Risk: risk})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]NodeRisk{"container-1": {Critical: 1, Secrets: 1, Worst: "critical", MaxScore: 9.5}}
		if d := cmp.Diff(want, graphRisk(g)); d != "" {
			t.Errorf("risk (-want +got):\n%s", d)
		}
	})
	t.Run("hosts_aggregated_by_cluster", func(t *testing.T) {
		g, err := tp.Graph(GraphQuery{View: ViewHosts, Group: "cluster", MaxNodes: 2, Risk: risk})
		if err != nil {
			t.Fatal(err)
		}
		if !g.Aggregated {
			t.Fatal("not aggregated")
		}
		want := map[string]NodeRisk{"group-cluster-1": {Critical: 1, High: 2, Secrets: 1, Compliance: 3, Worst: "critical", MaxScore: 9.5}}
		if d := cmp.Diff(want, graphRisk(g)); d != "" {
			t.Errorf("risk (-want +got):\n%s", d)
		}
	})
	t.Run("no_source", func(t *testing.T) {
		g, err := tp.Graph(GraphQuery{View: ViewHosts})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(map[string]NodeRisk{}, graphRisk(g)); d != "" {
			t.Errorf("risk without a source (-want +got):\n%s", d)
		}
	})
}

// Grouping by the cloud and region of each node's host.
func TestGraphGroupCloud(t *testing.T) {
	tp := newMemTopology()
	for _, h := range []struct{ id, cloud, region string }{{"host-a", "aws", "eu-west-1"}, {"host-b", "aws", "us-east-1"}, {"host-c", "gcp", "europe-west4"}, {"host-d", "", ""}} {
		n := &Node{ID: h.id, Kind: KindHost, Label: h.id, nodeData: nodeData{Host: h.id}}
		if h.cloud != "" {
			n.Meta = map[string]string{"cloudProvider": h.cloud, "cloudRegion": h.region}
		}
		tp.g.putNode(n)
		tp.g.putNode(&Node{ID: "container-" + h.id, Kind: KindContainer, Label: "c", nodeData: nodeData{Parent: h.id, Host: h.id}})
	}
	groups := func(group string) map[string]int {
		g, err := tp.Graph(GraphQuery{View: ViewContainers, Group: group, MaxNodes: 3})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, n := range g.Nodes {
			out[n.ID+" "+n.Label] = n.Count
		}
		return out
	}
	if d := cmp.Diff(map[string]int{"group-cloud:aws aws": 2, "container-host-c c": 1, "container-host-d c": 1}, groups("cloud")); d != "" {
		t.Errorf("by cloud (-want +got):\n%s", d)
	}
	// Four regions of one container each, three nodes at most: the last two fold into "other".
	if d := cmp.Diff(map[string]int{"container-host-d c": 1, "container-host-a c": 1, "group-other other": 2}, groups("region")); d != "" {
		t.Errorf("by region (-want +got):\n%s", d)
	}
}

// aggregate=true groups a graph below maxNodes too.
func TestGraphAggregateAlways(t *testing.T) {
	tp := newMemTopology()
	for _, id := range []string{"host-a", "host-b", "host-c"} {
		tp.g.putNode(&Node{ID: id, Kind: KindHost, Label: id, nodeData: nodeData{Host: id, Cluster: map[bool]string{true: "cluster-1"}[id != "host-c"]}})
	}
	g, err := tp.Graph(GraphQuery{View: ViewHosts, Group: "cluster", Aggregate: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, n := range g.Nodes {
		got[n.ID] = n.Count
	}
	if d := cmp.Diff(map[string]int{"group-cluster-1": 2, "host-c": 1}, got); d != "" || !g.Aggregated {
		t.Errorf("aggregated %v (-want +got):\n%s", g.Aggregated, d)
	}
}
