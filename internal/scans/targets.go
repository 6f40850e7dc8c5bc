package scans

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/riskmap/riskmap/internal/store"
)

// NodeFilter selects topology nodes to scan.
type NodeFilter struct {
	// Kind is host, container or image (required).
	Kind string `json:"kind" enum:"host,container,image"`
	// SensorID restricts to nodes reported by one sensor.
	SensorID string `json:"sensorId,omitempty" maxLength:"200"`
	// NameContains matches part of the node name.
	NameContains string `json:"nameContains,omitempty" maxLength:"200"`
	// SeenWithin restricts to nodes seen in the last N seconds (0: any).
	SeenWithinSeconds int `json:"seenWithinSeconds,omitempty" minimum:"0"`
}

// ScanRequest says what to scan: nodes by id, nodes by filter, or
// explicit (sensor, kind, ref) targets.
type ScanRequest struct {
	NodeIDs []string    `json:"nodeIds,omitempty" maxItems:"1000"`
	Filter  *NodeFilter `json:"filter,omitempty"`
	Targets []Target    `json:"targets,omitempty" maxItems:"1000"`
}

// MaxTargets bounds one request's expansion.
const MaxTargets = 5000

// targetOfNode turns a topology node into a scan target: the sensor that
// reports it, and the ref the sensor scans (attrs.scanRef when the
// topology sets one, else the node key: container id, image reference or
// host id).
func targetOfNode(id, kind, key, sensor, attrs string) (Target, error) {
	t := Target{NodeID: id, SensorID: sensor, Kind: kind, Ref: key}
	var a struct {
		ScanRef string `json:"scanRef"`
	}
	if json.Unmarshal([]byte(attrs), &a) == nil && a.ScanRef != "" {
		t.Ref = a.ScanRef
	}
	switch kind {
	case KindHost, KindContainer, KindImage:
	default:
		return t, fmt.Errorf("%w: node %s is a %s; scans run on hosts, containers and images", ErrInvalid, id, kind)
	}
	if sensor == "" {
		return t, fmt.Errorf("%w: node %s has no sensor that could scan it", ErrInvalid, id)
	}
	return t, nil
}

// Resolve expands a request into targets.
func (s *Service) Resolve(ctx context.Context, req ScanRequest) ([]Target, error) {
	var out []Target
	for _, id := range req.NodeIDs {
		var kind, key, attrs string
		var sensor sql.NullString
		err := s.st.Read().QueryRowContext(ctx, `SELECT kind, node_key, sensor_id, attrs FROM nodes WHERE id = ?`, id).Scan(&kind, &key, &sensor, &attrs)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: no node %q", ErrInvalid, id)
		}
		if err != nil {
			return nil, fmt.Errorf("resolve node %s: %w", id, err)
		}
		t, err := targetOfNode(id, kind, key, sensor.String, attrs)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if req.Filter != nil {
		ts, err := s.resolveFilter(ctx, *req.Filter)
		if err != nil {
			return nil, err
		}
		out = append(out, ts...)
	}
	for _, t := range req.Targets {
		t.NodeID = ""
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: nothing to scan: give nodeIds, a filter matching nodes, or targets", ErrInvalid)
	}
	if len(out) > MaxTargets {
		return nil, fmt.Errorf("%w: %d targets; at most %d per request", ErrInvalid, len(out), MaxTargets)
	}
	return out, nil
}

