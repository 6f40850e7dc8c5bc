package scans

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/risk"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/topology"
)

// staticExposure is a settable ExposureSource: the topology's answer for
// each node.
type staticExposure struct {
	mu sync.Mutex
	m  map[string]risk.Exposure
}

func (s *staticExposure) Exposure(_ context.Context, node string) (risk.Exposure, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[node], nil
}

func (s *staticExposure) set(node string, ex risk.Exposure) {
	s.mu.Lock()
	s.m[node] = ex
	s.mu.Unlock()
}

func testInventory(pkgs ...inventory.Package) *inventory.Inventory {
	return &inventory.Inventory{Target: inventory.Target{Kind: "container", Ref: "c1"}, Packages: pkgs}
}

var (
	urllib3Old = inventory.Package{Name: "urllib3", Version: "1.26.0", Ecosystem: "PyPI", PURL: "pkg:pypi/urllib3@1.26.0",
		Locations: []string{"usr/lib/python3.11/site-packages/urllib3-1.26.0.dist-info/METADATA"}}
	urllib3New = inventory.Package{Name: "urllib3", Version: "2.5.0", Ecosystem: "PyPI", PURL: "pkg:pypi/urllib3@2.5.0"}
	xtext      = inventory.Package{Name: "golang.org/x/text", Version: "v0.3.0", Ecosystem: "Go", PURL: "pkg:golang/golang.org/x/text@v0.3.0",
		Locations: []string{"app"}}
)

func gzipInventory(t *testing.T, inv *inventory.Inventory) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if err := json.NewEncoder(w).Encode(inv); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return b.Bytes()
}

// runScan takes a scan through the sensor protocol with inv as its result.
func runScan(t *testing.T, s *Service, target Target, inv *inventory.Inventory) Scan {
	t.Helper()
	ctx := context.Background()
	got, err := s.Queue.Enqueue(ctx, []Target{target}, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	if cmds, err := s.Queue.Poll(ctx, target.SensorID, "u1", 1); err != nil || len(cmds) != 1 {
		t.Fatalf("poll: %v %v", cmds, err)
	}
	b := gzipInventory(t, inv)
	dec, err := sensorproto.DecodeInventory(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AttachInventory(ctx, got[0].ID, "u1", b, dec); err != nil {
		t.Fatal(err)
	}
	sc, err := s.Queue.Report(ctx, got[0].ID, "u1", StatusUpdate{Status: StatusComplete, Progress: 1})
	if err != nil || sc.Status != StatusComplete {
		t.Fatalf("complete: %+v %v", sc, err)
	}
	return sc
}

func ids(fs []findings.NodeFinding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Finding.Package.Name+" "+f.Finding.ID)
	}
	return out
}

