// Package jobs is the console's durable job system: every piece of
// background work (scans, feed updates, knowledge-base rebuilds, retention,
// auto-scan, and the registry syncs, deliveries and scan types later
// modules add) is a job of a named Kind in the jobs table.
//
// A job is inserted (alone, or in the caller's transaction with InsertTx so
// it exists exactly when the change that asked for it commits), waits until
// its run_at, is claimed with a lease by one console process (FOR UPDATE
// SKIP LOCKED on PostgreSQL; SQLite has one writer), renewed by heartbeats,
// retried with exponential backoff and jitter until MaxAttempts, and always
// reaches a terminal state: completed, failed or cancelled. A process that
// dies leaves its leases to expire; the rescuer of any other process (or of
// the same one restarted) moves those jobs on. Unique keys admit one waiting
// or running job per key (one feed update at a time); priorities order the
// waiting jobs; each kind has a per-process concurrency limit; periodic
// schedules (cron or an interval) insert jobs once across processes.
//
// Kinds with a Work function run on console workers. Kinds without one are
// run by remote executors (sensors): such jobs carry a Route, and the
// executor's requests claim them (ClaimTx), renew them (Heartbeat) and end
// them (Finish) through the same lease rules.
//
// A kind's OnState hook runs inside the transaction of every state change,
// so the module that owns the work keeps its own records (a scan's status)
// and writes its events in step with the job. Kinds are registered in ONE
// list, in the composition root (internal/cli).
package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/store"
)

// States of a job.
const (
	Available = "available"
	Running   = "running"
	Completed = "completed"
	Failed    = "failed"
	Cancelled = "cancelled"
)

// Terminal reports whether a state is final.
func Terminal(state string) bool {
	return state == Completed || state == Failed || state == Cancelled
}

// Priorities: smaller runs first among jobs that are due.
const (
	PriorityHigh    = 1
	PriorityDefault = 2
	PriorityLow     = 3
)

// Errors the callers branch on.
var (
	ErrNotFound = store.ErrNotFound
	// ErrConflict: the job is not in a state that allows the operation
	// (cancelling a finished job), or the caller does not hold its lease.
	ErrConflict = errors.New("conflict")
	// ErrLeaseLost: the job's lease passed to someone else.
	ErrLeaseLost = errors.New("lease lost")
	ErrInvalid   = errors.New("invalid")
)

// Job is one stored job.
type Job struct {
	ID              string          `json:"id"`
	Kind            string          `json:"kind"`
	Payload         json.RawMessage `json:"payload"`
	State           string          `json:"state"`
	Priority        int             `json:"priority"`
	Route           string          `json:"route,omitempty"`
	UniqueKey       string          `json:"uniqueKey,omitempty"`
	Attempts        int             `json:"attempts"`
	MaxAttempts     int             `json:"maxAttempts"`
	RunAt           time.Time       `json:"runAt"`
	Owner           string          `json:"owner,omitempty"`
	LeaseUntil      *time.Time      `json:"leaseUntil,omitempty"`
	HeartbeatAt     *time.Time      `json:"heartbeatAt,omitempty"`
	CancelRequested bool            `json:"cancelRequested"`
	Progress        float64         `json:"progress"`
	Message         string          `json:"message,omitempty"`
	LastError       string          `json:"lastError,omitempty"`
	CreatedAt       time.Time       `json:"createdAt"`
	StartedAt       *time.Time      `json:"startedAt,omitempty"`
	FinishedAt      *time.Time      `json:"finishedAt,omitempty"`
}

// Decode unmarshals the job's payload into v.
func (j Job) Decode(v any) error {
	if err := json.Unmarshal(j.Payload, v); err != nil {
		return fmt.Errorf("job %s (%s): payload: %w", j.ID, j.Kind, err)
	}
	return nil
}

