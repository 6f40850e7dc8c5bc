package findings

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"codeberg.org/go-pdf/fpdf"
)

// MaxPDFRows bounds the findings table of a PDF report (the highest risk
// first); the summary counts every finding.
const MaxPDFRows = 500

// severityColours are the bar colours of the severity chart.
var severityColours = map[string][3]int{
	"critical": {153, 27, 27}, "high": {194, 65, 12}, "medium": {180, 120, 0}, "low": {37, 99, 235}, "unknown": {100, 116, 139},
}

// WritePDF writes a findings report as PDF (built with fpdf): a summary
// page (what the report covers and its filter, the counts by type, a
// chart of the findings by severity, the known exploited ones) and the
// findings ranked by risk, at most MaxPDFRows of them.
func WritePDF(w io.Writer, fs []NodeFinding, info ReportInfo) error {
	at, filter := info.At, info.Filter
	pdf := fpdf.New("L", "mm", "A4", "")
	pdf.SetTitle("Riskmap findings report", true)
	pdf.SetCreator("riskmap", true)
	tr := pdf.UnicodeTranslatorFromDescriptor("") // core fonts are cp1252: translate, never garble
	pdf.SetFooterFunc(func() {
		pdf.SetY(-12)
		pdf.SetFont("Helvetica", "", 8)
		pdf.SetTextColor(100, 116, 139)
		pdf.CellFormat(0, 6, fmt.Sprintf("Riskmap findings report, %s, page %d of {nb}", at.UTC().Format("2006-01-02 15:04 UTC"), pdf.PageNo()), "", 0, "C", false, 0, "")
	})
	pdf.AliasNbPages("")
	pdf.AddPage()

	// Summary.
	pdf.SetFont("Helvetica", "B", 18)
	pdf.CellFormat(0, 10, "Riskmap findings report", "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 10)
	pdf.SetTextColor(71, 85, 105)
	pdf.CellFormat(0, 6, tr("Generated "+at.UTC().Format(time.RFC1123)), "", 1, "L", false, 0, "")
	pdf.CellFormat(0, 6, tr("Scope: "+cmpOr(info.Scope, ScopeEstate)), "", 1, "L", false, 0, "")
	pdf.CellFormat(0, 6, tr("Filter: "+cmpOr(filter, "none (every current finding)")), "", 1, "L", false, 0, "")
	pdf.Ln(4)
	byType, bySev := map[string]int{}, map[string]int{}
	kev := 0
	for _, f := range fs {
		byType[cmpOr(f.Type, TypeVulnerability)]++
		bySev[severityOf(f.Finding.Severity)]++
		if f.Finding.KEV != nil {
			kev++
		}
	}
	pdf.SetTextColor(15, 23, 42)
	pdf.SetFont("Helvetica", "B", 12)
	pdf.CellFormat(0, 8, fmt.Sprintf("%d findings, %d known exploited (CISA KEV)", len(fs), kev), "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 10)
	for _, t := range []string{TypeVulnerability, TypeSecret, TypeMalware, TypeCompliance} {
		pdf.CellFormat(60, 6, t, "", 0, "L", false, 0, "")
		pdf.CellFormat(20, 6, strconv.Itoa(byType[t]), "", 1, "R", false, 0, "")
	}
	pdf.Ln(4)
	pdf.SetFont("Helvetica", "B", 12)
	pdf.CellFormat(0, 8, "Findings by severity", "", 1, "L", false, 0, "")
	most := 1
	for _, n := range bySev {
		most = max(most, n)
	}
	pdf.SetFont("Helvetica", "", 10)
	for _, sev := range []string{"critical", "high", "medium", "low", "unknown"} {
		n := bySev[sev]
		x, y := pdf.GetX(), pdf.GetY()
		pdf.CellFormat(25, 7, sev, "", 0, "L", false, 0, "")
		c := severityColours[sev]
		pdf.SetFillColor(c[0], c[1], c[2])
		if n > 0 {
			pdf.Rect(x+27, y+1, 150*float64(n)/float64(most), 5, "F")
		}
		pdf.SetXY(x+180, y)
		pdf.CellFormat(20, 7, strconv.Itoa(n), "", 1, "R", false, 0, "")
	}

	// Where they are: the nodes (or targets) holding the most.
	places := topPlaces(fs, 8)
	if len(places) > 0 {
		pdf.Ln(4)
		pdf.SetFont("Helvetica", "B", 12)
		pdf.CellFormat(0, 8, "Where they are (the most findings)", "", 1, "L", false, 0, "")
		pdf.SetFont("Helvetica", "", 10)
		pdf.SetFillColor(71, 85, 105)
		for _, p := range places {
			x, y := pdf.GetX(), pdf.GetY()
			pdf.CellFormat(60, 7, fit(pdf, tr(p.name), 58), "", 0, "L", false, 0, "")
			pdf.Rect(x+62, y+1, 115*float64(p.n)/float64(places[0].n), 5, "F")
			pdf.SetXY(x+180, y)
			pdf.CellFormat(20, 7, strconv.Itoa(p.n), "", 1, "R", false, 0, "")
		}
	}

	// The findings, ranked.
	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 12)
	shown := min(len(fs), MaxPDFRows)
	title := fmt.Sprintf("Findings by risk (%d)", len(fs))
	if shown < len(fs) {
		title = fmt.Sprintf("The %d riskiest of %d findings (the XLSX and CSV exports hold them all)", shown, len(fs))
	}
	pdf.CellFormat(0, 8, title, "", 1, "L", false, 0, "")
	cols := []struct {
		name  string
		width float64
	}{{"Risk", 14}, {"Finding", 48}, {"Severity", 20}, {"Type", 24}, {"In", 82}, {"Target", 89}}
	header := func() {
		pdf.SetFont("Helvetica", "B", 9)
		pdf.SetFillColor(226, 232, 240)
		for _, c := range cols {
			pdf.CellFormat(c.width, 7, c.name, "1", 0, "L", true, 0, "")
		}
		pdf.Ln(-1)
		pdf.SetFont("Helvetica", "", 8)
	}
	header()
	for _, f := range fs[:shown] {
		if pdf.GetY() > 185 {
			pdf.AddPage()
			header()
		}
		in := f.Subject
		if in == "" {
			in = f.Finding.Package.Name + " " + f.Finding.Package.Version
		}
		cells := []string{strconv.FormatFloat(f.Risk.Score, 'f', 1, 64), f.Finding.ID, severityOf(f.Finding.Severity), cmpOr(f.Type, TypeVulnerability),
			in, f.Target.Kind + " " + f.Target.Ref}
		for i, c := range cols {
			pdf.CellFormat(c.width, 6, fit(pdf, tr(cells[i]), c.width-2), "1", 0, "L", false, 0, "")
		}
		pdf.Ln(-1)
	}
	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("pdf: %w", err)
	}
	return nil
}

