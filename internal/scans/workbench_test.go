package scans

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/risk"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/topology"
)

// TestWorkbench covers the vulnerability workbench's queries: the search
// by node name, image, namespace and package, the image and namespace
// scopes, grouped views honouring the filters, and one vulnerability's
// page (where it is, its fixed versions, severity sources, decisions and
// their history).
func TestWorkbench(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *store.Store, clk *clock) {
		ctx := context.Background()
		ex := &lookupExposure{staticExposure: &staticExposure{m: map[string]risk.Exposure{}}}
		s := newService(t, st, clk, ex, true)
		ex.topo = s.topo.(*fakeTopology)
		ex.topo.add(topology.NodeInfo{ID: "img1", Kind: KindImage, Key: "sha256:1", Label: "nginx:1.25"})
		ex.topo.add(topology.NodeInfo{ID: "n1", Kind: KindContainer, Key: "c1", Label: "web", SensorID: "s1", Image: "img1", Namespace: "shop", Cluster: "prod"})
		addNode(t, s, "n2", "container", "c2", "batch", "s1")
		ex.set("n1", risk.Exposure{Known: true, Processes: []risk.Process{{PID: 1, Name: "app", LoadedFiles: []string{"/app"},
			Listening: []risk.Endpoint{{Proto: "tcp", Addr: "0.0.0.0", Port: 80}}}}})
		runScan(t, s, Target{NodeID: "n1", SensorID: "s1", Kind: KindContainer, Ref: "c1"}, testInventory(urllib3Old, xtext))
		runScan(t, s, Target{NodeID: "n2", SensorID: "s1", Kind: KindContainer, Ref: "c2"}, testInventory(urllib3Old, xtext))

		_, total, err := s.findings.Findings(ctx, findings.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		nodesOf := func(ff findings.Filter) (nodes []string, n int) {
			t.Helper()
			ff.Limit = 1000
			fs, n, err := s.findings.Findings(ctx, ff)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fs {
				if !slices.Contains(nodes, f.NodeID) {
					nodes = append(nodes, f.NodeID)
				}
			}
			slices.Sort(nodes)
			return nodes, n
		}
		t.Run("search", func(t *testing.T) {
			for _, tc := range []struct {
				name  string
				ff    findings.Filter
				nodes []string
				all   bool // every finding of those nodes
			}{
				{"node_name", findings.Filter{Search: "WEB"}, []string{"n1"}, true},
				{"image_name", findings.Filter{Search: "nginx"}, []string{"n1"}, true},
				{"namespace_name", findings.Filter{Search: "shop"}, []string{"n1"}, true},
				{"cluster_name", findings.Filter{Search: "prod"}, []string{"n1"}, true},
				{"package", findings.Filter{Search: "urllib"}, []string{"n1", "n2"}, false},
				{"alias", findings.Filter{Search: "cve-2020-14040"}, []string{"n1", "n2"}, false},
				{"image_scope", findings.Filter{Image: "img1"}, []string{"n1"}, true},
				{"image_scope_by_name", findings.Filter{Image: "nginx:1.25"}, []string{"n1"}, true},
				{"namespace_scope", findings.Filter{Namespace: "shop"}, []string{"n1"}, true},
				{"cluster_scope", findings.Filter{Cluster: "prod"}, []string{"n1"}, true},
				{"scope_and_search", findings.Filter{Namespace: "shop", Search: "batch"}, nil, false},
				{"nothing", findings.Filter{Search: "no such thing"}, nil, false},
				{"like_characters_match_themselves", findings.Filter{Search: "%"}, nil, false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					got, n := nodesOf(tc.ff)
					if diff := cmp.Diff(tc.nodes, got); diff != "" {
						t.Errorf("nodes (-want +got):\n%s", diff)
					}
					if tc.all && n*2 != total {
						t.Errorf("%d findings, want half of %d", n, total)
					}
				})
			}
		})

		t.Run("export_query_keeps_every_filter", func(t *testing.T) {
			q, err := findings.QueryOf(url.Values{"q": {"web"}, "severity": {"high,critical"}, "minScore": {"1"}, "image": {"img1"}, "namespace": {"shop"}, "cluster": {"prod"}})
			if err != nil {
				t.Fatal(err)
			}
			ff, err := q.Filter()
			if err != nil {
				t.Fatal(err)
			}
			if ff.Search != "web" || ff.Image != "img1" || ff.Namespace != "shop" || ff.Cluster != "prod" || ff.MinScore != 1 || len(ff.Severity) != 2 {
				t.Errorf("filter %+v", ff)
			}
			if _, err := findings.QueryOf(url.Values{"minScore": {"lots"}}); !errors.Is(err, findings.ErrInvalid) {
				t.Errorf("minScore=lots: %v", err)
			}
		})

		t.Run("groups_honour_filters", func(t *testing.T) {
			all, n, err := s.findings.Groups(ctx, findings.GroupByNode, findings.Filter{}, 1)
			if err != nil || len(all) != 1 || n != 2 {
				t.Fatalf("by node, limit 1: %d of %d, %v", len(all), n, err)
			}
			gs, n, err := s.findings.Groups(ctx, findings.GroupByNode, findings.Filter{Search: "batch"}, 10)
			if err != nil || n != 1 || gs[0].Key != "n2" || gs[0].Label != "batch" {
				t.Fatalf("by node, batch: %+v %d %v", gs, n, err)
			}
			byImage, _, err := s.findings.Groups(ctx, findings.GroupByImage, findings.Filter{}, 10)
			if err != nil || len(byImage) != 1 || byImage[0].Key != "img1" || byImage[0].Label != "nginx:1.25" {
				t.Fatalf("by image: %+v %v", byImage, err)
			}
		})

		t.Run("vulnerability", func(t *testing.T) {
			d, err := s.findings.Decide(ctx, findings.DecisionInput{VulnID: "GO-2020-0015", NodeID: "n2", Status: findings.DecisionAccepted, Reason: "batch is offline"}, "a@example.com")
			if err != nil {
				t.Fatal(err)
			}
			v, err := s.findings.Vulnerability(ctx, "GO-2020-0015") // an alias finds the CVE
			if err != nil {
				t.Fatal(err)
			}
			if v.ID != "CVE-2020-14040" || !slices.Contains(v.Aliases, "GO-2020-0015") || v.Description == "" || len(v.References) == 0 {
				t.Errorf("id %s aliases %v description %q references %v", v.ID, v.Aliases, v.Description, v.References)
			}
			var labels []string
			for _, n := range v.Nodes {
				labels = append(labels, n.Label)
				if n.Label == "web" && (n.Image != "nginx:1.25" || n.Namespace != "shop" || n.Listening == nil || !*n.Listening) {
					t.Errorf("web: %+v", n)
				}
				if n.Label == "batch" && (n.Decision == nil || n.Decision.ID != d.ID) {
					t.Errorf("batch is decided: %+v", n)
				}
			}
			if diff := cmp.Diff([]string{"web", "batch"}, labels); diff != "" || v.Findings != 2 {
				t.Errorf("nodes riskiest first (-want +got):\n%s (%d findings)", diff, v.Findings)
			}
			if len(v.Images) != 1 || v.Images[0].Label != "nginx:1.25" || v.Images[0].Containers != 1 {
				t.Errorf("images %+v", v.Images)
			}
			if len(v.Packages) != 1 || v.Packages[0].Name != "golang.org/x/text" || len(v.Packages[0].FixedVersions) == 0 {
				t.Errorf("packages %+v", v.Packages)
			}
			var used bool
			for _, sv := range v.Severities {
				used = used || sv.Used
			}
			if len(v.Severities) == 0 || !used {
				t.Errorf("severity sources %+v", v.Severities)
			}
			if len(v.Decisions) != 1 || len(v.History) != 1 || v.History[0].Action != "created" || v.History[0].Actor == "" && v.History[0].Decision.ID != d.ID {
				t.Errorf("decisions %+v history %+v", v.Decisions, v.History)
			}
			if _, err := s.findings.DeleteDecision(ctx, d.ID, "a@example.com"); err != nil {
				t.Fatal(err)
			}
			v, err = s.findings.Vulnerability(ctx, "CVE-2020-14040")
			if err != nil {
				t.Fatal(err)
			}
			if len(v.Decisions) != 0 || len(v.History) != 2 || v.History[0].Action != "revoked" || v.History[0].Decision.Reason != "batch is offline" {
				t.Errorf("after revoke: decisions %+v history %+v", v.Decisions, v.History)
			}
			if _, err := s.findings.Vulnerability(ctx, "NOPE-0001"); !errors.Is(err, findings.ErrNotFound) {
				t.Errorf("unknown vulnerability: %v", err)
			}
			if _, err := s.findings.Vulnerability(ctx, "CVE-%"); !errors.Is(err, findings.ErrInvalid) {
				t.Errorf("CVE-%%: %v", err)
			}
		})
	})
}
