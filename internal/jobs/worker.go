package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/store"
)

// Run runs this process's workers, the rescuer and the periodic scheduler
// until ctx ends, then waits for the running jobs to return (their context
// is cancelled; an attempt cut short is retried by whoever holds the job
// next, after its lease).
func (q *Queue) Run(ctx context.Context) error {
	q.mu.Lock()
	if q.running {
		q.mu.Unlock()
		return errors.New("jobs: Run called twice")
	}
	q.running = true
	periodic := append([]Periodic(nil), q.periodic...)
	q.mu.Unlock()
	if err := q.registerPeriodic(ctx, periodic); err != nil {
		return err
	}
	q.wg.Add(2)
	go func() { defer q.wg.Done(); q.rescueLoop(ctx) }()
	go func() { defer q.wg.Done(); q.periodicLoop(ctx, periodic) }()
	q.fetchLoop(ctx)
	q.wg.Wait()
	return nil
}

// fetchLoop claims due jobs of the local kinds while slots are free.
func (q *Queue) fetchLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-q.wake:
		}
		more := q.fetchOnce(ctx)
		d := q.cfg.PollEvery
		if more {
			d = 0
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(d)
	}
}

// fetchOnce claims what it can; it reports whether a claim filled every
// free slot of a kind (more may be waiting).
func (q *Queue) fetchOnce(ctx context.Context) bool {
	now := q.now()
	// A cheap read on the reader finds the kinds with due work, so idle
	// polls never take the write lock.
	rows, err := q.st.Read().QueryContext(ctx, `SELECT DISTINCT kind FROM jobs WHERE state = 'available' AND route = '' AND run_at <= ?`, store.Millis(now))
	if err != nil {
		if ctx.Err() == nil {
			q.log.Warn("jobs: look for due jobs", "err", err)
		}
		return false
	}
	var due []string
	for rows.Next() {
		var k string
		if rows.Scan(&k) == nil {
			due = append(due, k)
		}
	}
	rows.Close()
	more := false
	for _, name := range due {
		k := q.kind(name)
		if k == nil || k.Work == nil {
			continue
		}
		free := k.Concurrency - q.used(name)
		if free <= 0 {
			continue
		}
		var got []Job
		err := events.Tx(ctx, q.st, q.now, func(ctx context.Context, tx store.Querier) error {
			var err error
			got, err = q.claim(ctx, tx, "", []string{name}, free, q.cfg.Owner, k.Lease)
			return err
		})
		if err != nil {
			if ctx.Err() == nil {
				q.log.Warn("jobs: claim", "kind", name, "err", err)
			}
			continue
		}
		if len(got) == free {
			more = true
		}
		for _, j := range got {
			q.start(ctx, k, j)
		}
	}
	return more
}

func (q *Queue) used(kind string) int {
	q.slotsMu.Lock()
	defer q.slotsMu.Unlock()
	return q.slots[kind]
}

func (q *Queue) take(kind string, d int) {
	q.slotsMu.Lock()
	q.slots[kind] += d
	q.slotsMu.Unlock()
}

