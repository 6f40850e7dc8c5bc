package findings

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"
)

// numericColumns are the CSVHeader columns written as numbers in a
// workbook (sortable and filterable as such); the others are text, never
// formulas.
var numericColumns = map[string]bool{"risk": true, "cvss": true, "epss": true}

// WriteXLSX writes findings as an Excel workbook: a Summary sheet (what
// the export holds, counts by type and severity, when it was made and
// with which filter) and a Findings sheet with CSVHeader's columns, one
// row per finding, ranked as given, with a filter on the header row.
func WriteXLSX(w io.Writer, fs []NodeFinding, info ReportInfo) error {
	x := excelize.NewFile()
	defer x.Close()
	if err := x.SetSheetName("Sheet1", "Summary"); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	if _, err := x.NewSheet("Findings"); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	if err := writeSummary(x, fs, info); err != nil {
		return err
	}
	sw, err := x.NewStreamWriter("Findings")
	if err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	bold, _ := x.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	header := make([]any, len(CSVHeader))
	for i, h := range CSVHeader {
		header[i] = excelize.Cell{Value: h, StyleID: bold}
	}
	if err := sw.SetRow("A1", header); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	for n, f := range fs {
		rec := record(f)
		row := make([]any, len(rec))
		for i, v := range rec {
			row[i] = v
			if numericColumns[CSVHeader[i]] && v != "" {
				if x, err := strconv.ParseFloat(v, 64); err == nil {
					row[i] = x
				}
			}
		}
		cell, _ := excelize.CoordinatesToCellName(1, n+2)
		if err := sw.SetRow(cell, row); err != nil {
			return fmt.Errorf("xlsx: %w", err)
		}
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	last, _ := excelize.CoordinatesToCellName(len(CSVHeader), max(len(fs)+1, 2))
	if err := x.AutoFilter("Findings", "A1:"+last, nil); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	if _, err := x.WriteTo(w); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	return nil
}

func writeSummary(x *excelize.File, fs []NodeFinding, info ReportInfo) error {
	byType, bySev := map[string]int{}, map[string]int{}
	kev := 0
	for _, f := range fs {
		byType[cmpOr(f.Type, TypeVulnerability)]++
		bySev[cmpOr(f.Finding.Severity, "unknown")]++
		if f.Finding.KEV != nil {
			kev++
		}
	}
	rows := [][]any{
		{"Riskmap findings"},
		{"generated", info.At.UTC().Format(time.RFC3339)},
		{"scope", cmpOr(info.Scope, ScopeEstate)},
		{"filter", cmpOr(info.Filter, "none: every current finding")},
		{"findings", len(fs)},
		{"known exploited (CISA KEV)", kev},
		{},
		{"by type"},
	}
	for _, t := range []string{TypeVulnerability, TypeSecret, TypeMalware, TypeCompliance} {
		rows = append(rows, []any{t, byType[t]})
	}
	rows = append(rows, []any{}, []any{"by severity"})
	sevRow := len(rows) + 1
	sevs := []string{"critical", "high", "medium", "low"}
	for s := range bySev {
		if !slices.Contains(sevs, s) {
			sevs = append(sevs, s)
		}
	}
	for _, s := range sevs {
		rows = append(rows, []any{s, bySev[s]})
	}
	sevLast := len(rows)
	rows = append(rows, []any{}, []any{"where (the most findings)"})
	placeRow := len(rows) + 1
	places := topPlaces(fs, 10)
	for _, p := range places {
		rows = append(rows, []any{p.name, p.n})
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := x.SetSheetRow("Summary", cell, &r); err != nil {
			return fmt.Errorf("xlsx: %w", err)
		}
	}
	// The charts of the summary: findings by severity, and where they are.
	bar := func(anchor, title, cats, vals string) error {
		return x.AddChart("Summary", anchor, &excelize.Chart{Type: excelize.Bar,
			Series: []excelize.ChartSeries{{Name: "Summary!$A$1", Categories: cats, Values: vals}},
			Title:  excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: title}}}, Legend: excelize.ChartLegend{Position: "none"},
			Dimension: excelize.ChartDimension{Width: 480, Height: 260}})
	}
	if err := bar("D2", "Findings by severity", fmt.Sprintf("Summary!$A$%d:$A$%d", sevRow, sevLast), fmt.Sprintf("Summary!$B$%d:$B$%d", sevRow, sevLast)); err != nil {
		return fmt.Errorf("xlsx chart: %w", err)
	}
	if len(places) > 0 {
		last := placeRow + len(places) - 1
		if err := bar("D17", "Where they are", fmt.Sprintf("Summary!$A$%d:$A$%d", placeRow, last), fmt.Sprintf("Summary!$B$%d:$B$%d", placeRow, last)); err != nil {
			return fmt.Errorf("xlsx chart: %w", err)
		}
	}
	if err := x.SetColWidth("Summary", "A", "A", 36); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	return nil
}
