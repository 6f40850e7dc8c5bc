package scans

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/store"
)

// Scan statuses. Queued and running are the only non-terminal ones; the
// reaper drives every scan out of them (see Queue.Reap).
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusComplete  = "complete"
	StatusError     = "error"
	StatusCancelled = "cancelled"
)

// Target kinds a sensor can scan.
const (
	KindHost      = "host"
	KindContainer = "container"
	KindImage     = "image"
)

// Errors the HTTP layer maps to status codes.
var (
	ErrNotFound  = store.ErrNotFound
	ErrForbidden = errors.New("forbidden")
	ErrConflict  = errors.New("conflict")
	ErrInvalid   = errors.New("invalid")
)

// Target is one thing to scan: a node of the topology, or (sensorID,
// kind, ref) named directly.
type Target struct {
	NodeID   string `json:"nodeId,omitempty"`
	SensorID string `json:"sensorId"`
	Kind     string `json:"kind"`
	Ref      string `json:"ref"`
}

func (t Target) key() string {
	if t.NodeID != "" {
		return "node:" + t.NodeID
	}
	return "sensor:" + t.SensorID + "/" + t.Kind + "/" + t.Ref
}

// Scan is one scan job.
type Scan struct {
	ID              string     `json:"id"`
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

	inventoryID string
	claimedBy   string
	targetKey   string
}

// Terminal reports whether the scan is finished.
func (s Scan) Terminal() bool {
	return s.Status == StatusComplete || s.Status == StatusError || s.Status == StatusCancelled
}

// Command is one instruction for a sensor (API-CONTRACT.md).
type Command struct {
	ID     string        `json:"id"`
	Kind   string        `json:"kind"` // scan, cancel
	ScanID string        `json:"scanId"`
	Target CommandTarget `json:"target"`
}

// CommandTarget is what a scan command names.
type CommandTarget struct {
	Kind string `json:"kind"`
	Ref  string `json:"ref"`
}

// QueueConfig tunes the queue. Zero values take the defaults.
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

// Queue is the durable scan queue in the console database.
type Queue struct {
	st  *store.Store
	cfg QueueConfig
	// onTerminal is called after a scan reaches a terminal state (outside
	// the transaction).
	onTerminal func(ctx context.Context, s Scan)
}

// NewQueue returns a queue on st.
func NewQueue(st *store.Store, cfg QueueConfig) *Queue {
	cfg.defaults()
	return &Queue{st: st, cfg: cfg}
}

const scanCols = `id, COALESCE(node_id, ''), sensor_id, target_kind, target_ref, status, message, progress, attempts, max_attempts,
	COALESCE(requested_by, ''), schedule_id, cancel_requested, finding_count, COALESCE(inventory_id, ''), created_at, run_at,
	started_at, heartbeat_at, lease_until, finished_at, claimed_by, target_key`

func scanRow(sc interface{ Scan(...any) error }) (Scan, error) {
	var s Scan
	var progress, cancel int
	var created, runAt int64
	var started, hb, lease, fin sql.NullInt64
	err := sc.Scan(&s.ID, &s.NodeID, &s.SensorID, &s.Target.Kind, &s.Target.Ref, &s.Status, &s.Message, &progress, &s.Attempts,
		&s.MaxAttempts, &s.RequestedBy, &s.ScheduleID, &cancel, &s.Findings, &s.inventoryID, &created, &runAt,
		&started, &hb, &lease, &fin, &s.claimedBy, &s.targetKey)
	if err != nil {
		return s, err
	}
	s.Target.NodeID, s.Target.SensorID = s.NodeID, s.SensorID
	s.Progress = float64(progress) / 100
	s.CancelRequested = cancel != 0
	s.HasInventory = s.inventoryID != ""
	s.CreatedAt, s.RunAt = store.FromMillis(created), store.FromMillis(runAt)
	s.StartedAt, s.HeartbeatAt, s.LeaseUntil, s.FinishedAt = ptime(started), ptime(hb), ptime(lease), ptime(fin)
	return s, nil
}

func ptime(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := store.FromMillis(n.Int64)
	return &t
}

