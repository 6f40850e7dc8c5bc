package scans

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/inventory/sbom"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/match/report"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

// jsonBodyLimit bounds the module's JSON bodies.
const jsonBodyLimit = 1 << 20

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
	huma.Register(api, op(http.MethodGet, "/api/v1/scan-types", "list-scan-types", "The scan types, each with the number of live sensors that run it", "scans"), s.apiScanTypes)

	huma.Register(api, op(http.MethodPost, sensorproto.PathPoll, "poll-commands", "Sensor: take commands for the free scan slots", "sensor"), s.apiPoll)
	huma.Register(api, noContent(op(http.MethodPost, sensorproto.PathScanStatus, "scan-status", "Sensor: report a scan's status (heartbeat while running)", "sensor")), s.apiStatus)
	raw(http.MethodPut, sensorproto.PathInventory, "upload-inventory", "Sensor: upload a vulnerability scan's inventory (gzip JSON, Content-Encoding: gzip; at most 64 MiB compressed, 512 MiB decompressed)", "", s.rawInventory)
	raw(http.MethodPut, sensorproto.PathResults, "upload-results", "Sensor: upload the results of a secret, malware or compliance scan (gzip JSON of sensorproto.Results, Content-Encoding: gzip; at most 16 MiB compressed, 128 MiB decompressed, 100,000 findings)", "", s.rawResults)
}

func (s *Service) httpError(ctx context.Context, what string, err error) error {
	return console.Error(ctx, s.log, what, err)
}

func (s *Service) rawError(w http.ResponseWriter, r *http.Request, what string, err error) {
	console.WriteError(w, r, s.log, what, err)
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
	Type     string `query:"type" enum:"vulnerability,secret,malware,compliance," doc:"the scans of one type"`
	NodeID   string `query:"nodeId" maxLength:"200"`
	SensorID string `query:"sensorId" maxLength:"200"`
	Status   string `query:"status" enum:"queued,running,complete,error,cancelled,"`
	Ref      string `query:"ref" maxLength:"1000"`
	Limit    int    `query:"limit" minimum:"0" maximum:"500"`
	Cursor   string `query:"cursor" maxLength:"64"`
}

