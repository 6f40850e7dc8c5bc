// Package posture owns the console's compliance results: every check a
// compliance scan's benchmark evaluated (passed, failed or not applicable;
// the compliance_checks table) and the engine's own results document
// (XCCDF/ARF, kube-bench JSON; compliance_scans), from which it answers
// pass rates per node, benchmark and control, their trend over a target's
// latest scans, the controls that fail ranked by severity and exposure,
// the diff between two compliance scans and the exports.
//
// The failed checks are also findings (type compliance, made by
// internal/findings ResultRows): decisions, the findings diff, exports
// and the findings.new/fixed events work on them through the one findings
// model. The scans module hands posture a compliance scan's results in
// the transaction that stores its findings (StoreTx) and tells it in the
// transaction that ends the scan whether it completed (CompleteTx,
// AbandonTx). Posture never reads the scans table.
package posture

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/store"
)

// Errors the HTTP layer maps to status codes.
var (
	ErrNotFound = console.ErrNotFound
	ErrInvalid  = console.ErrInvalid
)

// States of a compliance scan's stored results.
const (
	StatePending   = "pending"
	StateComplete  = "complete"
	StateAbandoned = "abandoned"
)

// Findings is what posture reads of the findings module: the current
// findings of type compliance (with their risk and decisions), to rank
// failed controls.
type Findings interface {
	All(ctx context.Context, ff findings.Filter) ([]findings.NodeFinding, error)
}

// Config are the Service's dependencies.
type Config struct {
	Store    *store.Store
	Findings Findings
	// Nodes tells the OS a host reports (topology.OSOf), for the profiles
	// available on a node; nil: none known.
	Nodes  NodeOS
	Logger *slog.Logger
	Now    func() time.Time
}

// NodeOS is what posture needs from the topology.
type NodeOS interface {
	OSOf(nodeID string) (osID, versionID string, ok bool)
}

// Service is the posture module.
type Service struct {
	st       *store.Store
	findings Findings
	nodes    NodeOS
	log      *slog.Logger
	now      func() time.Time
}

// New builds the module.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{st: cfg.Store, findings: cfg.Findings, nodes: cfg.Nodes, log: cfg.Logger, now: cfg.Now}
}

// StoreTx stores the checks and the raw document of a compliance scan's
// results in the caller's transaction (replacing any the scan had), as
// pending until the scan completes.
func (s *Service) StoreTx(ctx context.Context, tx store.Querier, o findings.Origin, res *sensorproto.Results) error {
	if res.Type != sensorproto.ScanCompliance {
		return fmt.Errorf("store compliance results of scan %s: results of type %s", o.ScanID, res.Type)
	}
	for _, q := range []string{`DELETE FROM compliance_checks WHERE scan_id = ?`, `DELETE FROM compliance_scans WHERE scan_id = ?`} {
		if _, err := tx.ExecContext(ctx, q, o.ScanID); err != nil {
			return fmt.Errorf("store compliance results of scan %s: %w", o.ScanID, err)
		}
	}
	t := o.Target
	var raw any
	if len(res.Raw) > 0 {
		raw = res.Raw
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO compliance_scans (scan_id, target_key, node_id, sensor_id, target_kind, target_ref, engine, engine_version,
		state, raw_format, raw, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
		o.ScanID, o.Key, t.NodeID, t.SensorID, t.Kind, t.Ref, res.Engine.Name, res.Engine.Version, res.RawFormat, raw, store.Millis(s.now())); err != nil {
		return fmt.Errorf("store compliance results of scan %s: %w", o.ScanID, err)
	}
	checks := res.Compliance
	err := store.ExecValues(ctx, tx, `INSERT INTO compliance_checks (scan_id, seq, benchmark, benchmark_version, profile, rule, title, severity,
		severity_rank, result, subject, refs, rationale, fix, evidence)`, 15, len(checks), "", func(i int, args []any) ([]any, error) {
		c := checks[i]
		refs := c.References
		if refs == nil {
			refs = []sensorproto.Reference{}
		}
		rb, err := json.Marshal(refs)
		if err != nil {
			return nil, err
		}
		return append(args, o.ScanID, i, c.Benchmark, c.BenchmarkVersion, c.Profile, c.Rule, c.Title, c.Severity,
			match.SeverityRank(c.Severity), c.Result, c.Subject, string(rb), c.Rationale, c.Fix, c.Evidence), nil
	})
	if err != nil {
		return fmt.Errorf("store compliance checks of scan %s: %w", o.ScanID, err)
	}
	return nil
}

// CompleteTx marks a compliance scan's results complete (they count in
// pass rates and trends from now on), in the transaction that completes
// the scan. A scan without stored results is left alone.
func (s *Service) CompleteTx(ctx context.Context, tx store.Querier, scanID string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE compliance_scans SET state = 'complete', completed_at = ? WHERE scan_id = ?`,
		store.Millis(s.now()), scanID); err != nil {
		return fmt.Errorf("complete compliance results of scan %s: %w", scanID, err)
	}
	return nil
}

// AbandonTx sets aside the results of a compliance scan that ended
// without completing (they stay readable by scan id).
func (s *Service) AbandonTx(ctx context.Context, tx store.Querier, scanID string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE compliance_scans SET state = 'abandoned' WHERE scan_id = ? AND state = 'pending'`, scanID); err != nil {
		return fmt.Errorf("abandon compliance results of scan %s: %w", scanID, err)
	}
	return nil
}
