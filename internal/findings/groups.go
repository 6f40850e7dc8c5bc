package findings

import (
	"context"
	"fmt"

	"github.com/riskmap/riskmap/internal/store"
)

// Group is the current findings of one vulnerability (across every node)
// or of one node (every vulnerability), decisions honoured: how many,
// where, the worst, and the finding that scores highest with its
// explanation and attack path.
type Group struct {
	// Key is the vulnerability id or the node id; Label names it (the
	// node's label in the topology, or the scanned reference).
	Key   string `json:"key"`
	Label string `json:"label"`
	// Findings counts the group's findings; Nodes the distinct nodes they
	// are on; Vulnerabilities the distinct vulnerabilities.
	Findings        int     `json:"findings"`
	Nodes           int     `json:"nodes"`
	Vulnerabilities int     `json:"vulnerabilities"`
	MaxScore        float64 `json:"maxScore"`
	KEV             bool    `json:"kev"`
	// Top is the group's highest-risk finding: its exposure is the
	// group's worst.
	Top NodeFinding `json:"top"`
}

// Group keys of Groups.
const (
	GroupByVulnerability = "vulnerability"
	GroupByNode          = "node"
)

// Groups ranks the current findings grouped by vulnerability (one CVE on
// 300 containers is one row with its counts and worst exposure) or by
// node, highest score first.
func (s *Service) Groups(ctx context.Context, by string, limit int) ([]Group, error) {
	col := map[string]string{GroupByVulnerability: "f.vuln_id", GroupByNode: "f.node_id"}[by]
	if col == "" {
		return nil, fmt.Errorf("%w: by %q (want vulnerability or node)", ErrInvalid, by)
	}
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	now := store.Millis(s.now())
	var w store.Where
	w.Add("f.state = 'current'")
	w.Add("NOT "+decisionMatch, now)
	q := `SELECT ` + col + `, COUNT(*), COUNT(DISTINCT f.node_id), COUNT(DISTINCT f.vuln_id), MAX(f.score), MAX(f.kev)
		FROM scan_findings f` + w.SQL() + ` GROUP BY ` + col + ` ORDER BY MAX(f.score) DESC, ` + col + fmt.Sprintf(" LIMIT %d", limit)
	rows, err := s.st.Read().QueryContext(ctx, q, w.Args()...)
	if err != nil {
		return nil, fmt.Errorf("group findings by %s: %w", by, err)
	}
	var out []Group
	for rows.Next() {
		var g Group
		var kev int
		if err := rows.Scan(&g.Key, &g.Findings, &g.Nodes, &g.Vulnerabilities, &g.MaxScore, &kev); err != nil {
			rows.Close()
			return nil, fmt.Errorf("group findings by %s: %w", by, err)
		}
		g.KEV = kev != 0
		out = append(out, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("group findings by %s: %w", by, err)
	}
	for i := range out {
		g := &out[i]
		ff := Filter{Sort: "risk", Limit: 1, NoCount: true}
		if by == GroupByVulnerability {
			ff.VulnID = g.Key
		} else {
			ff.NodeID = g.Key
		}
		top, _, err := s.Findings(ctx, ff)
		if err != nil {
			return nil, err
		}
		if len(top) > 0 {
			g.Top = top[0]
		}
		g.Label = g.Key
		if by == GroupByNode {
			g.Label = g.Top.Target.Ref
			if s.exposure != nil && g.Key != "" {
				if ex, err := s.exposure.Exposure(ctx, g.Key); err == nil && ex.Node.Name != "" {
					g.Label = ex.Node.Name
				}
			}
		}
	}
	if out == nil {
		out = []Group{}
	}
	return out, nil
}