func TestFindings(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *store.Store, clk *clock) {
		ctx := context.Background()
		ex := &staticExposure{m: map[string]risk.Exposure{}}
		s := newService(t, st, clk, ex, true)
		addNode(t, s, "n1", "container", "c1", "web", "s1")
		addNode(t, s, "n2", "container", "c2", "batch", "s1")
		ex.set("n1", risk.Exposure{Known: true, Processes: []risk.Process{{PID: 1, Name: "app", LoadedFiles: []string{"/app"},
			Listening: []risk.Endpoint{{Proto: "tcp", Addr: "0.0.0.0", Port: 80}}}}})
		ex.set("n2", risk.Exposure{Known: true, Processes: []risk.Process{{PID: 1, Name: "sh", LoadedFiles: []string{"/bin/sh"}}}})
		s1 := runScan(t, s, Target{NodeID: "n1", SensorID: "s1", Kind: KindContainer, Ref: "c1"}, testInventory(urllib3Old, xtext))
		runScan(t, s, Target{NodeID: "n2", SensorID: "s1", Kind: KindContainer, Ref: "c2"}, testInventory(urllib3Old, xtext))

		all, total, err := s.findings.Findings(ctx, findings.Filter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if total < 4 || total != len(all) {
			t.Fatalf("total %d, page %d", total, len(all))
		}
		for i := 1; i < len(all); i++ {
			if all[i].Risk.Score > all[i-1].Risk.Score {
				t.Fatalf("not sorted by risk: %v then %v", all[i-1].Risk.Score, all[i].Risk.Score)
			}
		}

		t.Run("filters", func(t *testing.T) {
			count := func(ff findings.Filter) int {
				ff.Limit = 1000
				fs, n, err := s.findings.Findings(ctx, ff)
				if err != nil {
					t.Fatal(err)
				}
				if n != len(fs) {
					t.Fatalf("count %d, page %d", n, len(fs))
				}
				return n
			}
			yes, no := true, false
			byNode := count(findings.Filter{NodeID: "n1"})
			if byNode*2 != total {
				t.Errorf("node n1: %d of %d", byNode, total)
			}
			n1, n2 := count(findings.Filter{Package: "golang.org/x/text", NodeID: "n1"}), count(findings.Filter{Package: "golang.org/x/text", NodeID: "n2"})
			if n1 == 0 || n1 != n2 || count(findings.Filter{Package: "golang.org/x/text"}) != n1+n2 {
				t.Errorf("x/text findings: n1 %d, n2 %d", n1, n2)
			}
			if n := count(findings.Filter{VulnID: "CVE-2020-14040"}); n != 2 {
				t.Errorf("by alias CVE-2020-14040: %d", n)
			}
			if a, b := count(findings.Filter{FixAvailable: &yes}), count(findings.Filter{FixAvailable: &no}); a+b != total || a == 0 {
				t.Errorf("fix available %d + none %d != %d", a, b, total)
			}
			if a, b := count(findings.Filter{KEV: &yes}), count(findings.Filter{KEV: &no}); a+b != total {
				t.Errorf("kev %d + not %d != %d", a, b, total)
			}
			sev := map[string]int{}
			for _, f := range all {
				sev[f.Finding.Severity]++
			}
			for k, v := range sev {
				if n := count(findings.Filter{Severity: []string{k}}); n != v {
					t.Errorf("severity %s: %d, want %d", k, n, v)
				}
			}
			if _, _, err := s.findings.Findings(ctx, findings.Filter{Sort: "nope"}); err == nil {
				t.Error("unknown sort accepted")
			}
		})

		t.Run("node_scans", func(t *testing.T) {
			ns, err := s.NodeScans(ctx, "n1")
			if err != nil || ns == nil {
				t.Fatalf("NodeScans(n1): %+v %v", ns, err)
			}
			if ns.Latest == nil || ns.Latest.ID != s1.ID || ns.LatestComplete == nil || ns.LatestComplete.ID != s1.ID || ns.LatestComplete.Status != StatusComplete {
				t.Fatalf("latest %+v, latest complete %+v, want both %s", ns.Latest, ns.LatestComplete, s1.ID)
			}
			nodeAll, _, err := s.findings.Findings(ctx, findings.Filter{NodeID: "n1", Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			wantCounts := map[string]int{}
			for _, f := range nodeAll {
				wantCounts[f.Finding.Severity]++
			}
			if diff := cmp.Diff(wantCounts, ns.CountsBySeverity); diff != "" || ns.Suppressed != 0 {
				t.Errorf("counts by severity (-want +got):\n%s suppressed %d", diff, ns.Suppressed)
			}
			var wantTop, gotTop []string
			for _, f := range nodeAll[:min(5, len(nodeAll))] {
				wantTop = append(wantTop, f.ID)
			}
			for _, f := range ns.TopFindings {
				gotTop = append(gotTop, f.ID)
				if f.VulnID == "" || f.Package == "" || f.Severity == "" || f.RiskScore <= 0 {
					t.Errorf("top finding incomplete: %+v", f)
				}
			}
			if diff := cmp.Diff(wantTop, gotTop); diff != "" {
				t.Errorf("top findings (-want +got):\n%s", diff)
			}

			// A decision on n1 moves its findings out of the counts.
			d, err := s.findings.Decide(ctx, findings.DecisionInput{VulnID: "GO-2020-0015", NodeID: "n1", Status: findings.DecisionAccepted, Reason: "node test"}, "a@example.com")
			if err != nil {
				t.Fatal(err)
			}
			after, err := s.NodeScans(ctx, "n1")
			if err != nil {
				t.Fatal(err)
			}
			sum := func(m map[string]int) (n int) {
				for _, v := range m {
					n += v
				}
				return n
			}
			if after.Suppressed == 0 || sum(after.CountsBySeverity)+after.Suppressed != len(nodeAll) {
				t.Errorf("after the decision: counts %v suppressed %d, want %d in all", after.CountsBySeverity, after.Suppressed, len(nodeAll))
			}
			if _, err := s.findings.DeleteDecision(ctx, d.ID, "a@example.com"); err != nil {
				t.Fatal(err)
			}

			// A new scan queued: the latest is it, the results stay the
			// complete one's.
			queued, err := s.Queue.Enqueue(ctx, []Target{{NodeID: "n1", SensorID: "s1", Kind: KindContainer, Ref: "c1"}}, "test", "")
			if err != nil {
				t.Fatal(err)
			}
			again, err := s.NodeScans(ctx, "n1")
			if err != nil {
				t.Fatal(err)
			}
			if again.Latest.ID != queued[0].ID || again.Latest.Status != StatusQueued || again.LatestComplete.ID != s1.ID || len(again.TopFindings) != len(ns.TopFindings) {
				t.Errorf("with a queued scan: latest %+v, latest complete %+v", again.Latest, again.LatestComplete)
			}
			if _, err := s.Queue.Cancel(ctx, queued[0].ID); err != nil {
				t.Fatal(err)
			}
			if none, err := s.NodeScans(ctx, "never-scanned"); none != nil || err != nil {
				t.Errorf("never-scanned node: %+v %v", none, err)
			}
		})

		t.Run("sorting_and_pages", func(t *testing.T) {
			var paged []findings.NodeFinding
			for off := 0; ; off += 3 {
				fs, _, err := s.findings.Findings(ctx, findings.Filter{Sort: "package", Limit: 3, Offset: off})
				if err != nil {
					t.Fatal(err)
				}
				if len(fs) == 0 {
					break
				}
				paged = append(paged, fs...)
			}
			if len(paged) != total {
				t.Fatalf("pages hold %d of %d", len(paged), total)
			}
			if !slices.IsSortedFunc(paged, func(a, b findings.NodeFinding) int {
				return strings.Compare(a.Finding.Package.Name, b.Finding.Package.Name)
			}) {
				t.Errorf("not sorted by package: %v", ids(paged))
			}
		})

		t.Run("exposure_ranks_same_vulnerability", func(t *testing.T) {
			fs, _, _ := s.findings.Findings(ctx, findings.Filter{VulnID: "GO-2020-0015"})
			if len(fs) != 2 || fs[0].NodeID != "n1" || fs[0].Risk.Score <= fs[1].Risk.Score {
				t.Fatalf("GO-2020-0015: %+v", fs)
			}
			if d := cmp.Diff([]float64{risk.ExposureListening, risk.ExposureUnused}, []float64{fs[0].Risk.Factors[2].Value, fs[1].Risk.Factors[2].Value}); d != "" {
				t.Errorf("exposure factors (-want +got):\n%s", d)
			}
		})

		t.Run("grouped_by_vulnerability_and_node", func(t *testing.T) {
			gs, _, err := s.findings.Groups(ctx, findings.GroupByVulnerability, findings.Filter{}, 500)
			if err != nil {
				t.Fatal(err)
			}
			var vulns int
			for i, g := range gs {
				vulns += g.Findings
				if i > 0 && g.MaxScore > gs[i-1].MaxScore {
					t.Errorf("groups not by score: %v after %v", g.MaxScore, gs[i-1].MaxScore)
				}
				if g.Top.Risk.Score != g.MaxScore || g.Top.Finding.ID == "" || g.Vulnerabilities != 1 {
					t.Errorf("group %s: top %v of max %v, %d vulnerabilities", g.Key, g.Top.Risk.Score, g.MaxScore, g.Vulnerabilities)
				}
				if g.Key == "GO-2020-0015" && (g.Findings != 2 || g.Nodes != 2 || g.Top.NodeID != "n1") {
					t.Errorf("GO-2020-0015 on both nodes, n1 worst: %+v", g)
				}
			}
			if vulns != total {
				t.Errorf("the vulnerability groups hold %d of %d findings", vulns, total)
			}
			byNode, _, err := s.findings.Groups(ctx, findings.GroupByNode, findings.Filter{}, 500)
			if err != nil || len(byNode) != 2 {
				t.Fatalf("by node: %+v %v", byNode, err)
			}
			if byNode[0].Findings+byNode[1].Findings != total || byNode[0].Nodes != 1 || byNode[0].Label == "" {
				t.Errorf("by node: %+v", byNode)
			}
			if _, _, err := s.findings.Groups(ctx, "colour", findings.Filter{}, 10); !errors.Is(err, findings.ErrInvalid) {
				t.Errorf("by colour: %v", err)
			}
		})

		t.Run("topology_change_rescores", func(t *testing.T) {
			ex.set("n2", risk.Exposure{Known: true, Internet: true, Path: []risk.Hop{{Kind: "internet", Name: "internet"}, {NodeID: "n2", Kind: "container", Name: "batch"}},
				Processes: []risk.Process{{PID: 2, Name: "app", LoadedFiles: []string{"/app"}, Listening: []risk.Endpoint{{Proto: "tcp", Addr: "::", Port: 443}}}}})
			s.findings.Rescore(ctx, "n2")
			fs, _, _ := s.findings.Findings(ctx, findings.Filter{VulnID: "GO-2020-0015"})
			if len(fs) != 2 || fs[0].NodeID != "n2" || fs[0].Risk.Factors[2].Value != risk.ExposureInternet || len(fs[0].Risk.Path) != 4 {
				t.Fatalf("after n2 became internet-facing: %+v", fs)
			}
			top, err := s.findings.Top(ctx, 1)
			if err != nil || len(top) != 1 || top[0].Risk.Score < fs[0].Risk.Score {
				t.Errorf("top: %+v %v", top, err)
			}
		})

		t.Run("decisions_expire", func(t *testing.T) {
			exp := clk.Now().Add(24 * time.Hour)
			if _, err := s.findings.Decide(ctx, findings.DecisionInput{VulnID: "GO-2020-0015", Status: findings.DecisionAccepted, Reason: "patched next sprint", ExpiresAt: &exp}, "a@example.com"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.findings.Decide(ctx, findings.DecisionInput{VulnID: "X", Status: findings.DecisionNotAffected, Reason: "r"}, "a"); err == nil {
				t.Error("not_affected without justification accepted")
			}
			past := clk.Now().Add(-time.Hour)
			if _, err := s.findings.Decide(ctx, findings.DecisionInput{VulnID: "X", Status: findings.DecisionAccepted, Reason: "r", ExpiresAt: &past}, "a"); err == nil {
				t.Error("expiry in the past accepted")
			}
			if fs, _, _ := s.findings.Findings(ctx, findings.Filter{VulnID: "GO-2020-0015"}); len(fs) != 0 {
				t.Errorf("accepted findings still listed: %v", ids(fs))
			}
			fs, _, _ := s.findings.Findings(ctx, findings.Filter{VulnID: "GO-2020-0015", IncludeSuppressed: true})
			if len(fs) != 2 || fs[0].Decision == nil || fs[0].Decision.Status != findings.DecisionAccepted {
				t.Errorf("with suppressed: %+v", fs)
			}
			for _, f := range mustTop(t, s) {
				if slices.Contains(f.Finding.AllIDs(), "GO-2020-0015") {
					t.Errorf("accepted finding in the top list")
				}
			}
			var vex bytes.Buffer
			if err := s.findings.WriteOpenVEX(ctx, &vex, "a"); err != nil || !strings.Contains(vex.String(), "risk accepted: patched next sprint") {
				t.Errorf("OpenVEX: %v %s", err, vex.String())
			}
			clk.Advance(25 * time.Hour)
			if fs, _, _ := s.findings.Findings(ctx, findings.Filter{VulnID: "GO-2020-0015"}); len(fs) != 2 {
				t.Errorf("expired decision still hides findings: %d", len(fs))
			}
		})

		t.Run("diff", func(t *testing.T) {
			s2 := runScan(t, s, Target{NodeID: "n1", SensorID: "s1", Kind: KindContainer, Ref: "c1"}, testInventory(urllib3New, xtext))
			d, err := s.DiffScans(ctx, s1.ID, s2.ID)
			if err != nil {
				t.Fatal(err)
			}
			_, nx, _ := s.findings.Findings(ctx, findings.Filter{ScanID: s2.ID, Package: "golang.org/x/text"})
			if len(d.Fixed) == 0 || d.Unchanged != nx {
				t.Errorf("diff: %+v (x/text findings %d)", d, nx)
			}
			for _, f := range d.Fixed {
				if !strings.HasSuffix(f, "in urllib3@1.26.0") {
					t.Errorf("fixed %q", f)
				}
			}
			for _, f := range d.New {
				if !strings.HasSuffix(f, "in urllib3@2.5.0") {
					t.Errorf("new %q", f)
				}
			}
			// Current findings follow the latest scan of each target.
			fs, _, _ := s.findings.Findings(ctx, findings.Filter{NodeID: "n1", Package: "urllib3", Limit: 1000})
			for _, f := range fs {
				if f.Finding.Package.Version != "2.5.0" || f.ScanID != s2.ID {
					t.Errorf("finding of the superseded scan still current: %s %s", f.Finding.ID, f.Finding.Package.Version)
				}
			}
			if fs, _, _ := s.findings.Findings(ctx, findings.Filter{ScanID: s1.ID, Package: "urllib3"}); len(fs) == 0 {
				t.Error("history of the first scan lost")
			}
		})
	})
}

func mustTop(t *testing.T, s *Service) []findings.NodeFinding {
	t.Helper()
	fs, err := s.findings.Top(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestSchedulesAndAutoScan(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *store.Store, clk *clock) {
		ctx := context.Background()
		s := newService(t, st, clk, nil, false)
		addNode(t, s, "h1", "host", "host-1", "host-1", "s1")
		addNode(t, s, "c1", "container", "ctr-1", "web", "s1")
		addNode(t, s, "c2", "container", "ctr-2", "db", "s2")
		if _, err := s.CreateSchedule(ctx, ScheduleInput{Name: "bad", Cron: "61 * * * *", Filter: NodeFilter{Kind: "container"}}, "a"); err == nil {
			t.Error("bad cron accepted")
		}
		sc, err := s.CreateSchedule(ctx, ScheduleInput{Name: "web nightly", Cron: "0 3 * * *", Filter: NodeFilter{Kind: "container", NameContains: "WE"}}, "a")
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC); !sc.NextRun.Equal(want) {
			t.Errorf("next run %s, want %s", sc.NextRun, want)
		}
		if n, _ := s.RunDueSchedules(ctx); n != 0 {
			t.Errorf("ran %d before its time", n)
		}
		clk.Advance(16 * time.Hour)
		if n, err := s.RunDueSchedules(ctx); n != 1 || err != nil {
			t.Fatalf("due schedule made %d scans: %v", n, err)
		}
		if n, _ := s.RunDueSchedules(ctx); n != 0 {
			t.Errorf("schedule ran twice in one slot")
		}
		list, _, _ := s.Queue.List(ctx, ListFilter{})
		if len(list) != 1 || list[0].NodeID != "c1" || list[0].ScheduleID != sc.ID || list[0].Target.Ref != "ctr-1" {
			t.Fatalf("scheduled scans: %+v", list)
		}

		s.NodesAppeared(ctx, "h1")
		if list, _, _ := s.Queue.List(ctx, ListFilter{NodeID: "h1"}); len(list) != 0 {
			t.Error("auto-scan ran while off")
		}
		if err := s.PutSettings(ctx, Settings{AutoScanHosts: true}); err != nil {
			t.Fatal(err)
		}
		s.NodesAppeared(ctx, "h1", "c2")
		if list, _, _ := s.Queue.List(ctx, ListFilter{NodeID: "h1"}); len(list) != 1 {
			t.Error("new host not auto-scanned")
		}
		if list, _, _ := s.Queue.List(ctx, ListFilter{NodeID: "c2"}); len(list) != 0 {
			t.Error("container auto-scanned with only hosts on")
		}
		if _, err := s.StartScans(ctx, ScanRequest{Filter: &NodeFilter{Kind: "container", SensorID: "s2"}}, "a"); err != nil {
			t.Fatal(err)
		}
		if list, _, _ := s.Queue.List(ctx, ListFilter{NodeID: "c2"}); len(list) != 1 || list[0].SensorID != "s2" {
			t.Errorf("filter scan: %+v", list)
		}
		if _, err := s.StartScans(ctx, ScanRequest{NodeIDs: []string{"nope"}}, "a"); err == nil {
			t.Error("unknown node accepted")
		}
	})
}

// TestUncovered checks a scan keeps what it could not judge: with the
// shared feeds' knowledge base (no Debian 12 records) the Debian 12
// packages; without a knowledge base every package that would have been
// looked up, by ecosystem (a Python package a Debian package owns is
// judged by the Debian feed, so it is not counted apart).
func TestUncovered(t *testing.T) {
	bash := inventory.Package{Name: "bash", Version: "5.2.15-2+b2", Ecosystem: "Debian:12"}
	libc := inventory.Package{Name: "libc6", Version: "2.36-9+deb12u4", Ecosystem: "Debian:12.5"}
	owned := inventory.Package{Name: "chardet", Version: "5.1.0", Ecosystem: "PyPI", OwnedBy: "python3-chardet"}
	noVersion := inventory.Package{Name: "mystery", Ecosystem: "npm"}
	forEachBackend(t, func(t *testing.T, st *store.Store, clk *clock) {
		ctx := context.Background()
		for _, c := range []struct {
			name   string
			withKB bool
			want   []match.Uncovered
		}{
			{"shared_feeds", true, []match.Uncovered{{Ecosystem: "Debian:12", Packages: 2}}},
			{"no_knowledge_base", false, []match.Uncovered{{Ecosystem: "Debian:12", Packages: 2}, {Ecosystem: "Go", Packages: 1}, {Ecosystem: "PyPI", Packages: 1}}},
		} {
			t.Run(c.name, func(t *testing.T) {
				s := newService(t, st, clk, nil, c.withKB)
				node := "n-" + c.name
				addNode(t, s, node, "container", "c-"+c.name, "web", "s1")
				sc := runScan(t, s, Target{NodeID: node, SensorID: "s1", Kind: KindContainer, Ref: "c-" + c.name},
					testInventory(urllib3Old, xtext, bash, libc, owned, noVersion))
				if diff := cmp.Diff(c.want, sc.Uncovered); diff != "" {
					t.Errorf("uncovered (-want +got):\n%s", diff)
				}
				if c.withKB != (sc.Findings > 0) {
					t.Errorf("%d findings with a knowledge base %v", sc.Findings, c.withKB)
				}
				got, err := s.Queue.Get(ctx, sc.ID)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(c.want, got.Uncovered); diff != "" {
					t.Errorf("stored uncovered (-want +got):\n%s", diff)
				}
			})
		}
		// A scan of covered packages only has no gap.
		s := newService(t, st, clk, nil, true)
		addNode(t, s, "n-clean", "container", "c-clean", "api", "s1")
		sc := runScan(t, s, Target{NodeID: "n-clean", SensorID: "s1", Kind: KindContainer, Ref: "c-clean"}, testInventory(urllib3Old, xtext))
		if sc.Uncovered != nil {
			t.Errorf("a scan of PyPI and Go packages: uncovered %+v, want none", sc.Uncovered)
		}
		// The gaps of the latest scans by ecosystem, over the nodes the
		// topology holds and does not mark gone.
		gaps := func() []CoverageGap {
			g, err := s.CoverageGaps(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return g
		}
		if g := gaps(); len(g) != 0 {
			t.Errorf("gaps of nodes the topology does not hold: %+v", g)
		}
		addNode(t, s, "n-shared_feeds", "container", "c-shared_feeds", "web", "s1")
		addNode(t, s, "n-no_knowledge_base", "container", "c-no_knowledge_base", "batch", "s1")
		want := []CoverageGap{
			{Ecosystem: "Debian:12", Nodes: 2, Packages: 4, Examples: []string{"container web", "container batch"}},
			{Ecosystem: "Go", Nodes: 1, Packages: 1, Examples: []string{"container batch"}},
			{Ecosystem: "PyPI", Nodes: 1, Packages: 1, Examples: []string{"container batch"}},
		}
		if diff := cmp.Diff(want, gaps()); diff != "" {
			t.Errorf("coverage gaps (-want +got):\n%s", diff)
		}
		s.topo.(*fakeTopology).add(topology.NodeInfo{ID: "n-no_knowledge_base", Kind: "container", Key: "c-no_knowledge_base", Label: "batch", SensorID: "s1", Gone: true})
		want = []CoverageGap{{Ecosystem: "Debian:12", Nodes: 1, Packages: 2, Examples: []string{"container web"}}}
		if diff := cmp.Diff(want, gaps()); diff != "" {
			t.Errorf("coverage gaps with the batch container gone (-want +got):\n%s", diff)
		}
	})
}
