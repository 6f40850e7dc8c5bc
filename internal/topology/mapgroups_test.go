package topology

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Drilling into a cloud or region group: the cloud and region filters keep
// the nodes whose host is there, and a cloud's nodes group by region.
func TestGraphCloudRegionFilter(t *testing.T) {
	tp := newMemTopology()
	for _, h := range []struct{ id, cloud, region string }{{"host-a", "aws", "eu-west-1"}, {"host-b", "aws", "us-east-1"}, {"host-c", "gcp", "europe-west4"}, {"host-d", "", ""}} {
		n := &Node{ID: h.id, Kind: KindHost, Label: h.id, nodeData: nodeData{Host: h.id}}
		if h.cloud != "" {
			n.Meta = map[string]string{"cloudProvider": h.cloud, "cloudRegion": h.region}
		}
		tp.g.putNode(n)
		tp.g.putNode(&Node{ID: "container-" + h.id, Kind: KindContainer, Label: "c", nodeData: nodeData{Parent: h.id, Host: h.id}})
	}
	ids := func(q GraphQuery) []string {
		t.Helper()
		g, err := tp.Graph(q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, n := range g.Nodes {
			out = append(out, n.ID)
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		name string
		q    GraphQuery
		want []string
	}{
		{"cloud", GraphQuery{View: ViewContainers, Cloud: "aws"}, []string{"container-host-a", "container-host-b"}},
		{"cloud_by_region", GraphQuery{View: ViewContainers, Cloud: "aws", Group: "region", Aggregate: true}, []string{"container-host-a", "container-host-b"}},
		{"region", GraphQuery{View: ViewHosts, Region: "aws/us-east-1"}, []string{"host-b"}},
		{"region_elsewhere", GraphQuery{View: ViewHosts, Region: "gcp/eu-west-1"}, nil},
		{"hosts_in_cloud", GraphQuery{View: ViewHosts, Cloud: "gcp"}, []string{"host-c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, ids(tc.q)); d != "" {
				t.Errorf("nodes (-want +got):\n%s", d)
			}
		})
	}
}

// Processes carry the findings of what they run in: their container's, or
// their host's outside containers; a group of processes counts each
// container's and host's once.
func TestGraphProcessRisk(t *testing.T) {
	tp := newMemTopology()
	put := func(n *Node) { tp.g.putNode(n) }
	put(&Node{ID: "host-a", Kind: KindHost, Label: "a", nodeData: nodeData{Host: "host-a"}})
	put(&Node{ID: "container-1", Kind: KindContainer, Label: "web", nodeData: nodeData{Parent: "host-a", Host: "host-a"}})
	put(&Node{ID: "process-sshd", Kind: KindProcess, Label: "sshd", nodeData: nodeData{Parent: "host-a", Host: "host-a"}})
	put(&Node{ID: "process-cron", Kind: KindProcess, Label: "cron", nodeData: nodeData{Parent: "host-a", Host: "host-a"}})
	put(&Node{ID: "process-nginx", Kind: KindProcess, Label: "nginx", nodeData: nodeData{Parent: "container-1", Host: "host-a", Container: "container-1"}})
	put(&Node{ID: "host-b", Kind: KindHost, Label: "b", nodeData: nodeData{Host: "host-b"}})
	put(&Node{ID: "process-b", Kind: KindProcess, Label: "init", nodeData: nodeData{Parent: "host-b", Host: "host-b"}})
	hostA := NodeRisk{High: 2, Worst: "high", MaxScore: 7}
	web := NodeRisk{Critical: 1, Secrets: 1, Worst: "critical", MaxScore: 9.5}
	risk := map[string]NodeRisk{"host-a": hostA, "container-1": web}
	riskOf := func(q GraphQuery) map[string]NodeRisk {
		t.Helper()
		g, err := tp.Graph(q)
		if err != nil {
			t.Fatal(err)
		}
		return graphRisk(g)
	}
	t.Run("one_by_one", func(t *testing.T) {
		want := map[string]NodeRisk{"process-sshd": hostA, "process-cron": hostA, "process-nginx": web}
		if d := cmp.Diff(want, riskOf(GraphQuery{View: ViewProcesses, Risk: risk})); d != "" {
			t.Errorf("risk (-want +got):\n%s", d)
		}
	})
	t.Run("expanded_host", func(t *testing.T) {
		// What the map fetches to expand a host in place.
		want := map[string]NodeRisk{"process-sshd": hostA, "process-cron": hostA, "process-nginx": web}
		if d := cmp.Diff(want, riskOf(GraphQuery{View: ViewProcesses, Host: "host-a", Risk: risk})); d != "" {
			t.Errorf("risk (-want +got):\n%s", d)
		}
	})
	t.Run("grouped_by_host", func(t *testing.T) {
		// host-a's two processes outside containers count its findings once.
		want := map[string]NodeRisk{"group-host-a": {Critical: 1, High: 2, Secrets: 1, Worst: "critical", MaxScore: 9.5}}
		if d := cmp.Diff(want, riskOf(GraphQuery{View: ViewProcesses, Group: "host", Aggregate: true, Risk: risk})); d != "" {
			t.Errorf("risk (-want +got):\n%s", d)
		}
	})
	t.Run("hosts_unchanged", func(t *testing.T) {
		want := map[string]NodeRisk{"host-a": {Critical: 1, High: 2, Secrets: 1, Worst: "critical", MaxScore: 9.5}}
		if d := cmp.Diff(want, riskOf(GraphQuery{View: ViewHosts, Risk: risk})); d != "" {
			t.Errorf("risk (-want +got):\n%s", d)
		}
	})
}
