package scans

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/posture"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/topology"
)

// Topology is what the scans module needs from the topology: which sensor
// scans a node and how, the nodes a filter selects, and node facts.
type Topology interface {
	ScanTarget(id string) (topology.ScanTarget, error)
	ScanTargets(f topology.TargetFilter) ([]topology.ScanTarget, error)
	Lookup(ids ...string) map[string]topology.NodeInfo
}

// Job kinds of the scans module besides KindVulnerability.
const (
	// KindAutoScan scans newly seen hosts and images when the auto-scan
	// settings say so.
	KindAutoScan = "scans.autoscan"
	// KindSchedules enqueues the scans of due schedules (periodic).
	KindSchedules = "scans.schedules"
	// KindRematch matches the inventories of the latest scans again after
	// the knowledge base changed.
	KindRematch = "scans.rematch"
)

// Service is the scans module: scan requests and their life cycle on the
// job system, the sensor side of the command protocol, stored
// inventories, schedules and auto-scan.
type Service struct {
	st       *store.Store
	Queue    *Queue
	jobs     *jobs.Queue
	findings *findings.Service
	topo     Topology
	log      *slog.Logger
	now      func() time.Time
	version  string
	limits   struct{ poll, status, inventory *auth.Buckets }
}

// ServiceConfig are the Service's dependencies.
type ServiceConfig struct {
	Store    *store.Store
	Jobs     *jobs.Queue
	Findings *findings.Service
	// Posture keeps every check of compliance scans (nil: one on Store).
	Posture  *posture.Service
	Topology Topology
	Queue    QueueConfig
	Logger   *slog.Logger
	Now      func() time.Time
	Version  string
	// SensorLimits rate-limits the sensor scan routes per sensor (zero
	// fields: DefaultSensorLimits).
	SensorLimits SensorLimits
}

// NewService builds the module. Register its job kinds (Kinds) with the
// job system before it runs.
func NewService(cfg ServiceConfig) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Queue.Now == nil {
		cfg.Queue.Now = cfg.Now
	}
	if cfg.Queue.Logger == nil {
		cfg.Queue.Logger = cfg.Logger
	}
	cfg.Queue.defaults()
	cfg.SensorLimits.fill()
	if cfg.Posture == nil {
		cfg.Posture = posture.New(posture.Config{Store: cfg.Store, Findings: cfg.Findings, Logger: cfg.Logger, Now: cfg.Now})
	}
	q := &Queue{st: cfg.Store, jobs: cfg.Jobs, findings: cfg.Findings, posture: cfg.Posture, cfg: cfg.Queue}
	s := &Service{st: cfg.Store, Queue: q, jobs: cfg.Jobs, findings: cfg.Findings, topo: cfg.Topology,
		log: cfg.Logger, now: cfg.Now, version: cfg.Version}
	s.limits.poll = auth.NewBuckets(cfg.SensorLimits.Poll.Burst, cfg.SensorLimits.Poll.Every, cfg.Now)
	s.limits.status = auth.NewBuckets(cfg.SensorLimits.Status.Burst, cfg.SensorLimits.Status.Every, cfg.Now)
	s.limits.inventory = auth.NewBuckets(cfg.SensorLimits.Inventory.Burst, cfg.SensorLimits.Inventory.Every, cfg.Now)
	return s
}

// ScanKind is the job kind of the scans of a type (scan.vulnerability,
// scan.secret, scan.malware, scan.compliance; sensor-run), all sharing
// one life cycle.
func (s *Service) ScanKind(scanType string) jobs.Kind { return s.Queue.Kind(scanType) }

// VulnerabilityKind is ScanKind(TypeVulnerability).
func (s *Service) VulnerabilityKind() jobs.Kind { return s.Queue.Kind(TypeVulnerability) }

// AutoScanKind is the scans.autoscan job kind.
func (s *Service) AutoScanKind() jobs.Kind {
	return jobs.Kind{Name: KindAutoScan, MaxAttempts: 3, Work: func(ctx context.Context, j jobs.Job) error {
		var p autoScanPayload
		if err := j.Decode(&p); err != nil {
			return jobs.Permanent(err)
		}
		return s.NodesAppeared(ctx, p.Nodes...)
	}}
}

type autoScanPayload struct {
	Nodes []string `json:"nodes"`
}

