package registries

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/store"
)

// Sync states of an account.
const (
	StateIdle     = "idle"
	StateQueued   = "queued"
	StateRunning  = "running"
	StateRetrying = "retrying"
	StateFailed   = "failed"
)

const syncCols = `id, job_id, attempt, trigger_by, status, started_at, finished_at, repositories, tags, new_tags, changed_tags, gone_tags,
	new_images, scans_queued, message`

func scanSync(sc interface{ Scan(...any) error }) (RegistrySync, error) {
	var h RegistrySync
	var started int64
	var fin sql.NullInt64
	err := sc.Scan(&h.ID, &h.JobID, &h.Attempt, &h.Trigger, &h.Status, &started, &fin, &h.Repositories, &h.Tags, &h.NewTags, &h.ChangedTags,
		&h.GoneTags, &h.NewImages, &h.ScansQueued, &h.Message)
	if err != nil {
		return h, err
	}
	h.StartedAt = store.FromMillis(started)
	if fin.Valid {
		t := store.FromMillis(fin.Int64)
		h.FinishedAt = &t
	}
	return h, nil
}

// syncState is where an account's sync stands: its latest job's state,
// its latest attempt and its latest success.
func (s *Service) syncState(ctx context.Context, a *RegistryAccount) (RegistrySyncState, error) {
	st := RegistrySyncState{State: StateIdle, JobID: a.syncJob, NextAt: a.nextSync}
	// The job first, then its history: a sync records its outcome before
	// its job ends, so a job seen ended has its final row below (read the
	// other way round, an attempt that ended in between showed an idle
	// state beside a running row).
	if a.syncJob != "" {
		j, err := s.jobs.Get(ctx, a.syncJob)
		switch {
		case errors.Is(err, jobs.ErrNotFound): // pruned long since
		case err != nil:
			return st, err
		default:
			st.Message = j.Message
			switch j.State {
			case jobs.Available:
				st.State = StateQueued
				if j.Attempts > 0 {
					st.State = StateRetrying
				}
			case jobs.Running:
				st.State = StateRunning
			case jobs.Failed:
				st.State = StateFailed
			}
		}
	}
	q := s.st.Read()
	last, err := scanSync(q.QueryRowContext(ctx, `SELECT `+syncCols+` FROM registry_syncs WHERE account_id = ? ORDER BY started_at DESC, id DESC LIMIT 1`, a.ID))
	switch {
	case err == nil:
		st.Last = &last
	case !errors.Is(err, sql.ErrNoRows):
		return st, fmt.Errorf("sync state of registry account %s: %w", a.ID, err)
	}
	var ok sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT MAX(finished_at) FROM registry_syncs WHERE account_id = ? AND status = ?`, a.ID, SyncComplete).Scan(&ok); err != nil {
		return st, fmt.Errorf("sync state of registry account %s: %w", a.ID, err)
	}
	if ok.Valid {
		t := store.FromMillis(ok.Int64)
		st.LastSuccessAt = &t
	}
	return st, nil
}

// History lists an account's sync attempts, newest first.
func (s *Service) History(ctx context.Context, accountID string, limit int) ([]RegistrySync, error) {
	if _, err := getAccount(ctx, s.st.Read(), accountID); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	rows, err := s.st.Read().QueryContext(ctx, `SELECT `+syncCols+` FROM registry_syncs WHERE account_id = ? ORDER BY started_at DESC, id DESC LIMIT ?`,
		accountID, limit)
	if err != nil {
		return nil, fmt.Errorf("sync history of registry account %s: %w", accountID, err)
	}
	defer rows.Close()
	out := []RegistrySync{}
	for rows.Next() {
		h, err := scanSync(rows)
		if err != nil {
			return nil, fmt.Errorf("sync history of registry account %s: %w", accountID, err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// RegistryAccountStatus is one account's sync in the diagnosis.
type RegistryAccountStatus struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	Kind          string     `json:"kind"`
	Host          string     `json:"host"`
	State         string     `json:"state"`
	LastSyncAt    *time.Time `json:"lastSyncAt,omitempty"`
	LastStatus    string     `json:"lastStatus,omitempty"`
	LastMessage   string     `json:"lastMessage,omitempty"`
	LastSuccessAt *time.Time `json:"lastSuccessAt,omitempty"`
	NextSyncAt    *time.Time `json:"nextSyncAt,omitempty"`
	Tags          int        `json:"tags"`
}

// Status is the accounts' sync status for the diagnosis.
func (s *Service) Status(ctx context.Context) ([]RegistryAccountStatus, error) {
	as, err := s.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]RegistryAccountStatus, 0, len(as))
	for _, a := range as {
		st := RegistryAccountStatus{ID: a.ID, Name: a.Name, Kind: a.Kind, Host: a.Host, State: a.Sync.State, LastSuccessAt: a.Sync.LastSuccessAt,
			NextSyncAt: a.Sync.NextAt, Tags: a.Tags}
		if l := a.Sync.Last; l != nil {
			t := l.StartedAt
			st.LastSyncAt, st.LastStatus, st.LastMessage = &t, l.Status, l.Message
		}
		out = append(out, st)
	}
	return out, nil
}
