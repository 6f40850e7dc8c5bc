package scans

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/riskmap/riskmap/internal/store"
)

// Diagnosis is the console's health as an admin sees it.
type Diagnosis struct {
	GeneratedAt time.Time      `json:"generatedAt"`
	Feeds       *FeedStatus    `json:"feeds,omitempty"`
	Sensors     []SensorHealth `json:"sensors"`
	Scans       map[string]int `json:"scans"`
	Jobs        map[string]int `json:"jobs"`
	Storage     Storage        `json:"storage"`
}

// SensorHealth is what the console knows of one sensor: its last command
// poll (this module) and its last topology report (nodes it reported,
// from the topology tables), with its scans' recent errors.
type SensorHealth struct {
	SensorID     string     `json:"sensorId"`
	LastPoll     *time.Time `json:"lastPoll,omitempty"`
	FreeSlots    int        `json:"freeScanSlots"`
	LastReport   *time.Time `json:"lastReport,omitempty"`
	Nodes        int        `json:"nodes"`
	Version      string     `json:"version,omitempty"`
	RunningScans int        `json:"runningScans"`
	FailedScans  int        `json:"failedScans24h"`
	LastError    string     `json:"lastError,omitempty"`
	Stale        bool       `json:"stale"`
}

// Storage is how much room the console takes.
type Storage struct {
	Dialect       string `json:"dialect"`
	DatabaseBytes int64  `json:"databaseBytes"`
	KBBytes       int64  `json:"knowledgeBaseBytes"`
	Inventories   int    `json:"inventories"`
	InventoryGzip int64  `json:"inventoryBytes"`
	Findings      int    `json:"findings"`
}

// StaleAfter marks a sensor stale when neither a poll nor a report came in
// this long.
const StaleAfter = 5 * time.Minute

// Diagnose gathers the diagnosis.
func (s *Service) Diagnose(ctx context.Context) (Diagnosis, error) {
	now := s.now()
	d := Diagnosis{GeneratedAt: now.UTC(), Sensors: []SensorHealth{}, Jobs: map[string]int{}}
	if s.KB != nil {
		fs := s.KB.Status()
		d.Feeds = &fs
		d.Storage.KBBytes = fs.SizeBytes
	}
	var err error
	if d.Scans, err = s.Queue.Depth(ctx); err != nil {
		return d, err
	}
	rd := s.st.Read()
	rows, err := rd.QueryContext(ctx, `SELECT state, COUNT(*) FROM jobs GROUP BY state`)
	if err != nil {
		return d, fmt.Errorf("diagnosis: jobs: %w", err)
	}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			rows.Close()
			return d, err
		}
		d.Jobs[st] = n
	}
	rows.Close()

	sensors := map[string]*SensorHealth{}
	get := func(id string) *SensorHealth {
		if sensors[id] == nil {
			sensors[id] = &SensorHealth{SensorID: id}
		}
		return sensors[id]
	}
	rows, err = rd.QueryContext(ctx, `SELECT sensor_id, free_slots, last_poll FROM sensor_polls`)
	if err != nil {
		return d, fmt.Errorf("diagnosis: sensor polls: %w", err)
	}
	for rows.Next() {
		var id string
		var free int
		var last int64
		if err := rows.Scan(&id, &free, &last); err != nil {
			rows.Close()
			return d, err
		}
		h := get(id)
		t := store.FromMillis(last)
		h.FreeSlots, h.LastPoll = free, &t
	}
	rows.Close()
	rows, err = rd.QueryContext(ctx, `SELECT sensor_id, COUNT(*), MAX(last_seen), MAX(CASE WHEN kind = 'host' THEN attrs ELSE '' END) FROM nodes
		WHERE sensor_id IS NOT NULL AND sensor_id <> '' GROUP BY sensor_id`)
	if err != nil {
		return d, fmt.Errorf("diagnosis: nodes: %w", err)
	}
	for rows.Next() {
		var id, attrs string
		var n int
		var last int64
		if err := rows.Scan(&id, &n, &last, &attrs); err != nil {
			rows.Close()
			return d, err
		}
		h := get(id)
		t := store.FromMillis(last)
		h.Nodes, h.LastReport = n, &t
		h.Version = jsonString(attrs, "sensorVersion")
	}
	rows.Close()
	rows, err = rd.QueryContext(ctx, `SELECT sensor_id, status, message, COALESCE(finished_at, 0) FROM scans
		WHERE status = 'running' OR (status = 'error' AND finished_at >= ?) ORDER BY id`, store.Millis(now.Add(-24*time.Hour)))
	if err != nil {
		return d, fmt.Errorf("diagnosis: scans: %w", err)
	}
	for rows.Next() {
		var id, st, msg string
		var fin int64
		if err := rows.Scan(&id, &st, &msg, &fin); err != nil {
			rows.Close()
			return d, err
		}
		h := get(id)
		if st == StatusRunning {
			h.RunningScans++
		} else {
			h.FailedScans++
			h.LastError = msg
		}
	}
	rows.Close()
	for _, h := range sensors {
		last := time.Time{}
		if h.LastPoll != nil {
			last = *h.LastPoll
		}
		if h.LastReport != nil && h.LastReport.After(last) {
			last = *h.LastReport
		}
		h.Stale = now.Sub(last) > StaleAfter
		d.Sensors = append(d.Sensors, *h)
	}
	sort.Slice(d.Sensors, func(i, j int) bool { return d.Sensors[i].SensorID < d.Sensors[j].SensorID })

	d.Storage.Dialect = string(s.st.Dialect())
	if err := rd.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM inventories`).Scan(&d.Storage.Inventories, &d.Storage.InventoryGzip); err != nil {
		return d, fmt.Errorf("diagnosis: inventories: %w", err)
	}
	if err := rd.QueryRowContext(ctx, `SELECT COUNT(*) FROM scan_findings`).Scan(&d.Storage.Findings); err != nil {
		return d, fmt.Errorf("diagnosis: findings: %w", err)
	}
	if s.st.Dialect() == store.Postgres {
		if err := rd.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&d.Storage.DatabaseBytes); err != nil {
			return d, fmt.Errorf("diagnosis: database size: %w", err)
		}
	} else {
		for _, suf := range []string{"", "-wal", "-shm"} {
			if fi, err := os.Stat(s.st.Location() + suf); err == nil {
				d.Storage.DatabaseBytes += fi.Size()
			}
		}
	}
	return d, nil
}

func jsonString(doc, key string) string {
	var m map[string]any
	if json.Unmarshal([]byte(doc), &m) != nil {
		return ""
	}
	v, _ := m[key].(string)
	return v
}
