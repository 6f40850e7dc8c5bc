package diagnosis_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/diagnosis"
	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/malwarescan"
	"github.com/riskmap/riskmap/internal/malwarescan/malwaretest"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/topology"
)

// TestCoverage scans two hosts of a live topology, and a node the topology
// no longer holds, with a knowledge base holding Debian 11 records only:
// each scan stores what it could not judge (Debian 12, PyPI, Wolfi), and
// the diagnosis' coverage check names those ecosystems with their nodes,
// packages and the feed to update or import. Importing a feed with Debian
// 12 records covers that release at once (before the rematch), the
// rematch clears it from the scans, and the check is healthy once every
// ecosystem is covered.
func TestCoverage(t *testing.T) {
	for _, b := range testenv.Backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			clk := testenv.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
			st, err := store.Open(ctx, store.Config{URL: b.URL(t), Now: clk.Now})
			if err != nil {
				t.Fatalf("open store: %v", err)
			}
			t.Cleanup(func() { st.Close() })

			// The console's feeds (the default sources) in a data directory of
			// the test's own, holding one export: Debian records of Debian 11.
			kb := feeds.NewKB(feeds.New(feeds.DefaultConfig(t.TempDir())), feeds.KBConfig{Now: clk.Now})
			importOSV(t, kb, osvRecord("DSA-1", "Debian:11", "p"))

			topo, err := topology.New(ctx, st, topology.Config{Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { topo.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			for _, h := range []string{"web-1", "db-1"} {
				rep := &report.Report{Version: report.Version, SensorID: "sensor-" + h, RunID: "run-" + h, SensorVersion: "test", Kind: report.KindFull,
					Seq: 1, IntervalSeconds: 60, Time: clk.Now(), Host: &report.Host{Hostname: h, OS: report.OS{ID: "debian", VersionID: "12"}, Arch: "amd64"}}
				if _, err := topo.Ingest(ctx, rep); err != nil {
					t.Fatalf("ingest %s: %v", h, err)
				}
			}

			q := jobs.New(st, jobs.Config{Now: clk.Now})
			fnd := findings.New(findings.Config{Store: st, KB: kb, Now: clk.Now})
			sc := scans.NewService(scans.ServiceConfig{Store: st, Jobs: q, Findings: fnd, Topology: topo, Now: clk.Now})
			q.MustRegister(sc.VulnerabilityKind())
			diag := diagnosis.New(diagnosis.Sources{Store: st, KB: kb, Topology: topo, Scans: sc, Findings: fnd, Jobs: q, Now: clk.Now})

			deb11 := inventory.Package{Name: "p", Version: "0.5", Ecosystem: "Debian:11"}
			bash := inventory.Package{Name: "bash", Version: "5.2.15-2+b2", Ecosystem: "Debian:12"}
			libc := inventory.Package{Name: "libc6", Version: "2.36-9+deb12u4", Ecosystem: "Debian:12.5"}
			urllib3 := inventory.Package{Name: "urllib3", Version: "1.26.0", Ecosystem: "PyPI"}
			wolfi := inventory.Package{Name: "busybox", Version: "1.36.1-r2", Ecosystem: "Wolfi"}
			web := scan(t, sc, topology.HostNodeID("sensor-web-1"), "sensor-web-1", deb11, bash, libc, urllib3)
			scan(t, sc, topology.HostNodeID("sensor-db-1"), "sensor-db-1", bash, wolfi)
			scan(t, sc, topology.HostNodeID("sensor-gone"), "sensor-gone", bash, libc, bash)

			// The scan keeps what it could not judge, in the scan's answers.
			want := []match.Uncovered{{Ecosystem: "Debian:12", Packages: 2}, {Ecosystem: "PyPI", Packages: 1}}
			if diff := cmp.Diff(want, web.Uncovered); diff != "" {
				t.Errorf("the web host's scan: uncovered (-want +got):\n%s", diff)
			}
			if web.Findings != 1 {
				t.Errorf("the web host's scan: %d findings, want 1 (DSA-1 in p 0.5)", web.Findings)
			}
			listed, _, err := sc.Queue.List(ctx, scans.ListFilter{NodeID: topology.HostNodeID("sensor-web-1")})
			if err != nil || len(listed) != 1 {
				t.Fatalf("list the web host's scans: %v %v", listed, err)
			}
			if diff := cmp.Diff(want, listed[0].Uncovered); diff != "" {
				t.Errorf("the web host's listed scan: uncovered (-want +got):\n%s", diff)
			}

			d, err := diag.Diagnose(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d.Coverage == nil || d.Coverage.Healthy {
				t.Fatalf("coverage: %+v, want unhealthy", d.Coverage)
			}
			wantGaps := []scans.CoverageGap{
				{Ecosystem: "Debian:12", Nodes: 2, Packages: 3, Examples: []string{"host web-1", "host db-1"}},
				{Ecosystem: "PyPI", Nodes: 1, Packages: 1, Examples: []string{"host web-1"}},
				{Ecosystem: "Wolfi", Nodes: 1, Packages: 1, Examples: []string{"host db-1"}},
			}
			if diff := cmp.Diff(wantGaps, gapsOf(d)); diff != "" {
				t.Errorf("coverage gaps (-want +got):\n%s", diff)
			}
			for eco, want := range map[string][]string{
				"Debian:12": {"stored osv.dev Debian export", "holds no Debian 12 records", "POST /api/v1/feeds/update",
					"https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip", "POST /api/v1/feeds/import"},
				"PyPI":  {"osv.dev PyPI export", "not been fetched yet", "POST /api/v1/feeds/update"},
				"Wolfi": {"No feed of this console covers Wolfi", "https://osv-vulnerabilities.storage.googleapis.com/Wolfi/all.zip", "POST /api/v1/feeds/import"},
			} {
				r := remedyOf(d, eco)
				t.Logf("remedy of %s: %s", eco, r)
				for _, w := range want {
					if !strings.Contains(r, w) {
						t.Errorf("remedy of %s lacks %q: %s", eco, w, r)
					}
				}
			}

			// A Debian export with Debian 12 records: the release is covered
			// at once, before the rematch matches the scans again.
			importOSV(t, kb, osvRecord("DSA-1", "Debian:11", "p"), osvRecord("DSA-2", "Debian:12", "bash"))
			if d, err = diag.Diagnose(ctx); err != nil {
				t.Fatal(err)
			}
			if got := ecosystems(d); !cmp.Equal(got, []string{"PyPI", "Wolfi"}) {
				t.Errorf("after importing Debian 12 records: gaps %v, want PyPI and Wolfi", got)
			}
			if err := sc.Rematch(ctx); err != nil {
				t.Fatal(err)
			}
			again, err := sc.Queue.Get(ctx, web.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]match.Uncovered{{Ecosystem: "PyPI", Packages: 1}}, again.Uncovered); diff != "" {
				t.Errorf("the web host's scan after the rematch: uncovered (-want +got):\n%s", diff)
			}

			// Every ecosystem covered: healthy.
			importOSV(t, kb, osvRecord("PYSEC-1", "PyPI", "urllib3"))
			importOSV(t, kb, osvRecord("CGA-1", "Wolfi", "busybox"))
			if d, err = diag.Diagnose(ctx); err != nil {
				t.Fatal(err)
			}
			if !d.Coverage.Healthy || len(d.Coverage.Gaps) != 0 {
				t.Errorf("coverage with every feed: %+v, want healthy", d.Coverage)
			}
		})
	}
}

