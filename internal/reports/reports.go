// Package reports owns scheduled findings reports (the report_schedules
// table): a PDF, XLSX or CSV report of the current findings a query
// selects (the scope and filters of GET /api/v1/findings), made daily or
// weekly at an hour (UTC) by the reports.schedules periodic job and
// delivered to an integrations destination that carries files (email as
// an attachment, S3 as an object). It is not internal/report, the
// sensor's report contract.
//
// The report itself is made by internal/findings (its exports); the
// delivery by internal/integrations (Service.SendFile).
package reports

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/integrations"
	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/store"
)

// Errors the HTTP layer maps to status codes.
var (
	ErrInvalid  = console.ErrInvalid
	ErrNotFound = console.ErrNotFound
)

// Cadences and formats of a schedule.
const (
	Daily  = "daily"
	Weekly = "weekly"

	FormatPDF  = "pdf"
	FormatXLSX = "xlsx"
	FormatCSV  = "csv"
)

// KindSchedules is the periodic job that runs the due schedules.
const KindSchedules = "reports.schedules"

// Delivery sends a file through a destination (integrations.Service).
type Delivery interface {
	SendFile(ctx context.Context, destinationID string, f dest.File) error
	// DestinationKind is a destination's kind; an error wrapping
	// integrations.ErrNotFound when there is none.
	DestinationKind(ctx context.Context, destinationID string) (string, error)
}

// ReportSchedule is a scheduled report.
type ReportSchedule struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Query is the findings query (URL-encoded, the keys of GET
	// /api/v1/findings: scanId, nodeId, image, namespace, cluster, type,
	// severity, kev, fixAvailable, package, vulnId, q, minScore).
	Query         string     `json:"query"`
	Scope         string     `json:"scope"`
	Format        string     `json:"format"`
	Cadence       string     `json:"cadence"`
	Hour          int        `json:"hour"`
	Weekday       int        `json:"weekday"`
	DestinationID string     `json:"destinationId"`
	Enabled       bool       `json:"enabled"`
	NextRunAt     time.Time  `json:"nextRunAt"`
	LastRunAt     *time.Time `json:"lastRunAt,omitempty"`
	LastStatus    string     `json:"lastStatus,omitempty"`
	LastError     string     `json:"lastError,omitempty"`
	CreatedBy     string     `json:"createdBy"`
	CreatedAt     time.Time  `json:"createdAt"`
}

// ReportScheduleInput is what a user submits.
type ReportScheduleInput struct {
	Name          string `json:"name" minLength:"1" maxLength:"200"`
	Query         string `json:"query,omitempty" maxLength:"2000"`
	Format        string `json:"format" enum:"pdf,xlsx,csv"`
	Cadence       string `json:"cadence" enum:"daily,weekly"`
	Hour          int    `json:"hour" minimum:"0" maximum:"23" doc:"UTC"`
	Weekday       int    `json:"weekday,omitempty" minimum:"0" maximum:"6" doc:"0 Sunday to 6 Saturday (weekly)"`
	DestinationID string `json:"destinationId" minLength:"1" maxLength:"64"`
}

// Config wires the service.
type Config struct {
	Store    *store.Store
	Findings *findings.Service
	Delivery Delivery
	Logger   *slog.Logger
	Now      func() time.Time
}

// Service keeps and runs the schedules.
type Service struct {
	st  *store.Store
	fnd *findings.Service
	del Delivery
	log *slog.Logger
	now func() time.Time
}

// New returns the service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{st: cfg.Store, fnd: cfg.Findings, del: cfg.Delivery, log: cfg.Logger, now: cfg.Now}
}

// Next is the first time after t a schedule is due: daily at hour:00 UTC,
// or weekly on weekday at hour:00 UTC.
func Next(cadence string, hour, weekday int, t time.Time) time.Time {
	t = t.UTC()
	n := time.Date(t.Year(), t.Month(), t.Day(), hour, 0, 0, 0, time.UTC)
	if cadence == Weekly {
		n = n.AddDate(0, 0, (weekday-int(n.Weekday())+7)%7)
		if !n.After(t) {
			n = n.AddDate(0, 0, 7)
		}
		return n
	}
	if !n.After(t) {
		n = n.AddDate(0, 0, 1)
	}
	return n
}

// check validates an input; the query is parsed as the export parses it.
func (s *Service) check(in *ReportScheduleInput) (findings.Filter, error) {
	in.Name = strings.TrimSpace(in.Name)
	switch {
	case in.Name == "" || len(in.Name) > 200:
		return findings.Filter{}, fmt.Errorf("%w: name: 1 to 200 characters", ErrInvalid)
	case in.Format != FormatPDF && in.Format != FormatXLSX && in.Format != FormatCSV:
		return findings.Filter{}, fmt.Errorf("%w: format %q (want pdf, xlsx or csv)", ErrInvalid, in.Format)
	case in.Cadence != Daily && in.Cadence != Weekly:
		return findings.Filter{}, fmt.Errorf("%w: cadence %q (want daily or weekly)", ErrInvalid, in.Cadence)
	case in.Hour < 0 || in.Hour > 23:
		return findings.Filter{}, fmt.Errorf("%w: hour %d (want 0 to 23, UTC)", ErrInvalid, in.Hour)
	case in.Weekday < 0 || in.Weekday > 6:
		return findings.Filter{}, fmt.Errorf("%w: weekday %d (want 0, Sunday, to 6)", ErrInvalid, in.Weekday)
	case in.DestinationID == "":
		return findings.Filter{}, fmt.Errorf("%w: destinationId: required (an email or S3 destination)", ErrInvalid)
	}
	return filterOf(in.Query)
}

