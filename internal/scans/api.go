package scans

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/inventory/sbom"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/match/report"
	"github.com/riskmap/riskmap/internal/vulndb"
)

// Body limits of the module's routes (the policy table repeats them for the
// raw routes).
const (
	jsonBodyLimit   = 1 << 20
	FeedUploadLimit = 2 << 30
)

// Routes registers the module's API (console.Module).
func (s *Service) Routes(api huma.API, r chi.Router) {
	op := func(method, path, id, summary string, tags ...string) huma.Operation {
		return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: tags, MaxBodyBytes: jsonBodyLimit}
	}
	created := func(o huma.Operation) huma.Operation { o.DefaultStatus = http.StatusCreated; return o }
	noContent := func(o huma.Operation) huma.Operation { o.DefaultStatus = http.StatusNoContent; return o }
	// raw serves a streaming route on the router and documents it in the
	// OpenAPI description.
	raw := func(method, path, id, summary, contentType string, h http.HandlerFunc) {
		success := map[string]*huma.Response{"204": {Description: "Stored"}}
		if contentType != "" {
			success = map[string]*huma.Response{"200": {Description: "The document", Content: map[string]*huma.MediaType{contentType: {}}}}
		}
		console.RawRoute(api, r, huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: []string{"scans"}}, success, h)
	}

	huma.Register(api, created(op(http.MethodPost, "/api/v1/scans", "start-scans", "Start scans of nodes (by id or filter) or explicit targets", "scans")), s.apiStart)
	huma.Register(api, op(http.MethodGet, "/api/v1/scans", "list-scans", "List scans, newest first (scan history per node with nodeId)", "scans"), s.apiList)
	huma.Register(api, op(http.MethodGet, "/api/v1/scans/{id}", "get-scan", "One scan", "scans"), s.apiGet)
	huma.Register(api, op(http.MethodPost, "/api/v1/scans/{id}/cancel", "cancel-scan", "Cancel a queued or running scan", "scans"), s.apiCancel)
	huma.Register(api, op(http.MethodGet, "/api/v1/scans/{id}/diff/{other}", "diff-scans", "New and fixed vulnerabilities from scan {other} to scan {id}", "scans"), s.apiDiff)
	raw(http.MethodGet, "/api/v1/scans/{id}/sbom", "get-scan-sbom", "The scan's SBOM (?format=cyclonedx-json or spdx-json)", "application/json", s.rawSBOM)
	raw(http.MethodGet, "/api/v1/scans/{id}/report", "get-scan-report", "The scan's findings report (?format=json, sarif, cyclonedx-json, openvex or csv; decisions applied)", "application/json", s.rawReport)

	huma.Register(api, op(http.MethodGet, "/api/v1/scan-schedules", "list-scan-schedules", "List scheduled scans", "scans"), s.apiSchedules)
	huma.Register(api, created(op(http.MethodPost, "/api/v1/scan-schedules", "create-scan-schedule", "Schedule scans of the nodes a filter selects (cron)", "scans")), s.apiCreateSchedule)
	huma.Register(api, noContent(op(http.MethodDelete, "/api/v1/scan-schedules/{id}", "delete-scan-schedule", "Delete a schedule", "scans")), s.apiDeleteSchedule)
	huma.Register(api, op(http.MethodGet, "/api/v1/scan-settings", "get-scan-settings", "Auto-scan settings", "scans"), s.apiGetSettings)
	huma.Register(api, op(http.MethodPut, "/api/v1/scan-settings", "put-scan-settings", "Change auto-scan settings", "scans"), s.apiPutSettings)

	huma.Register(api, op(http.MethodPost, "/api/v1/sensor/commands/poll", "poll-commands", "Sensor: take commands for the free scan slots", "sensor"), s.apiPoll)
	huma.Register(api, noContent(op(http.MethodPost, "/api/v1/sensor/scans/{id}/status", "scan-status", "Sensor: report a scan's status (heartbeat while running)", "sensor")), s.apiStatus)
	raw(http.MethodPut, "/api/v1/sensor/scans/{id}/inventory", "upload-inventory", "Sensor: upload a scan's inventory (gzip JSON, Content-Encoding: gzip; at most 64 MiB compressed, 512 MiB decompressed)", "", s.rawInventory)

	huma.Register(api, op(http.MethodGet, "/api/v1/findings", "list-findings", "Current findings (latest scan per target), filtered, sorted, paginated", "findings"), s.apiFindings)
	huma.Register(api, op(http.MethodGet, "/api/v1/findings/top", "top-findings", "The most exploitable findings across the estate, with attack paths", "findings"), s.apiTop)
	raw(http.MethodGet, "/api/v1/findings/export", "export-findings", "Download current findings (?format=json or csv, same filters as GET /api/v1/findings)", "application/json", s.rawExport)
	huma.Register(api, op(http.MethodGet, "/api/v1/findings/decisions", "list-decisions", "Accept / not-affected decisions", "findings"), s.apiDecisions)
	huma.Register(api, created(op(http.MethodPost, "/api/v1/findings/decisions", "create-decision", "Accept a vulnerability or mark it not affected (reason, optional expiry)", "findings")), s.apiDecide)
	huma.Register(api, noContent(op(http.MethodDelete, "/api/v1/findings/decisions/{id}", "delete-decision", "Revoke a decision", "findings")), s.apiDeleteDecision)
	raw(http.MethodGet, "/api/v1/findings/decisions/openvex", "export-openvex", "The unexpired decisions as an OpenVEX v0.2.0 document", "application/json", s.rawOpenVEX)

	huma.Register(api, op(http.MethodPost, "/api/v1/feeds/update", "update-feeds", "Update the vulnerability feeds now and reload the knowledge base", "feeds"), s.apiUpdateFeeds)
	raw(http.MethodPost, "/api/v1/feeds/import", "import-feeds", "Upload a feed file or an exported bundle (?name=FILE tells its kind); air-gapped sites", "application/json", s.rawImportFeeds)
	huma.Register(api, op(http.MethodGet, "/api/v1/diagnosis", "diagnosis", "Feed status, sensor health, job queue depth, storage size", "diagnosis"), s.apiDiagnosis)
	s.matchRoutes(api, r) // POST /api/v1/match (match_api.go)
}