// scan takes a scan of a host through the sensor's side of the protocol
// with the given packages as its inventory.
func scan(t *testing.T, sc *scans.Service, node, sensor string, pkgs ...inventory.Package) scans.Scan {
	t.Helper()
	ctx := context.Background()
	got, err := sc.Queue.Enqueue(ctx, []scans.Target{{NodeID: node, SensorID: sensor, Kind: scans.KindHost}}, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	if cmds, err := sc.Queue.Poll(ctx, sensor, sensor, 1); err != nil || len(cmds) != 1 {
		t.Fatalf("poll: %v %v", cmds, err)
	}
	inv := &inventory.Inventory{SchemaVersion: inventory.SchemaVersion, Target: inventory.Target{Kind: "host", Ref: "/"}, Packages: pkgs}
	gz, err := sensorproto.EncodeInventory(inv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.AttachInventory(ctx, got[0].ID, sensor, gz, inv); err != nil {
		t.Fatal(err)
	}
	s, err := sc.Queue.Report(ctx, got[0].ID, sensor, scans.StatusUpdate{Status: scans.StatusComplete, Progress: 1})
	if err != nil || s.Status != scans.StatusComplete {
		t.Fatalf("complete: %+v %v", s, err)
	}
	return s
}

func gapsOf(d diagnosis.Diagnosis) []scans.CoverageGap {
	var out []scans.CoverageGap
	for _, g := range d.Coverage.Gaps {
		out = append(out, g.CoverageGap)
	}
	return out
}

func ecosystems(d diagnosis.Diagnosis) []string {
	var out []string
	for _, g := range d.Coverage.Gaps {
		out = append(out, g.Ecosystem)
	}
	return out
}

func remedyOf(d diagnosis.Diagnosis, eco string) string {
	for _, g := range d.Coverage.Gaps {
		if g.Ecosystem == eco {
			return g.Remedy
		}
	}
	return ""
}

// importOSV imports an OSV export of the records into the knowledge base,
// as an admin's upload does.
func importOSV(t *testing.T, kb *feeds.KB, records ...string) {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for i, r := range records {
		w, err := zw.Create(fmt.Sprintf("R-%d.json", i))
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(r))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := kb.Import(context.Background(), &b, "all.zip")
	if err == nil {
		err = rep.Failed()
	}
	if err != nil {
		t.Fatalf("import %d records: %v", len(records), err)
	}
}

// osvRecord is an OSV record of a vulnerability in pkg of eco, fixed in 1.0.
func osvRecord(id, eco, pkg string) string {
	return `{"id":"` + id + `","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"` + eco + `","name":"` + pkg +
		`"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0"}]}]}]}`
}

// TestMalwareRules: the diagnosis shows the data directory's YARA rule
// bundle: the built-in rules before any import, an imported bundle (name,
// checksum, rules) after, and an error once its stored archive no longer
// matches its checksum.
func TestMalwareRules(t *testing.T) {
	eng, err := malwarescan.FindEngine(malwaretest.Yara(t))
	if err != nil {
		t.Fatal(err)
	}
	rs := &malwarescan.Store{Dir: t.TempDir()}
	svc := diagnosis.New(diagnosis.Sources{MalwareRules: rs})
	get := func() *diagnosis.MalwareRules {
		t.Helper()
		d, err := svc.Diagnose(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if d.MalwareRules == nil || d.MalwareRules.Manifest == nil {
			t.Fatalf("no malware rules status: %+v", d.MalwareRules)
		}
		return d.MalwareRules
	}
	if m := get(); !m.Builtin || m.Rules < 1 || m.Error != "" {
		t.Errorf("before an import: %+v", m)
	}
	src := filepath.Join(t.TempDir(), "team.yar")
	if err := os.WriteFile(src, []byte("rule Team_Marker { strings: $a = \"riskmap-team-marker\" condition: $a }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	imported, err := rs.Import(context.Background(), src, "", eng, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if m := get(); m.Builtin || m.Rules != 1 || m.SHA256 != imported.SHA256 || m.Error != "" {
		t.Errorf("after an import: %+v", m)
	}
	archives, _ := filepath.Glob(filepath.Join(rs.Dir, "*.tar.gz"))
	if len(archives) != 1 {
		t.Fatalf("stored archives %v", archives)
	}
	if err := os.WriteFile(archives[0], []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	if m := get(); m.Error == "" {
		t.Errorf("a tampered bundle: %+v, want an error", m)
	}
}