// Kind describes one kind of job. Only Name is required.
type Kind struct {
	Name string
	// Work does one attempt of a job on a console worker. A nil error
	// completes the job; Permanent(err) fails it at once; Snooze(d) runs it
	// again after d without counting the attempt; any other error retries
	// it with backoff until MaxAttempts. The context ends when the job is
	// cancelled, its Timeout passes, its lease is lost or the console
	// stops. A nil Work makes a remote kind (see ClaimTx).
	Work func(ctx context.Context, j Job) error
	// Concurrency is how many jobs of the kind one process runs at once
	// (default 1).
	Concurrency int
	// MaxAttempts before the job fails (default 5).
	MaxAttempts int
	// Lease is how long a claim lasts without a heartbeat (default 60 s;
	// local workers renew it every third of it).
	Lease time.Duration
	// Timeout bounds one attempt of Work (default 30 min).
	Timeout time.Duration
	// Backoff is the delay before attempt n+1 after attempt n failed
	// (default: 1 s × 2^(n-1), at most 10 min, ±10 % jitter).
	Backoff func(attempt int) time.Duration
	// QueueTimeout fails jobs still waiting this long after their creation
	// (0: never).
	QueueTimeout time.Duration
	// CancelGrace is how long a running job whose cancel was requested may
	// still hold its lease before it is closed as cancelled (default: its
	// Lease).
	CancelGrace time.Duration
	// OnState runs in the transaction of every change of a job of this
	// kind (claimed, heartbeat excluded, retried, cancel requested,
	// finished), with the job as it now is. An error rolls the change back.
	OnState func(ctx context.Context, tx store.Querier, j Job) error
}

func (k *Kind) fill() {
	if k.Concurrency <= 0 {
		k.Concurrency = 1
	}
	if k.MaxAttempts <= 0 {
		k.MaxAttempts = 5
	}
	if k.Lease <= 0 {
		k.Lease = time.Minute
	}
	if k.Timeout <= 0 {
		k.Timeout = 30 * time.Minute
	}
	if k.Backoff == nil {
		k.Backoff = DefaultBackoff(time.Second, 10*time.Minute)
	}
	if k.CancelGrace <= 0 {
		k.CancelGrace = k.Lease
	}
}

// DefaultBackoff is base × 2^(attempt-1), capped at max, with ±10 % jitter.
func DefaultBackoff(base, max time.Duration) func(int) time.Duration {
	return func(attempt int) time.Duration {
		d := base << min(max64(attempt-1, 0), 30)
		if d > max || d <= 0 {
			d = max
		}
		return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
	}
}

