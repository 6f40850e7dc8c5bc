package findings

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

const jsonBodyLimit = 1 << 20

// Routes registers the findings API (console.Module).
func (s *Service) Routes(api huma.API, r chi.Router) {
	op := func(method, path, id, summary string) huma.Operation {
		return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: []string{"findings"}, MaxBodyBytes: jsonBodyLimit}
	}
	created := func(o huma.Operation) huma.Operation { o.DefaultStatus = http.StatusCreated; return o }
	noContent := func(o huma.Operation) huma.Operation { o.DefaultStatus = http.StatusNoContent; return o }
	raw := func(method, path, id, summary string, h http.HandlerFunc) {
		console.RawRoute(api, r, huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: []string{"findings"}},
			map[string]*huma.Response{"200": {Description: "The document", Content: map[string]*huma.MediaType{"application/json": {}}}}, h)
	}
	huma.Register(api, op(http.MethodGet, "/api/v1/findings", "list-findings", "Current findings (latest scan per target), filtered, sorted, paginated"), s.apiFindings)
	huma.Register(api, op(http.MethodGet, "/api/v1/findings/top", "top-findings", "The most exploitable findings across the estate, with attack paths"), s.apiTop)
	huma.Register(api, op(http.MethodGet, "/api/v1/findings/groups", "group-findings",
		"The most exploitable findings grouped by vulnerability (one row per vulnerability, with its nodes) or by node"), s.apiGroups)
	huma.Register(api, huma.Operation{OperationID: "get-vulnerability", Method: http.MethodGet, Path: "/api/v1/vulnerabilities/{id}", Tags: []string{"findings"},
		Summary: "One vulnerability (by id or alias): description, aliases, references, severity sources, fixed versions, every node and image it is on with exposure and risk, decisions and their history"}, s.apiVulnerability)
	raw(http.MethodGet, "/api/v1/findings/export", "export-findings", "Download current findings (?format=json, csv, xlsx or pdf, same filters as GET /api/v1/findings, type included)", s.rawExport)
	huma.Register(api, op(http.MethodGet, "/api/v1/findings/decisions", "list-decisions", "Accept / not-affected decisions"), s.apiDecisions)
	huma.Register(api, created(op(http.MethodPost, "/api/v1/findings/decisions", "create-decision", "Accept a finding or mark it not affected, for findings of one type (reason, optional expiry)")), s.apiDecide)
	huma.Register(api, noContent(op(http.MethodDelete, "/api/v1/findings/decisions/{id}", "delete-decision", "Revoke a decision")), s.apiDeleteDecision)
	raw(http.MethodGet, "/api/v1/findings/decisions/openvex", "export-openvex", "The unexpired decisions as an OpenVEX v0.2.0 document", s.rawOpenVEX)
}

func (s *Service) httpError(ctx context.Context, what string, err error) error {
	return console.Error(ctx, s.log, what, err)
}

func (s *Service) rawError(w http.ResponseWriter, r *http.Request, what string, err error) {
	console.WriteError(w, r, s.log, what, err)
}