// claim leases up to n due jobs of the kinds on route to owner, highest
// priority first, then oldest run_at. On PostgreSQL other processes' claims
// skip the rows this one locks.
func (q *Queue) claim(ctx context.Context, tx store.Querier, route string, kinds []string, n int, owner string, lease time.Duration) ([]Job, error) {
	if n <= 0 || len(kinds) == 0 {
		return nil, nil
	}
	now := q.now()
	lock := ""
	if q.st.Dialect() == store.Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	args := []any{route}
	for _, k := range kinds {
		args = append(args, k)
	}
	args = append(args, store.Millis(now))
	rows, err := tx.QueryContext(ctx, `SELECT id, kind FROM jobs WHERE state = 'available' AND route = ? AND kind IN (`+placeholders(len(kinds))+`)
		AND run_at <= ? ORDER BY priority, run_at, id LIMIT `+fmt.Sprint(n)+lock, args...)
	if err != nil {
		return nil, fmt.Errorf("claim jobs: %w", err)
	}
	type pick struct{ id, kind string }
	var picks []pick
	for rows.Next() {
		var p pick
		if err := rows.Scan(&p.id, &p.kind); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim jobs: %w", err)
		}
		picks = append(picks, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim jobs: %w", err)
	}
	out := make([]Job, 0, len(picks))
	for _, p := range picks {
		l := lease
		if k := q.kind(p.kind); k != nil && l <= 0 {
			l = k.Lease
		}
		if l <= 0 {
			l = time.Minute
		}
		j, err := q.transition(ctx, tx, p.id, `state = 'running', attempts = attempts + 1, lease_owner = ?, lease_until = ?, heartbeat_at = ?,
			started_at = ?, progress = 0, cancel_notified = 0, message = ?`, "state = 'available'",
			owner, store.Millis(now.Add(l)), store.Millis(now), store.Millis(now), "running on "+owner, p.id)
		if errors.Is(err, ErrLeaseLost) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// start runs one claimed job on its own goroutine.
func (q *Queue) start(ctx context.Context, k *Kind, j Job) {
	q.take(k.Name, 1)
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		defer q.take(k.Name, -1)
		defer q.Wake() // a slot is free
		q.work(ctx, k, j)
	}()
}

// work runs one attempt with heartbeats and records its outcome.
func (q *Queue) work(ctx context.Context, k *Kind, j Job) {
	jctx, cancel := context.WithTimeout(ctx, k.Timeout)
	defer cancel()
	var cause error // why jctx ended early, set by the heartbeat
	hbDone := make(chan struct{})
	stopHB := make(chan struct{})
	go func() {
		defer close(hbDone)
		t := time.NewTicker(max(k.Lease/3, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-stopHB:
				return
			case <-jctx.Done():
				return
			case <-t.C:
			}
			cur, err := q.renew(ctx, j.ID, q.cfg.Owner, k.Lease, -1, "")
			switch {
			case errors.Is(err, ErrLeaseLost):
				cause = ErrLeaseLost
				cancel()
				return
			case err != nil:
				if ctx.Err() == nil {
					q.log.Warn("jobs: heartbeat", "job", j.ID, "kind", j.Kind, "err", err)
				}
			case cur.CancelRequested:
				cause = context.Canceled
				cancel()
				return
			}
		}
	}()
	err := q.call(jctx, k, j)
	close(stopHB)
	<-hbDone
	if ctx.Err() != nil && err != nil {
		// The console is stopping: leave the job to its lease (it is
		// retried by whoever runs next), do not count this as a failure.
		q.log.Info("jobs: stopped while running; its lease will pass on", "job", j.ID, "kind", j.Kind)
		return
	}
	if errors.Is(cause, ErrLeaseLost) {
		q.log.Warn("jobs: lease lost while running", "job", j.ID, "kind", j.Kind)
		return
	}
	var out Job
	wctx := context.WithoutCancel(ctx)
	ferr := events.Tx(wctx, q.st, q.now, func(wctx context.Context, tx store.Querier) error {
		if err == nil {
			// The UPDATE's condition is the lease check: a success is one
			// statement.
			var err2 error
			out, err2 = q.transition(wctx, tx, j.ID, `state = 'completed', finished_at = ?, lease_until = NULL, progress = 1, message = 'completed'`,
				"state = 'running' AND lease_owner = ?", store.Millis(q.now()), j.ID, q.cfg.Owner)
			return err2
		}
		cur, err2 := get(wctx, tx, j.ID)
		if err2 != nil {
			return err2
		}
		if cur.State != Running || cur.Owner != q.cfg.Owner {
			return ErrLeaseLost
		}
		var sn snooze
		var pm permanent
		switch {
		case errors.As(err, &sn):
			out, err2 = q.transition(wctx, tx, j.ID, `state = 'available', attempts = attempts - 1, run_at = ?, lease_until = NULL, message = ?`,
				"state = 'running' AND lease_owner = ?", store.Millis(q.now().Add(sn.d)), fmt.Sprintf("snoozed until %s", q.now().Add(sn.d).UTC().Format(time.RFC3339)), j.ID, q.cfg.Owner)
		case errors.Is(cause, context.Canceled) || cur.CancelRequested:
			cur.CancelRequested = true
			out, err2 = q.failAttempt(wctx, tx, cur, err.Error(), false, "state = 'running' AND lease_owner = ?", q.cfg.Owner)
		default:
			msg := err.Error()
			if errors.Is(err, context.DeadlineExceeded) && jctx.Err() != nil {
				msg = fmt.Sprintf("timed out after %s: %s", k.Timeout, msg)
			}
			out, err2 = q.failAttempt(wctx, tx, cur, msg, errors.As(err, &pm), "state = 'running' AND lease_owner = ?", q.cfg.Owner)
		}
		return err2
	})
	if ferr != nil {
		if !errors.Is(ferr, ErrLeaseLost) {
			q.log.Error("jobs: record outcome", "job", j.ID, "kind", j.Kind, "err", ferr)
		}
		return
	}
	if out.State == Failed {
		q.log.Warn("jobs: job failed", "job", j.ID, "kind", j.Kind, "message", out.Message)
	} else if err != nil {
		q.log.Info("jobs: attempt failed", "job", j.ID, "kind", j.Kind, "message", out.Message)
	}
}

// call runs Work, turning a panic into an error.
func (q *Queue) call(ctx context.Context, k *Kind, j Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return k.Work(ctx, j)
}

// renew extends a running job's lease held by owner, recording progress
// (when ≥ 0) and a message (when not empty). It returns the job.
func (q *Queue) renew(ctx context.Context, id, owner string, lease time.Duration, progress float64, msg string) (Job, error) {
	now := q.now()
	var out Job
	err := q.st.Tx(ctx, func(tx store.Querier) error {
		set := `heartbeat_at = ?, lease_until = CASE WHEN cancel_requested = 1 THEN lease_until ELSE ? END`
		args := []any{store.Millis(now), store.Millis(now.Add(lease))}
		if progress >= 0 {
			set += `, progress = ?`
			args = append(args, progress)
		}
		if msg != "" {
			set += `, message = ?`
			args = append(args, msg)
		}
		args = append(args, id, owner)
		var err error
		out, err = scanJob(tx.QueryRowContext(ctx, `UPDATE jobs SET `+set+` WHERE id = ? AND state = 'running' AND lease_owner = ? RETURNING `+jobCols, args...))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrLeaseLost
		}
		if err != nil {
			return fmt.Errorf("renew job %s: %w", id, err)
		}
		return nil
	})
	return out, err
}

