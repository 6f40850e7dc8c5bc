package scans

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/posture"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/store"
)

// Scan statuses. Queued and running are the only non-terminal ones; the
// job system drives every scan out of them.
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusComplete  = "complete"
	StatusError     = "error"
	StatusCancelled = "cancelled"
)

// Target kinds a sensor can scan.
const (
	KindHost      = sensorproto.TargetHost
	KindContainer = sensorproto.TargetContainer
	KindImage     = sensorproto.TargetImage
	// KindRegistry is an image in a registry by digest (ref
	// HOST/REPOSITORY@sha256:...), scanned by the console itself (a job of
	// the kind ConsoleKind made, no sensor) or by a sensor that reaches the
	// registry. Its scans are keyed by digest: one image, whatever
	// repository or tag names it, has one line of scans.
	KindRegistry = sensorproto.TargetRegistry
)

// Scan types (sensorproto.ScanTypes): each is its own job kind (KindOf),
// sharing one life cycle.
const (
	TypeVulnerability = sensorproto.ScanVulnerability
	TypeSecret        = sensorproto.ScanSecret
	TypeMalware       = sensorproto.ScanMalware
	TypeCompliance    = sensorproto.ScanCompliance
)

// KindOf is the job kind of the scans of a type run by sensors:
// scan.vulnerability, scan.secret, scan.malware, scan.compliance. The
// scan's id is its job's id; the scans row is the job's record as users
// see it.
func KindOf(scanType string) string { return "scan." + scanType }

// KindVulnerability is the job kind of a vulnerability scan run by a
// sensor.
var KindVulnerability = KindOf(TypeVulnerability)

// sensorKinds are the job kinds of every scan type (a sensor's poll claims
// any; one it cannot run fails at once).
func sensorKinds() []string {
	out := make([]string, 0, len(sensorproto.ScanTypes))
	for _, t := range sensorproto.ScanTypes {
		out = append(out, KindOf(t))
	}
	return out
}

