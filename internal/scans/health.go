package scans

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/riskmap/riskmap/internal/store"
)

var errNoRows = sql.ErrNoRows

// SensorHealth is what the scans module knows of a sensor: its last
// command poll and its scans' recent state.
type SensorHealth struct {
	LastPoll     *time.Time
	FreeSlots    int
	RunningScans int
	FailedScans  int // in the last 24 hours
	LastError    string
}

// SensorHealth reports every sensor that polled or has scans (diagnosis).
func (s *Service) SensorHealth(ctx context.Context) (map[string]*SensorHealth, error) {
	out := map[string]*SensorHealth{}
	get := func(id string) *SensorHealth {
		if out[id] == nil {
			out[id] = &SensorHealth{}
		}
		return out[id]
	}
	rd := s.st.Read()
	rows, err := rd.QueryContext(ctx, `SELECT sensor_id, free_slots, last_poll FROM sensor_polls`)
	if err != nil {
		return nil, fmt.Errorf("sensor polls: %w", err)
	}
	for rows.Next() {
		var id string
		var free int
		var last int64
		if err := rows.Scan(&id, &free, &last); err != nil {
			rows.Close()
			return nil, err
		}
		h := get(id)
		t := store.FromMillis(last)
		h.FreeSlots, h.LastPoll = free, &t
	}
	rows.Close()
	rows, err = rd.QueryContext(ctx, `SELECT sensor_id, status, message FROM scans
		WHERE status = 'running' OR (status = 'error' AND finished_at >= ?) ORDER BY id`, store.Millis(s.now().Add(-24*time.Hour)))
	if err != nil {
		return nil, fmt.Errorf("sensor scans: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, st, msg string
		if err := rows.Scan(&id, &st, &msg); err != nil {
			return nil, err
		}
		h := get(id)
		if st == StatusRunning {
			h.RunningScans++
		} else {
			h.FailedScans++
			h.LastError = msg
		}
	}
	return out, rows.Err()
}

// InventoryStats counts the stored inventories and their compressed size.
func (s *Service) InventoryStats(ctx context.Context) (n int, bytes int64, err error) {
	err = s.st.Read().QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM inventories`).Scan(&n, &bytes)
	if err != nil {
		err = fmt.Errorf("inventories: %w", err)
	}
	return n, bytes, err
}
