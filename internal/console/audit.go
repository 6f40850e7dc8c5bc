package console

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/riskmap/riskmap/internal/store"
)

// Audit builds the audit entry of a change made by the request in ctx: the
// caller (user and organisation; "anonymous" without one), how the caller
// authenticated (Principal.Via), the client address, and the target's
// state before and after, encoded as JSON (nil: none). Outside any request
// the actor is the console itself ("system", via "system").
//
// A module records the entry with (*store.Store).AppendAuditTx in the
// transaction of its change, before it publishes its events:
//
//	err := st.Tx(ctx, func(tx store.Querier) error {
//		// ... the change ...
//		return st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditX, "thing "+id, before, after))
//	})
func Audit(ctx context.Context, action, target string, before, after any) store.AuditEntry {
	e := store.AuditEntry{Action: action, Target: target, Before: auditJSON(before), After: auditJSON(after)}
	if p, ok := PrincipalFrom(ctx); ok {
		e.OrgID, e.ClientAddr = p.User.OrgID, ClientAddr(ctx)
		if p.Sensor != nil {
			e.OrgID = p.Sensor.OrgID
		}
		e.ActorID, e.Actor, e.Via = actorOf(p)
		return e
	}
	if _, inRequest := ctx.Value(clientAddrKey).(string); inRequest {
		e.Actor, e.ClientAddr = "anonymous", ClientAddr(ctx)
		return e
	}
	e.Actor, e.Via = store.AuditSystem, store.ViaSystem
	return e
}

// actorOf names a caller in the audit log: a user by email, a sensor as
// "sensor ID (HOST)", with how it authenticated (a sensor's via is
// "sensor").
func actorOf(p *Principal) (id, name, via string) {
	if p.Sensor != nil {
		return p.Sensor.ID, "sensor " + p.Sensor.ID + " (" + p.Sensor.Hostname + ")", store.ViaSensor
	}
	return p.User.ID, p.User.Email, p.Via
}

// JobAudit builds the audit entry of a change made by the console's job
// (named by job: its kind and id): actor "system", via "job".
func JobAudit(job, action, target string, before, after any) store.AuditEntry {
	return store.AuditEntry{Actor: store.AuditSystem, Via: store.ViaJob, Action: action, Target: target, Detail: "job " + job,
		Before: auditJSON(before), After: auditJSON(after)}
}

func auditJSON(v any) json.RawMessage {
	switch v := v.(type) {
	case nil:
		return nil
	case json.RawMessage:
		return v
	}
	b, err := json.Marshal(v)
	if err != nil {
		// A module's state that cannot be encoded is a bug; the entry
		// still records the change and says what went wrong.
		b, _ = json.Marshal(map[string]string{"unencodable": err.Error()})
	}
	if string(b) == "null" {
		return nil
	}
	return b
}

// AuditExportLimit bounds one export of the audit log (newest first);
// narrow the time window to export older entries.
const AuditExportLimit = 100_000

// AuditQuery is the filter of the audit log and of its export, kept in
// their query strings.
type AuditQuery struct {
	Action string `query:"action" json:"action,omitempty" maxLength:"100" doc:"action prefix: scan. selects every scan action, login every sign-in action"`
	Actor  string `query:"actor" json:"actor,omitempty" maxLength:"254" doc:"the actor: an email, system or anonymous (case-insensitive)"`
	Target string `query:"target" json:"target,omitempty" maxLength:"200" doc:"part of the target (case-insensitive)"`
	Since  string `query:"since" json:"since,omitempty" maxLength:"40" doc:"entries at or after this time (RFC 3339, or a date: its midnight UTC)"`
	Until  string `query:"until" json:"until,omitempty" maxLength:"40" doc:"entries before this time (RFC 3339, or a date: its midnight UTC)"`
}

// auditQueryLimits are the most characters of each AuditQuery parameter
// (the struct tags repeat them for the typed route).
var auditQueryLimits = map[string]int{"action": 100, "actor": 254, "target": 200, "since": 40, "until": 40}

// ParseAuditQuery decodes the filter of the raw export route from its
// query string, with the typed route's limits (each parameter at most
// once); AuditQuery.Filter checks the values.
func ParseAuditQuery(v url.Values) (AuditQuery, error) {
	var q AuditQuery
	for name, limit := range auditQueryLimits {
		vals := v[name]
		if len(vals) > 1 {
			return q, fmt.Errorf("%w: %s given %d times", ErrInvalid, name, len(vals))
		}
		if len(vals) == 1 && len(vals[0]) > limit {
			return q, fmt.Errorf("%w: %s longer than %d characters", ErrInvalid, name, limit)
		}
	}
	q = AuditQuery{Action: v.Get("action"), Actor: v.Get("actor"), Target: v.Get("target"), Since: v.Get("since"), Until: v.Get("until")}
	return q, nil
}

// Filter checks the query and returns the store's filter.
func (q AuditQuery) Filter() (store.AuditFilter, error) {
	f := store.AuditFilter{ActionPrefix: strings.TrimSpace(q.Action), Actor: strings.TrimSpace(q.Actor), Target: strings.TrimSpace(q.Target)}
	var err error
	if f.Since, err = auditTime("since", q.Since); err != nil {
		return f, err
	}
	if f.Until, err = auditTime("until", q.Until); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, fmt.Errorf("%w: since (%s) must be before until (%s)", ErrInvalid, q.Since, q.Until)
	}
	return f, nil
}