// httpError maps domain errors to problem documents.
func (s *Service) httpError(ctx context.Context, what string, err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return huma.Error404NotFound(err.Error())
	case errors.Is(err, ErrInvalid):
		return huma.Error400BadRequest(err.Error())
	case errors.Is(err, ErrForbidden):
		return huma.Error403Forbidden(err.Error())
	case errors.Is(err, ErrConflict):
		return huma.Error409Conflict(err.Error())
	}
	s.log.ErrorContext(ctx, what, "err", err)
	return huma.Error500InternalServerError(what + " failed; see the console log")
}

func (s *Service) rawError(w http.ResponseWriter, r *http.Request, what string, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		console.WriteProblem(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrInvalid):
		console.WriteProblem(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrForbidden):
		console.WriteProblem(w, http.StatusForbidden, err.Error())
	case errors.Is(err, ErrConflict):
		console.WriteProblem(w, http.StatusConflict, err.Error())
	default:
		s.log.ErrorContext(r.Context(), what, "err", err)
		console.WriteProblem(w, http.StatusInternalServerError, what+" failed; see the console log")
	}
}

func caller(ctx context.Context) (id, email string) {
	if p, ok := console.PrincipalFrom(ctx); ok {
		return p.User.ID, p.User.Email
	}
	return "", ""
}

type (
	idPath struct {
		ID string `path:"id" maxLength:"64"`
	}
	bodyOf[T any] struct {
		Body T
	}
	list[T any] struct {
		Items      []T    `json:"items"`
		NextCursor string `json:"nextCursor,omitempty"`
		Total      *int   `json:"total,omitempty"`
	}
)