// checkTypes checks scan types ("" or none: vulnerability) and returns
// them without duplicates.
func checkTypes(types []string) ([]string, error) {
	if len(types) == 0 {
		return []string{TypeVulnerability}, nil
	}
	var out []string
	for _, t := range types {
		if t == "" {
			t = TypeVulnerability
		}
		if !sensorproto.ValidScanType(t) {
			return nil, fmt.Errorf("%w: scan type %q (want %s)", ErrInvalid, truncate(t, 50), strings.Join(sensorproto.ScanTypes, ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// MaxProfileLen bounds a compliance scan's profile name.
const MaxProfileLen = 200

// checkProfile checks the benchmark profile of a request of types: only
// for compliance scans, an XCCDF profile id or short name (letters,
// digits, '.', '_', ':', '-'; at most MaxProfileLen bytes).
func checkProfile(profile string, types []string) error {
	if profile == "" {
		return nil
	}
	if !slices.Contains(types, TypeCompliance) {
		return fmt.Errorf("%w: a profile (%q) is for compliance scans; the request has none", ErrInvalid, truncate(profile, 50))
	}
	if len(profile) > MaxProfileLen {
		return fmt.Errorf("%w: profile of %d bytes (at most %d)", ErrInvalid, len(profile), MaxProfileLen)
	}
	for _, c := range profile {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return fmt.Errorf("%w: profile %q: want letters, digits, '.', '_', ':', '-'", ErrInvalid, truncate(profile, 50))
		}
	}
	return nil
}

// typedKey is the line of scans of a target and type: the target's key
// for a vulnerability scan (unchanged since before types), with "#TYPE"
// appended for another type, so each type has its own latest scan and
// current findings.
func typedKey(t Target, scanType string) string {
	if scanType == "" || scanType == TypeVulnerability {
		return targetKey(t)
	}
	return targetKey(t) + "#" + scanType
}

// Errors the HTTP layer maps to status codes.
var (
	ErrNotFound  = console.ErrNotFound
	ErrForbidden = console.ErrForbidden
	ErrConflict  = console.ErrConflict
	ErrInvalid   = console.ErrInvalid
)

// Target is one thing to scan: a node of the topology, or (sensorID,
// kind, ref) named directly. Findings name what they were found on with
// the same type.
type Target = findings.Target

// targetKey identifies a target across its scans.
func targetKey(t Target) string {
	if t.Kind == KindRegistry {
		if d := RefDigest(t.Ref); d != "" {
			return DigestKey(d)
		}
	}
	if t.NodeID != "" {
		return "node:" + t.NodeID
	}
	return "sensor:" + t.SensorID + "/" + t.Kind + "/" + t.Ref
}

// route is the job route of a target's sensor.
func route(sensorID string) string { return "sensor:" + sensorID }

// Scan is one scan.
type Scan struct {
	ID string `json:"id"`
	// Type is the scan's type: vulnerability (an inventory matched
	// against the knowledge base), secret, malware or compliance (the
	// findings of a sensor's engine).
	Type string `json:"type"`
	// Profile is the benchmark profile a compliance scan evaluates (""
	// the engine's default; other types have none).
	Profile         string     `json:"profile,omitempty"`
	NodeID          string     `json:"nodeId,omitempty"`
	SensorID        string     `json:"sensorId"`
	Target          Target     `json:"target"`
	Status          string     `json:"status"`
	Message         string     `json:"message"`
	Progress        float64    `json:"progress"`
	Attempts        int        `json:"attempts"`
	MaxAttempts     int        `json:"maxAttempts"`
	RequestedBy     string     `json:"requestedBy,omitempty"`
	ScheduleID      string     `json:"scheduleId,omitempty"`
	CancelRequested bool       `json:"cancelRequested"`
	Findings        int        `json:"findings"`
	HasInventory    bool       `json:"hasInventory"`
	CreatedAt       time.Time  `json:"createdAt"`
	RunAt           time.Time  `json:"runAt"`
	StartedAt       *time.Time `json:"startedAt,omitempty"`
	HeartbeatAt     *time.Time `json:"heartbeatAt,omitempty"`
	LeaseUntil      *time.Time `json:"leaseUntil,omitempty"`
	FinishedAt      *time.Time `json:"finishedAt,omitempty"`
	// SourceScan is, for a scan that was not run but adopted the
	// inventory of another (a running container given the scan of its
	// registry image), that scan's id.
	SourceScan string `json:"sourceScan,omitempty"`
	// Uncovered lists what the scan could not judge: the ecosystems of its
	// inventory (a distribution release such as "Debian:12", a language)
	// the knowledge base held no records for when it was matched, with
	// how many packages of each found nothing because nothing is known of
	// them (not because they are clean). Matched again after every
	// knowledge base change.
	Uncovered []match.Uncovered `json:"uncovered,omitempty"`

	inventoryID   string
	resultsDigest string
	claimedBy     string
	targetKey     string
}

// Terminal reports whether the scan is finished.
func (s Scan) Terminal() bool {
	return s.Status == StatusComplete || s.Status == StatusError || s.Status == StatusCancelled
}

func (s Scan) origin() findings.Origin {
	return findings.Origin{ScanID: s.ID, Type: s.Type, Key: s.targetKey,
		Target: Target{NodeID: s.NodeID, SensorID: s.SensorID, Kind: s.Target.Kind, Ref: s.Target.Ref}}
}

// QueueConfig tunes the scan jobs. Zero values take the defaults.
type QueueConfig struct {
	// Lease is how long a dispatched scan stays running without a
	// heartbeat (sensors send one every 15 s). Default 90 s.
	Lease time.Duration
	// MaxAttempts is how many times a scan is dispatched before it ends in
	// error. Default 3.
	MaxAttempts int
	// RetryBase is the delay before the first retry; it doubles per
	// attempt, capped at RetryMax. Defaults 30 s and 10 min.
	RetryBase, RetryMax time.Duration
	// QueueTimeout ends in error a scan no sensor picked up. Default 24 h.
	QueueTimeout time.Duration
	// CancelGrace is how long a running scan whose cancel was requested
	// waits for the sensor's answer before it is closed anyway. Default 2 min.
	CancelGrace time.Duration
	Now         func() time.Time
	Logger      *slog.Logger
}

func (c *QueueConfig) defaults() {
	if c.Lease <= 0 {
		c.Lease = 90 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 30 * time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 10 * time.Minute
	}
	if c.QueueTimeout <= 0 {
		c.QueueTimeout = 24 * time.Hour
	}
	if c.CancelGrace <= 0 {
		c.CancelGrace = 2 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Queue is the life cycle of scans on the job system: a scan is a job of
// its type's kind (KindOf) routed to its sensor, which claims it by
// polling, renews it with status heartbeats and ends it with its last
// status.
type Queue struct {
	st       *store.Store
	jobs     *jobs.Queue
	findings *findings.Service
	posture  *posture.Service
	cfg      QueueConfig

	// polls are the sensors' polls this process recorded (pollRecord).
	pollsMu sync.Mutex
	polls   map[string]recordedPoll
}

// recordedPoll is a sensor's sensor_polls row as this process last wrote it.
type recordedPoll struct {
	userID, types string
	free          int
	at            time.Time
}

// pollRecordEvery is how often an unchanged poll is written again
// (sensor_polls.last_poll: the diagnosis's staleness, 5 minutes, and the
// live scan types, 5 minutes, need no finer; a sensor's last request is
// recorded once a minute too).
const pollRecordEvery = time.Minute

// pollRecorded reports whether this process wrote the sensor's poll row
// with these values within pollRecordEvery.
func (q *Queue) pollRecorded(sensorID string, p recordedPoll) bool {
	q.pollsMu.Lock()
	defer q.pollsMu.Unlock()
	r, ok := q.polls[sensorID]
	return ok && r.userID == p.userID && r.types == p.types && r.free == p.free && p.at.Sub(r.at) < pollRecordEvery && !p.at.Before(r.at)
}

func (q *Queue) recordPoll(sensorID string, p recordedPoll) {
	q.pollsMu.Lock()
	defer q.pollsMu.Unlock()
	if q.polls == nil || len(q.polls) >= 200_000 {
		q.polls = map[string]recordedPoll{}
	}
	q.polls[sensorID] = p
}

// Kind is the job kind of the scans of a type (scan.vulnerability,
// scan.secret...): remote (run by sensors), with the queue's lease,
// attempts, backoff, queue timeout and cancel grace; its OnState keeps the
// scans row in step with the job. Every type shares this life cycle.
func (q *Queue) Kind(scanType string) jobs.Kind {
	c := q.cfg
	return jobs.Kind{Name: KindOf(scanType), Lease: c.Lease, MaxAttempts: c.MaxAttempts, QueueTimeout: c.QueueTimeout,
		CancelGrace: c.CancelGrace, OnState: q.onState, Backoff: q.backoff}
}

// backoff is the delay before a scan's next attempt: RetryBase doubling
// per attempt, at most RetryMax.
func (q *Queue) backoff(attempt int) time.Duration {
	c := q.cfg
	d := c.RetryBase << min(max(attempt-1, 0), 20)
	if d > c.RetryMax || d <= 0 {
		d = c.RetryMax
	}
	return d
}

const scanCols = `id, node_ref, sensor_id, target_kind, target_ref, status, message, progress, attempts, max_attempts,
	COALESCE(requested_by, ''), schedule_id, cancel_requested, finding_count, COALESCE(inventory_id, ''), created_at, run_at,
	started_at, heartbeat_at, lease_until, finished_at, claimed_by, target_key, source_scan, uncovered, scan_type, results_digest, profile`

func scanRow(sc interface{ Scan(...any) error }) (Scan, error) {
	var s Scan
	var progress, cancel int
	var created, runAt int64
	var started, hb, lease, fin sql.NullInt64
	var uncovered string
	err := sc.Scan(&s.ID, &s.NodeID, &s.SensorID, &s.Target.Kind, &s.Target.Ref, &s.Status, &s.Message, &progress, &s.Attempts,
		&s.MaxAttempts, &s.RequestedBy, &s.ScheduleID, &cancel, &s.Findings, &s.inventoryID, &created, &runAt,
		&started, &hb, &lease, &fin, &s.claimedBy, &s.targetKey, &s.SourceScan, &uncovered, &s.Type, &s.resultsDigest, &s.Profile)
	if err != nil {
		return s, err
	}
	if s.Uncovered, err = decodeUncovered(uncovered); err != nil {
		return s, fmt.Errorf("scan %s: %w", s.ID, err)
	}
	s.Target.NodeID, s.Target.SensorID = s.NodeID, s.SensorID
	s.Progress = float64(progress) / 100
	s.CancelRequested = cancel != 0
	s.HasInventory = s.inventoryID != ""
	s.CreatedAt, s.RunAt = store.FromMillis(created), store.FromMillis(runAt)
	s.StartedAt, s.HeartbeatAt, s.LeaseUntil, s.FinishedAt = ptime(started), ptime(hb), ptime(lease), ptime(fin)
	return s, nil
}

// encodeUncovered is the uncovered column's value of a scan's gaps ("" for
// none).
func encodeUncovered(u []match.Uncovered) string {
	if len(u) == 0 {
		return ""
	}
	b, _ := json.Marshal(u) // a slice of plain structs always marshals
	return string(b)
}

func decodeUncovered(col string) ([]match.Uncovered, error) {
	if col == "" {
		return nil, nil
	}
	var u []match.Uncovered
	if err := json.Unmarshal([]byte(col), &u); err != nil {
		return nil, fmt.Errorf("uncovered %.100q: %w", col, err)
	}
	return u, nil
}

func ptime(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := store.FromMillis(n.Int64)
	return &t
}

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return store.Millis(*t)
}

// validTarget checks a target; onConsole says whether a registry image
// without a sensor may be scanned by the console.
func validTarget(t Target, onConsole bool) error {
	switch t.Kind {
	case KindHost, KindContainer, KindImage, KindRegistry:
	default:
		return fmt.Errorf("%w: target kind %q (want host, container, image or registry)", ErrInvalid, t.Kind)
	}
	if t.Kind == KindRegistry {
		if RefDigest(t.Ref) == "" {
			return fmt.Errorf("%w: registry target %q: want HOST/REPOSITORY@sha256:<64 hex digits>", ErrInvalid, truncate(t.Ref, 200))
		}
		if t.SensorID == "" && !onConsole {
			return fmt.Errorf("%w: registry target %q has no sensor to run on (the console scans registry images of its registry accounts: POST /api/v1/registries/scans)",
				ErrInvalid, truncate(t.Ref, 200))
		}
	}
	if t.SensorID == "" && t.Kind != KindRegistry {
		return fmt.Errorf("%w: target %s %q has no sensor to run on", ErrInvalid, t.Kind, t.Ref)
	}
	if len(t.SensorID) > 200 || len(t.Ref) > 1000 {
		return fmt.Errorf("%w: target sensor id or ref too long", ErrInvalid)
	}
	if t.Kind != KindHost && t.Ref == "" {
		return fmt.Errorf("%w: %s target needs a ref", ErrInvalid, t.Kind)
	}
	return nil
}

// Enqueue creates a queued vulnerability scan for each target. A target
// that already has a queued or running scan gets that scan back instead of
// a duplicate (the job's unique key holds this across console processes).
func (q *Queue) Enqueue(ctx context.Context, targets []Target, requestedBy, scheduleID string) ([]Scan, error) {
	return q.enqueue(ctx, TypeVulnerability, "", targets, requestedBy, scheduleID, "", nil)
}

// EnqueueTypes is Enqueue of scans of each of types (none: vulnerability)
// for each target: a target has one queued or running scan per type.
// profile is the benchmark profile of the compliance scans ("": the
// engine's default).
func (q *Queue) EnqueueTypes(ctx context.Context, types []string, profile string, targets []Target, requestedBy, scheduleID string) ([]Scan, error) {
	types, err := checkTypes(types)
	if err != nil {
		return nil, err
	}
	if err := checkProfile(profile, types); err != nil {
		return nil, err
	}
	var out []Scan
	for _, t := range types {
		got, err := q.enqueue(ctx, t, profile, targets, requestedBy, scheduleID, "", nil)
		if err != nil {
			return out, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// QueuedScan is a scan a request queued, as its audit entry lists it.
type QueuedScan struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Target Target `json:"target"`
}

type queuedScan = QueuedScan

// enqueue is Enqueue of scans of one type; consoleKind is the job kind of
// the registry targets without a sensor (the console runs them; "" refuses
// them; vulnerability scans only); audit, when set, is given the scans the
// transaction queued (not those a target already had) before it commits.
func (q *Queue) enqueue(ctx context.Context, scanType, profile string, targets []Target, requestedBy, scheduleID, consoleKind string,
	audit func(ctx context.Context, tx store.Querier, queued []queuedScan) error) ([]Scan, error) {
	if !sensorproto.ValidScanType(scanType) {
		return nil, fmt.Errorf("%w: scan type %q (want %s)", ErrInvalid, truncate(scanType, 50), strings.Join(sensorproto.ScanTypes, ", "))
	}
	if scanType != TypeVulnerability {
		consoleKind = "" // the console runs vulnerability scans of registry images only
	}
	if scanType != TypeCompliance {
		profile = "" // a profile is a compliance scan's
	}
	for _, t := range targets {
		if err := validTarget(t, consoleKind != ""); err != nil {
			return nil, err
		}
	}
	now := q.cfg.Now()
	var ids []string
	err := q.st.Tx(ctx, func(tx store.Querier) error {
		var queued []queuedScan
		for _, t := range targets {
			key := typedKey(t, scanType)
			kind, opts := KindOf(scanType), jobs.InsertOpts{Route: route(t.SensorID), UniqueKey: "scan:" + key, MaxAttempts: q.cfg.MaxAttempts}
			if t.SensorID == "" {
				kind, opts.Route = consoleKind, ""
			}
			id, inserted, err := q.jobs.InsertTx(ctx, tx, kind, nil, opts)
			if err != nil {
				return fmt.Errorf("enqueue scan of %s: %w", key, err)
			}
			ids = append(ids, id)
			if !inserted {
				continue
			}
			var by any
			if requestedBy != "" {
				by = requestedBy
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO scans (id, node_ref, target_kind, target_ref, status, requested_by, created_at,
				sensor_id, target_key, max_attempts, run_at, schedule_id, scan_type, profile) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				id, t.NodeID, t.Kind, t.Ref, by, store.Millis(now), t.SensorID, key, q.cfg.MaxAttempts, store.Millis(now), scheduleID, scanType, profile)
			if err != nil {
				return fmt.Errorf("enqueue scan of %s: %w", key, err)
			}
			queued = append(queued, queuedScan{ID: id, Type: scanType, Target: t})
		}
		if audit == nil {
			return nil
		}
		return audit(ctx, tx, queued)
	})
	if err != nil {
		return nil, err
	}
	out := make([]Scan, 0, len(ids))
	for _, id := range ids {
		s, err := q.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Get returns one scan.
func (q *Queue) Get(ctx context.Context, id string) (Scan, error) {
	return getScan(ctx, q.st.Read(), id)
}

func getScan(ctx context.Context, rq store.Querier, id string) (Scan, error) {
	s, err := scanRow(rq.QueryRowContext(ctx, `SELECT `+scanCols+` FROM scans WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("scan %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("get scan %s: %w", id, err)
	}
	return s, nil
}

// ListFilter selects scans; all fields optional.
type ListFilter struct {
	// Type keeps the scans of one type.
	Type     string
	NodeID   string
	SensorID string
	Status   string
	Target   string // target ref
	// Before is a cursor: only scans with an id lower than it.
	Before string
	Limit  int
}

// List returns scans, newest first, and the cursor of the next page.
func (q *Queue) List(ctx context.Context, f ListFilter) ([]Scan, string, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	var w store.Where
	if f.NodeID != "" {
		w.Add("node_ref = ?", f.NodeID)
	}
	if f.Type != "" {
		w.Add("scan_type = ?", f.Type)
	}
	if f.SensorID != "" {
		w.Add("sensor_id = ?", f.SensorID)
	}
	if f.Status != "" {
		w.Add("status = ?", f.Status)
	}
	if f.Target != "" {
		w.Add("target_ref = ?", f.Target)
	}
	if f.Before != "" {
		w.Add("id < ?", f.Before)
	}
	qs := `SELECT ` + scanCols + ` FROM scans` + w.SQL() + fmt.Sprintf(" ORDER BY id DESC LIMIT %d", f.Limit+1)
	rows, err := q.st.Read().QueryContext(ctx, qs, w.Args()...)
	if err != nil {
		return nil, "", fmt.Errorf("list scans: %w", err)
	}
	defer rows.Close()
	var out []Scan
	for rows.Next() {
		s, err := scanRow(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list scans: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list scans: %w", err)
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// Cancel cancels a scan: a queued one at once, a running one by sending
// its sensor a cancel command (closed if the sensor does not answer within
// CancelGrace). Cancelling a finished scan is a conflict.
//
// The cancel is audited (the scan's state before and after) in its
// transaction; asking again for a cancel already sent changes nothing
// and is not.
func (q *Queue) Cancel(ctx context.Context, id string) (Scan, error) {
	err := events.Tx(ctx, q.st, q.cfg.Now, func(ctx context.Context, tx store.Querier) error {
		before, err := getScan(ctx, tx, id)
		if err != nil {
			return err
		}
		if before.Terminal() {
			// (A scan adopted from another has no job.)
			return fmt.Errorf("%w: scan %s is already %s", ErrConflict, id, before.Status)
		}
		if _, err := q.jobs.CancelTx(ctx, tx, id, "cancelled before a sensor started it"); err != nil {
			if errors.Is(err, jobs.ErrConflict) {
				return fmt.Errorf("%w: %w", ErrConflict, err)
			}
			return fmt.Errorf("cancel scan %s: %w", id, err)
		}
		after, err := getScan(ctx, tx, id)
		if err != nil {
			return err
		}
		if after.Status == before.Status && after.CancelRequested == before.CancelRequested {
			return nil
		}
		return q.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditScanCancel, scanAuditTarget(after.ID, after.Target),
			scanState(before), scanState(after)))
	})
	if err != nil {
		return Scan{}, err
	}
	return q.Get(ctx, id)
}

// scanAuditState is a scan's state in the audit log.
type scanAuditState struct {
	Status          string `json:"status"`
	CancelRequested bool   `json:"cancelRequested"`
	Message         string `json:"message,omitempty"`
}

func scanState(s Scan) scanAuditState {
	return scanAuditState{Status: s.Status, CancelRequested: s.CancelRequested, Message: s.Message}
}

// scanAuditTarget names a scan in the audit log: its id and what it scans.
func scanAuditTarget(id string, t Target) string {
	what := t.Kind
	if t.Ref != "" {
		what += " " + t.Ref
	}
	return "scan " + id + " (" + what + " on sensor " + t.SensorID + ")"
}

// Poll records a sensor's poll and hands it commands: cancels for its
// running scans whose cancel was requested, then up to freeSlots queued
// scans, which become running with a lease. userID is the authenticated
// caller; later statuses and uploads must come from the same user.
// scanTypes are the types the sensor runs (none: vulnerability, an older
// sensor's poll): a claimed scan of another type fails at once, for good,
// with a message naming its type, instead of waiting for a sensor that
// will never run it.
func (q *Queue) Poll(ctx context.Context, sensorID, userID string, freeSlots int, scanTypes ...string) ([]sensorproto.Command, error) {
	if sensorID == "" || len(sensorID) > 200 {
		return nil, fmt.Errorf("%w: sensorId must be 1-200 characters", ErrInvalid)
	}
	if freeSlots < 0 || freeSlots > sensorproto.MaxScanSlots {
		return nil, fmt.Errorf("%w: freeScanSlots %d out of range 0-%d", ErrInvalid, freeSlots, sensorproto.MaxScanSlots)
	}
	runs, err := checkTypes(scanTypes)
	if err != nil {
		return nil, err
	}
	now := q.cfg.Now()
	cmds := []sensorproto.Command{}
	// Most polls find nothing (a sensor polls every few seconds): when
	// this process recorded the same poll lately and a read finds nothing
	// to hand over, no write transaction is opened (at 2,000 sensors, 400
	// a second through SQLite's one writer, each with its fsync).
	rec := recordedPoll{userID: userID, types: strings.Join(runs, ","), free: freeSlots, at: now}
	if q.pollRecorded(sensorID, rec) {
		busy, err := q.jobs.Pending(ctx, q.st.Read(), route(sensorID), sensorKinds(), freeSlots > 0)
		if err != nil {
			return nil, fmt.Errorf("poll sensor %s: %w", sensorID, err)
		}
		if !busy {
			return cmds, nil
		}
	}
	err = events.Tx(ctx, q.st, q.cfg.Now, func(ctx context.Context, tx store.Querier) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sensor_polls (sensor_id, user_id, free_slots, last_poll, scan_types) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (sensor_id) DO UPDATE SET user_id = excluded.user_id, free_slots = excluded.free_slots, last_poll = excluded.last_poll,
				scan_types = excluded.scan_types`,
			sensorID, userID, freeSlots, store.Millis(now), rec.types); err != nil {
			return fmt.Errorf("record poll of sensor %s: %w", sensorID, err)
		}
		cancels, err := q.jobs.CancelsTx(ctx, tx, route(sensorID))
		if err != nil {
			return fmt.Errorf("poll sensor %s: %w", sensorID, err)
		}
		for _, j := range cancels {
			cmds = append(cmds, sensorproto.Command{ID: j.ID + "-cancel", Kind: sensorproto.CommandCancel, ScanID: j.ID})
		}
		if freeSlots == 0 {
			return nil
		}
		claimed, err := q.jobs.ClaimTx(ctx, tx, route(sensorID), sensorKinds(), freeSlots, userID)
		if err != nil {
			return fmt.Errorf("poll sensor %s: %w", sensorID, err)
		}
		for _, j := range claimed {
			s, err := getScan(ctx, tx, j.ID)
			if err != nil {
				return fmt.Errorf("poll sensor %s: %w", sensorID, err)
			}
			if !slices.Contains(runs, s.Type) {
				msg := fmt.Sprintf("sensor %s cannot run %s scans (it runs: %s)", sensorID, s.Type, strings.Join(runs, ", "))
				if _, err := q.jobs.FinishTx(ctx, tx, j.ID, userID, jobs.Outcome{Err: msg, Permanent: true}); err != nil {
					return fmt.Errorf("poll sensor %s: %w", sensorID, err)
				}
				continue
			}
			cmds = append(cmds, sensorproto.Command{ID: fmt.Sprintf("%s-%d", j.ID, j.Attempts), Kind: sensorproto.CommandScan, ScanID: j.ID,
				Target: sensorproto.CommandTarget{Kind: s.Target.Kind, Ref: s.Target.Ref}, ScanType: s.Type, Profile: s.Profile})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	q.recordPoll(sensorID, rec)
	return cmds, nil
}

// StatusUpdate is what a sensor reports about a scan (also its heartbeat).
type StatusUpdate = sensorproto.ScanStatus

// Report applies a sensor's status for a scan it was given (userID must be
// the user that polled it). running renews the lease; complete needs an
// uploaded inventory (a vulnerability scan) or results (the other types);
// error and an unrequested cancelled retry with backoff until MaxAttempts.
func (q *Queue) Report(ctx context.Context, id, userID string, u StatusUpdate) (Scan, error) {
	switch u.Status {
	case StatusRunning, StatusComplete, StatusError, StatusCancelled:
	default:
		return Scan{}, fmt.Errorf("%w: status %q (want running, complete, error or cancelled)", ErrInvalid, u.Status)
	}
	if u.Progress < 0 || u.Progress > 1 || u.Progress != u.Progress {
		return Scan{}, fmt.Errorf("%w: progress %v out of range 0-1", ErrInvalid, u.Progress)
	}
	if len(u.Message) > 2000 {
		u.Message = u.Message[:2000]
	}
	err := events.Tx(ctx, q.st, q.cfg.Now, func(ctx context.Context, tx store.Querier) error {
		s, err := getScan(ctx, tx, id)
		if err != nil {
			return err
		}
		if s.claimedBy != userID {
			return fmt.Errorf("%w: scan %s was not given to this sensor", ErrForbidden, id)
		}
		if s.Terminal() {
			if s.Status == u.Status {
				return nil // a repeated terminal status
			}
			return fmt.Errorf("%w: scan %s is already %s", ErrConflict, id, s.Status)
		}
		var o jobs.Outcome
		switch u.Status {
		case StatusRunning:
			j, err := q.jobs.HeartbeatTx(ctx, tx, id, userID, u.Progress, u.Message)
			if err != nil {
				return q.jobErr(id, err)
			}
			return q.sync(ctx, tx, j)
		case StatusComplete:
			switch {
			case s.Type == TypeVulnerability && s.inventoryID == "":
				o.Err = "the sensor reported complete without uploading an inventory"
			case s.Type != TypeVulnerability && s.resultsDigest == "":
				o.Err = "the sensor reported complete without uploading the " + s.Type + " scan's results"
			default:
				o.Message = u.Message
				if o.Message == "" {
					o.Message = "complete"
				}
			}
		case StatusCancelled:
			o.Err, o.Stopped = "stopped on the sensor: "+u.Message, true
		case StatusError:
			o.Err = "sensor error: " + u.Message
		}
		_, err = q.jobs.FinishTx(ctx, tx, id, userID, o)
		return q.jobErr(id, err)
	})
	if err != nil {
		return Scan{}, err
	}
	return q.Get(ctx, id)
}

func (q *Queue) jobErr(id string, err error) error {
	if errors.Is(err, jobs.ErrConflict) {
		return fmt.Errorf("%w: scan %s: %w", ErrConflict, id, err)
	}
	return err
}

// sync writes a job's state into its scan's row.
func (q *Queue) sync(ctx context.Context, tx store.Querier, j jobs.Job) error {
	status := map[string]string{jobs.Available: StatusQueued, jobs.Running: StatusRunning, jobs.Completed: StatusComplete,
		jobs.Failed: StatusError, jobs.Cancelled: StatusCancelled}[j.State]
	progress := int(j.Progress * 100)
	cancel := 0
	if j.CancelRequested {
		cancel = 1
	}
	_, err := tx.ExecContext(ctx, `UPDATE scans SET status = ?, message = ?, progress = ?, attempts = ?, max_attempts = ?, run_at = ?,
		started_at = ?, heartbeat_at = ?, lease_until = ?, finished_at = ?, cancel_requested = ?, claimed_by = ? WHERE id = ?`,
		status, j.Message, progress, j.Attempts, j.MaxAttempts, store.Millis(j.RunAt), nullTime(j.StartedAt), nullTime(j.HeartbeatAt),
		nullTime(j.LeaseUntil), nullTime(j.FinishedAt), cancel, j.Owner, j.ID)
	if err != nil {
		return fmt.Errorf("record scan %s: %w", j.ID, err)
	}
	return nil
}

// onState keeps a scan in step with its job; a finished scan's findings
// become current (complete) or are set aside, and its event is written.
func (q *Queue) onState(ctx context.Context, tx store.Querier, j jobs.Job) error {
	if err := q.sync(ctx, tx, j); err != nil {
		return err
	}
	if !jobs.Terminal(j.State) {
		return nil
	}
	s, err := getScan(ctx, tx, j.ID)
	if err != nil {
		return err
	}
	if s.Status == StatusComplete {
		if _, err := tx.ExecContext(ctx, `UPDATE scans SET latest = CASE WHEN id = ? THEN 1 ELSE 0 END WHERE target_key = ? AND (latest = 1 OR id = ?)`,
			s.ID, s.targetKey, s.ID); err != nil {
			return fmt.Errorf("finish scan %s: %w", s.ID, err)
		}
		if err := q.findings.CommitTx(ctx, tx, s.origin()); err != nil {
			return err
		}
		if s.Type == TypeCompliance {
			if err := q.posture.CompleteTx(ctx, tx, s.ID); err != nil {
				return err
			}
		}
		return events.Emit(ctx, tx, q.cfg.Now(), ScanFinished{ScanID: s.ID, Type: s.Type, Status: s.Status, Message: s.Message, Target: s.Target, Findings: s.Findings})
	}
	if err := q.findings.AbandonTx(ctx, tx, s.ID); err != nil {
		return err
	}
	if s.Type == TypeCompliance {
		if err := q.posture.AbandonTx(ctx, tx, s.ID); err != nil {
			return err
		}
	}
	return events.Emit(ctx, tx, q.cfg.Now(), ScanFailed{ScanID: s.ID, Type: s.Type, Status: s.Status, Message: s.Message, Target: s.Target})
}

// Reap runs the job system's rescuer now (expired leases, queue
// timeouts); the job system runs it on its own every few seconds.
func (q *Queue) Reap(ctx context.Context) (int, error) { return q.jobs.Rescue(ctx) }

// Depth counts scans by status (diagnosis).
func (q *Queue) Depth(ctx context.Context) (map[string]int, error) {
	rows, err := q.st.Read().QueryContext(ctx, `SELECT status, COUNT(*) FROM scans GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("queue depth: %w", err)
	}
	defer rows.Close()
	out := map[string]int{StatusQueued: 0, StatusRunning: 0}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("queue depth: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

// Event types the scans module publishes.
const (
	EventFinished = "scan.finished"
	EventFailed   = "scan.failed"
)

// ScanFinished says a scan completed.
type ScanFinished struct {
	ScanID string `json:"scanId"`
	// Type is the scan's type ("" in events written before scan types:
	// vulnerability).
	Type     string `json:"type,omitempty"`
	Status   string `json:"status"`
	Message  string `json:"message"`
	Target   Target `json:"target"`
	Findings int    `json:"findings"`
}

func (ScanFinished) EventType() string  { return EventFinished }
func (e ScanFinished) EventKey() string { return "scan:" + e.ScanID }

// ScanFailed says a scan ended in error or was cancelled.
type ScanFailed struct {
	ScanID  string `json:"scanId"`
	Type    string `json:"type,omitempty"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Target  Target `json:"target"`
}

func (ScanFailed) EventType() string  { return EventFailed }
func (e ScanFailed) EventKey() string { return "scan:" + e.ScanID }
