package findings

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/risk"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

// exposures is an ExposureSource the test sets node by node (the
// topology's answer, which internal/topology tests on its own).
type exposures struct {
	mu sync.Mutex
	m  map[string]risk.Exposure
}

func (e *exposures) Exposure(_ context.Context, id string) (risk.Exposure, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.m[id], nil
}

func (e *exposures) set(id string, ex risk.Exposure) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[id] = ex
}

const libssl = "/usr/lib/x86_64-linux-gnu/libssl.so.1.1"

// nginx is a node whose nginx loads libssl and listens on port 80,
// reachable from the internet or not.
func nginx(node string, pid int, internet bool) risk.Exposure {
	p := risk.Process{NodeID: node + "/nginx", PID: pid, Name: "nginx", LoadedFiles: []string{libssl}, Listening: []risk.Endpoint{{Proto: "tcp", Addr: "0.0.0.0", Port: 80}}}
	ex := risk.Exposure{Known: true, Node: risk.Hop{NodeID: node, Kind: "host", Name: node}, Processes: []risk.Process{p}}
	if internet {
		path := []risk.Hop{{Kind: "internet", Name: "The Internet (inbound)"}, {NodeID: node, Kind: "host", Name: node}, {NodeID: p.NodeID, Kind: "process", Name: "nginx"}}
		ex.Internet, ex.Path = true, path
		ex.Processes[0].InternetReachable, ex.Processes[0].Path = true, path
	}
	return ex
}