// rescueLoop moves on the jobs whose lease expired and fails the jobs
// waiting past their kind's QueueTimeout.
func (q *Queue) rescueLoop(ctx context.Context) {
	t := time.NewTicker(q.cfg.RescueEvery)
	defer t.Stop()
	for {
		if _, err := q.Rescue(ctx); err != nil && ctx.Err() == nil {
			q.log.Warn("jobs: rescue", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Rescue runs one pass of the rescuer and returns how many jobs it moved.
func (q *Queue) Rescue(ctx context.Context) (int, error) {
	now := q.now()
	lock := ""
	if q.st.Dialect() == store.Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	moved := 0
	for {
		var n int
		err := events.Tx(ctx, q.st, q.now, func(ctx context.Context, tx store.Querier) error {
			rows, err := tx.QueryContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE state = 'running' AND lease_until < ? ORDER BY lease_until LIMIT 100`+lock, store.Millis(now))
			if err != nil {
				return fmt.Errorf("rescue: %w", err)
			}
			var stuck []Job
			for rows.Next() {
				j, err := scanJob(rows)
				if err != nil {
					rows.Close()
					return fmt.Errorf("rescue: %w", err)
				}
				stuck = append(stuck, j)
			}
			rows.Close()
			for _, j := range stuck {
				msg := "lease expired: no heartbeat from " + j.Owner
				if j.CancelRequested {
					msg = "no answer to the cancel request"
				}
				if _, err := q.failAttempt(ctx, tx, j, msg, false, "state = 'running' AND lease_until < ?", store.Millis(now)); err != nil && !errors.Is(err, ErrLeaseLost) {
					return err
				}
				q.log.Info("jobs: rescued", "job", j.ID, "kind", j.Kind, "owner", j.Owner, "attempt", j.Attempts)
			}
			n = len(stuck)
			return nil
		})
		if err != nil {
			return moved, err
		}
		moved += n
		if n < 100 {
			break
		}
	}
	// Queue timeouts, per kind.
	q.mu.RLock()
	var timed []*Kind
	for _, k := range q.kinds {
		if k.QueueTimeout > 0 {
			timed = append(timed, k)
		}
	}
	q.mu.RUnlock()
	sort.Slice(timed, func(i, j int) bool { return timed[i].Name < timed[j].Name })
	for _, k := range timed {
		err := events.Tx(ctx, q.st, q.now, func(ctx context.Context, tx store.Querier) error {
			rows, err := tx.QueryContext(ctx, `SELECT id, route FROM jobs WHERE state = 'available' AND kind = ? AND created_at < ? LIMIT 100`+lock,
				k.Name, store.Millis(now.Add(-k.QueueTimeout)))
			if err != nil {
				return fmt.Errorf("queue timeouts: %w", err)
			}
			type old struct{ id, route string }
			var olds []old
			for rows.Next() {
				var o old
				if err := rows.Scan(&o.id, &o.route); err != nil {
					rows.Close()
					return err
				}
				olds = append(olds, o)
			}
			rows.Close()
			for _, o := range olds {
				msg := fmt.Sprintf("not started within %s", k.QueueTimeout)
				if o.route != "" {
					msg = fmt.Sprintf("no %s ran it within %s (is it connected?)", strings.Replace(o.route, ":", " ", 1), k.QueueTimeout)
				}
				if _, err := q.transition(ctx, tx, o.id, `state = 'failed', finished_at = ?, last_error = ?, message = ?`, "state = 'available'",
					store.Millis(now), msg, msg, o.id); err != nil && !errors.Is(err, ErrLeaseLost) {
					return err
				}
				moved++
			}
			return nil
		})
		if err != nil {
			return moved, err
		}
	}
	return moved, nil
}

// Prune deletes jobs that finished more than Retention ago.
func (q *Queue) Prune(ctx context.Context) (int64, error) {
	var n int64
	err := q.st.Tx(ctx, func(tx store.Querier) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?`, store.Millis(q.now().Add(-q.cfg.Retention)))
		if err != nil {
			return fmt.Errorf("prune jobs: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}
