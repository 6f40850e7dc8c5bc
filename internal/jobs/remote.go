package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riskmap/riskmap/internal/store"
)

// Remote executors (sensors) run the jobs of kinds without Work. Their
// requests claim jobs routed to them, renew the leases with heartbeats and
// report each attempt's end; the lease rules, retries, cancels and the
// rescuer are the same as for console workers.

// ClaimTx leases up to n due jobs routed to route (of the given kinds; all
// kinds when empty) to owner, in the caller's transaction.
func (q *Queue) ClaimTx(ctx context.Context, tx store.Querier, route string, kinds []string, n int, owner string) ([]Job, error) {
	if route == "" {
		return nil, fmt.Errorf("%w: a remote claim needs a route", ErrInvalid)
	}
	if len(kinds) == 0 {
		q.mu.RLock()
		for name, k := range q.kinds {
			if k.Work == nil {
				kinds = append(kinds, name)
			}
		}
		q.mu.RUnlock()
	}
	return q.claim(ctx, tx, route, kinds, n, owner, 0)
}

// CancelsTx returns the running jobs on route whose cancel was requested
// and not yet handed to the executor, and marks them handed.
func (q *Queue) CancelsTx(ctx context.Context, tx store.Querier, route string) ([]Job, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE route = ? AND state = 'running' AND cancel_requested = 1 AND cancel_notified = 0`, route)
	if err != nil {
		return nil, fmt.Errorf("cancels of %s: %w", route, err)
	}
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("cancels of %s: %w", route, err)
		}
		out = append(out, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cancels of %s: %w", route, err)
	}
	for _, j := range out {
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET cancel_notified = 1 WHERE id = ?`, j.ID); err != nil {
			return nil, fmt.Errorf("cancels of %s: %w", route, err)
		}
	}
	return out, nil
}

// Pending reports, reading rd (no transaction), whether route has what a
// poll would hand over: a cancel its executor was not yet told of, or,
// with claim, a due available job of kinds. An executor that polls often
// checks this first and opens a write transaction (ClaimTx, CancelsTx)
// only when it is true; a job queued just after the check is found by
// the next poll.
func (q *Queue) Pending(ctx context.Context, rd store.Querier, route string, kinds []string, claim bool) (bool, error) {
	// Each part an index lookup (jobs_fetch: state, route, kind, ...).
	query := `SELECT 1 FROM jobs WHERE state = 'running' AND route = ? AND cancel_requested = 1 AND cancel_notified = 0`
	args := []any{route}
	if claim && len(kinds) > 0 {
		query += ` UNION ALL SELECT 1 FROM jobs WHERE state = 'available' AND route = ? AND kind IN (` + placeholders(len(kinds)) + `) AND run_at <= ?`
		args = append(args, route)
		for _, k := range kinds {
			args = append(args, k)
		}
		args = append(args, store.Millis(q.now()))
	}
	var one int
	switch err := rd.QueryRowContext(ctx, query+` LIMIT 1`, args...).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("pending jobs of %s: %w", route, err)
	}
	return true, nil
}

// HeartbeatTx renews the lease of a job held by owner and records its
// progress (0-1) and message (when not empty). A job whose lease had
// already passed (back to available, not yet claimed by anyone else) is
// taken back: the executor is still on it. The caller learns of a
// requested cancel from the returned job.
func (q *Queue) HeartbeatTx(ctx context.Context, tx store.Querier, id, owner string, progress float64, msg string) (Job, error) {
	j, err := get(ctx, tx, id)
	if err != nil {
		return j, err
	}
	if j.Owner != owner || (j.State != Running && j.State != Available) {
		return j, fmt.Errorf("%w: job %s is %s and not held by %s", ErrConflict, id, j.State, owner)
	}
	lease := time.Minute
	if k := q.kind(j.Kind); k != nil {
		lease = k.Lease
	}
	now := q.now()
	if j.State == Available {
		return q.transition(ctx, tx, id, `state = 'running', lease_until = ?, heartbeat_at = ?, progress = ?,
			message = CASE WHEN ? <> '' THEN ? ELSE message END`, "state = 'available' AND lease_owner = ?",
			store.Millis(now.Add(lease)), store.Millis(now), progress, msg, msg, id, owner)
	}
	_, err = tx.ExecContext(ctx, `UPDATE jobs SET heartbeat_at = ?, progress = ?, lease_until = CASE WHEN cancel_requested = 1 THEN lease_until ELSE ? END,
		message = CASE WHEN ? <> '' THEN ? ELSE message END WHERE id = ? AND state = 'running' AND lease_owner = ?`,
		store.Millis(now), progress, store.Millis(now.Add(lease)), msg, msg, id, owner)
	if err != nil {
		return j, fmt.Errorf("heartbeat of job %s: %w", id, err)
	}
	return get(ctx, tx, id)
}

// Outcome is how an attempt by a remote executor ended.
type Outcome struct {
	// Err is empty for success; otherwise the attempt failed with it.
	Err string
	// Stopped: the executor stopped the work (on request, or on its own).
	Stopped bool
	// Permanent: do not retry.
	Permanent bool
	// Message replaces the job's message on success.
	Message string
}

// FinishTx ends the attempt of a job held by owner: completed on success;
// on failure cancelled (when cancel was asked), failed (permanent or last
// attempt), or back to available after its backoff. A job taken back by
// the rescuer but not yet claimed again may still be finished by its last
// holder.
func (q *Queue) FinishTx(ctx context.Context, tx store.Querier, id, owner string, o Outcome) (Job, error) {
	j, err := get(ctx, tx, id)
	if err != nil {
		return j, err
	}
	if j.Owner != owner || (j.State != Running && j.State != Available) {
		return j, fmt.Errorf("%w: job %s is %s and not held by %s", ErrConflict, id, j.State, owner)
	}
	cond := "state IN ('running', 'available') AND lease_owner = ?"
	if o.Err == "" {
		msg := o.Message
		if msg == "" {
			msg = "completed"
		}
		return q.transition(ctx, tx, id, `state = 'completed', finished_at = ?, lease_until = NULL, progress = 1, message = ?`, cond,
			store.Millis(q.now()), msg, id, owner)
	}
	if o.Stopped && !j.CancelRequested {
		o.Err = "stopped by the executor: " + o.Err
	}
	out, err := q.failAttempt(ctx, tx, j, o.Err, o.Permanent, cond, owner)
	if errors.Is(err, ErrLeaseLost) {
		return j, fmt.Errorf("%w: job %s changed meanwhile", ErrConflict, id)
	}
	return out, err
}