// ReportInfo is what a report says of itself on its summary page: when
// it was made, its scope (estate, a cluster, node, image or scan, by
// name) and its filter.
type ReportInfo struct {
	At     time.Time
	Scope  string
	Filter string
}

type place struct {
	name string
	n    int
}

// topPlaces counts findings per target (its kind and reference), most
// first, at most n.
func topPlaces(fs []NodeFinding, n int) []place {
	m := map[string]int{}
	for _, f := range fs {
		m[f.Target.Kind+" "+f.Target.Ref]++
	}
	out := make([]place, 0, len(m))
	for k, v := range m {
		out = append(out, place{k, v})
	}
	slices.SortFunc(out, func(a, b place) int { return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.name, b.name)) })
	return out[:min(len(out), n)]
}

func severityOf(s string) string {
	switch s {
	case "critical", "high", "medium", "low":
		return s
	}
	return "unknown"
}

// fit cuts s to the width (mm) in the current font, with an ellipsis.
func fit(pdf *fpdf.Fpdf, s string, width float64) string {
	if pdf.GetStringWidth(s) <= width {
		return s
	}
	r := []byte(s)
	for len(r) > 0 && pdf.GetStringWidth(string(r)+"...") > width {
		r = r[:len(r)-1]
	}
	return string(r) + "..."
}
