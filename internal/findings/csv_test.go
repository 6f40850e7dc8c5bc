package findings

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/risk"
)

// TestWriteCSVNoFormulas: names that come from scanned images (a package
// called =HYPERLINK(...), a target starting with @ or +) reach a
// spreadsheet as text, not formulas; other cells are unchanged.
func TestWriteCSVNoFormulas(t *testing.T) {
	var b bytes.Buffer
	err := WriteCSV(&b, []NodeFinding{{ScanID: "s1", NodeID: "n1", Target: Target{Kind: "image", Ref: "@evil"},
		Finding: match.Finding{ID: "CVE-2026-0001", Severity: "high",
			Package: match.PackageRef{Name: `=HYPERLINK("http://192.0.2.1/x","click")`, Version: "+1.0", Ecosystem: "npm"}},
		Risk: risk.Result{Score: 42}}})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	got := map[string]string{}
	for i, h := range CSVHeader {
		got[h] = rows[1][i]
	}
	for col, want := range map[string]string{"package": `'=HYPERLINK("http://192.0.2.1/x","click")`, "version": "'+1.0", "target": "'@evil",
		"vulnerability": "CVE-2026-0001", "risk": "42.0", "ecosystem": "npm"} {
		if got[col] != want {
			t.Errorf("%s = %q, want %q", col, got[col], want)
		}
	}
}
