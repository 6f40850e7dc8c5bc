package posture

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/riskmap/riskmap/internal/compliance"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/findings"
)

type findingsTarget = findings.Target

// Routes registers the compliance API (console.Module); every route is
// read-only (internal/console/policy.go).
func (s *Service) Routes(api huma.API, r chi.Router) {
	op := func(path, id, summary string) huma.Operation {
		return huma.Operation{OperationID: id, Method: http.MethodGet, Path: path, Summary: summary, Tags: []string{"compliance"}}
	}
	raw := func(path, id, summary, contentType string, h http.HandlerFunc) {
		console.RawRoute(api, r, huma.Operation{OperationID: id, Method: http.MethodGet, Path: path, Summary: summary, Tags: []string{"compliance"}},
			map[string]*huma.Response{"200": {Description: "The document", Content: map[string]*huma.MediaType{contentType: {}}}}, h)
	}
	huma.Register(api, op("/api/v1/compliance/summary", "compliance-summary",
		"Compliance pass rates of the latest scan of each target, benchmark and profile: overall, per benchmark profile and per target"), s.apiSummary)
	huma.Register(api, op("/api/v1/compliance/controls", "compliance-controls",
		"Controls of the latest compliance scans with their pass rate and each target's result, the most failing first"), s.apiControls)
	huma.Register(api, op("/api/v1/compliance/failures", "compliance-failures",
		"Failed controls on current targets ranked by risk (severity and node exposure), with their decisions"), s.apiFailures)
	huma.Register(api, op("/api/v1/compliance/trend", "compliance-trend",
		"Pass rate over each target's latest compliance scans, per benchmark profile"), s.apiTrend)
	huma.Register(api, op("/api/v1/compliance/profiles", "compliance-profiles",
		"Benchmark profiles a compliance scan may ask for, and those scans have reported"), s.apiProfiles)
	huma.Register(api, op("/api/v1/compliance/scans/{id}/checks", "compliance-scan-checks", "Every check of a compliance scan"), s.apiChecks)
	huma.Register(api, op("/api/v1/compliance/scans/{id}/diff/{other}", "compliance-scan-diff",
		"Controls newly failing and newly passing from compliance scan {other} to scan {id}"), s.apiDiff)
	raw("/api/v1/compliance/scans/{id}/raw", "compliance-scan-raw",
		"The engine's own results document of a compliance scan (XCCDF or ARF XML, kube-bench JSON), decompressed", "application/xml", s.rawDocument)
	raw("/api/v1/compliance/export", "compliance-export",
		"Download compliance checks (?format=json or csv): a scan's (?scanId=) or those of the latest scans (nodeId, benchmark, profile filters)", "text/csv", s.rawExport)
}

type (
	bodyOf[T any] struct {
		Body T
	}
	list[T any] struct {
		Items []T `json:"items"`
	}
	filterIn struct {
		NodeID    string `query:"nodeId" maxLength:"200"`
		Benchmark string `query:"benchmark" maxLength:"200"`
		Profile   string `query:"profile" maxLength:"200"`
	}
	controlsIn struct {
		filterIn
		Result   string   `query:"result" enum:"pass,fail,error,unknown,notapplicable,notchecked,notselected,informational,fixed," doc:"controls with a target of this result"`
		Severity []string `query:"severity" explode:"false" maxItems:"5"`
	}
	failuresIn struct {
		filterIn
		Limit int `query:"limit" minimum:"0" maximum:"5000"`
	}
	trendIn struct {
		filterIn
		TargetKey string `query:"targetKey" maxLength:"1300"`
		Limit     int    `query:"limit" minimum:"0" maximum:"100" doc:"runs per series (default 10)"`
	}
	checksIn struct {
		ID     string `path:"id" maxLength:"64"`
		Result string `query:"result" enum:"pass,fail,error,unknown,notapplicable,notchecked,notselected,informational,fixed,"`
	}
	diffIn struct {
		ID    string `path:"id" maxLength:"64"`
		Other string `path:"other" maxLength:"64"`
	}
	// Profiles are the profiles a scan may ask for and those reported.
	Profiles struct {
		Catalogue []Profile         `json:"catalogue"`
		Reported  []ReportedProfile `json:"reported"`
		// Node is, with ?nodeId=, the profiles available for the OS the
		// node reports: the SSG data stream that covers it and each of
		// Riskmap's profile names, available or why not.
		Node *NodeProfiles `json:"node,omitempty"`
	}
	// NodeProfiles are the OpenSCAP profiles for one node's OS.
	NodeProfiles struct {
		NodeID string `json:"nodeId"`
		// Known is false when the node reports no OS (a container: the
		// scan reads it from the container's root).
		Known    bool                  `json:"known"`
		Profiles compliance.OSProfiles `json:"profiles"`
	}
	profilesIn struct {
		NodeID string `query:"nodeId" maxLength:"64" doc:"the profiles available for this node's OS"`
	}
)