func validTarget(t Target) error {
	switch t.Kind {
	case KindHost, KindContainer, KindImage:
	default:
		return fmt.Errorf("%w: target kind %q (want host, container or image)", ErrInvalid, t.Kind)
	}
	if t.SensorID == "" {
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

// Enqueue creates a queued scan for each target. A target that already has
// a queued or running scan gets that scan back instead of a duplicate.
func (q *Queue) Enqueue(ctx context.Context, targets []Target, requestedBy, scheduleID string) ([]Scan, error) {
	for _, t := range targets {
		if err := validTarget(t); err != nil {
			return nil, err
		}
	}
	now := q.cfg.Now()
	var ids []string
	err := q.st.Tx(ctx, func(tx store.Querier) error {
		for _, t := range targets {
			var existing string
			err := tx.QueryRowContext(ctx, `SELECT id FROM scans WHERE target_key = ? AND status IN ('queued', 'running') ORDER BY created_at LIMIT 1`, t.key()).Scan(&existing)
			if err == nil {
				ids = append(ids, existing)
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("enqueue scan of %s: %w", t.key(), err)
			}
			id := store.NewID(now)
			var node any
			if t.NodeID != "" {
				node = t.NodeID
			}
			var by any
			if requestedBy != "" {
				by = requestedBy
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO scans (id, node_id, target_kind, target_ref, status, requested_by, created_at,
				sensor_id, target_key, max_attempts, run_at, schedule_id) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)`,
				id, node, t.Kind, t.Ref, by, store.Millis(now), t.SensorID, t.key(), q.cfg.MaxAttempts, store.Millis(now), scheduleID)
			if err != nil {
				return fmt.Errorf("enqueue scan of %s: %w", t.key(), err)
			}
			ids = append(ids, id)
		}
		return nil
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
	s, err := scanRow(q.st.Read().QueryRowContext(ctx, `SELECT `+scanCols+` FROM scans WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("scan %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("get scan %s: %w", id, err)
	}
	return s, nil
}

func getTx(ctx context.Context, tx store.Querier, id string) (Scan, error) {
	s, err := scanRow(tx.QueryRowContext(ctx, `SELECT `+scanCols+` FROM scans WHERE id = ?`, id))
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
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if f.NodeID != "" {
		add("node_id = ?", f.NodeID)
	}
	if f.SensorID != "" {
		add("sensor_id = ?", f.SensorID)
	}
	if f.Status != "" {
		add("status = ?", f.Status)
	}
	if f.Target != "" {
		add("target_ref = ?", f.Target)
	}
	if f.Before != "" {
		add("id < ?", f.Before)
	}
	qs := `SELECT ` + scanCols + ` FROM scans`
	if len(where) > 0 {
		qs += " WHERE " + strings.Join(where, " AND ")
	}
	qs += fmt.Sprintf(" ORDER BY id DESC LIMIT %d", f.Limit+1)
	rows, err := q.st.Read().QueryContext(ctx, qs, args...)
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
// its sensor a cancel command (the reaper closes it if the sensor does not
// answer within CancelGrace). Cancelling a finished scan is a conflict.
func (q *Queue) Cancel(ctx context.Context, id string) (Scan, error) {
	now := q.cfg.Now()
	var done *Scan
	err := q.st.Tx(ctx, func(tx store.Querier) error {
		s, err := getTx(ctx, tx, id)
		if err != nil {
			return err
		}
		switch s.Status {
		case StatusQueued:
			s, err = q.finish(ctx, tx, s, StatusCancelled, "cancelled before a sensor started it", now)
			done = &s
			return err
		case StatusRunning:
			if s.CancelRequested {
				return nil
			}
			lease := store.Millis(now.Add(q.cfg.CancelGrace))
			_, err = tx.ExecContext(ctx, `UPDATE scans SET cancel_requested = 1, cancel_sent = 0, message = ?,
				lease_until = CASE WHEN lease_until IS NULL OR lease_until > ? THEN ? ELSE lease_until END WHERE id = ?`,
				"cancel requested", lease, lease, id)
			return err
		}
		return fmt.Errorf("%w: scan %s is already %s", ErrConflict, id, s.Status)
	})
	if err != nil {
		return Scan{}, err
	}
	if done != nil {
		q.terminal(ctx, *done)
	}
	return q.Get(ctx, id)
}

// Poll records a sensor's poll and hands it commands: cancels for its
// running scans whose cancel was requested, then up to freeSlots queued
// scans, which become running with a lease. userID is the authenticated
// caller; later statuses and uploads must come from the same user.
func (q *Queue) Poll(ctx context.Context, sensorID, userID string, freeSlots int) ([]Command, error) {
	if sensorID == "" || len(sensorID) > 200 {
		return nil, fmt.Errorf("%w: sensorId must be 1-200 characters", ErrInvalid)
	}
	if freeSlots < 0 || freeSlots > 100 {
		return nil, fmt.Errorf("%w: freeScanSlots %d out of range 0-100", ErrInvalid, freeSlots)
	}
	now := q.cfg.Now()
	cmds := []Command{}
	err := q.st.Tx(ctx, func(tx store.Querier) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sensor_polls (sensor_id, user_id, free_slots, last_poll) VALUES (?, ?, ?, ?)
			ON CONFLICT (sensor_id) DO UPDATE SET user_id = excluded.user_id, free_slots = excluded.free_slots, last_poll = excluded.last_poll`,
			sensorID, userID, freeSlots, store.Millis(now)); err != nil {
			return fmt.Errorf("record poll of sensor %s: %w", sensorID, err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM scans WHERE sensor_id = ? AND status = 'running' AND cancel_requested = 1 AND cancel_sent = 0`, sensorID)
		if err != nil {
			return fmt.Errorf("poll sensor %s: %w", sensorID, err)
		}
		var cancels []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			cancels = append(cancels, id)
		}
		rows.Close()
		for _, id := range cancels {
			if _, err := tx.ExecContext(ctx, `UPDATE scans SET cancel_sent = 1 WHERE id = ?`, id); err != nil {
				return err
			}
			cmds = append(cmds, Command{ID: id + "-cancel", Kind: "cancel", ScanID: id})
		}
		if freeSlots == 0 {
			return nil
		}
		rows, err = tx.QueryContext(ctx, fmt.Sprintf(`SELECT id, target_kind, target_ref, attempts FROM scans
			WHERE sensor_id = ? AND status = 'queued' AND run_at <= ? ORDER BY run_at, id LIMIT %d`, freeSlots), sensorID, store.Millis(now))
		if err != nil {
			return fmt.Errorf("poll sensor %s: %w", sensorID, err)
		}
		type pick struct {
			id, kind, ref string
			attempts      int
		}
		var picks []pick
		for rows.Next() {
			var p pick
			if err := rows.Scan(&p.id, &p.kind, &p.ref, &p.attempts); err != nil {
				rows.Close()
				return err
			}
			picks = append(picks, p)
		}
		rows.Close()
		for _, p := range picks {
			res, err := tx.ExecContext(ctx, `UPDATE scans SET status = 'running', attempts = attempts + 1, started_at = ?, heartbeat_at = ?,
				lease_until = ?, claimed_by = ?, progress = 0, message = ? WHERE id = ? AND status = 'queued'`,
				store.Millis(now), store.Millis(now), store.Millis(now.Add(q.cfg.Lease)), userID,
				fmt.Sprintf("dispatched to sensor %s (attempt %d)", sensorID, p.attempts+1), p.id)
			if err != nil {
				return fmt.Errorf("dispatch scan %s: %w", p.id, err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				cmds = append(cmds, Command{ID: fmt.Sprintf("%s-%d", p.id, p.attempts+1), Kind: "scan", ScanID: p.id,
					Target: CommandTarget{Kind: p.kind, Ref: p.ref}})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return cmds, nil
}

// StatusUpdate is what a sensor reports about a scan (also its heartbeat).
type StatusUpdate struct {
	Status   string  `json:"status"`
	Message  string  `json:"message,omitempty"`
	Progress float64 `json:"progress"`
}

// Report applies a sensor's status for a scan it was given (userID must be
// the user that polled it). running renews the lease; complete needs an
// uploaded inventory; error and an unrequested cancelled retry with backoff
// until MaxAttempts.
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
	now := q.cfg.Now()
	var done *Scan
	err := q.st.Tx(ctx, func(tx store.Querier) error {
		s, err := getTx(ctx, tx, id)
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
		switch u.Status {
		case StatusRunning:
			// Also revives a scan re-queued after a missed lease: the sensor
			// is still on it.
			_, err = tx.ExecContext(ctx, `UPDATE scans SET status = 'running', heartbeat_at = ?, lease_until = ?, progress = ?,
				message = CASE WHEN ? <> '' THEN ? ELSE message END WHERE id = ?`,
				store.Millis(now), store.Millis(now.Add(q.cfg.Lease)), int(u.Progress*100), u.Message, u.Message, id)
			return err
		case StatusComplete:
			if s.inventoryID == "" {
				s, err = q.failAttempt(ctx, tx, s, "the sensor reported complete without uploading an inventory", now)
			} else {
				msg := u.Message
				if msg == "" {
					msg = "complete"
				}
				s, err = q.finish(ctx, tx, s, StatusComplete, msg, now)
			}
		case StatusCancelled:
			if s.CancelRequested {
				s, err = q.finish(ctx, tx, s, StatusCancelled, "cancelled on request", now)
			} else {
				s, err = q.failAttempt(ctx, tx, s, "stopped on the sensor: "+u.Message, now)
			}
		case StatusError:
			s, err = q.failAttempt(ctx, tx, s, "sensor error: "+u.Message, now)
		}
		if err == nil && s.Terminal() {
			done = &s
		}
		return err
	})
	if err != nil {
		return Scan{}, err
	}
	if done != nil {
		q.terminal(ctx, *done)
	}
	return q.Get(ctx, id)
}

// finish moves s to a terminal status.
func (q *Queue) finish(ctx context.Context, tx store.Querier, s Scan, status, msg string, now time.Time) (Scan, error) {
	progress := "progress"
	if status == StatusComplete {
		progress = "100"
	}
	_, err := tx.ExecContext(ctx, `UPDATE scans SET status = ?, message = ?, finished_at = ?, lease_until = NULL, progress = `+progress+` WHERE id = ?`,
		status, msg, store.Millis(now), s.ID)
	if err != nil {
		return s, fmt.Errorf("finish scan %s: %w", s.ID, err)
	}
	if status == StatusComplete {
		if _, err := tx.ExecContext(ctx, `UPDATE scans SET latest = CASE WHEN id = ? THEN 1 ELSE 0 END WHERE target_key = ? AND (latest = 1 OR id = ?)`,
			s.ID, s.targetKey, s.ID); err != nil {
			return s, fmt.Errorf("finish scan %s: %w", s.ID, err)
		}
	}
	s.Status, s.Message = status, msg
	t := now.UTC().Truncate(time.Millisecond)
	s.FinishedAt = &t
	return s, nil
}

// failAttempt ends one attempt: re-queued with exponential backoff while
// attempts remain, otherwise error (or cancelled when that was asked).
func (q *Queue) failAttempt(ctx context.Context, tx store.Querier, s Scan, msg string, now time.Time) (Scan, error) {
	if s.CancelRequested {
		return q.finish(ctx, tx, s, StatusCancelled, "cancelled on request ("+msg+")", now)
	}
	if s.Attempts >= s.MaxAttempts {
		return q.finish(ctx, tx, s, StatusError, fmt.Sprintf("%s (attempt %d of %d; giving up)", msg, s.Attempts, s.MaxAttempts), now)
	}
	delay := q.cfg.RetryBase << max(s.Attempts-1, 0)
	if delay > q.cfg.RetryMax || delay <= 0 {
		delay = q.cfg.RetryMax
	}
	runAt := now.Add(delay)
	m := fmt.Sprintf("%s (attempt %d of %d; retrying at %s)", msg, s.Attempts, s.MaxAttempts, runAt.UTC().Format(time.RFC3339))
	_, err := tx.ExecContext(ctx, `UPDATE scans SET status = 'queued', message = ?, run_at = ?, lease_until = NULL WHERE id = ?`,
		m, store.Millis(runAt), s.ID)
	if err != nil {
		return s, fmt.Errorf("re-queue scan %s: %w", s.ID, err)
	}
	s.Status, s.Message, s.RunAt = StatusQueued, m, runAt
	return s, nil
}

// Reap drives stuck scans on: running scans whose lease expired are retried
// (or closed: cancelled when cancel was requested, error after the last
// attempt), and queued scans older than QueueTimeout end in error. It
// returns how many scans it changed.
func (q *Queue) Reap(ctx context.Context) (int, error) {
	now := q.cfg.Now()
	var changed []Scan
	err := q.st.Tx(ctx, func(tx store.Querier) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+scanCols+` FROM scans WHERE (status = 'running' AND (lease_until IS NULL OR lease_until < ?))
			OR (status = 'queued' AND created_at < ?)`, store.Millis(now), store.Millis(now.Add(-q.cfg.QueueTimeout)))
		if err != nil {
			return fmt.Errorf("reap scans: %w", err)
		}
		var stuck []Scan
		for rows.Next() {
			s, err := scanRow(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("reap scans: %w", err)
			}
			stuck = append(stuck, s)
		}
		rows.Close()
		for _, s := range stuck {
			var err error
			if s.Status == StatusQueued {
				s, err = q.finish(ctx, tx, s, StatusError, fmt.Sprintf("no sensor ran it within %s (is sensor %s connected?)", q.cfg.QueueTimeout, s.SensorID), now)
			} else {
				s, err = q.failAttempt(ctx, tx, s, "lease expired: no heartbeat from the sensor", now)
			}
			if err != nil {
				return err
			}
			changed = append(changed, s)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, s := range changed {
		q.cfg.Logger.Info("reaped scan", "scan", s.ID, "status", s.Status, "message", s.Message)
		if s.Terminal() {
			q.terminal(ctx, s)
		}
	}
	return len(changed), nil
}

func (q *Queue) terminal(ctx context.Context, s Scan) {
	if q.onTerminal != nil {
		q.onTerminal(ctx, s)
	}
}

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
