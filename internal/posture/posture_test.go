package posture_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/posture"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

const bench = "xccdf_org.ssgproject.content_benchmark_DEBIAN-12"

func chk(profile, rule, result string) sensorproto.ComplianceCheck {
	return sensorproto.ComplianceCheck{Benchmark: bench, Profile: profile, Rule: rule, Result: result, Severity: "medium"}
}

type env struct {
	t   *testing.T
	st  *store.Store
	clk *testenv.Clock
	p   *posture.Service
}

// scan stores the checks of a compliance scan of target key and ends it:
// complete, abandoned or (state "") left pending.
func (e *env) scan(id, key, state string, checks ...sensorproto.ComplianceCheck) {
	e.t.Helper()
	ctx := context.Background()
	e.clk.Advance(time.Minute)
	o := findings.Origin{ScanID: id, Type: findings.TypeCompliance, Key: key, Target: findings.Target{NodeID: "n-" + key, SensorID: "s1", Kind: "host"}}
	res := &sensorproto.Results{Type: sensorproto.ScanCompliance, Engine: sensorproto.Engine{Name: "openscap"}, Compliance: checks}
	err := e.st.Tx(ctx, func(tx store.Querier) error {
		if err := e.p.StoreTx(ctx, tx, o, res); err != nil {
			return err
		}
		switch state {
		case posture.StateComplete:
			return e.p.CompleteTx(ctx, tx, id)
		case posture.StateAbandoned:
			return e.p.AbandonTx(ctx, tx, id)
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func rate(c posture.CheckCounts) float64 {
	if c.PassRate == nil {
		return -1
	}
	return *c.PassRate
}

// TestPosture checks what counts: complete scans only (a pending or
// abandoned scan never), the latest run of each target, benchmark and
// profile (two profiles of one target are two runs), fixed as pass and the
// results that are neither pass, fail nor error outside the rate; the
// trend's order and bound; the diff's newly failing, newly passing and
// resolved controls; not found for a scan without results or raw document.
func TestPosture(t *testing.T) {
	for _, b := range testenv.Backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			clk := testenv.NewClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
			st, err := store.Open(ctx, store.Config{URL: b.URL(t), Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			e := &env{t: t, st: st, clk: clk, p: posture.New(posture.Config{Store: st, Now: clk.Now})}

			e.scan("a1", "node:a#compliance", posture.StateComplete, chk("standard", "r1", "fail"), chk("standard", "r2", "pass"), chk("standard", "r3", "fail"))
			e.scan("a2", "node:a#compliance", posture.StateComplete, chk("standard", "r1", "fixed"), chk("standard", "r2", "fail"), chk("standard", "r3", "notapplicable"),
				chk("standard", "r4", "notchecked"))
			e.scan("a3", "node:a#compliance", posture.StateComplete, chk("pci-dss", "p1", "pass"), chk("pci-dss", "p2", "error"))
			e.scan("a4", "node:a#compliance", posture.StateAbandoned, chk("standard", "r1", "fail"), chk("standard", "r2", "fail"))
			e.scan("a5", "node:a#compliance", "", chk("standard", "r2", "pass"))
			e.scan("b1", "node:b#compliance", posture.StateComplete, chk("standard", "r1", "pass"), chk("standard", "r2", "pass"))

			sum, err := e.p.Summary(ctx, posture.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			var runs []string
			for _, r := range sum.Targets {
				runs = append(runs, r.ScanID+" "+r.Profile)
			}
			// Newest first: b1, a3 (pci-dss), a2 (standard); a4, a5 never count.
			if diff := cmp.Diff([]string{"b1 standard", "a3 pci-dss", "a2 standard"}, runs); diff != "" {
				t.Errorf("latest runs (-want +got):\n%s", diff)
			}
			// a2: 1 pass (fixed), 1 fail, 2 other; a3: 1 pass, 1 error; b1: 2 pass.
			if sum.Pass != 4 || sum.Fail != 1 || sum.Error != 1 || sum.Other != 2 || rate(sum.CheckCounts) != 0.667 {
				t.Errorf("summary %+v rate %v", sum.CheckCounts, rate(sum.CheckCounts))
			}
			if len(sum.Benchmarks) != 2 || sum.Benchmarks[0].Profile != "pci-dss" || rate(sum.Benchmarks[0].CheckCounts) != 0.5 ||
				sum.Benchmarks[1].Targets != 2 || sum.Benchmarks[1].Failing != 1 || rate(sum.Benchmarks[1].CheckCounts) != 0.75 {
				t.Errorf("benchmarks %+v", sum.Benchmarks)
			}
			if one, _ := e.p.Summary(ctx, posture.Filter{NodeID: "n-node:b#compliance"}); len(one.Targets) != 1 || rate(one.CheckCounts) != 1 {
				t.Errorf("summary of node b %+v", one)
			}

			tr, err := e.p.Trend(ctx, posture.Filter{NodeID: "n-node:a#compliance", Profile: "standard"}, 5)
			if err != nil || len(tr) != 1 || len(tr[0].Points) != 2 || tr[0].Points[0].ScanID != "a1" || rate(tr[0].Points[0].CheckCounts) != 0.333 ||
				tr[0].Points[1].ScanID != "a2" || rate(tr[0].Points[1].CheckCounts) != 0.5 {
				t.Errorf("trend %v %+v", err, tr)
			}
			if tr, _ := e.p.Trend(ctx, posture.Filter{NodeID: "n-node:a#compliance", Profile: "standard"}, 1); len(tr[0].Points) != 1 || tr[0].Points[0].ScanID != "a2" {
				t.Errorf("trend of 1 %+v", tr)
			}

			ctl, err := e.p.Controls(ctx, posture.ControlFilter{Filter: posture.Filter{Profile: "standard"}})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range ctl {
				got = append(got, c.Rule)
			}
			if diff := cmp.Diff([]string{"r2", "r1", "r3", "r4"}, got); diff != "" {
				t.Errorf("controls, most failing first (-want +got):\n%s", diff)
			}
			if ctl[0].Fail != 1 || ctl[0].Pass != 1 || len(ctl[0].Targets) != 2 {
				t.Errorf("control r2 %+v", ctl[0])
			}
			if c, _ := e.p.Controls(ctx, posture.ControlFilter{Result: "fail"}); len(c) != 1 || c[0].Rule != "r2" {
				t.Errorf("failing controls %+v", c)
			}

			d, err := e.p.Diff(ctx, "a1", "a2")
			if err != nil {
				t.Fatal(err)
			}
			short := func(cs []posture.ControlChange) (out []string) {
				for _, c := range cs {
					out = append(out, c.Rule+" "+c.From+"→"+c.To)
				}
				return out
			}
			if diff := cmp.Diff([][]string{{"r2 pass→fail"}, {"r1 fail→fixed"}, {"r3 fail→notapplicable"}}, [][]string{short(d.NewlyFailing), short(d.NewlyPassing), short(d.Resolved)}); diff != "" || d.Unchanged != 1 {
				t.Errorf("diff a1 → a2 (-want +got):\n%s\nunchanged %d", diff, d.Unchanged)
			}

			if _, err := e.p.Checks(ctx, "nope", ""); !errors.Is(err, posture.ErrNotFound) {
				t.Errorf("checks of no scan: %v", err)
			}
			if _, _, err := e.p.Raw(ctx, "a1"); !errors.Is(err, posture.ErrNotFound) {
				t.Errorf("raw of a scan without a document: %v", err)
			}
			if cs, err := e.p.Checks(ctx, "a4", "fail"); err != nil || len(cs) != 2 {
				t.Errorf("an abandoned scan's checks stay readable: %v %d", err, len(cs))
			}
		})
	}
}