func (f filterIn) filter() Filter {
	return Filter{NodeID: f.NodeID, Benchmark: f.Benchmark, Profile: f.Profile}
}

func (s *Service) httpError(ctx context.Context, what string, err error) error {
	return console.Error(ctx, s.log, what, err)
}

func (s *Service) apiSummary(ctx context.Context, in *filterIn) (*bodyOf[ComplianceSummary], error) {
	got, err := s.Summary(ctx, in.filter())
	if err != nil {
		return nil, s.httpError(ctx, "compliance summary", err)
	}
	return &bodyOf[ComplianceSummary]{got}, nil
}

func (s *Service) apiControls(ctx context.Context, in *controlsIn) (*bodyOf[list[Control]], error) {
	got, err := s.Controls(ctx, ControlFilter{Filter: in.filter(), Result: in.Result, Severity: in.Severity})
	if err != nil {
		return nil, s.httpError(ctx, "compliance controls", err)
	}
	return &bodyOf[list[Control]]{list[Control]{Items: got}}, nil
}

func (s *Service) apiFailures(ctx context.Context, in *failuresIn) (*bodyOf[list[FailedControl]], error) {
	got, err := s.Failures(ctx, in.filter(), in.Limit)
	if err != nil {
		return nil, s.httpError(ctx, "failed controls", err)
	}
	return &bodyOf[list[FailedControl]]{list[FailedControl]{Items: got}}, nil
}

func (s *Service) apiTrend(ctx context.Context, in *trendIn) (*bodyOf[list[TrendSeries]], error) {
	f := in.filter()
	f.TargetKey = in.TargetKey
	got, err := s.Trend(ctx, f, in.Limit)
	if err != nil {
		return nil, s.httpError(ctx, "compliance trend", err)
	}
	return &bodyOf[list[TrendSeries]]{list[TrendSeries]{Items: got}}, nil
}

func (s *Service) apiProfiles(ctx context.Context, in *profilesIn) (*bodyOf[Profiles], error) {
	rep, err := s.Reported(ctx)
	if err != nil {
		return nil, s.httpError(ctx, "compliance profiles", err)
	}
	out := Profiles{Catalogue: Catalogue, Reported: rep}
	if in.NodeID != "" {
		np := &NodeProfiles{NodeID: in.NodeID}
		if s.nodes != nil {
			if id, ver, ok := s.nodes.OSOf(in.NodeID); ok {
				np.Known, np.Profiles = true, compliance.ProfilesForID(id, ver)
			}
		}
		out.Node = np
	}
	return &bodyOf[Profiles]{out}, nil
}

func (s *Service) apiChecks(ctx context.Context, in *checksIn) (*bodyOf[list[Check]], error) {
	got, err := s.Checks(ctx, in.ID, in.Result)
	if err != nil {
		return nil, s.httpError(ctx, "compliance checks", err)
	}
	return &bodyOf[list[Check]]{list[Check]{Items: got}}, nil
}

func (s *Service) apiDiff(ctx context.Context, in *diffIn) (*bodyOf[ComplianceDiff], error) {
	d, err := s.Diff(ctx, in.Other, in.ID)
	if err != nil {
		return nil, s.httpError(ctx, "compliance diff", err)
	}
	return &bodyOf[ComplianceDiff]{d}, nil
}

