package render

import (
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/integrations/dest"
)

func TestTruncate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"short", "abc", 5, "abc"},
		{"exact", "abcde", 5, "abcde"},
		{"cut", "abcdef", 5, "abcd…"},
		{"multibyte", "ééééé", 3, "éé…"},
		{"trailing_space_trimmed", "ab  cdef", 4, "ab…"},
		{"invalid_utf8", "a\xffb", 5, "a\uFFFDb"},
		{"zero", "abc", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Truncate(tc.in, tc.n)
			if got != tc.want {
				t.Errorf("Truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
			if utf8.RuneCountInString(got) > max(tc.n, 0) {
				t.Errorf("Truncate(%q, %d) is %d runes", tc.in, tc.n, utf8.RuneCountInString(got))
			}
		})
	}
}

func TestTopAndCounts(t *testing.T) {
	fs := []dest.Finding{
		{VulnID: "CVE-3", Severity: "medium", RiskScore: 5},
		{VulnID: "CVE-1", Severity: "critical", RiskScore: 9},
		{VulnID: "CVE-2", Severity: "high", RiskScore: 9},
		{VulnID: "CVE-4", Severity: "bogus"},
	}
	var ids []string
	for _, f := range Top(fs, 3) {
		ids = append(ids, f.VulnID)
	}
	if diff := cmp.Diff([]string{"CVE-1", "CVE-2", "CVE-3"}, ids); diff != "" {
		t.Errorf("Top (-want +got):\n%s", diff)
	}
	if fs[0].VulnID != "CVE-3" {
		t.Error("Top modified its input")
	}
	if got, want := CountLine(fs), "1 critical, 1 high, 1 medium, 1 unknown"; got != want {
		t.Errorf("CountLine = %q, want %q", got, want)
	}
}

func TestNodeAndFinding(t *testing.T) {
	n := &dest.Node{ID: "c1", Kind: "container", Name: "web-1", Host: "host-a", Cluster: "prod", Namespace: "shop", Internet: true}
	if got, want := Node(n), "container web-1 on host-a (cluster prod, namespace shop), reachable from the internet"; got != want {
		t.Errorf("Node = %q, want %q", got, want)
	}
	f := dest.Finding{VulnID: "CVE-2024-1", Package: "openssl", Version: "3.0.1", FixedVersion: "3.0.2", Severity: "critical", KEV: true, RiskScore: 9.14, Node: n}
	if got, want := Finding(f), "CVE-2024-1 (Critical, KEV) openssl 3.0.1 → 3.0.2 on web-1, risk 9.1"; got != want {
		t.Errorf("Finding = %q, want %q", got, want)
	}
}