// SchedulesKind is the scans.schedules job kind (run by SchedulesEvery).
func (s *Service) SchedulesKind() jobs.Kind {
	return jobs.Kind{Name: KindSchedules, MaxAttempts: 1, Work: func(ctx context.Context, _ jobs.Job) error {
		n, err := s.RunDueSchedules(ctx)
		if n > 0 {
			s.log.Info("scheduled scans queued", "scans", n)
		}
		return err
	}}
}

// SchedulesEvery looks for due schedules every interval (default 30 s).
func SchedulesEvery(interval time.Duration) jobs.Periodic {
	if interval <= 0 {
		interval = 30 * time.Second
	}
	return jobs.Periodic{Name: KindSchedules, Kind: KindSchedules, Every: interval, RunAtStart: true}
}

// RematchKind is the scans.rematch job kind.
func (s *Service) RematchKind() jobs.Kind {
	return jobs.Kind{Name: KindRematch, MaxAttempts: 3, Timeout: time.Hour, Lease: 2 * time.Minute,
		Work: func(ctx context.Context, _ jobs.Job) error { return s.Rematch(ctx) }}
}

// AutoScanConsumer turns topology.NodesAppeared events into auto-scan
// jobs (hosts and images only; the job reads the settings).
func (s *Service) AutoScanConsumer() events.Consumer {
	return events.Consumer{Name: "scans.autoscan", Types: []string{topology.EventNodesAppeared}, Gather: topology.GatherAppeared,
		Handle: func(ctx context.Context, evs []events.Event) error {
			var nodes []string
			for _, e := range evs {
				var a topology.NodesAppeared
				if err := e.Decode(&a); err != nil {
					s.log.Warn("auto-scan: undecodable event skipped", "seq", e.Seq, "err", err)
					continue
				}
				for _, n := range a.Nodes {
					if n.Kind == KindHost || n.Kind == KindImage {
						nodes = append(nodes, n.ID)
					}
				}
			}
			if len(nodes) == 0 {
				return events.Skip
			}
			_, _, err := s.jobs.Insert(ctx, KindAutoScan, autoScanPayload{Nodes: nodes}, jobs.InsertOpts{})
			return err
		}}
}

// RematchConsumer asks for a rematch (one at a time) when the knowledge
// base changed.
func (s *Service) RematchConsumer() events.Consumer {
	return events.Consumer{Name: "scans.rematch", Types: []string{feeds.EventUpdated},
		Handle: func(ctx context.Context, evs []events.Event) error {
			_, _, err := s.jobs.Insert(ctx, KindRematch, nil, jobs.InsertOpts{UniqueKey: KindRematch})
			return err
		}}
}

// AttachInventory stores the inventory a sensor uploaded for a scan it
// runs (gz is the compressed upload, inv its decoded form), matches it with
// the knowledge base and stores the findings (pending until the scan
// completes).
func (s *Service) AttachInventory(ctx context.Context, scanID, userID string, gz []byte, inv *inventory.Inventory) (Scan, error) {
	sc, err := s.uploadable(ctx, scanID, userID, false)
	if err != nil {
		return sc, err
	}
	rows, uncovered, err := s.findings.Match(ctx, sc.origin(), inv)
	if err != nil {
		return sc, err
	}
	return s.storeInventory(ctx, sc, gz, rows, uncovered, len(inv.Packages))
}

// uploadable is the scan whose inventory (a vulnerability scan) or results
// (another type, uploadType) userID may upload now.
func (s *Service) uploadable(ctx context.Context, scanID, userID string, results bool) (Scan, error) {
	sc, err := s.Queue.Get(ctx, scanID)
	if err != nil {
		return sc, err
	}
	if sc.claimedBy != userID {
		return sc, fmt.Errorf("%w: scan %s was not given to this sensor", ErrForbidden, scanID)
	}
	if sc.Terminal() {
		return sc, fmt.Errorf("%w: scan %s is already %s", ErrConflict, scanID, sc.Status)
	}
	switch {
	case results && sc.Type == TypeVulnerability:
		return sc, fmt.Errorf("%w: scan %s is a vulnerability scan: upload its inventory (%s)", ErrConflict, scanID, sensorproto.PathInventory)
	case !results && sc.Type != TypeVulnerability:
		return sc, fmt.Errorf("%w: scan %s is a %s scan: upload its results (%s), not an inventory", ErrConflict, scanID, sc.Type, sensorproto.PathResults)
	}
	return sc, nil
}

