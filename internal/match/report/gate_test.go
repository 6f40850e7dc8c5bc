package report

import (
	"testing"

	"github.com/riskmap/riskmap/internal/match"
)

func TestGate(t *testing.T) {
	f := func(sev string, risk float64, kev bool) match.Finding {
		x := match.Finding{Severity: sev, Risk: match.Risk{Score: risk}}
		if kev {
			x.KEV = &match.KEVInfo{CVE: "CVE-1"}
		}
		return x
	}
	findings := []match.Finding{f("critical", 95, true), f("high", 56, false), f("high", 28, false), f("medium", 19, false), f("low", 9, false)}
	tests := []struct {
		name     string
		gate     Gate
		wantN    int
		wantFail bool
	}{
		{"no_gate", Gate{}, 0, false},
		{"severity_high", Gate{Severity: "high"}, 3, true},
		{"severity_kev", Gate{Severity: "kev"}, 1, true},
		{"risk_50", Gate{Risk: 50, RiskSet: true}, 2, true},
		{"risk_99_not_reached", Gate{Risk: 99, RiskSet: true}, 0, false},
		{"risk_0_counts_all", Gate{Risk: 0, RiskSet: true}, 5, true},
		{"count_alone_counts_all", Gate{Count: 5}, 5, true},
		{"count_alone_not_reached", Gate{Count: 6}, 5, false},
		{"severity_and_count", Gate{Severity: "high", Count: 3}, 3, true},
		{"severity_and_count_not_reached", Gate{Severity: "high", Count: 4}, 3, false},
		{"severity_and_risk_both_needed", Gate{Severity: "high", Risk: 50, RiskSet: true}, 2, true},
		{"all_three", Gate{Severity: "medium", Risk: 20, RiskSet: true, Count: 3}, 3, true},
		{"all_three_not_reached", Gate{Severity: "medium", Risk: 20, RiskSet: true, Count: 4}, 3, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.gate.Validate(); err != nil {
				t.Fatal(err)
			}
			n, fail := tc.gate.Check(findings)
			if n != tc.wantN || fail != tc.wantFail {
				t.Errorf("Check = %d, %v; want %d, %v", n, fail, tc.wantN, tc.wantFail)
			}
		})
	}
}

func TestGateValidate(t *testing.T) {
	for _, g := range []Gate{{Severity: "severe"}, {Risk: 101, RiskSet: true}, {Risk: -1, RiskSet: true}, {Count: -2}} {
		if err := g.Validate(); err == nil {
			t.Errorf("%+v: no error", g)
		}
	}
	if got, want := (Gate{Severity: "high", Risk: 70, RiskSet: true, Count: 3}).String(), "--fail-on high and --fail-on-risk 70 (--fail-on-count 3)"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
