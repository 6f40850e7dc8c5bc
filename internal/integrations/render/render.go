// Package render owns how a destination message reads for people, the
// same in every chat and paging target: severity labels and their order,
// how a node and a finding are named in one line, a message's title, body
// and facts, the top findings of a digest (and the top_findings setting),
// counts by severity, and truncation that never splits a character. Each
// destination package applies its target's own markup and limits on top.
// For log and search targets it owns how a message splits into records
// (Records: one per finding of a digest).
package render

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/riskmap/riskmap/internal/integrations/dest"
)

// Severities in order, most severe first.
var Severities = []string{"critical", "high", "medium", "low", "unknown"}

// Rank orders a severity: 0 for critical up to 4 for unknown (and for
// anything else).
func Rank(severity string) int {
	if i := slices.Index(Severities, strings.ToLower(severity)); i >= 0 {
		return i
	}
	return len(Severities) - 1
}

// Label is a severity as a word with a capital: "Critical".
func Label(severity string) string {
	s := Severities[Rank(severity)]
	return strings.ToUpper(s[:1]) + s[1:]
}

// Truncate shortens s to at most n characters (runes), ending with "…"
// when it cut. Invalid UTF-8 is replaced first, so the result always is
// valid UTF-8.
func Truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for j := range s {
		if count == n-1 {
			i = j
			break
		}
		count++
	}
	return strings.TrimRight(s[:i], " \t\n") + "…"
}

// Node names a node in one line: "container web-1 on host-a (cluster
// prod, namespace shop)". Empty for nil.
func Node(n *dest.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	if n.Kind != "" {
		b.WriteString(n.Kind)
		b.WriteString(" ")
	}
	b.WriteString(cmp.Or(n.Name, n.ID))
	if n.Host != "" && n.Host != n.Name {
		b.WriteString(" on ")
		b.WriteString(n.Host)
	}
	var where []string
	if n.Cluster != "" {
		where = append(where, "cluster "+n.Cluster)
	}
	if n.Namespace != "" {
		where = append(where, "namespace "+n.Namespace)
	}
	if len(where) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(where, ", "))
	}
	if n.Internet {
		b.WriteString(", reachable from the internet")
	}
	return b.String()
}

// Package is "openssl 3.0.1", with " → 3.0.2" when a fix exists.
func Package(f dest.Finding) string {
	s := strings.TrimSpace(f.Package + " " + f.Version)
	if f.FixedVersion != "" {
		s += " → " + f.FixedVersion
	}
	return s
}

// Finding is one finding in one line, without markup:
// "CVE-2024-1 (Critical, KEV) openssl 3.0.1 → 3.0.2 on host-a, risk 9.1".
func Finding(f dest.Finding) string {
	var b strings.Builder
	b.WriteString(f.VulnID)
	tags := []string{Label(f.Severity)}
	if f.KEV {
		tags = append(tags, "KEV")
	}
	fmt.Fprintf(&b, " (%s) %s", strings.Join(tags, ", "), Package(f))
	if f.Node != nil {
		b.WriteString(" on ")
		b.WriteString(cmp.Or(f.Node.Name, f.Node.ID))
	}
	if f.RiskScore > 0 {
		fmt.Fprintf(&b, ", risk %.1f", f.RiskScore)
	}
	return b.String()
}

// Top returns the n findings that matter most: highest risk first, then
// severity, KEV, CVSS, and the vulnerability id so the order is stable.
// It does not modify fs.
func Top(fs []dest.Finding, n int) []dest.Finding {
	s := slices.Clone(fs)
	slices.SortStableFunc(s, func(a, b dest.Finding) int {
		return cmp.Or(
			cmp.Compare(b.RiskScore, a.RiskScore),
			cmp.Compare(Rank(a.Severity), Rank(b.Severity)),
			boolCmp(b.KEV, a.KEV),
			cmp.Compare(b.CVSS, a.CVSS),
			cmp.Compare(a.VulnID, b.VulnID),
		)
	})
	return s[:min(n, len(s))]
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// Count is how many findings have a severity.
type Count struct {
	Severity string
	N        int
}

// Counts counts fs by severity, most severe first, leaving out zeros.
func Counts(fs []dest.Finding) []Count {
	n := make([]int, len(Severities))
	for _, f := range fs {
		n[Rank(f.Severity)]++
	}
	var out []Count
	for i, s := range Severities {
		if n[i] > 0 {
			out = append(out, Count{s, n[i]})
		}
	}
	return out
}

// CountLine is "3 critical, 12 high, 40 medium".
func CountLine(fs []dest.Finding) string {
	var parts []string
	for _, c := range Counts(fs) {
		parts = append(parts, fmt.Sprintf("%d %s", c.N, c.Severity))
	}
	return strings.Join(parts, ", ")
}

// SortedKeys is m's keys in order, for fields shown in a stable order.
func SortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
