package scans

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/sensorproto"

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

// TypeSensors says how many live sensors run a scan type.
type TypeSensors struct {
	Type string `json:"type" enum:"vulnerability,secret,malware,compliance"`
	// Sensors counts the sensors whose command poll in the last
	// liveTypesWindow declared the type.
	Sensors int `json:"sensors"`
}

// liveTypesWindow is how recent a sensor's poll must be for its scan types
// to count (sensors poll every few seconds; a stopped sensor drops out).
const liveTypesWindow = 5 * time.Minute

// ScanTypes lists every scan type with the number of live sensors that
// run it: the console offers a type when one does.
func (s *Service) ScanTypes(ctx context.Context) ([]TypeSensors, error) {
	rows, err := s.st.Read().QueryContext(ctx, `SELECT scan_types FROM sensor_polls WHERE last_poll >= ?`,
		store.Millis(s.now().Add(-liveTypesWindow)))
	if err != nil {
		return nil, fmt.Errorf("scan types: %w", err)
	}
	defer rows.Close()
	n := map[string]int{}
	for rows.Next() {
		var types string
		if err := rows.Scan(&types); err != nil {
			return nil, fmt.Errorf("scan types: %w", err)
		}
		if types == "" {
			types = TypeVulnerability
		}
		for _, t := range strings.Split(types, ",") {
			n[t]++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("scan types: %w", err)
	}
	out := make([]TypeSensors, 0, len(sensorproto.ScanTypes))
	for _, t := range sensorproto.ScanTypes {
		out = append(out, TypeSensors{Type: t, Sensors: n[t]})
	}
	return out, nil
}
