package scans

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/risk"
	"github.com/riskmap/riskmap/internal/store"
)

// benchEstate stores nNodes scanned containers with perNode findings each
// (SQLite) and returns the service.
func benchEstate(b *testing.B, nNodes, perNode int) *Service {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{URL: filepath.Join(b.TempDir(), "riskmap.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	s := NewService(ServiceConfig{Store: st})
	sevs := []string{match.SeverityCritical, match.SeverityHigh, match.SeverityMedium, match.SeverityLow}
	for n := 0; n < nNodes; n++ {
		got, err := s.Queue.Enqueue(ctx, []Target{{SensorID: "s1", Kind: KindContainer, Ref: fmt.Sprintf("c%d", n)}}, "", "")
		if err != nil {
			b.Fatal(err)
		}
		sc := got[0]
		rows := make([]findingRow, perNode)
		for i := range rows {
			f := match.Finding{ID: fmt.Sprintf("CVE-2024-%d", i), Severity: sevs[i%4], FixedVersions: []string{"2.0"},
				CVSS: &match.CVSSInfo{BaseScore: float64(i%10) + 0.5}, Package: match.PackageRef{Name: fmt.Sprintf("pkg%d", i%50), Version: "1.0", Ecosystem: "PyPI"}}
			rows[i] = findingRow{f: f, risk: risk.Score(&f, nil, risk.Exposure{}, risk.Hop{})}
		}
		err = st.Tx(ctx, func(tx store.Querier) error {
			if err := replaceFindings(ctx, tx, sc.ID, rows); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE scans SET status = 'complete', latest = 1, finding_count = ? WHERE id = ?`, perNode, sc.ID)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkFindingsTop: the "most exploitable" list over 200 containers ×
// 100 findings (20,000 current findings), SQLite.
func BenchmarkFindingsTop(b *testing.B) {
	s := benchEstate(b, 200, 100)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if fs, err := s.Top(ctx, 50); err != nil || len(fs) != 50 {
			b.Fatal(err)
		}
	}
}

// BenchmarkFindingsFiltered: a filtered, counted page (severity high,
// package pkg7) over the same estate.
func BenchmarkFindingsFiltered(b *testing.B) {
	s := benchEstate(b, 200, 100)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, n, err := s.Findings(ctx, FindingFilter{Severity: []string{"high"}, Package: "pkg7", Limit: 100}); err != nil || n == 0 {
			b.Fatal(err)
		}
	}
}

// BenchmarkPoll: one sensor command poll (an acknowledged write) with
// nothing queued, SQLite.
func BenchmarkPoll(b *testing.B) {
	s := benchEstate(b, 0, 0)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Queue.Poll(ctx, fmt.Sprintf("s%d", i%1000), "u1", 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDispatch: enqueue, poll and complete one scan (three commits).
func BenchmarkDispatch(b *testing.B) {
	s := benchEstate(b, 0, 0)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		got, err := s.Queue.Enqueue(ctx, []Target{{SensorID: "s1", Kind: KindHost, Ref: fmt.Sprint(i)}}, "", "")
		if err != nil {
			b.Fatal(err)
		}
		if cmds, err := s.Queue.Poll(ctx, "s1", "u1", 1); err != nil || len(cmds) != 1 {
			b.Fatal(err)
		}
		if _, err := s.Queue.Report(ctx, got[0].ID, "u1", StatusUpdate{Status: StatusError, Message: "x"}); err != nil {
			b.Fatal(err)
		}
	}
	_ = time.Second
}