// rescoreEstate stores, on the store at url, nodes hosts with perNode
// current findings each in libssl, scored with their exposure in ex.
func rescoreEstate(tb testing.TB, url string, nodes, perNode int, ex *exposures) (*Service, []string) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{URL: url})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	s := New(Config{Store: st, Exposure: ex})
	var ids []string
	for n := range nodes {
		id := fmt.Sprintf("host%d", n)
		ids = append(ids, id)
		ex.set(id, nginx(id, 100+n, false))
		o := Origin{ScanID: "scan-" + id, Key: "node:" + id, Target: Target{NodeID: id, SensorID: "s" + id, Kind: "host", Ref: id}}
		e, hop := s.exposureOf(ctx, o.Target)
		rows := make([]Row, perNode)
		for i := range rows {
			f := match.Finding{ID: fmt.Sprintf("DSA-%d-1", 5000+i), Severity: match.SeverityHigh, CVSS: &match.CVSSInfo{BaseScore: 5 + float64(i%5)},
				Package: match.PackageRef{Name: "libssl1.1", Version: "1.1.1n-0+deb11u3", Ecosystem: "Debian:11"}}
			files := []string{libssl}
			r := risk.Score(&f, files, e, hop)
			f.Risk = match.Risk{Score: r.Score, Explanation: explain(r)}
			rows[i] = Row{Finding: f, Files: files, Risk: r}
		}
		err := st.Tx(ctx, func(tx store.Querier) error {
			if err := testScan(ctx, tx, o); err != nil {
				return err
			}
			if err := s.ReplaceTx(ctx, tx, o, rows, StatePending); err != nil {
				return err
			}
			return s.CommitTx(ctx, tx, o)
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return s, ids
}

// testScan writes the scans row a finding refers to (the schema's
// foreign key; the scans module owns the table, and its tests drive the
// whole scan life cycle).
func testScan(ctx context.Context, tx store.Querier, o Origin) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO scans (id, target_kind, target_ref, status, created_at) VALUES (?, ?, ?, 'complete', 0)`,
		o.ScanID, o.Target.Kind, o.Target.Ref)
	if err != nil {
		return fmt.Errorf("scan row %s: %w", o.ScanID, err)
	}
	return nil
}

// TestRescoreWritesWhatChanged: a rescore writes the findings whose risk
// changed (score or explanation) and nothing else, on SQLite and
// PostgreSQL.
func TestRescoreWritesWhatChanged(t *testing.T) {
	for _, db := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "riskmap.db") }},
		{"postgres", func(t *testing.T) string { return testenv.PostgresURL(t) }},
	} {
		t.Run(db.name, func(t *testing.T) {
			ctx := context.Background()
			ex := &exposures{m: map[string]risk.Exposure{}}
			s, ids := rescoreEstate(t, db.url(t), 3, 4, ex)
			scores := func(node string) (exposure float64, score float64, expl string) {
				t.Helper()
				fs, _, err := s.Findings(ctx, Filter{NodeID: node, Limit: 100})
				if err != nil || len(fs) != 4 {
					t.Fatalf("findings of %s: %d, %v", node, len(fs), err)
				}
				for _, f := range fs {
					if v := f.Risk.Factors[2].Value; exposure != 0 && v != exposure {
						t.Fatalf("findings of %s rescored apart: exposure %v and %v", node, exposure, v)
					}
					exposure, score, expl = f.Risk.Factors[2].Value, max(score, f.Risk.Score), f.Finding.Risk.Explanation
				}
				return exposure, score, expl
			}
			before, score0, _ := scores("host1")
			if before != risk.ExposureListening {
				t.Fatalf("stored exposure %v, want listening %v", before, risk.ExposureListening)
			}

			if n, err := s.Rescore(ctx, ids...); err != nil || n != 0 {
				t.Fatalf("rescore with no exposure change: %d findings written, %v; want 0", n, err)
			}

			ex.set("host1", nginx("host1", 101, true))
			if n, err := s.Rescore(ctx, append(ids, "host1", "not-a-node")...); err != nil || n != 4 {
				t.Fatalf("rescore after host1 became reachable: %d findings written, %v; want 4", n, err)
			}
			after, score1, _ := scores("host1")
			if after != risk.ExposureInternet || score1 <= score0 {
				t.Errorf("host1 after the internet reached it: exposure %v score %v (before %v, %v)", after, score1, before, score0)
			}
			if other, _, _ := scores("host0"); other != risk.ExposureListening {
				t.Errorf("host0 rescored to %v without a change", other)
			}
			if n, err := s.Rescore(ctx, ids...); err != nil || n != 0 {
				t.Fatalf("second rescore: %d findings written, %v; want 0", n, err)
			}

			// The same score with another explanation (nginx restarted
			// under another pid) is a change too.
			ex.set("host2", nginx("host2", 4242, false))
			if n, err := s.Rescore(ctx, "host2"); err != nil || n != 4 {
				t.Fatalf("rescore after a restart: %d findings written, %v; want 4", n, err)
			}
			if _, _, expl := scores("host2"); !strings.Contains(expl, "pid 4242") {
				t.Errorf("explanation after a restart: %s", expl)
			}

			// host0 is remembered as right (its exposure and findings are
			// unchanged since the last rescores); a scan now stores its
			// findings scored with an exposure that has passed (the
			// internet reached it while the scan ran): they are rescored.
			if n, err := s.Rescore(ctx, ids...); err != nil || n != 0 {
				t.Fatalf("rescore before the scan: %d, %v", n, err)
			}
			o := Origin{ScanID: "scan-host0-2", Key: "node:host0", Target: Target{NodeID: "host0", SensorID: "shost0", Kind: "host", Ref: "host0"}}
			passed := nginx("host0", 100, true)
			var rows []Row
			for i := range 4 {
				f := match.Finding{ID: fmt.Sprintf("DSA-%d-1", 6000+i), Severity: match.SeverityHigh, CVSS: &match.CVSSInfo{BaseScore: 7},
					Package: match.PackageRef{Name: "libssl1.1", Version: "1.1.1n-0+deb11u3", Ecosystem: "Debian:11"}}
				r := risk.Score(&f, []string{libssl}, passed, risk.Hop{NodeID: "host0", Kind: "host", Name: "host0"})
				rows = append(rows, Row{Finding: f, Files: []string{libssl}, Risk: r})
			}
			err := s.st.Tx(ctx, func(tx store.Querier) error {
				if err := testScan(ctx, tx, o); err != nil {
					return err
				}
				if err := s.ReplaceTx(ctx, tx, o, rows, StatePending); err != nil {
					return err
				}
				return s.CommitTx(ctx, tx, o)
			})
			if err != nil {
				t.Fatal(err)
			}
			if n, err := s.Rescore(ctx, ids...); err != nil || n != 4 {
				t.Fatalf("rescore after a scan stored stale scores: %d findings written, %v; want 4", n, err)
			}
			if got, _, _ := scores("host0"); got != risk.ExposureListening {
				t.Errorf("host0 after the rescore: exposure %v, want %v", got, risk.ExposureListening)
			}

			// A score changed behind this process's back (another
			// replica, a rematch) changes the findings version: read
			// and put right again.
			if n, err := s.Rescore(ctx, ids...); err != nil || n != 0 {
				t.Fatalf("rescore: %d, %v", n, err)
			}
			err = s.st.Tx(ctx, func(tx store.Querier) error {
				_, err := tx.ExecContext(ctx, `UPDATE scan_findings SET score = score + 1 WHERE node_id = 'host2'`)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if n, err := s.Rescore(ctx, ids...); err != nil || n != 4 {
				t.Fatalf("rescore after scores changed elsewhere: %d findings written, %v; want 4", n, err)
			}
		})
	}
}

// BenchmarkRescoreUnchanged: a topology batch naming 200 hosts with 100
// findings each whose exposure did not change (the common case: CPU
// figures and client connections churn), SQLite.
func BenchmarkRescoreUnchanged(b *testing.B) {
	ex := &exposures{m: map[string]risk.Exposure{}}
	s, ids := rescoreEstate(b, filepath.Join(b.TempDir(), "riskmap.db"), 200, 100, ex)
	ctx := context.Background()
	for b.Loop() {
		if n, err := s.Rescore(ctx, ids...); err != nil || n != 0 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkRescoreOneFlip: the same batch where one host's exposure
// flips (the internet reaches it, then not): 100 findings rewritten.
func BenchmarkRescoreOneFlip(b *testing.B) {
	ex := &exposures{m: map[string]risk.Exposure{}}
	s, ids := rescoreEstate(b, filepath.Join(b.TempDir(), "riskmap.db"), 200, 100, ex)
	ctx := context.Background()
	on := false
	for b.Loop() {
		on = !on
		ex.set("host7", nginx("host7", 107, on))
		if n, err := s.Rescore(ctx, ids...); err != nil || n != 100 {
			b.Fatal(n, err)
		}
	}
}