func (s *Service) apiList(ctx context.Context, in *listScansIn) (*bodyOf[list[Scan]], error) {
	got, next, err := s.Queue.List(ctx, ListFilter{Type: in.Type, NodeID: in.NodeID, SensorID: in.SensorID, Status: in.Status, Target: in.Ref, Before: in.Cursor, Limit: in.Limit})
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

func (s *Service) apiDiff(ctx context.Context, in *diffIn) (*bodyOf[findings.Diff], error) {
	d, err := s.DiffScans(ctx, in.Other, in.ID)
	if err != nil {
		return nil, s.httpError(ctx, "diff scans", err)
	}
	return &bodyOf[findings.Diff]{d}, nil
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

func (s *Service) apiScanTypes(ctx context.Context, _ *struct{}) (*bodyOf[list[TypeSensors]], error) {
	types, err := s.ScanTypes(ctx)
	if err != nil {
		return nil, s.httpError(ctx, "scan types", err)
	}
	return &bodyOf[list[TypeSensors]]{list[TypeSensors]{Items: types}}, nil
}

func (s *Service) apiPutSettings(ctx context.Context, in *bodyOf[Settings]) (*bodyOf[Settings], error) {
	if err := s.PutSettings(ctx, in.Body); err != nil {
		return nil, s.httpError(ctx, "put settings", err)
	}
	st, err := s.GetSettings(ctx)
	if err != nil {
		return nil, s.httpError(ctx, "put settings", err)
	}
	return &bodyOf[Settings]{st}, nil
}

// sensorOf is the enrolled sensor a sensor-route request speaks for (the
// policy table lets only sensors through).
func sensorOf(ctx context.Context) (string, error) {
	x, ok := console.SensorFrom(ctx)
	if !ok {
		return "", fmt.Errorf("%w: this route is for enrolled sensors", ErrForbidden)
	}
	return x.ID, nil
}

func (s *Service) apiPoll(ctx context.Context, in *bodyOf[sensorproto.PollRequest]) (*bodyOf[sensorproto.PollResponse], error) {
	sid, err := sensorOf(ctx)
	if err != nil {
		return nil, s.httpError(ctx, "poll commands", err)
	}
	if in.Body.SensorID != sid {
		return nil, s.httpError(ctx, "poll commands", fmt.Errorf("%w: sensor %s polls for itself only, not for %q", ErrForbidden, sid, in.Body.SensorID))
	}
	cmds, err := s.Queue.Poll(ctx, sid, sid, in.Body.FreeScanSlots, in.Body.ScanTypes...)
	if err != nil {
		return nil, s.httpError(ctx, "poll commands", err)
	}
	return &bodyOf[sensorproto.PollResponse]{sensorproto.PollResponse{Commands: cmds}}, nil
}

type statusIn struct {
	ID   string `path:"id" maxLength:"64"`
	Body sensorproto.ScanStatus
}

func (s *Service) apiStatus(ctx context.Context, in *statusIn) (*struct{}, error) {
	sid, err := sensorOf(ctx)
	if err != nil {
		return nil, s.httpError(ctx, "scan status", err)
	}
	if _, err := s.Queue.Report(ctx, in.ID, sid, in.Body); err != nil {
		return nil, s.httpError(ctx, "scan status", err)
	}
	return nil, nil
}

func (s *Service) rawInventory(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	sid, err := sensorOf(r.Context())
	if err != nil {
		s.rawError(w, r, "upload inventory", err)
		return
	}
	// Refuse before reading a byte of the body when the scan is not this
	// sensor's to upload (unknown, another sensor's, or finished).
	sc, err := s.Queue.Get(r.Context(), id)
	if err != nil {
		s.rawError(w, r, "upload inventory", err)
		return
	}
	if sc.claimedBy != sid {
		s.rawError(w, r, "upload inventory", fmt.Errorf("%w: scan %s was not given to this sensor", ErrForbidden, id))
		return
	}
	if sc.Terminal() {
		s.rawError(w, r, "upload inventory", fmt.Errorf("%w: scan %s is already %s", ErrConflict, id, sc.Status))
		return
	}
	if sc.Type != TypeVulnerability {
		s.rawError(w, r, "upload inventory", fmt.Errorf("%w: scan %s is a %s scan: upload its results (%s), not an inventory", ErrConflict, id, sc.Type, sensorproto.PathResults))
		return
	}
	if !strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		console.WriteProblem(w, http.StatusUnsupportedMediaType, "the inventory must be sent with Content-Encoding: gzip")
		return
	}
	// The upload is decoded and matched as it streams; only its compressed
	// form is kept (it is what is stored).
	ctx := r.Context()
	var gz bytes.Buffer
	body := io.TeeReader(io.LimitReader(r.Body, sensorproto.MaxInventoryGzip+1), &gz)
	m := s.findings.NewMatching(sc.origin())
	packages := 0
	_, err = sensorproto.StreamInventory(body, func(p *inventory.Package) error {
		if packages++; packages > sensorproto.MaxPackages {
			return fmt.Errorf("%w: more than %d packages", sensorproto.ErrTooLarge, sensorproto.MaxPackages)
		}
		if err := m.Add(ctx, p); err != nil {
			return err
		}
		if m.Len() > sensorproto.MaxFindings {
			return fmt.Errorf("%w: more than %d findings and skipped packages", sensorproto.ErrTooLarge, sensorproto.MaxFindings)
		}
		return nil
	})
	if err == nil {
		_, err = io.Copy(io.Discard, body)
	}
	if err != nil {
		writeUploadError(ctx, w, "inventory", err)
		return
	}
	if gz.Len() > sensorproto.MaxInventoryGzip {
		console.WriteProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("inventory larger than %d bytes compressed", sensorproto.MaxInventoryGzip))
		return
	}
	rows, err := m.Rows(ctx)
	if err == nil {
		sc, err = s.uploadable(ctx, id, sid, false)
	}
	if err == nil {
		_, err = s.storeInventory(ctx, sc, gz.Bytes(), rows, m.Uncovered(), packages)
	}
	if err != nil {
		s.rawError(w, r, "store inventory", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// rawResults stores the results of a secret or malware scan: the scan
// must be this sensor's, running, and of the results' type; the body is
// bounded compressed and decompressed, decoded strictly and validated
// (sensorproto.DecodeResults) before anything is stored.
func (s *Service) rawResults(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	ctx := r.Context()
	sid, err := sensorOf(ctx)
	if err != nil {
		s.rawError(w, r, "upload results", err)
		return
	}
	// Refuse before reading a byte of the body when the scan is not this
	// sensor's to upload results for.
	if _, err := s.uploadable(ctx, id, sid, true); err != nil {
		s.rawError(w, r, "upload results", err)
		return
	}
	if !strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		console.WriteProblem(w, http.StatusUnsupportedMediaType, "the results must be sent with Content-Encoding: gzip")
		return
	}
	var gz bytes.Buffer
	body := io.TeeReader(io.LimitReader(r.Body, sensorproto.MaxResultsGzip+1), &gz)
	res, err := sensorproto.DecodeResults(body)
	if err == nil {
		_, err = io.Copy(io.Discard, body)
	}
	if err == nil && gz.Len() > sensorproto.MaxResultsGzip {
		err = fmt.Errorf("%w: results larger than %d bytes compressed", sensorproto.ErrTooLarge, sensorproto.MaxResultsGzip)
	}
	if err != nil {
		writeUploadError(ctx, w, "results", err)
		return
	}
	if _, err := s.AttachResults(ctx, id, sid, gz.Bytes(), res); err != nil {
		s.rawError(w, r, "store results", err)
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
	if sc, err := s.Queue.Get(ctx, id); err != nil {
		s.rawError(w, r, "scan report", err)
		return
	} else if sc.Type != TypeVulnerability {
		s.typedReport(w, r, sc, format)
		return
	}
	inv, err := s.Inventory(ctx, id)
	if err != nil {
		s.rawError(w, r, "scan report", err)
		return
	}
	all, err := s.findings.All(ctx, findings.Filter{ScanID: id, IncludeSuppressed: true})
	if err != nil {
		s.rawError(w, r, "scan report", err)
		return
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="scan-%s.csv"`, id))
		_ = findings.WriteCSV(w, all)
		return
	}
	sc, err := s.Queue.Get(ctx, id)
	if err != nil {
		s.rawError(w, r, "scan report", err)
		return
	}
	res := &match.Result{Packages: len(inv.Packages), Uncovered: sc.Uncovered}
	var ignored []report.Ignored
	for _, f := range all {
		if f.Decision != nil {
			ignored = append(ignored, report.Ignored{ID: f.Finding.ID, Package: f.Finding.Package.Name, Reason: f.Decision.Status + ": " + f.Decision.Reason, Source: "console decision " + f.Decision.ID})
			continue
		}
		res.Findings = append(res.Findings, f.Finding)
	}
	match.SortFindings(res.Findings)
	doc := report.New(inv, res, s.findings.KBMeta(), ignored, s.version, s.now())
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

// typedReport is the report of a scan of a type other than vulnerability:
// its findings (decisions attached) as JSON or CSV, the formats every type
// shares; SBOMs, SARIF, CycloneDX and OpenVEX speak of packages.
func (s *Service) typedReport(w http.ResponseWriter, r *http.Request, sc Scan, format string) {
	all, err := s.findings.All(r.Context(), findings.Filter{ScanID: sc.ID, IncludeSuppressed: true})
	if err != nil {
		s.rawError(w, r, "scan report", err)
		return
	}
	if all == nil {
		all = []findings.NodeFinding{}
	}
	switch format {
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="scan-%s.csv"`, sc.ID))
		_ = findings.WriteCSV(w, all)
	case "json":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="scan-%s.json"`, sc.ID))
		writeJSON(w, map[string]any{"scan": sc, "generatedAt": s.now().UTC(), "findings": all})
	default:
		console.WriteProblem(w, http.StatusBadRequest, fmt.Sprintf("format %q: a %s scan's report is json or csv", format, sc.Type))
	}
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeUploadError answers a sensor upload (an inventory, results) that
// could not be read: too large (the body limit or the decoder's), or
// malformed; nothing when the request itself was cancelled.
func writeUploadError(ctx context.Context, w http.ResponseWriter, what string, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		console.WriteProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("%s larger than %d bytes", what, mbe.Limit))
	case errors.Is(err, sensorproto.ErrTooLarge):
		console.WriteProblem(w, http.StatusRequestEntityTooLarge, err.Error())
	case ctx.Err() != nil:
	default:
		console.WriteProblem(w, http.StatusBadRequest, err.Error())
	}
}