func max64(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// permanent and snooze are the errors Work returns to steer the retry.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks an error after which the job must not be retried.
func Permanent(err error) error { return permanent{err} }

type snooze struct{ d time.Duration }

func (s snooze) Error() string { return fmt.Sprintf("snoozed for %s", s.d) }

// Snooze asks for the job to run again after d, without counting the
// attempt.
func Snooze(d time.Duration) error { return snooze{d} }

// InsertOpts are a job's optional settings.
type InsertOpts struct {
	// Priority (default PriorityDefault).
	Priority int
	// RunAt delays the job (default: now).
	RunAt time.Time
	// MaxAttempts overrides the kind's.
	MaxAttempts int
	// UniqueKey admits one available or running job with this key; an
	// insert while one exists returns that job instead.
	UniqueKey string
	// Route names the remote executor of a remote kind (sensor:ID).
	Route string
}

// Config configures a Queue.
type Config struct {
	// Owner names this process in leases (default host:pid:random).
	Owner string
	// PollEvery is how often workers look for due jobs when nothing woke
	// them (default 500 ms).
	PollEvery time.Duration
	// RescueEvery is how often expired leases and queue timeouts are
	// looked for (default 2 s).
	RescueEvery time.Duration
	// Retention deletes finished jobs this long after they finished
	// (default 7 days; Prune does it).
	Retention time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
}

// Queue is the job system of one console process.
type Queue struct {
	st  *store.Store
	cfg Config
	log *slog.Logger
	now func() time.Time

	mu       sync.RWMutex
	kinds    map[string]*Kind
	periodic []Periodic
	running  bool

	wake chan struct{}
	// slots counts this process's running jobs per kind.
	slotsMu sync.Mutex
	slots   map[string]int
	wg      sync.WaitGroup
}

// New returns the job system on st. Register the kinds, then Run.
func New(st *store.Store, cfg Config) *Queue {
	if cfg.Owner == "" {
		cfg.Owner = store.InstanceName()
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = 500 * time.Millisecond
	}
	if cfg.RescueEvery <= 0 {
		cfg.RescueEvery = 2 * time.Second
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Queue{st: st, cfg: cfg, log: cfg.Logger, now: cfg.Now, kinds: map[string]*Kind{},
		wake: make(chan struct{}, 1), slots: map[string]int{}}
}

// Owner is this process's lease owner name.
func (q *Queue) Owner() string { return q.cfg.Owner }

// Register adds kinds. Names must be unique; register before Run.
func (q *Queue) Register(kinds ...Kind) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, k := range kinds {
		if k.Name == "" || len(k.Name) > 100 {
			return fmt.Errorf("%w: job kind name %q", ErrInvalid, k.Name)
		}
		if _, dup := q.kinds[k.Name]; dup {
			return fmt.Errorf("%w: job kind %q registered twice", ErrInvalid, k.Name)
		}
		k.fill()
		q.kinds[k.Name] = &k
	}
	return nil
}

// MustRegister is Register for the composition root's static list.
func (q *Queue) MustRegister(kinds ...Kind) {
	if err := q.Register(kinds...); err != nil {
		panic(err)
	}
}

func (q *Queue) kind(name string) *Kind {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.kinds[name]
}

// Kinds lists the registered kind names.
func (q *Queue) Kinds() []string {
	q.mu.RLock()
	defer q.mu.RUnlock()
	out := make([]string, 0, len(q.kinds))
	for n := range q.kinds {
		out = append(out, n)
	}
	return out
}

// Wake tells this process's workers to look for due jobs now (call it
// after committing a transaction that inserted jobs with InsertTx).
func (q *Queue) Wake() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

const jobCols = `id, kind, payload, state, priority, route, COALESCE(unique_key, ''), attempts, max_attempts, run_at, lease_owner,
	lease_until, heartbeat_at, cancel_requested, progress, message, last_error, created_at, started_at, finished_at`

func scanJob(sc interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var payload string
	var runAt, created int64
	var lease, hb, started, fin sql.NullInt64
	var cancel int
	err := sc.Scan(&j.ID, &j.Kind, &payload, &j.State, &j.Priority, &j.Route, &j.UniqueKey, &j.Attempts, &j.MaxAttempts, &runAt,
		&j.Owner, &lease, &hb, &cancel, &j.Progress, &j.Message, &j.LastError, &created, &started, &fin)
	if err != nil {
		return j, err
	}
	j.Payload = json.RawMessage(payload)
	j.RunAt, j.CreatedAt = store.FromMillis(runAt), store.FromMillis(created)
	j.LeaseUntil, j.HeartbeatAt, j.StartedAt, j.FinishedAt = ptime(lease), ptime(hb), ptime(started), ptime(fin)
	j.CancelRequested = cancel != 0
	return j, nil
}

func ptime(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := store.FromMillis(n.Int64)
	return &t
}

// Insert adds a job and returns it; with a UniqueKey that is taken, it
// returns the existing job and inserted false.
func (q *Queue) Insert(ctx context.Context, kind string, payload any, opts InsertOpts) (j Job, inserted bool, err error) {
	var id string
	err = q.st.Tx(ctx, func(tx store.Querier) error {
		id, inserted, err = q.InsertTx(ctx, tx, kind, payload, opts)
		return err
	})
	if err != nil {
		return Job{}, false, err
	}
	q.Wake()
	j, err = q.Get(ctx, id)
	return j, inserted, err
}

// InsertTx adds a job in the caller's transaction: it exists exactly when
// the caller's change commits. It returns the job's id, or the id of the
// waiting or running job that holds opts.UniqueKey (inserted false).
func (q *Queue) InsertTx(ctx context.Context, tx store.Querier, kind string, payload any, opts InsertOpts) (string, bool, error) {
	if kind == "" {
		return "", false, fmt.Errorf("%w: job without a kind", ErrInvalid)
	}
	body := "{}"
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return "", false, fmt.Errorf("insert %s job: payload: %w", kind, err)
		}
		body = string(b)
	}
	now := q.now()
	maxAttempts := opts.MaxAttempts
	if k := q.kind(kind); k != nil && maxAttempts <= 0 {
		maxAttempts = k.MaxAttempts
	}
	if maxAttempts <= 0 {
		maxAttempts = 5
	}
	if opts.Priority <= 0 {
		opts.Priority = PriorityDefault
	}
	runAt := now
	if !opts.RunAt.IsZero() {
		runAt = opts.RunAt
	}
	var unique any
	if opts.UniqueKey != "" {
		unique = opts.UniqueKey
	}
	id := store.NewID(now)
	var got string
	err := tx.QueryRowContext(ctx, `INSERT INTO jobs (id, kind, payload, state, priority, route, unique_key, max_attempts, run_at, created_at)
		VALUES (?, ?, ?, 'available', ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
		id, kind, body, opts.Priority, opts.Route, unique, maxAttempts, store.Millis(runAt), store.Millis(now)).Scan(&got)
	if err == nil {
		return got, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", false, fmt.Errorf("insert %s job: %w", kind, err)
	}
	if opts.UniqueKey == "" {
		return "", false, fmt.Errorf("insert %s job: not inserted", kind)
	}
	err = tx.QueryRowContext(ctx, `SELECT id FROM jobs WHERE unique_key = ? AND state IN ('available', 'running')`, opts.UniqueKey).Scan(&got)
	if err != nil {
		return "", false, fmt.Errorf("insert %s job: find the job holding unique key %q: %w", kind, opts.UniqueKey, err)
	}
	return got, false, nil
}

// Get returns one job.
func (q *Queue) Get(ctx context.Context, id string) (Job, error) {
	return get(ctx, q.st.Read(), id)
}

func get(ctx context.Context, rq store.Querier, id string) (Job, error) {
	j, err := scanJob(rq.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return j, fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return j, fmt.Errorf("get job %s: %w", id, err)
	}
	return j, nil
}

// GetTx reads a job in the caller's transaction.
func (q *Queue) GetTx(ctx context.Context, tx store.Querier, id string) (Job, error) {
	return get(ctx, tx, id)
}

// Filter selects jobs; every field is optional.
type Filter struct {
	Kind   string
	State  string
	Route  string
	Before string // cursor: ids lower than it
	Limit  int
}

// List returns jobs, newest first.
func (q *Queue) List(ctx context.Context, f Filter) ([]Job, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	var w store.Where
	if f.Kind != "" {
		w.Add("kind = ?", f.Kind)
	}
	if f.State != "" {
		w.Add("state = ?", f.State)
	}
	if f.Route != "" {
		w.Add("route = ?", f.Route)
	}
	if f.Before != "" {
		w.Add("id < ?", f.Before)
	}
	qs := `SELECT ` + jobCols + ` FROM jobs` + w.SQL() + fmt.Sprintf(" ORDER BY id DESC LIMIT %d", f.Limit)
	rows, err := q.st.Read().QueryContext(ctx, qs, w.Args()...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// Stats counts jobs by kind and state.
func (q *Queue) Stats(ctx context.Context) (map[string]map[string]int, error) {
	rows, err := q.st.Read().QueryContext(ctx, `SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state`)
	if err != nil {
		return nil, fmt.Errorf("job stats: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]int{}
	for rows.Next() {
		var k, s string
		var n int
		if err := rows.Scan(&k, &s, &n); err != nil {
			return nil, fmt.Errorf("job stats: %w", err)
		}
		if out[k] == nil {
			out[k] = map[string]int{}
		}
		out[k][s] = n
	}
	return out, rows.Err()
}

// Depth counts jobs by state over every kind.
func (q *Queue) Depth(ctx context.Context) (map[string]int, error) {
	st, err := q.Stats(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int{Available: 0, Running: 0}
	for _, m := range st {
		for s, n := range m {
			out[s] += n
		}
	}
	return out, nil
}

// transition writes a job's new state and runs its kind's OnState hook in
// the same transaction. set is the SET clause; cond adds to WHERE id = ?.
// It returns the job as it now is (one statement: UPDATE ... RETURNING),
// or ErrLeaseLost when cond matched nothing.
func (q *Queue) transition(ctx context.Context, tx store.Querier, id, set, cond string, args ...any) (Job, error) {
	qs := `UPDATE jobs SET ` + set + ` WHERE id = ?`
	if cond != "" {
		qs += " AND " + cond
	}
	qs += ` RETURNING ` + jobCols
	// args: the SET values, then id, then cond values; callers pass them
	// in that order with id in place.
	j, err := scanJob(tx.QueryRowContext(ctx, qs, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, ErrLeaseLost
	}
	if err != nil {
		return Job{}, fmt.Errorf("update job %s: %w", id, err)
	}
	if err := q.onState(ctx, tx, j); err != nil {
		return j, err
	}
	return j, nil
}

func (q *Queue) onState(ctx context.Context, tx store.Querier, j Job) error {
	if k := q.kind(j.Kind); k != nil && k.OnState != nil {
		if err := k.OnState(ctx, tx, j); err != nil {
			return fmt.Errorf("job %s (%s) state hook: %w", j.ID, j.Kind, err)
		}
	}
	return nil
}

// Cancel cancels a job: a waiting one at once; a running one by asking its
// worker (or remote executor) to stop, which it sees at its next heartbeat;
// if it does not answer within the kind's CancelGrace the rescuer closes
// it. Cancelling a finished job is ErrConflict.
func (q *Queue) Cancel(ctx context.Context, id, reason string) (Job, error) {
	var out Job
	err := events.Tx(ctx, q.st, q.now, func(ctx context.Context, tx store.Querier) (err error) {
		out, err = q.CancelTx(ctx, tx, id, reason)
		return err
	})
	return out, err
}

// CancelTx is Cancel in the caller's transaction, which must be an
// events.Tx (the kind's OnState hook may emit events): a module records
// what else the cancel means (its audit entry) in the same transaction.
func (q *Queue) CancelTx(ctx context.Context, tx store.Querier, id, reason string) (Job, error) {
	j, err := get(ctx, tx, id)
	if err != nil {
		return Job{}, err
	}
	now := q.now()
	switch j.State {
	case Available:
		msg := "cancelled before it started"
		if reason != "" {
			msg = reason
		}
		return q.transition(ctx, tx, id, `state = 'cancelled', finished_at = ?, lease_until = NULL, message = ?`,
			"state = 'available'", store.Millis(now), msg, id)
	case Running:
		if j.CancelRequested {
			return j, nil
		}
		grace := q.cfg.RescueEvery * 3
		if k := q.kind(j.Kind); k != nil {
			grace = k.CancelGrace
		}
		lease := store.Millis(now.Add(grace))
		return q.transition(ctx, tx, id, `cancel_requested = 1, message = 'cancel requested',
			lease_until = CASE WHEN lease_until IS NULL OR lease_until > ? THEN ? ELSE lease_until END`,
			"state = 'running'", lease, lease, id)
	}
	return Job{}, fmt.Errorf("%w: job %s is already %s", ErrConflict, id, j.State)
}

// failAttempt ends a running attempt that did not succeed: cancelled when
// a cancel was requested; failed when permanent or out of attempts; else
// back to available after the kind's backoff.
func (q *Queue) failAttempt(ctx context.Context, tx store.Querier, j Job, msg string, perm bool, cond string, condArgs ...any) (Job, error) {
	now := q.now()
	k := q.kind(j.Kind)
	if j.CancelRequested {
		return q.transition(ctx, tx, j.ID, `state = 'cancelled', finished_at = ?, lease_until = NULL, last_error = ?, message = ?`, cond,
			append([]any{store.Millis(now), msg, "cancelled on request (" + msg + ")", j.ID}, condArgs...)...)
	}
	if perm || j.Attempts >= j.MaxAttempts {
		m := fmt.Sprintf("%s (attempt %d of %d; giving up)", msg, j.Attempts, j.MaxAttempts)
		if perm {
			m = msg
		}
		return q.transition(ctx, tx, j.ID, `state = 'failed', finished_at = ?, lease_until = NULL, last_error = ?, message = ?`, cond,
			append([]any{store.Millis(now), msg, m, j.ID}, condArgs...)...)
	}
	delay := DefaultBackoff(time.Second, 10*time.Minute)(j.Attempts)
	if k != nil {
		delay = k.Backoff(j.Attempts)
	}
	runAt := now.Add(delay)
	m := fmt.Sprintf("%s (attempt %d of %d; retrying at %s)", msg, j.Attempts, j.MaxAttempts, runAt.UTC().Format(time.RFC3339))
	return q.transition(ctx, tx, j.ID, `state = 'available', run_at = ?, lease_until = NULL, last_error = ?, message = ?`, cond,
		append([]any{store.Millis(runAt), msg, m, j.ID}, condArgs...)...)
}