func (s *Service) apiStart(ctx context.Context, in *bodyOf[ScanRequest]) (*bodyOf[list[Scan]], error) {
	_, email := caller(ctx)
	got, err := s.StartScans(ctx, in.Body, email)
	if err != nil {
		return nil, s.httpError(ctx, "start scans", err)
	}
	return &bodyOf[list[Scan]]{list[Scan]{Items: got}}, nil
}

type listScansIn struct {
	NodeID   string `query:"nodeId" maxLength:"200"`
	SensorID string `query:"sensorId" maxLength:"200"`
	Status   string `query:"status" enum:"queued,running,complete,error,cancelled,"`
	Ref      string `query:"ref" maxLength:"1000"`
	Limit    int    `query:"limit" minimum:"0" maximum:"500"`
	Cursor   string `query:"cursor" maxLength:"64"`
}

func (s *Service) apiList(ctx context.Context, in *listScansIn) (*bodyOf[list[Scan]], error) {
	got, next, err := s.Queue.List(ctx, ListFilter{NodeID: in.NodeID, SensorID: in.SensorID, Status: in.Status, Target: in.Ref, Before: in.Cursor, Limit: in.Limit})
	if err != nil {
		return nil, s.httpError(ctx, "list scans", err)
	}
	if got == nil {
		got = []Scan{}
	}
	return &bodyOf[list[Scan]]{list[Scan]{Items: got, NextCursor: next}}, nil
}

func (s *Service) apiGet(ctx context.Context, in *idPath) (*bodyOf[Scan], error) {
	sc, err := s.Queue.Get(ctx, in.ID)
	if err != nil {
		return nil, s.httpError(ctx, "get scan", err)
	}
	return &bodyOf[Scan]{sc}, nil
}

func (s *Service) apiCancel(ctx context.Context, in *idPath) (*bodyOf[Scan], error) {
	sc, err := s.Queue.Cancel(ctx, in.ID)
	if err != nil {
		return nil, s.httpError(ctx, "cancel scan", err)
	}
	return &bodyOf[Scan]{sc}, nil
}

type diffIn struct {
	ID    string `path:"id" maxLength:"64"`
	Other string `path:"other" maxLength:"64"`
}

func (s *Service) apiDiff(ctx context.Context, in *diffIn) (*bodyOf[Diff], error) {
	d, err := s.DiffScans(ctx, in.Other, in.ID)
	if err != nil {
		return nil, s.httpError(ctx, "diff scans", err)
	}
	return &bodyOf[Diff]{d}, nil
}

func (s *Service) apiSchedules(ctx context.Context, _ *struct{}) (*bodyOf[list[Schedule]], error) {
	got, err := s.Schedules(ctx)
	if err != nil {
		return nil, s.httpError(ctx, "list schedules", err)
	}
	return &bodyOf[list[Schedule]]{list[Schedule]{Items: got}}, nil
}

func (s *Service) apiCreateSchedule(ctx context.Context, in *bodyOf[ScheduleInput]) (*bodyOf[Schedule], error) {
	_, email := caller(ctx)
	sc, err := s.CreateSchedule(ctx, in.Body, email)
	if err != nil {
		return nil, s.httpError(ctx, "create schedule", err)
	}
	return &bodyOf[Schedule]{sc}, nil
}

func (s *Service) apiDeleteSchedule(ctx context.Context, in *idPath) (*struct{}, error) {
	if err := s.DeleteSchedule(ctx, in.ID); err != nil {
		return nil, s.httpError(ctx, "delete schedule", err)
	}
	return nil, nil
}

func (s *Service) apiGetSettings(ctx context.Context, _ *struct{}) (*bodyOf[Settings], error) {
	st, err := s.GetSettings(ctx)
	if err != nil {
		return nil, s.httpError(ctx, "get settings", err)
	}
	return &bodyOf[Settings]{st}, nil
}