func filterOf(query string) (findings.Filter, error) {
	v, err := url.ParseQuery(strings.TrimPrefix(query, "?"))
	if err != nil {
		return findings.Filter{}, fmt.Errorf("%w: query %q: %v", ErrInvalid, query, err)
	}
	q, err := findings.QueryOf(v)
	if err != nil {
		return findings.Filter{}, err
	}
	return q.Filter()
}

// Create stores a schedule, first due at its next time.
func (s *Service) Create(ctx context.Context, in ReportScheduleInput, by string) (ReportSchedule, error) {
	ff, err := s.check(&in)
	if err != nil {
		return ReportSchedule{}, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	sc := ReportSchedule{ID: store.NewID(now), Name: in.Name, Query: strings.TrimPrefix(in.Query, "?"), Format: in.Format, Cadence: in.Cadence, Hour: in.Hour,
		Weekday: in.Weekday, DestinationID: in.DestinationID, Enabled: true, NextRunAt: Next(in.Cadence, in.Hour, in.Weekday, now), CreatedBy: by, CreatedAt: now}
	if in.Cadence == Daily {
		sc.Weekday = 0
	}
	sc.Scope = s.fnd.ScopeOf(ff)
	switch kind, err := s.del.DestinationKind(ctx, in.DestinationID); {
	case errors.Is(err, integrations.ErrNotFound):
		return ReportSchedule{}, fmt.Errorf("%w: destination %q does not exist", ErrInvalid, in.DestinationID)
	case err != nil:
		return ReportSchedule{}, fmt.Errorf("create report schedule %q: %w", in.Name, err)
	case kind != "email" && kind != "s3":
		return ReportSchedule{}, fmt.Errorf("%w: destination %q is a %s destination; a report goes to an email or S3 destination", ErrInvalid, in.DestinationID, kind)
	}
	err = s.st.Tx(ctx, func(tx store.Querier) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO report_schedules (id, name, query, format, cadence, hour, weekday, destination_id, enabled, next_run_at, created_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)`, sc.ID, sc.Name, sc.Query, sc.Format, sc.Cadence, sc.Hour, sc.Weekday, sc.DestinationID,
			store.Millis(sc.NextRunAt), by, store.Millis(now)); err != nil {
			return err
		}
		return s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditReportScheduleCreate, "report schedule "+sc.ID+" ("+sc.Name+")", nil, sc))
	})
	if err != nil {
		return ReportSchedule{}, fmt.Errorf("create report schedule %q: %w", in.Name, err)
	}
	return sc, nil
}

const cols = `id, name, query, format, cadence, hour, weekday, destination_id, enabled, next_run_at, last_run_at, last_status, last_error, created_by, created_at`

func (s *Service) list(ctx context.Context, q store.Querier, where string, args ...any) ([]ReportSchedule, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+cols+` FROM report_schedules `+where+` ORDER BY name, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list report schedules: %w", err)
	}
	defer rows.Close()
	out := []ReportSchedule{}
	for rows.Next() {
		var sc ReportSchedule
		var enabled int
		var next, created int64
		var last sql.NullInt64
		if err := rows.Scan(&sc.ID, &sc.Name, &sc.Query, &sc.Format, &sc.Cadence, &sc.Hour, &sc.Weekday, &sc.DestinationID, &enabled, &next, &last,
			&sc.LastStatus, &sc.LastError, &sc.CreatedBy, &created); err != nil {
			return nil, fmt.Errorf("list report schedules: %w", err)
		}
		sc.Enabled, sc.NextRunAt, sc.CreatedAt = enabled != 0, store.FromMillis(next), store.FromMillis(created)
		if last.Valid {
			t := store.FromMillis(last.Int64)
			sc.LastRunAt = &t
		}
		if ff, err := filterOf(sc.Query); err == nil {
			sc.Scope = s.fnd.ScopeOf(ff)
		}
		out = append(out, sc)
	}
	return out, rows.Err()
}

// List lists the schedules by name.
func (s *Service) List(ctx context.Context) ([]ReportSchedule, error) {
	return s.list(ctx, s.st.Read(), "")
}

// Delete removes a schedule.
func (s *Service) Delete(ctx context.Context, id string) error {
	return s.st.Tx(ctx, func(tx store.Querier) error {
		scs, err := s.list(ctx, tx, "WHERE id = ?", id)
		if err != nil {
			return err
		}
		if len(scs) == 0 {
			return fmt.Errorf("report schedule %s: %w", id, ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM report_schedules WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete report schedule %s: %w", id, err)
		}
		return s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditReportScheduleDelete, "report schedule "+id+" ("+scs[0].Name+")", scs[0], nil))
	})
}