func (s *Service) resolveFilter(ctx context.Context, f NodeFilter) ([]Target, error) {
	switch f.Kind {
	case KindHost, KindContainer, KindImage:
	default:
		return nil, fmt.Errorf("%w: filter kind %q (want host, container or image)", ErrInvalid, f.Kind)
	}
	q := `SELECT id, kind, node_key, COALESCE(sensor_id, ''), attrs FROM nodes WHERE kind = ? AND COALESCE(sensor_id, '') <> ''`
	args := []any{f.Kind}
	if f.SensorID != "" {
		q += ` AND sensor_id = ?`
		args = append(args, f.SensorID)
	}
	if f.NameContains != "" {
		q += ` AND LOWER(name) LIKE ?`
		args = append(args, "%"+strings.ToLower(escapeLike(f.NameContains))+"%")
	}
	if f.SeenWithinSeconds > 0 {
		q += ` AND last_seen >= ?`
		args = append(args, store.Millis(s.now().Add(-time.Duration(f.SeenWithinSeconds)*time.Second)))
	}
	q += fmt.Sprintf(` ORDER BY id LIMIT %d`, MaxTargets+1)
	rows, err := s.st.Read().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("resolve filter: %w", err)
	}
	defer rows.Close()
	var out []Target
	for rows.Next() {
		var id, kind, key, sensor, attrs string
		if err := rows.Scan(&id, &kind, &key, &sensor, &attrs); err != nil {
			return nil, fmt.Errorf("resolve filter: %w", err)
		}
		t, err := targetOfNode(id, kind, key, sensor, attrs)
		if err != nil {
			continue
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// StartScans resolves a request and enqueues its scans.
func (s *Service) StartScans(ctx context.Context, req ScanRequest, by string) ([]Scan, error) {
	ts, err := s.Resolve(ctx, req)
	if err != nil {
		return nil, err
	}
	return s.Queue.Enqueue(ctx, ts, by, "")
}

// Schedule is a recurring scan of the nodes a filter selects.
type Schedule struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Cron      string     `json:"cron"`
	Filter    NodeFilter `json:"filter"`
	Enabled   bool       `json:"enabled"`
	NextRun   time.Time  `json:"nextRun"`
	LastRun   *time.Time `json:"lastRun,omitempty"`
	CreatedBy string     `json:"createdBy"`
	CreatedAt time.Time  `json:"createdAt"`
}

// ScheduleInput creates a schedule.
type ScheduleInput struct {
	Name string `json:"name" minLength:"1" maxLength:"200"`
	// Cron is a standard 5-field cron spec or a descriptor (@daily,
	// @every 6h), robfig/cron v3 syntax, in UTC.
	Cron   string     `json:"cron" minLength:"1" maxLength:"200"`
	Filter NodeFilter `json:"filter"`
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron parses a schedule spec.
func ParseCron(spec string) (cron.Schedule, error) {
	sch, err := cronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: cron %q: %w", ErrInvalid, spec, err)
	}
	return sch, nil
}

// CreateSchedule stores a schedule.
func (s *Service) CreateSchedule(ctx context.Context, in ScheduleInput, by string) (Schedule, error) {
	sch, err := ParseCron(in.Cron)
	if err != nil {
		return Schedule{}, err
	}
	if _, err := s.resolveFilter(ctx, in.Filter); err != nil {
		return Schedule{}, err
	}
	now := s.now().UTC()
	sc := Schedule{ID: store.NewID(now), Name: in.Name, Cron: in.Cron, Filter: in.Filter, Enabled: true,
		NextRun: sch.Next(now).Truncate(time.Millisecond), CreatedBy: by, CreatedAt: now.Truncate(time.Millisecond)}
	fb, _ := json.Marshal(in.Filter)
	err = s.st.Tx(ctx, func(tx store.Querier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO scan_schedules (id, name, cron, filter, enabled, next_run, created_by, created_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?)`,
			sc.ID, sc.Name, sc.Cron, string(fb), store.Millis(sc.NextRun), by, store.Millis(now))
		return err
	})
	if err != nil {
		return Schedule{}, fmt.Errorf("create schedule %q: %w", in.Name, err)
	}
	return sc, nil
}

// Schedules lists schedules.
func (s *Service) Schedules(ctx context.Context) ([]Schedule, error) {
	rows, err := s.st.Read().QueryContext(ctx, `SELECT id, name, cron, filter, enabled, next_run, last_run, created_by, created_at FROM scan_schedules ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	defer rows.Close()
	out := []Schedule{}
	for rows.Next() {
		var sc Schedule
		var filter string
		var enabled int
		var next, created int64
		var last sql.NullInt64
		if err := rows.Scan(&sc.ID, &sc.Name, &sc.Cron, &filter, &enabled, &next, &last, &sc.CreatedBy, &created); err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		_ = json.Unmarshal([]byte(filter), &sc.Filter)
		sc.Enabled, sc.NextRun, sc.LastRun, sc.CreatedAt = enabled != 0, store.FromMillis(next), ptime(last), store.FromMillis(created)
		out = append(out, sc)
	}
	return out, rows.Err()
}

// DeleteSchedule removes a schedule.
func (s *Service) DeleteSchedule(ctx context.Context, id string) error {
	return s.st.Tx(ctx, func(tx store.Querier) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM scan_schedules WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete schedule %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("schedule %s: %w", id, ErrNotFound)
		}
		return nil
	})
}

// RunDueSchedules enqueues the scans of every schedule whose time has come
// and moves it to its next time (a console that was down runs a missed
// schedule once, not once per missed slot). It returns the scans made.
func (s *Service) RunDueSchedules(ctx context.Context) (int, error) {
	now := s.now().UTC()
	all, err := s.Schedules(ctx)
	if err != nil {
		return 0, err
	}
	made := 0
	var errs []error
	for _, sc := range all {
		if !sc.Enabled || sc.NextRun.After(now) {
			continue
		}
		spec, err := ParseCron(sc.Cron)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		next := spec.Next(now)
		// Claim the slot first so two consoles do not both run it.
		claimed := false
		err = s.st.Tx(ctx, func(tx store.Querier) error {
			res, err := tx.ExecContext(ctx, `UPDATE scan_schedules SET next_run = ?, last_run = ? WHERE id = ? AND next_run = ?`,
				store.Millis(next), store.Millis(now), sc.ID, store.Millis(sc.NextRun))
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			claimed = n == 1
			return nil
		})
		if err != nil || !claimed {
			if err != nil {
				errs = append(errs, fmt.Errorf("schedule %s: %w", sc.ID, err))
			}
			continue
		}
		ts, err := s.resolveFilter(ctx, sc.Filter)
		if err != nil {
			errs = append(errs, fmt.Errorf("schedule %s: %w", sc.ID, err))
			continue
		}
		if len(ts) == 0 {
			continue
		}
		got, err := s.Queue.Enqueue(ctx, ts, "schedule "+sc.Name, sc.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("schedule %s: %w", sc.ID, err))
			continue
		}
		made += len(got)
	}
	return made, errors.Join(errs...)
}

