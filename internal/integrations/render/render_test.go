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

func TestFactsAndBody(t *testing.T) {
	f := dest.Finding{VulnID: "CVE-1", Package: "openssl", Version: "3.0.1", Severity: "high", CVSS: 7.5, KEV: true, Summary: "sum"}
	m := dest.Message{Event: dest.EventFindingNew, Severity: "high", Findings: []dest.Finding{f},
		Node: &dest.Node{Name: "web"}, Fields: map[string]string{"scan": "s1", "a": ""}}
	want := []Fact{{"Severity", "High"}, {"Vulnerability", "CVE-1"}, {"Package", "openssl 3.0.1"}, {"CVSS", "7.5"},
		{"Known exploited", "yes (CISA KEV)"}, {"Node", "web"}, {"scan", "s1"}}
	if diff := cmp.Diff(want, Facts(m)); diff != "" {
		t.Errorf("Facts (-want +got):\n%s", diff)
	}
	if got := Body(m); got != "sum" {
		t.Errorf("Body without text = %q, want the finding's summary", got)
	}
	m.Text = " text "
	if got := Body(m); got != "text" {
		t.Errorf("Body = %q", got)
	}
	digest := dest.Message{Event: dest.EventDigest, Findings: []dest.Finding{f, f, {Severity: "low"}}}
	if diff := cmp.Diff([]Fact{{"Findings", "3"}, {"High", "2"}, {"Low", "1"}}, Facts(digest)); diff != "" {
		t.Errorf("digest Facts (-want +got):\n%s", diff)
	}
	if Title(digest) != dest.EventDigest {
		t.Errorf("Title without a title = %q", Title(digest))
	}
}

func TestTopFindings(t *testing.T) {
	for v, want := range map[string]int{"": 10, "1": 1, "40": 40, "41": 0, "0": 0, "x": 0} {
		n, err := TopFindings(map[string]string{"top_findings": v}, 10, 40)
		if n != want || (err != nil) != (want == 0) {
			t.Errorf("TopFindings(%q) = %d, %v", v, n, err)
		}
	}
}

func TestRecords(t *testing.T) {
	node, other := &dest.Node{ID: "n"}, &dest.Node{ID: "o"}
	fs := []dest.Finding{{VulnID: "CVE-1"}, {VulnID: "CVE-2", Node: other}}
	one := dest.Message{Event: dest.EventFindingNew, Node: node, Findings: fs[:1]}
	if diff := cmp.Diff([]Record{{Finding: &one.Findings[0], Node: node}}, Records(one)); diff != "" {
		t.Errorf("Records of a finding (-want +got):\n%s", diff)
	}
	digest := dest.Message{Event: dest.EventDigest, Node: node, Findings: fs}
	want := []Record{{Finding: &fs[0], Node: node, Item: 1, Total: 2}, {Finding: &fs[1], Node: other, Item: 2, Total: 2}}
	if diff := cmp.Diff(want, Records(digest)); diff != "" {
		t.Errorf("Records of a digest (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Record{{}}, Records(dest.Message{Event: dest.EventDigest})); diff != "" {
		t.Errorf("Records of an empty digest (-want +got):\n%s", diff)
	}
}