// AttachResults stores the results a sensor uploaded for a scan of a type
// other than vulnerability (gz is the compressed upload, res its decoded
// form): its findings, scored on the node's exposure, pending until the
// scan completes.
func (s *Service) AttachResults(ctx context.Context, scanID, userID string, gz []byte, res *sensorproto.Results) (Scan, error) {
	sc, err := s.uploadable(ctx, scanID, userID, true)
	if err != nil {
		return sc, err
	}
	if res.Type != sc.Type {
		return sc, fmt.Errorf("%w: results of type %s for a %s scan", ErrInvalid, res.Type, sc.Type)
	}
	rows := s.findings.ResultRows(ctx, sc.origin(), res)
	sum := sha256.Sum256(gz)
	err = s.st.Tx(ctx, func(tx store.Querier) error {
		if err := s.findings.ReplaceTx(ctx, tx, sc.origin(), rows, findings.StatePending); err != nil {
			return err
		}
		if res.Type == TypeCompliance {
			if err := s.Queue.posture.StoreTx(ctx, tx, sc.origin(), res); err != nil {
				return err
			}
		}
		r, err := tx.ExecContext(ctx, `UPDATE scans SET results_digest = ?, finding_count = ? WHERE id = ? AND status IN ('queued', 'running')`,
			"sha256:"+hex.EncodeToString(sum[:]), len(rows), scanID)
		if err != nil {
			return fmt.Errorf("attach results to scan %s: %w", scanID, err)
		}
		if n, _ := r.RowsAffected(); n != 1 {
			return fmt.Errorf("%w: scan %s finished meanwhile", ErrConflict, scanID)
		}
		return nil
	})
	if err != nil {
		return sc, err
	}
	s.log.Info("scan results stored", "scan", scanID, "type", sc.Type, "engine", res.Engine.Name, "files", res.Files, "findings", len(rows),
		"checks", len(res.Compliance))
	return s.Queue.Get(ctx, scanID)
}

// storeInventory stores a scan's uploaded inventory (gz), its findings and
// what it could not judge.
func (s *Service) storeInventory(ctx context.Context, sc Scan, gz []byte, rows []findings.Row, uncovered []match.Uncovered, packages int) (Scan, error) {
	scanID := sc.ID
	sum := sha256.Sum256(gz)
	now := s.now()
	invID := store.NewID(now)
	err := s.st.Tx(ctx, func(tx store.Querier) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO inventories (id, node_ref, digest, encoding, body, created_at) VALUES (?, ?, ?, 'gzip', ?, ?)`,
			invID, sc.NodeID, "sha256:"+hex.EncodeToString(sum[:]), gz, store.Millis(now)); err != nil {
			return fmt.Errorf("store inventory of scan %s: %w", scanID, err)
		}
		if err := s.findings.ReplaceTx(ctx, tx, sc.origin(), rows, findings.StatePending); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE scans SET inventory_id = ?, finding_count = ?, uncovered = ? WHERE id = ? AND status IN ('queued', 'running')`,
			invID, len(rows), encodeUncovered(uncovered), scanID)
		if err != nil {
			return fmt.Errorf("attach inventory to scan %s: %w", scanID, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("%w: scan %s finished meanwhile", ErrConflict, scanID)
		}
		return nil
	})
	if err != nil {
		return sc, err
	}
	s.log.Info("inventory stored", "scan", scanID, "packages", packages, "findings", len(rows), "uncovered", len(uncovered))
	return s.Queue.Get(ctx, scanID)
}

