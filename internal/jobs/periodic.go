package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/riskmap/riskmap/internal/store"
)

// Periodic inserts a job of Kind on a schedule, once across every console
// process sharing the database (the process that moves the schedule's
// next time inserts the job). A run missed while no console ran happens
// once at start, not once per missed slot. The job carries the unique key
// periodic:NAME, so a run still waiting or running absorbs the next one.
type Periodic struct {
	Name    string
	Kind    string
	Payload any
	// Every or Cron (robfig/cron v3 syntax, UTC; @daily, @every 6h...).
	Every time.Duration
	Cron  string
	// RunAtStart makes the first run due as soon as the schedule is first
	// registered.
	RunAtStart bool
	Priority   int
}

func (p Periodic) spec() string {
	if p.Cron != "" {
		return p.Cron
	}
	return "@every " + p.Every.String()
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron parses a cron spec (5 fields or a descriptor).
func ParseCron(spec string) (cron.Schedule, error) {
	sch, err := cronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: cron %q: %w", ErrInvalid, spec, err)
	}
	return sch, nil
}

// AddPeriodic registers schedules; call it before Run.
func (q *Queue) AddPeriodic(ps ...Periodic) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, p := range ps {
		if p.Name == "" || p.Kind == "" {
			return fmt.Errorf("%w: periodic job needs a name and a kind", ErrInvalid)
		}
		if p.Cron == "" && p.Every <= 0 {
			return fmt.Errorf("%w: periodic job %s needs Every or Cron", ErrInvalid, p.Name)
		}
		if _, err := ParseCron(p.spec()); err != nil {
			return fmt.Errorf("periodic job %s: %w", p.Name, err)
		}
		for _, o := range q.periodic {
			if o.Name == p.Name {
				return fmt.Errorf("%w: periodic job %s registered twice", ErrInvalid, p.Name)
			}
		}
		q.periodic = append(q.periodic, p)
	}
	return nil
}

func (q *Queue) registerPeriodic(ctx context.Context, ps []Periodic) error {
	now := q.now()
	return q.st.Tx(ctx, func(tx store.Querier) error {
		for _, p := range ps {
			sch, _ := ParseCron(p.spec())
			next := sch.Next(now)
			if p.RunAtStart {
				next = now
			}
			// A changed spec takes effect now; an unchanged one keeps its
			// stored next time (a restart does not push it back).
			if _, err := tx.ExecContext(ctx, `INSERT INTO job_periodic (name, spec, next_run) VALUES (?, ?, ?)
				ON CONFLICT (name) DO UPDATE SET spec = excluded.spec,
				next_run = CASE WHEN job_periodic.spec = excluded.spec THEN job_periodic.next_run ELSE excluded.next_run END`,
				p.Name, p.spec(), store.Millis(next)); err != nil {
				return fmt.Errorf("register periodic job %s: %w", p.Name, err)
			}
		}
		return nil
	})
}

func (q *Queue) periodicLoop(ctx context.Context, ps []Periodic) {
	if len(ps) == 0 {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if err := q.runDuePeriodic(ctx, ps); err != nil && ctx.Err() == nil {
			q.log.Warn("jobs: periodic", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// runDuePeriodic inserts the jobs of the schedules that are due.
func (q *Queue) runDuePeriodic(ctx context.Context, ps []Periodic) error {
	now := q.now()
	rows, err := q.st.Read().QueryContext(ctx, `SELECT name, next_run FROM job_periodic WHERE next_run <= ?`, store.Millis(now))
	if err != nil {
		return fmt.Errorf("due periodic jobs: %w", err)
	}
	due := map[string]int64{}
	for rows.Next() {
		var name string
		var next int64
		if rows.Scan(&name, &next) == nil {
			due[name] = next
		}
	}
	rows.Close()
	var errs []error
	inserted := false
	for _, p := range ps {
		old, ok := due[p.Name]
		if !ok {
			continue
		}
		sch, _ := ParseCron(p.spec())
		err := q.st.Tx(ctx, func(tx store.Querier) error {
			res, err := tx.ExecContext(ctx, `UPDATE job_periodic SET next_run = ?, last_run = ? WHERE name = ? AND next_run = ?`,
				store.Millis(sch.Next(now)), store.Millis(now), p.Name, old)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil // another process took this run
			}
			_, _, err = q.InsertTx(ctx, tx, p.Kind, p.Payload, InsertOpts{UniqueKey: "periodic:" + p.Name, Priority: p.Priority})
			inserted = true
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("periodic job %s: %w", p.Name, err))
		}
	}
	if inserted {
		q.Wake()
	}
	return errors.Join(errs...)
}