// Settings of the scans module.
type Settings struct {
	// AutoScanHosts scans every host the first time the topology sees it.
	AutoScanHosts bool `json:"autoScanHosts"`
	// AutoScanImages scans every image the first time the topology sees it.
	AutoScanImages bool `json:"autoScanImages"`
}

// GetSettings reads the settings (defaults: off).
func (s *Service) GetSettings(ctx context.Context) (Settings, error) {
	var st Settings
	var v string
	err := s.st.Read().QueryRowContext(ctx, `SELECT value FROM scan_settings WHERE name = 'settings'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read scan settings: %w", err)
	}
	if err := json.Unmarshal([]byte(v), &st); err != nil {
		return st, fmt.Errorf("read scan settings: %w", err)
	}
	return st, nil
}

// PutSettings stores the settings.
func (s *Service) PutSettings(ctx context.Context, st Settings) error {
	b, _ := json.Marshal(st)
	return s.st.Tx(ctx, func(tx store.Querier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO scan_settings (name, value) VALUES ('settings', ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, string(b))
		if err != nil {
			return fmt.Errorf("store scan settings: %w", err)
		}
		return nil
	})
}

// NodesAppeared is the event the topology ingest sends for nodes seen for
// the first time: with auto-scan on, new hosts and images are scanned.
func (s *Service) NodesAppeared(ctx context.Context, nodeIDs ...string) {
	st, err := s.GetSettings(ctx)
	if err != nil || (!st.AutoScanHosts && !st.AutoScanImages) {
		return
	}
	var ts []Target
	for _, id := range nodeIDs {
		var kind, key, attrs string
		var sensor sql.NullString
		if err := s.st.Read().QueryRowContext(ctx, `SELECT kind, node_key, sensor_id, attrs FROM nodes WHERE id = ?`, id).Scan(&kind, &key, &sensor, &attrs); err != nil {
			continue
		}
		if (kind == KindHost && st.AutoScanHosts) || (kind == KindImage && st.AutoScanImages) {
			if t, err := targetOfNode(id, kind, key, sensor.String, attrs); err == nil {
				ts = append(ts, t)
			}
		}
	}
	if len(ts) == 0 {
		return
	}
	if _, err := s.Queue.Enqueue(ctx, ts, "auto-scan", ""); err != nil {
		s.log.Warn("auto-scan of new nodes", "err", err)
	}
}