// Render makes a schedule's report: its file name, media type and bytes,
// and a line saying what it holds.
func (s *Service) Render(ctx context.Context, sc ReportSchedule, at time.Time) (dest.File, error) {
	ff, err := filterOf(sc.Query)
	if err != nil {
		return dest.File{}, err
	}
	all, err := s.fnd.All(ctx, ff)
	if err != nil {
		return dest.File{}, err
	}
	v, _ := url.ParseQuery(sc.Query)
	var parts []string
	for k := range v {
		parts = append(parts, k+"="+v.Get(k))
	}
	info := findings.ReportInfo{At: at, Scope: s.fnd.ScopeOf(ff), Filter: strings.Join(parts, " ")}
	var buf bytes.Buffer
	f := dest.File{Name: fmt.Sprintf("%s/riskmap-findings-%s.%s", sc.ID, at.UTC().Format("2006-01-02T1504Z"), sc.Format)}
	switch sc.Format {
	case FormatPDF:
		f.ContentType, err = "application/pdf", findings.WritePDF(&buf, all, info)
	case FormatXLSX:
		f.ContentType, err = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", findings.WriteXLSX(&buf, all, info)
	default:
		f.ContentType, err = "text/csv", findings.WriteCSV(&buf, all)
	}
	if err != nil {
		return dest.File{}, fmt.Errorf("report %s: %w", sc.Name, err)
	}
	f.Data = buf.Bytes()
	kev := 0
	for _, x := range all {
		if x.Finding.KEV != nil {
			kev++
		}
	}
	f.Message = dest.Message{Key: sc.ID + "/" + at.UTC().Format(time.RFC3339), Event: "report", Time: at,
		Title: fmt.Sprintf("%s: %d findings (%s)", sc.Name, len(all), info.Scope),
		Text: fmt.Sprintf("Riskmap findings report %q, %s.\nScope: %s.\nFilter: %s.\n%d findings, %d known exploited (CISA KEV). The %s report is attached.",
			sc.Name, at.UTC().Format("2006-01-02 15:04 UTC"), info.Scope, cmpOr(info.Filter, "none"), len(all), kev, strings.ToUpper(sc.Format))}
	return f, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Run makes a schedule's report now and delivers it, recording the
// outcome (a failure is tried again at the next due time, or when run by
// hand).
func (s *Service) Run(ctx context.Context, id string) (ReportSchedule, error) {
	scs, err := s.list(ctx, s.st.Read(), "WHERE id = ?", id)
	if err != nil {
		return ReportSchedule{}, err
	}
	if len(scs) == 0 {
		return ReportSchedule{}, fmt.Errorf("report schedule %s: %w", id, ErrNotFound)
	}
	sc := scs[0]
	now := s.now().UTC().Truncate(time.Millisecond)
	f, err := s.Render(ctx, sc, now)
	if err == nil {
		err = s.del.SendFile(ctx, sc.DestinationID, f)
	}
	sc.LastRunAt, sc.LastStatus, sc.LastError = &now, "delivered", ""
	if err != nil {
		sc.LastStatus, sc.LastError = "failed", err.Error()
		s.log.Warn("scheduled report failed", "schedule", sc.ID, "name", sc.Name, "err", err)
	}
	sc.NextRunAt = Next(sc.Cadence, sc.Hour, sc.Weekday, now)
	if uerr := s.st.Tx(ctx, func(tx store.Querier) error {
		_, err := tx.ExecContext(ctx, `UPDATE report_schedules SET last_run_at = ?, last_status = ?, last_error = ?, next_run_at = ? WHERE id = ?`,
			store.Millis(now), sc.LastStatus, sc.LastError, store.Millis(sc.NextRunAt), sc.ID)
		return err
	}); uerr != nil {
		return sc, fmt.Errorf("record report schedule %s: %w", sc.ID, uerr)
	}
	return sc, err
}

// RunDue runs every enabled schedule whose time has come and returns how
// many it ran; one failing does not stop the others.
func (s *Service) RunDue(ctx context.Context) (int, error) {
	due, err := s.list(ctx, s.st.Read(), "WHERE enabled = 1 AND next_run_at <= ?", store.Millis(s.now()))
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, sc := range due {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if _, err := s.Run(ctx, sc.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return len(due), errors.Join(errs...)
}

// SchedulesKind is the reports.schedules job: the due schedules run.
// Their failures are recorded on each schedule, not retried as a job.
func (s *Service) SchedulesKind() jobs.Kind {
	return jobs.Kind{Name: KindSchedules, MaxAttempts: 1, Timeout: 30 * time.Minute, Work: func(ctx context.Context, _ jobs.Job) error {
		n, err := s.RunDue(ctx)
		if n > 0 {
			s.log.Info("scheduled reports run", "reports", n, "err", err)
		}
		return nil
	}}
}

// SchedulesEvery looks for due schedules every minute.
func SchedulesEvery() jobs.Periodic {
	return jobs.Periodic{Name: KindSchedules, Kind: KindSchedules, Every: time.Minute, RunAtStart: true}
}
