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

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/topology"
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
	// Types are the scan types to run on each target (default
	// vulnerability): one scan per target and type.
	Types []string `json:"types,omitempty" maxItems:"4" enum:"vulnerability,secret,malware,compliance"`
	// Profile is the benchmark profile of the compliance scans (an SSG
	// profile's short name or XCCDF id, a CIS Kubernetes target; "": the
	// engine's default). GET /api/v1/compliance/profiles lists them.
	Profile string      `json:"profile,omitempty" maxLength:"200"`
	NodeIDs []string    `json:"nodeIds,omitempty" maxItems:"1000"`
	Filter  *NodeFilter `json:"filter,omitempty"`
	Targets []Target    `json:"targets,omitempty" maxItems:"1000"`
}

// MaxTargets bounds one request's expansion.
const MaxTargets = 5000

func fromTopology(st topology.ScanTarget) Target {
	return Target{NodeID: st.NodeID, SensorID: st.SensorID, Kind: st.Kind, Ref: st.Ref}
}

// Resolve expands a request into targets: a node is scanned by the sensor
// the topology names (an image by a live sensor that holds it).
func (s *Service) Resolve(ctx context.Context, req ScanRequest) ([]Target, error) {
	var out []Target
	for _, id := range req.NodeIDs {
		if s.topo == nil {
			return nil, fmt.Errorf("%w: this console has no topology to resolve node %q", ErrInvalid, id)
		}
		st, err := s.topo.ScanTarget(id)
		if errors.Is(err, topology.ErrNodeNotFound) {
			return nil, fmt.Errorf("%w: no node %q", ErrInvalid, id)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		out = append(out, fromTopology(st))
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

func (s *Service) resolveFilter(_ context.Context, f NodeFilter) ([]Target, error) {
	switch f.Kind {
	case KindHost, KindContainer, KindImage:
	default:
		return nil, fmt.Errorf("%w: filter kind %q (want host, container or image)", ErrInvalid, f.Kind)
	}
	if s.topo == nil {
		return nil, nil
	}
	sts, err := s.topo.ScanTargets(topology.TargetFilter{Kind: f.Kind, SensorID: f.SensorID, NameContains: f.NameContains,
		SeenWithin: time.Duration(f.SeenWithinSeconds) * time.Second, Limit: MaxTargets + 1})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	out := make([]Target, 0, len(sts))
	for _, st := range sts {
		out = append(out, fromTopology(st))
	}
	return out, nil
}

// StartScans resolves a request and enqueues its scans.
//
// The request is audited as one entry (store.AuditScanStart) in the
// transaction that queues its scans, listing them: a request is one
// decision of one user, and one filter may select thousands of nodes. A
// request whose every target already had a scan queued or running queues
// nothing and is not audited.
//
// A request of several types is one entry per type (each type's scans are
// queued in a transaction of their own).
func (s *Service) StartScans(ctx context.Context, req ScanRequest, by string) ([]Scan, error) {
	types, err := checkTypes(req.Types)
	if err != nil {
		return nil, err
	}
	if err := checkProfile(req.Profile, types); err != nil {
		return nil, err
	}
	ts, err := s.Resolve(ctx, req)
	if err != nil {
		return nil, err
	}
	var out []Scan
	for _, typ := range types {
		got, err := s.Queue.enqueue(ctx, typ, req.Profile, ts, by, "", "", func(ctx context.Context, tx store.Querier, queued []queuedScan) error {
			if len(queued) == 0 {
				return nil
			}
			return s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditScanStart, scansAuditTarget(queued), nil,
				struct {
					Request ScanRequest  `json:"request"`
					Scans   []queuedScan `json:"scans"`
				}{req, queued}))
		})
		if err != nil {
			return out, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// scansAuditTarget names the scans of a request in the audit log: the
// scan (and what it scans) or the first ids of many.
func scansAuditTarget(queued []queuedScan) string {
	if len(queued) == 1 {
		return scanAuditTarget(queued[0].ID, queued[0].Target)
	}
	const named = 20
	ids := make([]string, 0, named)
	for _, q := range queued[:min(named, len(queued))] {
		ids = append(ids, q.ID)
	}
	t := fmt.Sprintf("%d scans: %s", len(queued), strings.Join(ids, " "))
	if len(queued) > named {
		t += fmt.Sprintf(" and %d more", len(queued)-named)
	}
	return t
}

// Schedule is a recurring scan of the nodes a filter selects.
type Schedule struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Types are the scan types each run starts on every node.
	Types []string `json:"types"`
	// Profile is the benchmark profile of its compliance scans.
	Profile   string     `json:"profile,omitempty"`
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
	// Types are the scan types to run (default vulnerability).
	Types []string `json:"types,omitempty" maxItems:"4" enum:"vulnerability,secret,malware,compliance"`
	// Profile is the benchmark profile of the compliance scans ("": the
	// engine's default).
	Profile string `json:"profile,omitempty" maxLength:"200"`
}

// ParseCron parses a schedule spec.
func ParseCron(spec string) (cron.Schedule, error) {
	sch, err := jobs.ParseCron(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
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
	types, err := checkTypes(in.Types)
	if err != nil {
		return Schedule{}, err
	}
	if err := checkProfile(in.Profile, types); err != nil {
		return Schedule{}, err
	}
	now := s.now().UTC()
	sc := Schedule{ID: store.NewID(now), Name: in.Name, Types: types, Profile: in.Profile, Cron: in.Cron, Filter: in.Filter, Enabled: true,
		NextRun: sch.Next(now).Truncate(time.Millisecond), CreatedBy: by, CreatedAt: now.Truncate(time.Millisecond)}
	fb, _ := json.Marshal(in.Filter)
	err = s.st.Tx(ctx, func(tx store.Querier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO scan_schedules (id, name, cron, filter, enabled, next_run, created_by, created_at, scan_types, profile)
			VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?)`, sc.ID, sc.Name, sc.Cron, string(fb), store.Millis(sc.NextRun), by, store.Millis(now), strings.Join(types, ","), sc.Profile)
		if err != nil {
			return err
		}
		return s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditScheduleCreate, sc.auditTarget(), nil, sc))
	})
	if err != nil {
		return Schedule{}, fmt.Errorf("create schedule %q: %w", in.Name, err)
	}
	return sc, nil
}

// auditTarget names the schedule in the audit log.
func (sc Schedule) auditTarget() string { return "schedule " + sc.ID + " (" + sc.Name + ")" }

// Schedules lists schedules.
func (s *Service) Schedules(ctx context.Context) ([]Schedule, error) {
	return s.schedules(ctx, s.st.Read(), "")
}

func (s *Service) schedules(ctx context.Context, q store.Querier, where string, args ...any) ([]Schedule, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, name, cron, filter, enabled, next_run, last_run, created_by, created_at, scan_types, profile FROM scan_schedules`+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	defer rows.Close()
	out := []Schedule{}
	for rows.Next() {
		var sc Schedule
		var filter, types string
		var enabled int
		var next, created int64
		var last sql.NullInt64
		if err := rows.Scan(&sc.ID, &sc.Name, &sc.Cron, &filter, &enabled, &next, &last, &sc.CreatedBy, &created, &types, &sc.Profile); err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		sc.Types = strings.Split(types, ",")
		_ = json.Unmarshal([]byte(filter), &sc.Filter)
		sc.Enabled, sc.NextRun, sc.LastRun, sc.CreatedAt = enabled != 0, store.FromMillis(next), ptime(last), store.FromMillis(created)
		out = append(out, sc)
	}
	return out, rows.Err()
}

// DeleteSchedule removes a schedule (audited with the schedule as it was).
func (s *Service) DeleteSchedule(ctx context.Context, id string) error {
	return s.st.Tx(ctx, func(tx store.Querier) error {
		was, err := s.schedules(ctx, tx, ` WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete schedule %s: %w", id, err)
		}
		if len(was) == 0 {
			return fmt.Errorf("schedule %s: %w", id, ErrNotFound)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM scan_schedules WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete schedule %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("schedule %s: %w", id, ErrNotFound)
		}
		return s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditScheduleDelete, was[0].auditTarget(), was[0], nil))
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
		got, err := s.Queue.EnqueueTypes(ctx, sc.Types, sc.Profile, ts, "schedule "+sc.Name, sc.ID)
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
	// AutoScanTypes are the scan types auto-scan runs (default
	// vulnerability).
	AutoScanTypes []string `json:"autoScanTypes,omitempty" maxItems:"4" enum:"vulnerability,secret,malware,compliance"`
	// AutoScanProfile is the benchmark profile of auto-scan's compliance
	// scans ("": the engine's default).
	AutoScanProfile string `json:"autoScanProfile,omitempty" maxLength:"200"`
}

// GetSettings reads the settings (defaults: off).
func (s *Service) GetSettings(ctx context.Context) (Settings, error) {
	return getSettings(ctx, s.st.Read())
}

func getSettings(ctx context.Context, q store.Querier) (Settings, error) {
	var st Settings
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM scan_settings WHERE name = 'settings'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		st.AutoScanTypes = []string{TypeVulnerability}
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read scan settings: %w", err)
	}
	if err := json.Unmarshal([]byte(v), &st); err != nil {
		return st, fmt.Errorf("read scan settings: %w", err)
	}
	if len(st.AutoScanTypes) == 0 {
		st.AutoScanTypes = []string{TypeVulnerability}
	}
	return st, nil
}

// PutSettings stores the settings (audited with the settings before and
// after, also when they did not change: an admin confirmed them).
func (s *Service) PutSettings(ctx context.Context, st Settings) error {
	types, err := checkTypes(st.AutoScanTypes)
	if err != nil {
		return err
	}
	st.AutoScanTypes = types
	if err := checkProfile(st.AutoScanProfile, types); err != nil {
		return err
	}
	b, _ := json.Marshal(st)
	return s.st.Tx(ctx, func(tx store.Querier) error {
		before, err := getSettings(ctx, tx)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO scan_settings (name, value) VALUES ('settings', ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, string(b))
		if err != nil {
			return fmt.Errorf("store scan settings: %w", err)
		}
		return s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditScanSettings, "scan settings", before, st))
	})
}

// NodesAppeared scans, with auto-scan on, the hosts and images among
// nodes seen for the first time (the scans.autoscan job).
func (s *Service) NodesAppeared(ctx context.Context, nodeIDs ...string) error {
	st, err := s.GetSettings(ctx)
	if err != nil {
		return err
	}
	if !st.AutoScanHosts && !st.AutoScanImages {
		return nil
	}
	var ts []Target
	for _, id := range nodeIDs {
		t, err := s.topo.ScanTarget(id)
		if err != nil {
			continue // gone since, or not scannable (no live sensor holds the image)
		}
		if (t.Kind == KindHost && st.AutoScanHosts) || (t.Kind == KindImage && st.AutoScanImages) {
			ts = append(ts, fromTopology(t))
		}
	}
	if len(ts) == 0 {
		return nil
	}
	if _, err := s.Queue.EnqueueTypes(ctx, st.AutoScanTypes, st.AutoScanProfile, ts, "auto-scan", ""); err != nil {
		return fmt.Errorf("auto-scan of new nodes: %w", err)
	}
	return nil
}