func (s *Service) apiPutSettings(ctx context.Context, in *bodyOf[Settings]) (*bodyOf[Settings], error) {
	if err := s.PutSettings(ctx, in.Body); err != nil {
		return nil, s.httpError(ctx, "put settings", err)
	}
	return &bodyOf[Settings]{in.Body}, nil
}

// PollRequest is the sensor's command poll.
type PollRequest struct {
	SensorID      string `json:"sensorId" minLength:"1" maxLength:"200"`
	FreeScanSlots int    `json:"freeScanSlots" minimum:"0" maximum:"100"`
}

// PollResponse carries the commands.
type PollResponse struct {
	Commands []Command `json:"commands"`
}

func (s *Service) apiPoll(ctx context.Context, in *bodyOf[PollRequest]) (*bodyOf[PollResponse], error) {
	uid, _ := caller(ctx)
	if err := limitHuma(s.limits.poll, uid+"|"+in.Body.SensorID, "poll commands"); err != nil {
		return nil, err
	}
	cmds, err := s.Queue.Poll(ctx, in.Body.SensorID, uid, in.Body.FreeScanSlots)
	if err != nil {
		return nil, s.httpError(ctx, "poll commands", err)
	}
	return &bodyOf[PollResponse]{PollResponse{Commands: cmds}}, nil
}

type statusIn struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		Status   string  `json:"status" enum:"running,complete,error,cancelled"`
		Message  string  `json:"message,omitempty" maxLength:"4000"`
		Progress float64 `json:"progress" minimum:"0" maximum:"1"`
	}
}

func (s *Service) apiStatus(ctx context.Context, in *statusIn) (*struct{}, error) {
	uid, _ := caller(ctx)
	if err := limitHuma(s.limits.status, s.scanSensorKey(ctx, uid, in.ID), "scan status"); err != nil {
		return nil, err
	}
	if _, err := s.Queue.Report(ctx, in.ID, uid, StatusUpdate{Status: in.Body.Status, Message: in.Body.Message, Progress: in.Body.Progress}); err != nil {
		return nil, s.httpError(ctx, "scan status", err)
	}
	return nil, nil
}

func (s *Service) rawInventory(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	uid, _ := caller(r.Context())
	if !limitRaw(w, s.limits.inventory, s.scanSensorKey(r.Context(), uid, id), "upload inventory") {
		return
	}
	if !strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		console.WriteProblem(w, http.StatusUnsupportedMediaType, "the inventory must be sent with Content-Encoding: gzip")
		return
	}
	gz, err := io.ReadAll(io.LimitReader(r.Body, MaxInventoryGzip+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			console.WriteProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("inventory larger than %d bytes", mbe.Limit))
			return
		}
		console.WriteProblem(w, http.StatusBadRequest, "read inventory: "+err.Error())
		return
	}
	if len(gz) > MaxInventoryGzip {
		console.WriteProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("inventory larger than %d bytes compressed", MaxInventoryGzip))
		return
	}
	inv, err := DecodeInventory(bytes.NewReader(gz))
	if err != nil {
		status := http.StatusBadRequest
		if strings.Contains(err.Error(), "decompressed") {
			status = http.StatusRequestEntityTooLarge
		}
		console.WriteProblem(w, status, err.Error())
		return
	}
	if _, err := s.AttachInventory(r.Context(), id, uid, gz, inv); err != nil {
		s.rawError(w, r, "store inventory", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) rawSBOM(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "cyclonedx-json"
	}
	inv, err := s.Inventory(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.rawError(w, r, "scan SBOM", err)
		return
	}
	var buf bytes.Buffer
	if err := sbom.Write(&buf, inv, format, sbom.Tool{Name: "riskmap", Version: s.version}); err != nil {
		console.WriteProblem(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="scan-%s.%s.json"`, chi.URLParam(r, "id"), strings.TrimSuffix(format, "-json")))
	w.Write(buf.Bytes())
}

// rawReport renders one scan's findings (decisions applied: covered
// findings are listed as ignored) in json, sarif, cyclonedx-json, openvex
// or csv.
func (s *Service) rawReport(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := chi.URLParam(r, "id")
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "json"
	}
	inv, err := s.Inventory(ctx, id)
	if err != nil {
		s.rawError(w, r, "scan report", err)
		return
	}
	all, err := s.allFindings(ctx, FindingFilter{ScanID: id, IncludeSuppressed: true})
	if err != nil {
		s.rawError(w, r, "scan report", err)
		return
	}
	if format == "csv" {
		writeCSV(w, "scan-"+id, all)
		return
	}
	res := &match.Result{Packages: len(inv.Packages)}
	var ignored []report.Ignored
	for _, f := range all {
		if f.Decision != nil {
			ignored = append(ignored, report.Ignored{ID: f.Finding.ID, Package: f.Finding.Package.Name, Reason: f.Decision.Status + ": " + f.Decision.Reason, Source: "console decision " + f.Decision.ID})
			continue
		}
		res.Findings = append(res.Findings, f.Finding)
	}
	match.SortFindings(res.Findings)
	doc := report.New(inv, res, s.kbMeta(), ignored, s.version, s.now())
	var buf bytes.Buffer
	if err := doc.Write(&buf, format); err != nil || format == "table" {
		if err == nil {
			err = errors.New("format table is for terminals; use json, sarif, cyclonedx-json, openvex or csv")
		}
		console.WriteProblem(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="scan-%s.%s.json"`, id, format))
	w.Write(buf.Bytes())
}

