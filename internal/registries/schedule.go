package registries

import (
	"context"
	"errors"
	"fmt"

	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/store"
)

// SchedulesKind is the registries.schedules job kind: it queues the syncs
// of the accounts whose scheduled time has come.
func (s *Service) SchedulesKind() jobs.Kind {
	return jobs.Kind{Name: KindSchedules, MaxAttempts: 1, Work: func(ctx context.Context, _ jobs.Job) error {
		n, err := s.RunDueSyncs(ctx)
		if n > 0 {
			s.log.Info("scheduled registry syncs queued", "accounts", n)
		}
		return err
	}}
}

// SchedulesEvery is the periodic schedule of registries.schedules.
func (s *Service) SchedulesEvery() jobs.Periodic {
	return jobs.Periodic{Name: KindSchedules, Kind: KindSchedules, Every: s.cfg.ScheduleEvery, RunAtStart: true}
}

// RunDueSyncs queues a sync of every account whose scheduled time has come
// and moves it to its next time (a console that was down syncs a missed
// slot once). Each account's slot is claimed in the transaction that
// queues its sync, so two consoles never both queue it.
func (s *Service) RunDueSyncs(ctx context.Context) (int, error) {
	now := s.now().UTC()
	rows, err := s.st.Read().QueryContext(ctx, `SELECT id, schedule, next_sync_at FROM registry_accounts WHERE next_sync_at IS NOT NULL AND next_sync_at <= ?`,
		store.Millis(now))
	if err != nil {
		return 0, fmt.Errorf("due registry syncs: %w", err)
	}
	type due struct {
		id, schedule string
		at           int64
	}
	var all []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.schedule, &d.at); err != nil {
			rows.Close()
			return 0, fmt.Errorf("due registry syncs: %w", err)
		}
		all = append(all, d)
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("due registry syncs: %w", err)
	}
	n := 0
	var errs []error
	for _, d := range all {
		var next any
		if t := s.nextSync(d.schedule, now); t != nil {
			next = store.Millis(*t)
		}
		claimed := false
		err := s.st.Tx(ctx, func(tx store.Querier) error {
			res, err := tx.ExecContext(ctx, `UPDATE registry_accounts SET next_sync_at = ? WHERE id = ? AND next_sync_at = ?`, next, d.id, d.at)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k != 1 {
				return nil // another console took it
			}
			claimed = true
			_, err = s.queueSyncTx(ctx, tx, d.id, "schedule "+d.schedule)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("scheduled sync of registry account %s: %w", d.id, err))
			continue
		}
		if claimed {
			n++
		}
	}
	if n > 0 {
		s.jobs.Wake()
	}
	return n, errors.Join(errs...)
}
