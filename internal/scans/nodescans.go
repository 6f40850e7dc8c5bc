package scans

import (
	"context"
	"fmt"

	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/topology"
)

// topFindings is how many findings node details show.
const topFindings = 5

// NodeScans returns a node's latest scan results for its details: the
// latest scan whatever its status, and the latest complete scan with its
// findings counted by severity (accepted and not-affected findings apart)
// and its highest-risk findings. A node never scanned gets nil.
func (s *Service) NodeScans(ctx context.Context, nodeID string) (*topology.NodeScans, error) {
	latest, _, err := s.Queue.List(ctx, ListFilter{NodeID: nodeID, Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("scans of node %s: %w", nodeID, err)
	}
	if len(latest) == 0 {
		return nil, nil
	}
	out := &topology.NodeScans{Latest: scanRef(latest[0])}
	done := latest
	if latest[0].Status != StatusComplete {
		if done, _, err = s.Queue.List(ctx, ListFilter{NodeID: nodeID, Status: StatusComplete, Limit: 1}); err != nil {
			return nil, fmt.Errorf("scans of node %s: %w", nodeID, err)
		}
	}
	if len(done) == 0 {
		return out, nil
	}
	sc := done[0]
	out.LatestComplete = scanRef(sc)
	out.CountsBySeverity = map[string]int{}
	rows, err := s.st.Read().QueryContext(ctx, `SELECT f.severity, `+decisionMatch+` AS suppressed, COUNT(*)
		FROM scan_findings f WHERE f.scan_id = ? GROUP BY f.severity, suppressed`, store.Millis(s.now()), sc.ID)
	if err != nil {
		return nil, fmt.Errorf("count findings of scan %s: %w", sc.ID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var sev string
		var suppressed bool
		var n int
		if err := rows.Scan(&sev, &suppressed, &n); err != nil {
			return nil, fmt.Errorf("count findings of scan %s: %w", sc.ID, err)
		}
		if suppressed {
			out.Suppressed += n
			continue
		}
		if sev == "" {
			sev = "unknown"
		}
		out.CountsBySeverity[sev] += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count findings of scan %s: %w", sc.ID, err)
	}
	top, _, err := s.Findings(ctx, FindingFilter{ScanID: sc.ID, Limit: topFindings, NoCount: true})
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