func (s *Service) allFindings(ctx context.Context, ff FindingFilter) ([]NodeFinding, error) {
	var out []NodeFinding
	ff.Limit = 1000
	for {
		page, total, err := s.Findings(ctx, ff)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		ff.Offset += len(page)
		if len(page) == 0 || ff.Offset >= total || len(out) >= 1_000_000 {
			return out, nil
		}
	}
}

func writeCSV(w http.ResponseWriter, name string, fs []NodeFinding) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.csv"`, name))
	cw := csv.NewWriter(w)
	cw.Write([]string{"risk", "vulnerability", "aliases", "severity", "cvss", "kev", "epss", "package", "version", "ecosystem", "fixed",
		"target_kind", "target", "node", "scan", "decision", "explanation"})
	for _, f := range fs {
		fd := f.Finding
		cvss, epss, kev, dec := "", "", "false", ""
		if fd.CVSS != nil {
			cvss = strconv.FormatFloat(fd.CVSS.BaseScore, 'f', 1, 64)
		}
		if fd.EPSS != nil {
			epss = strconv.FormatFloat(fd.EPSS.Score, 'f', 5, 64)
		}
		if fd.KEV != nil {
			kev = "true"
		}
		if f.Decision != nil {
			dec = f.Decision.Status
		}
		cw.Write([]string{strconv.FormatFloat(f.Risk.Score, 'f', 1, 64), fd.ID, strings.Join(fd.Aliases, " "), fd.Severity, cvss, kev, epss,
			fd.Package.Name, fd.Package.Version, fd.Package.Ecosystem, strings.Join(fd.FixedVersions, " "),
			f.Target.Kind, f.Target.Ref, f.NodeID, f.ScanID, dec, fd.Risk.Explanation})
	}
	cw.Flush()
}

type findingsIn struct {
	ScanID            string   `query:"scanId" maxLength:"64"`
	NodeID            string   `query:"nodeId" maxLength:"200"`
	Severity          []string `query:"severity" explode:"false" maxItems:"5"`
	KEV               string   `query:"kev" enum:"true,false,"`
	FixAvailable      string   `query:"fixAvailable" enum:"true,false,"`
	Package           string   `query:"package" maxLength:"500"`
	VulnID            string   `query:"vulnId" maxLength:"200"`
	MinScore          float64  `query:"minScore" minimum:"0" maximum:"100"`
	IncludeSuppressed bool     `query:"includeSuppressed"`
	Sort              string   `query:"sort" enum:"risk,severity,cvss,epss,package,vuln,"`
	Order             string   `query:"order" enum:"asc,desc,"`
	Limit             int      `query:"limit" minimum:"0" maximum:"1000"`
	Cursor            string   `query:"cursor" maxLength:"20"`
}

