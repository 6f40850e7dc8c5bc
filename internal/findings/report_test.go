package findings

import (
	"archive/zip"
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/risk"
)

func reportFindings() []NodeFinding {
	var fs []NodeFinding
	for i, sev := range []string{"critical", "high", "high", "low"} {
		ref := "web"
		if i == 3 {
			ref = "batch"
		}
		fs = append(fs, NodeFinding{Type: TypeVulnerability, NodeID: "n-" + ref, Target: Target{Kind: "container", Ref: ref},
			Finding: match.Finding{ID: "CVE-2026-000" + string(rune('1'+i)), Severity: sev, Package: match.PackageRef{Name: "openssl", Version: "3.0.1"}},
			Risk:    risk.Result{Score: float64(90 - 10*i)}})
	}
	return fs
}

// TestXLSXReport: the workbook's summary names its scope and filter and
// holds two charts (by severity, where); the findings sheet every row.
func TestXLSXReport(t *testing.T) {
	var b bytes.Buffer
	info := ReportInfo{At: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC), Scope: "cluster prod", Filter: "severity=high"}
	if err := WriteXLSX(&b, reportFindings(), info); err != nil {
		t.Fatal(err)
	}
	x, err := excelize.OpenReader(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := x.GetRows("Summary")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rows {
		if len(r) >= 2 {
			got[r[0]] = r[1]
		}
	}
	if got["scope"] != "cluster prod" || got["filter"] != "severity=high" || got["high"] != "2" || got["container web"] != "3" {
		t.Errorf("summary %v", got)
	}
	if f, _ := x.GetRows("Findings"); len(f) != 5 {
		t.Errorf("findings sheet: %d rows, want header + 4", len(f))
	}
	zr, err := zip.NewReader(bytes.NewReader(b.Bytes()), int64(b.Len()))
	if err != nil {
		t.Fatal(err)
	}
	charts := 0
	for _, f := range zr.File {
		if strings.HasPrefix(f.Name, "xl/charts/chart") {
			charts++
		}
	}
	if charts != 2 {
		t.Errorf("%d charts, want 2", charts)
	}
}

// TestPDFReport: a PDF with its summary page and the findings page.
func TestPDFReport(t *testing.T) {
	var b bytes.Buffer
	if err := WritePDF(&b, reportFindings(), ReportInfo{At: time.Now(), Scope: "image nginx:1.25"}); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	if !strings.HasPrefix(s, "%PDF-") || !strings.Contains(s, "%%EOF") || strings.Count(s, "/Type /Page\n") != 2 {
		t.Errorf("not a two-page PDF (%d bytes, %d pages)", b.Len(), strings.Count(s, "/Type /Page\n"))
	}
}
