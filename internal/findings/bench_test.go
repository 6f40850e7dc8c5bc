package findings

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/risk"
	"github.com/riskmap/riskmap/internal/store"
)

// benchEstate stores nNodes scanned containers with perNode current
// findings each (SQLite) and returns the module.
func benchEstate(b *testing.B, nNodes, perNode int) *Service {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{URL: filepath.Join(b.TempDir(), "riskmap.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	s := New(Config{Store: st})
	sevs := []string{match.SeverityCritical, match.SeverityHigh, match.SeverityMedium, match.SeverityLow}
	for n := 0; n < nNodes; n++ {
		o := Origin{ScanID: fmt.Sprintf("scan%d", n), Key: fmt.Sprintf("node:c%d", n), Target: Target{NodeID: fmt.Sprintf("c%d", n), SensorID: "s1", Kind: "container", Ref: fmt.Sprintf("c%d", n)}}
		rows := make([]Row, perNode)
		for i := range rows {
			f := match.Finding{ID: fmt.Sprintf("CVE-2024-%d", i), Severity: sevs[i%4], FixedVersions: []string{"2.0"},
				CVSS: &match.CVSSInfo{BaseScore: float64(i%10) + 0.5}, Package: match.PackageRef{Name: fmt.Sprintf("pkg%d", i%50), Version: "1.0", Ecosystem: "PyPI"}}
			rows[i] = Row{Finding: f, Risk: risk.Score(&f, nil, risk.Exposure{}, risk.Hop{})}
		}
		err = st.Tx(ctx, func(tx store.Querier) error {
			if err := testScan(ctx, tx, o); err != nil {
				return err
			}
			if err := s.ReplaceTx(ctx, tx, o, rows, StatePending); err != nil {
				return err
			}
			return s.CommitTx(ctx, tx, o)
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
		if _, n, err := s.Findings(ctx, Filter{Severity: []string{"high"}, Package: "pkg7", Limit: 100}); err != nil || n == 0 {
			b.Fatal(err)
		}
	}
}