func caller(ctx context.Context) string {
	if p, ok := console.PrincipalFrom(ctx); ok {
		return p.User.Email
	}
	return ""
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

// Query is the findings query of the API and the exports.
type Query struct {
	ScanID            string   `query:"scanId" maxLength:"64"`
	Type              string   `query:"type" enum:"vulnerability,secret,malware,compliance," doc:"the findings of one scan type"`
	NodeID            string   `query:"nodeId" maxLength:"200"`
	Severity          []string `query:"severity" explode:"false" maxItems:"5"`
	KEV               string   `query:"kev" enum:"true,false,"`
	FixAvailable      string   `query:"fixAvailable" enum:"true,false,"`
	Package           string   `query:"package" maxLength:"500"`
	VulnID            string   `query:"vulnId" maxLength:"200"`
	MinScore          float64  `query:"minScore" minimum:"0" maximum:"100"`
	IncludeSuppressed bool     `query:"includeSuppressed"`
	Q                 string   `query:"q" maxLength:"200" doc:"search: vulnerability id or alias, package, target, node name, image, Kubernetes namespace or cluster (contains, any case)"`
	Image             string   `query:"image" maxLength:"500" doc:"the findings of an image (node id or name) and of the containers running it"`
	Cluster           string   `query:"cluster" maxLength:"200" doc:"the findings of the nodes of a Kubernetes cluster (name or id)"`
	Namespace         string   `query:"namespace" maxLength:"300" doc:"the findings of the nodes of a Kubernetes namespace (name)"`
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

// Filter checks the query and turns it into a Filter.
func (in *Query) Filter() (Filter, error) {
	ff := Filter{ScanID: in.ScanID, Type: in.Type, NodeID: in.NodeID, KEV: optBool(in.KEV), FixAvailable: optBool(in.FixAvailable),
		Package: in.Package, VulnID: in.VulnID, MinScore: in.MinScore, IncludeSuppressed: in.IncludeSuppressed, Sort: in.Sort, Order: in.Order, Limit: in.Limit,
		Search: in.Q, Image: in.Image, Cluster: in.Cluster, Namespace: in.Namespace}
	if in.MinScore < 0 || in.MinScore > 100 {
		return ff, fmt.Errorf("%w: minScore %v (want 0 to 100)", ErrInvalid, in.MinScore)
	}
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
	if in.Type != "" && !sensorproto.ValidScanType(in.Type) {
		return ff, fmt.Errorf("%w: type %q (want %s)", ErrInvalid, in.Type, strings.Join(sensorproto.ScanTypes, ", "))
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

func (s *Service) apiFindings(ctx context.Context, in *Query) (*bodyOf[list[NodeFinding]], error) {
	ff, err := in.Filter()
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

type vulnIn struct {
	ID string `path:"id" minLength:"1" maxLength:"200"`
}

func (s *Service) apiVulnerability(ctx context.Context, in *vulnIn) (*bodyOf[Vulnerability], error) {
	v, err := s.Vulnerability(ctx, in.ID)
	if err != nil {
		return nil, s.httpError(ctx, "vulnerability", err)
	}
	return &bodyOf[Vulnerability]{v}, nil
}

type topIn struct {
	Limit int `query:"limit" minimum:"0" maximum:"500"`
}

type groupsIn struct {
	By string `query:"by" enum:"vulnerability,node,image" default:"vulnerability"`
	// The findings grouped: the filters of GET /api/v1/findings (limit
	// bounds the groups, at most 500).
	Query
}

func (s *Service) apiGroups(ctx context.Context, in *groupsIn) (*bodyOf[list[Group]], error) {
	ff, err := in.Filter()
	if err != nil {
		return nil, s.httpError(ctx, "group findings", err)
	}
	got, total, err := s.Groups(ctx, in.By, ff, in.Limit)
	if err != nil {
		return nil, s.httpError(ctx, "group findings", err)
	}
	return &bodyOf[list[Group]]{list[Group]{Items: got, Total: &total}}, nil
}

func (s *Service) apiTop(ctx context.Context, in *topIn) (*bodyOf[list[NodeFinding]], error) {
	got, err := s.Top(ctx, in.Limit)
	if err != nil {
		return nil, s.httpError(ctx, "top findings", err)
	}
	return &bodyOf[list[NodeFinding]]{list[NodeFinding]{Items: got}}, nil
}

func (s *Service) rawExport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	in, err := QueryOf(q)
	if err != nil {
		s.rawError(w, r, "export findings", err)
		return
	}
	ff, err := in.Filter()
	if err != nil {
		s.rawError(w, r, "export findings", err)
		return
	}
	all, err := s.All(r.Context(), ff)
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
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"generatedAt": s.now().UTC(), "findings": all})
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="findings.csv"`)
		_ = WriteCSV(w, all)
	case "xlsx":
		// Built in memory first: a failure is answered as an error, not
		// as half a workbook.
		var buf bytes.Buffer
		if err := WriteXLSX(&buf, all, s.reportInfo(ff, q)); err != nil {
			s.rawError(w, r, "export findings", err)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		w.Header().Set("Content-Disposition", `attachment; filename="findings.xlsx"`)
		w.Write(buf.Bytes())
	case "pdf":
		var buf bytes.Buffer
		if err := WritePDF(&buf, all, s.reportInfo(ff, q)); err != nil {
			s.rawError(w, r, "export findings", err)
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("Content-Disposition", `attachment; filename="findings.pdf"`)
		w.Write(buf.Bytes())
	default:
		console.WriteProblem(w, http.StatusBadRequest, fmt.Sprintf("format %q (want json, csv, xlsx or pdf; per-scan CycloneDX, SARIF and OpenVEX at /api/v1/scans/{id}/report)", f))
	}
}

// QueryOf reads a findings query from URL values (an export's, a
// scheduled report's): the same keys as GET /api/v1/findings.
func QueryOf(q url.Values) (Query, error) {
	in := Query{ScanID: q.Get("scanId"), Type: q.Get("type"), NodeID: q.Get("nodeId"), KEV: q.Get("kev"), FixAvailable: q.Get("fixAvailable"),
		Package: q.Get("package"), VulnID: q.Get("vulnId"), IncludeSuppressed: q.Get("includeSuppressed") == "true", Sort: q.Get("sort"), Order: q.Get("order"),
		Q: q.Get("q"), Image: q.Get("image"), Cluster: q.Get("cluster"), Namespace: q.Get("namespace")}
	if v := q["severity"]; len(v) > 0 {
		in.Severity = v
	}
	if v := q.Get("minScore"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return in, fmt.Errorf("%w: minScore %q", ErrInvalid, v)
		}
		in.MinScore = f
	}
	for k, v := range map[string]string{"kev": in.KEV, "fixAvailable": in.FixAvailable} {
		if v != "" && v != "true" && v != "false" {
			return in, fmt.Errorf("%w: %s %q (want true or false)", ErrInvalid, k, v)
		}
	}
	return in, nil
}

// reportInfo describes a report: its time, scope and filter.
func (s *Service) reportInfo(ff Filter, q url.Values) ReportInfo {
	return ReportInfo{At: s.now(), Scope: s.ScopeOf(ff), Filter: exportFilter(q)}
}

// ScopeOf names a filter's scope: a scan, a node (by name), an image, a
// namespace, a cluster, or the estate.
func (s *Service) ScopeOf(ff Filter) string {
	name := func(id string) string {
		if l, ok := s.exposure.(nodeLookup); ok {
			if ni, ok := l.Lookup(id)[id]; ok && ni.Label != "" {
				return ni.Label + " (" + id + ")"
			}
		}
		return id
	}
	var parts []string
	if ff.ScanID != "" {
		parts = append(parts, "scan "+ff.ScanID)
	}
	if ff.NodeID != "" {
		parts = append(parts, "node "+name(ff.NodeID))
	}
	if ff.Image != "" {
		parts = append(parts, "image "+name(ff.Image))
	}
	if ff.Namespace != "" {
		parts = append(parts, "namespace "+ff.Namespace)
	}
	if ff.Cluster != "" {
		parts = append(parts, "cluster "+ff.Cluster)
	}
	if len(parts) == 0 {
		return "estate (every current finding)"
	}
	return strings.Join(parts, ", ")
}

// exportFilter says which filter an export applied ("type=secret
// severity=high"), for the workbook's summary.
func exportFilter(q url.Values) string {
	var parts []string
	for _, k := range []string{"scanId", "type", "nodeId", "image", "cluster", "namespace", "severity", "kev", "fixAvailable", "package", "vulnId", "q", "minScore", "includeSuppressed"} {
		if v := q.Get(k); v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

func (s *Service) apiDecisions(ctx context.Context, _ *struct{}) (*bodyOf[list[Decision]], error) {
	got, err := s.Decisions(ctx)
	if err != nil {
		return nil, s.httpError(ctx, "list decisions", err)
	}
	return &bodyOf[list[Decision]]{list[Decision]{Items: got}}, nil
}

func (s *Service) apiDecide(ctx context.Context, in *bodyOf[DecisionInput]) (*bodyOf[Decision], error) {
	d, err := s.Decide(ctx, in.Body, caller(ctx))
	if err != nil {
		return nil, s.httpError(ctx, "create decision", err)
	}
	return &bodyOf[Decision]{d}, nil
}

func (s *Service) apiDeleteDecision(ctx context.Context, in *idPath) (*struct{}, error) {
	if _, err := s.DeleteDecision(ctx, in.ID, caller(ctx)); err != nil {
		return nil, s.httpError(ctx, "delete decision", err)
	}
	return nil, nil
}

func (s *Service) rawOpenVEX(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := s.WriteOpenVEX(r.Context(), &buf, caller(r.Context())); err != nil {
		s.rawError(w, r, "OpenVEX export", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="riskmap.openvex.json"`)
	w.Write(buf.Bytes())
}