func optBool(s string) *bool {
	if s == "" {
		return nil
	}
	b := s == "true"
	return &b
}

func (in *findingsIn) filter() (FindingFilter, error) {
	ff := FindingFilter{ScanID: in.ScanID, NodeID: in.NodeID, KEV: optBool(in.KEV), FixAvailable: optBool(in.FixAvailable),
		Package: in.Package, VulnID: in.VulnID, MinScore: in.MinScore, IncludeSuppressed: in.IncludeSuppressed, Sort: in.Sort, Order: in.Order, Limit: in.Limit}
	for _, sv := range in.Severity {
		for _, p := range strings.Split(sv, ",") {
			if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
				if match.SeverityRank(p) == 0 && p != match.SeverityUnknown {
					return ff, fmt.Errorf("%w: severity %q (want critical, high, medium, low or unknown)", ErrInvalid, p)
				}
				ff.Severity = append(ff.Severity, p)
			}
		}
	}
	if in.Cursor != "" {
		n, err := strconv.Atoi(in.Cursor)
		if err != nil || n < 0 {
			return ff, fmt.Errorf("%w: cursor %q", ErrInvalid, in.Cursor)
		}
		ff.Offset = n
	}
	return ff, nil
}

func (s *Service) apiFindings(ctx context.Context, in *findingsIn) (*bodyOf[list[NodeFinding]], error) {
	ff, err := in.filter()
	if err != nil {
		return nil, s.httpError(ctx, "list findings", err)
	}
	got, total, err := s.Findings(ctx, ff)
	if err != nil {
		return nil, s.httpError(ctx, "list findings", err)
	}
	out := list[NodeFinding]{Items: got, Total: &total}
	if next := ff.Offset + len(got); next < total {
		out.NextCursor = strconv.Itoa(next)
	}
	return &bodyOf[list[NodeFinding]]{out}, nil
}

type topIn struct {
	Limit int `query:"limit" minimum:"0" maximum:"500"`
}

func (s *Service) apiTop(ctx context.Context, in *topIn) (*bodyOf[list[NodeFinding]], error) {
	got, err := s.Top(ctx, in.Limit)
	if err != nil {
		return nil, s.httpError(ctx, "top findings", err)
	}
	return &bodyOf[list[NodeFinding]]{list[NodeFinding]{Items: got}}, nil
}

// Top returns the highest-risk current findings across the estate
// (decisions honoured), each with its explanation and attack path.
func (s *Service) Top(ctx context.Context, limit int) ([]NodeFinding, error) {
	if limit <= 0 {
		limit = 20
	}
	got, _, err := s.Findings(ctx, FindingFilter{Sort: "risk", Limit: limit, NoCount: true})
	return got, err
}

func (s *Service) rawExport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	in := findingsIn{ScanID: q.Get("scanId"), NodeID: q.Get("nodeId"), KEV: q.Get("kev"), FixAvailable: q.Get("fixAvailable"),
		Package: q.Get("package"), VulnID: q.Get("vulnId"), IncludeSuppressed: q.Get("includeSuppressed") == "true", Sort: q.Get("sort"), Order: q.Get("order")}
	if v := q.Get("severity"); v != "" {
		in.Severity = []string{v}
	}
	ff, err := in.filter()
	if err != nil {
		s.rawError(w, r, "export findings", err)
		return
	}
	all, err := s.allFindings(r.Context(), ff)
	if err != nil {
		s.rawError(w, r, "export findings", err)
		return
	}
	switch f := q.Get("format"); f {
	case "", "json":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", `attachment; filename="findings.json"`)
		if all == nil {
			all = []NodeFinding{}
		}
		writeJSON(w, map[string]any{"generatedAt": s.now().UTC(), "findings": all})
	case "csv":
		writeCSV(w, "findings", all)
	default:
		console.WriteProblem(w, http.StatusBadRequest, fmt.Sprintf("format %q (want json or csv; per-scan CycloneDX, SARIF and OpenVEX at /api/v1/scans/{id}/report)", f))
	}
}