// auditTime parses an RFC 3339 time or a date (its midnight UTC), to the
// millisecond the log keeps.
func auditTime(name, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		var derr error
		if t, derr = time.Parse(time.DateOnly, s); derr != nil {
			return time.Time{}, fmt.Errorf("%w: %s %q is neither an RFC 3339 time (2026-12-01T09:30:00Z) nor a date (2026-12-01)", ErrInvalid, name, s)
		}
	}
	if t.Year() < 1970 || t.Year() > 9999 {
		return time.Time{}, fmt.Errorf("%w: %s %q is out of range (years 1970-9999)", ErrInvalid, name, s)
	}
	return t.UTC().Truncate(time.Millisecond), nil
}

func apiAudit(e store.AuditEntry) AuditEntry {
	return AuditEntry{ID: e.ID, Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target, ClientAddr: e.ClientAddr,
		Detail: e.Detail, Via: e.Via, Before: e.Before, After: e.After}
}

// registerAudit serves the audit log: the filtered list and its export.
func (s *Server) registerAudit(api huma.API) {
	huma.Register(api, op(http.MethodGet, "/api/v1/audit", "list-audit", "Audit log, newest first, filtered by action prefix, actor, target and time", "audit"), s.listAudit)
	RawRoute(api, s.mux, huma.Operation{OperationID: "export-audit", Method: http.MethodGet, Path: "/api/v1/audit/export", Tags: []string{"audit"},
		Summary: fmt.Sprintf("Download the audit log (?format=json or csv, the filters of GET /api/v1/audit; newest first, at most %d entries)", AuditExportLimit)},
		map[string]*huma.Response{"200": {Description: "The entries", Content: map[string]*huma.MediaType{"application/json": {}, "text/csv": {}}}},
		s.exportAudit)
}

type auditListIn struct {
	ListQuery
	AuditQuery
}

func (s *Server) listAudit(ctx context.Context, in *auditListIn) (*bodyOf[List[AuditEntry]], error) {
	page, err := in.page()
	if err != nil {
		return nil, err
	}
	f, err := in.Filter()
	if err != nil {
		return nil, Error(ctx, s.log, "list audit log", err)
	}
	entries, next, err := s.store.FindAudit(ctx, f, page)
	if err != nil {
		return nil, s.internal(ctx, "list audit log", err)
	}
	out := List[AuditEntry]{Items: make([]AuditEntry, 0, len(entries)), NextCursor: encodeCursor(next)}
	for _, e := range entries {
		out.Items = append(out.Items, apiAudit(e))
	}
	return &bodyOf[List[AuditEntry]]{Body: out}, nil
}

// auditTruncated is the trailer (and the JSON document's field) that says
// an export stopped at AuditExportLimit.
const auditTruncated = "X-Riskmap-Truncated"

// AuditCSVHeader are the columns of the CSV export.
var AuditCSVHeader = []string{"id", "time", "actor", "action", "target", "clientAddr", "via", "detail", "before", "after"}

// exportAudit streams the entries the filters select, newest first, at
// most AuditExportLimit of them, as CSV or JSON.
func (s *Server) exportAudit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := r.URL.Query()
	format := v.Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "csv" {
		WriteProblem(w, http.StatusBadRequest, fmt.Sprintf("format %q (want json or csv)", format))
		return
	}
	q, err := ParseAuditQuery(v)
	if err != nil {
		WriteError(w, r, s.log, "export audit log", err)
		return
	}
	f, err := q.Filter()
	if err != nil {
		WriteError(w, r, s.log, "export audit log", err)
		return
	}
	now := s.now().UTC()
	name := "riskmap-audit-" + now.Format("20060102T150405Z") + "." + format
	h := w.Header()
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("Trailer", auditTruncated)
	var (
		write func(store.AuditEntry) error
		end   func(truncated bool) error
	)
	switch format {
	case "csv":
		h.Set("Content-Type", "text/csv; charset=utf-8")
		cw := csv.NewWriter(w)
		if err := cw.Write(AuditCSVHeader); err != nil {
			return
		}
		write = func(e store.AuditEntry) error {
			return cw.Write([]string{e.ID, e.Time.Format(time.RFC3339Nano), CSVCell(e.Actor), CSVCell(e.Action), CSVCell(e.Target),
				CSVCell(e.ClientAddr), CSVCell(e.Via), CSVCell(e.Detail), CSVCell(string(e.Before)), CSVCell(string(e.After))})
		}
		end = func(bool) error { cw.Flush(); return cw.Error() }
	case "json":
		h.Set("Content-Type", "application/json")
		head, _ := json.Marshal(map[string]any{"generatedAt": now, "filter": q, "limit": AuditExportLimit})
		// {"generatedAt":...,"filter":...,"limit":N,"items":[...],"truncated":bool}
		if _, err := fmt.Fprintf(w, "%s,\"items\":[", head[:len(head)-1]); err != nil {
			return
		}
		first := true
		write = func(e store.AuditEntry) error {
			b, err := json.Marshal(apiAudit(e))
			if err != nil {
				return err
			}
			if !first {
				b = append([]byte{','}, b...)
			}
			first = false
			_, err = w.Write(append(b, '\n'))
			return err
		}
		end = func(truncated bool) error {
			_, err := fmt.Fprintf(w, "],\"truncated\":%t}\n", truncated)
			return err
		}
	}
	n, more, err := s.store.EachAudit(ctx, f, AuditExportLimit, write)
	if err != nil {
		// The status line is gone: the client sees a cut document (no
		// closing bracket; no trailer). Usually the client went away.
		s.log.WarnContext(ctx, "export audit log cut short", "entries", n, "err", err, "request_id", ctx.Value(requestIDKey))
		return
	}
	if err := end(more); err != nil {
		return
	}
	h.Set(auditTruncated, fmt.Sprint(more))
}

// CSVCell keeps a spreadsheet from reading a cell as a formula: text
// starting with = + - @ (or a tab or carriage return) gets a leading
// apostrophe. Actors and targets carry user-chosen names.
func CSVCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