// Inventory returns the inventory a scan uploaded.
func (s *Service) Inventory(ctx context.Context, scanID string) (*inventory.Inventory, error) {
	var body []byte
	err := s.st.Read().QueryRowContext(ctx, `SELECT i.body FROM scans s JOIN inventories i ON i.id = s.inventory_id WHERE s.id = ?`, scanID).Scan(&body)
	if errors.Is(err, errNoRows) {
		return nil, fmt.Errorf("inventory of scan %s: %w", scanID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("inventory of scan %s: %w", scanID, err)
	}
	return sensorproto.DecodeInventory(bytes.NewReader(body))
}

// Rematch matches the stored inventories of the latest complete scans
// again (after the knowledge base changed), replacing their findings; the
// findings module publishes what became new or fixed.
func (s *Service) Rematch(ctx context.Context) error {
	rows, err := s.st.Read().QueryContext(ctx, `SELECT s.id, i.body FROM scans s JOIN inventories i ON i.id = s.inventory_id
		WHERE s.latest = 1 AND s.scan_type = 'vulnerability'`)
	if err != nil {
		return fmt.Errorf("rematch: %w", err)
	}
	type item struct {
		id   string
		body []byte
	}
	var items []item
	for rows.Next() {
		var it item
		if err := rows.Scan(&it.id, &it.body); err != nil {
			rows.Close()
			return fmt.Errorf("rematch: %w", err)
		}
		items = append(items, it)
	}
	rows.Close()
	var errs []error
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		inv, err := sensorproto.DecodeInventory(bytes.NewReader(it.body))
		if err != nil {
			errs = append(errs, fmt.Errorf("rematch scan %s: %w", it.id, err))
			continue
		}
		sc, err := s.Queue.Get(ctx, it.id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fr, uncovered, err := s.findings.Match(ctx, sc.origin(), inv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = events.Tx(ctx, s.st, s.now, func(ctx context.Context, tx store.Querier) error {
			if err := s.findings.ReplaceTx(ctx, tx, sc.origin(), fr, findings.StateCurrent); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE scans SET finding_count = ?, uncovered = ? WHERE id = ?`, len(fr), encodeUncovered(uncovered), it.id)
			return err
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DiffScans compares the findings of two scans.
func (s *Service) DiffScans(ctx context.Context, from, to string) (findings.Diff, error) {
	for _, id := range []string{from, to} {
		if _, err := s.Queue.Get(ctx, id); err != nil {
			return findings.Diff{}, err
		}
	}
	return s.findings.DiffScans(ctx, from, to)
}

// topFindings is how many findings node details show.
const topFindings = 5

// NodeDetail adds a node's latest scan results to its details
// (topology.DetailSource).
func (s *Service) NodeDetail(ctx context.Context, d *topology.NodeDetail) error {
	ns, err := s.NodeScans(ctx, d.ID)
	if err != nil {
		return err
	}
	d.Scans = ns
	return nil
}

// NodeScans returns a node's latest vulnerability scan results (the
// topology's node details speak of packages): the latest scan whatever
// its status, and the latest complete scan with its findings counted by
// severity (accepted and not-affected findings apart) and its highest-risk
// findings. A node never scanned gets nil.
func (s *Service) NodeScans(ctx context.Context, nodeID string) (*topology.NodeScans, error) {
	latest, _, err := s.Queue.List(ctx, ListFilter{NodeID: nodeID, Type: TypeVulnerability, Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("scans of node %s: %w", nodeID, err)
	}
	if len(latest) == 0 {
		return nil, nil
	}
	out := &topology.NodeScans{Latest: scanRef(latest[0])}
	done := latest
	if latest[0].Status != StatusComplete {
		if done, _, err = s.Queue.List(ctx, ListFilter{NodeID: nodeID, Type: TypeVulnerability, Status: StatusComplete, Limit: 1}); err != nil {
			return nil, fmt.Errorf("scans of node %s: %w", nodeID, err)
		}
	}
	if len(done) == 0 {
		return out, nil
	}
	sc := done[0]
	out.LatestComplete = scanRef(sc)
	if out.CountsBySeverity, out.Suppressed, err = s.findings.Counts(ctx, sc.ID); err != nil {
		return nil, err
	}
	top, _, err := s.findings.Findings(ctx, findings.Filter{ScanID: sc.ID, Limit: topFindings, NoCount: true})
	if err != nil {
		return nil, err
	}
	for _, f := range top {
		tf := topology.ScanFinding{ID: f.ID, VulnID: f.Finding.ID, Package: f.Finding.Package.Name, Version: f.Finding.Package.Version,
			Severity: f.Finding.Severity, KEV: f.Finding.KEV != nil, RiskScore: f.Risk.Score}
		if len(f.Finding.FixedVersions) > 0 {
			tf.FixedVersion = f.Finding.FixedVersions[0]
		}
		out.TopFindings = append(out.TopFindings, tf)
	}
	return out, nil
}

func scanRef(s Scan) *topology.ScanRef {
	return &topology.ScanRef{ID: s.ID, Status: s.Status, TargetKind: s.Target.Kind, TargetRef: s.Target.Ref,
		Findings: s.Findings, CreatedAt: s.CreatedAt, FinishedAt: s.FinishedAt}
}