func (s *Service) apiDecisions(ctx context.Context, _ *struct{}) (*bodyOf[list[Decision]], error) {
	got, err := s.Decisions(ctx)
	if err != nil {
		return nil, s.httpError(ctx, "list decisions", err)
	}
	return &bodyOf[list[Decision]]{list[Decision]{Items: got}}, nil
}

func (s *Service) apiDecide(ctx context.Context, in *bodyOf[DecisionInput]) (*bodyOf[Decision], error) {
	_, email := caller(ctx)
	d, err := s.Decide(ctx, in.Body, email)
	if err != nil {
		return nil, s.httpError(ctx, "create decision", err)
	}
	return &bodyOf[Decision]{d}, nil
}

func (s *Service) apiDeleteDecision(ctx context.Context, in *idPath) (*struct{}, error) {
	if err := s.DeleteDecision(ctx, in.ID); err != nil {
		return nil, s.httpError(ctx, "delete decision", err)
	}
	return nil, nil
}

func (s *Service) rawOpenVEX(w http.ResponseWriter, r *http.Request) {
	_, email := caller(r.Context())
	var buf bytes.Buffer
	if err := s.WriteOpenVEX(r.Context(), &buf, email); err != nil {
		s.rawError(w, r, "OpenVEX export", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="riskmap.openvex.json"`)
	w.Write(buf.Bytes())
}

func (s *Service) apiUpdateFeeds(ctx context.Context, _ *struct{}) (*bodyOf[FeedStatus], error) {
	if s.KB == nil {
		return nil, huma.Error503ServiceUnavailable("this console has no feeds manager")
	}
	if err := s.KB.Update(ctx); err != nil {
		s.log.WarnContext(ctx, "feed update", "err", err)
	}
	return &bodyOf[FeedStatus]{s.KB.Status()}, nil
}

// rawImportFeeds takes a feed file or an exported bundle as the body
// (?name= tells its kind by file name, as `riskmap feeds import` does).
func (s *Service) rawImportFeeds(w http.ResponseWriter, r *http.Request) {
	if s.KB == nil {
		console.WriteProblem(w, http.StatusServiceUnavailable, "this console has no feeds manager")
		return
	}
	name := r.URL.Query().Get("name")
	if name == "" || strings.ContainsAny(name, "/\\") || len(name) > 200 {
		console.WriteProblem(w, http.StatusBadRequest, "give ?name=FILE (the feed file's or bundle's name, e.g. riskmap-feeds.tar.gz, known_exploited_vulnerabilities.json)")
		return
	}
	rep, err := s.KB.Import(r.Context(), r.Body, name)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			console.WriteProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("upload larger than %d bytes", mbe.Limit))
			return
		}
		console.WriteProblem(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	writeJSON(w, map[string]any{"report": rep, "status": s.KB.Status()})
}

func (s *Service) apiDiagnosis(ctx context.Context, _ *struct{}) (*bodyOf[Diagnosis], error) {
	d, err := s.Diagnose(ctx)
	if err != nil {
		return nil, s.httpError(ctx, "diagnosis", err)
	}
	return &bodyOf[Diagnosis]{d}, nil
}

func (s *Service) kbMeta() (m vulndb.Meta) {
	if s.KB != nil {
		if db := s.KB.DB(); db != nil {
			return db.Meta()
		}
	}
	return m
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