// scanTarget is the target of a scan's stored results.
func (s *Service) scanTarget(ctx context.Context, scanID string) (findingsTarget, error) {
	var t findingsTarget
	err := s.st.Read().QueryRowContext(ctx, `SELECT node_id, sensor_id, target_kind, target_ref FROM compliance_scans WHERE scan_id = ?`, scanID).
		Scan(&t.NodeID, &t.SensorID, &t.Kind, &t.Ref)
	if err != nil {
		return t, fmt.Errorf("compliance results of scan %s: %w", scanID, err)
	}
	return t, nil
}

// rawExtension names the download of a raw document by its format.
func rawExtension(format string) (ext, contentType string) {
	if strings.Contains(format, "json") {
		return "json", "application/json"
	}
	return "xml", "application/xml"
}

func (s *Service) rawDocument(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	format, gz, err := s.Raw(r.Context(), id)
	if err != nil {
		console.WriteError(w, r, s.log, "raw compliance results", err)
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		console.WriteError(w, r, s.log, "raw compliance results", fmt.Errorf("raw compliance results of scan %s: not gzip: %w", id, err))
		return
	}
	defer zr.Close()
	ext, ct := rawExtension(format)
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Riskmap-Raw-Format", format)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="compliance-%s-%s.%s"`, id, safeName(format), ext))
	if _, err := io.Copy(w, zr); err != nil {
		s.log.Warn("raw compliance results: download cut short", "scan", id, "err", err)
	}
}

// safeName keeps the letters, digits, '.' and '-' of a format name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return -1
	}, s)
}

// CSVHeader is the header of the CSV export.
var CSVHeader = []string{"scan", "node", "target_kind", "target", "benchmark", "benchmark_version", "profile", "rule", "title", "severity",
	"result", "subject", "references"}

func (s *Service) rawExport(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "csv" {
		console.WriteProblem(w, http.StatusUnprocessableEntity, fmt.Sprintf("format %q (want json or csv)", format))
		return
	}
	type row struct {
		Check
		NodeID     string `json:"nodeId,omitempty"`
		TargetKind string `json:"targetKind"`
		TargetRef  string `json:"targetRef"`
	}
	var rows []row
	if id := q.Get("scanId"); id != "" {
		cs, err := s.Checks(ctx, id, "")
		if err != nil {
			console.WriteError(w, r, s.log, "compliance export", err)
			return
		}
		t, err := s.scanTarget(ctx, id)
		if err != nil {
			console.WriteError(w, r, s.log, "compliance export", err)
			return
		}
		for _, c := range cs {
			rows = append(rows, row{Check: c, NodeID: t.NodeID, TargetKind: t.Kind, TargetRef: t.Ref})
		}
	} else {
		f := Filter{NodeID: q.Get("nodeId"), Benchmark: q.Get("benchmark"), Profile: q.Get("profile")}
		cs, runOf, err := s.latestChecks(ctx, f)
		if err != nil {
			console.WriteError(w, r, s.log, "compliance export", err)
			return
		}
		for _, c := range cs {
			run := runOf[c.ScanID+"\x00"+c.Benchmark+"\x00"+c.Profile]
			rows = append(rows, row{Check: c, NodeID: run.NodeID, TargetKind: run.Target.Kind, TargetRef: run.Target.Ref})
		}
	}
	if rows == nil {
		rows = []row{}
	}
	if format == "json" {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", `attachment; filename="compliance.json"`)
		_ = json.NewEncoder(w).Encode(rows)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="compliance.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write(CSVHeader)
	for _, x := range rows {
		var refs []string
		for _, ref := range x.References {
			refs = append(refs, ref.System+":"+ref.ID)
		}
		_ = cw.Write(csvSafe(x.ScanID, x.NodeID, x.TargetKind, x.TargetRef, x.Benchmark, x.BenchmarkVersion, x.Profile, x.Rule, x.Title, x.Severity,
			x.Result, x.Subject, strings.Join(refs, " ")))
	}
	cw.Flush()
}

// csvSafe defuses cells a spreadsheet would run as formulas (names and
// titles come from scanned targets).
func csvSafe(cells ...string) []string {
	for i := range cells {
		cells[i] = console.CSVCell(cells[i])
	}
	return cells
}
