package report

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/riskmap/riskmap/internal/match"
)

// Gate is the policy of a CI scan: which findings count (those that reach
// every threshold given) and how many of them fail the scan. The zero
// value fails nothing.
type Gate struct {
	// Severity is --fail-on: low, medium, high, critical (that level or
	// above) or kev; "" sets no severity threshold.
	Severity string
	// Risk is --fail-on-risk: the lowest static risk score (0-100) that
	// counts; used when RiskSet.
	Risk    float64
	RiskSet bool
	// Count is --fail-on-count: the scan fails when this many findings
	// count (0: one, when a threshold is set). Alone, every finding counts.
	Count int
	// Uncovered is --fail-on-uncovered: the scan fails when the knowledge
	// base holds nothing for an ecosystem of the inventory (a distribution
	// release or a language it has no feed for), whatever it found.
	Uncovered bool
}

// Active reports whether the gate can fail a scan on its findings.
func (g Gate) Active() bool { return g.Severity != "" || g.RiskSet || g.Count > 0 }

// CheckCoverage fails the scan under --fail-on-uncovered when ecosystems
// of the inventory were not judged; the error names them.
func (g Gate) CheckCoverage(u []match.Uncovered) error {
	if !g.Uncovered || len(u) == 0 {
		return nil
	}
	var names []string
	for _, x := range u {
		names = append(names, fmt.Sprintf("%s (%d packages)", x.Ecosystem, x.Packages))
	}
	return fmt.Errorf("--fail-on-uncovered: the knowledge base holds nothing for %s", strings.Join(names, ", "))
}

// Validate checks the thresholds, naming the flag that is wrong.
func (g Gate) Validate() error {
	if _, err := FailOn(nil, g.Severity); err != nil {
		return err
	}
	if g.RiskSet && !(g.Risk >= 0 && g.Risk <= 100) { // NaN too
		return fmt.Errorf("--fail-on-risk %s: want a risk score from 0 to 100", strconv.FormatFloat(g.Risk, 'f', -1, 64))
	}
	if g.Count < 0 {
		return fmt.Errorf("--fail-on-count %d: want 1 or more", g.Count)
	}
	return nil
}

// Counts reports whether one finding reaches every threshold of the gate.
func (g Gate) Counts(f match.Finding) bool {
	if g.Severity != "" {
		if n, _ := FailOn([]match.Finding{f}, g.Severity); n == 0 {
			return false
		}
	}
	return !g.RiskSet || f.Risk.Score >= g.Risk
}

// Check counts the findings that reach the gate's thresholds; fail is
// whether there are enough of them to fail the scan.
func (g Gate) Check(fs []match.Finding) (n int, fail bool) {
	if !g.Active() {
		return 0, false
	}
	for _, f := range fs {
		if g.Counts(f) {
			n++
		}
	}
	return n, n >= max(g.Count, 1)
}

// String describes the gate as the flags that set it.
func (g Gate) String() string {
	var parts []string
	if g.Severity != "" {
		parts = append(parts, "--fail-on "+g.Severity)
	}
	if g.RiskSet {
		parts = append(parts, "--fail-on-risk "+strconv.FormatFloat(g.Risk, 'f', -1, 64))
	}
	s := strings.Join(parts, " and ")
	if s == "" {
		s = "any finding"
	}
	if g.Count > 0 {
		s += fmt.Sprintf(" (--fail-on-count %d)", g.Count)
	}
	return s
}

// ParseRisk parses a --fail-on-risk value.
func ParseRisk(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, errors.New("want a risk score from 0 to 100")
	}
	return v, nil
}
