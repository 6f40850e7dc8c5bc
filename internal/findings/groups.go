package findings

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/riskmap/riskmap/internal/topology"
)

// Group is the current findings of one vulnerability (across every node),
// of one node (every vulnerability) or of one image (the image and every
// container running it), decisions honoured: how many, where, the worst,
// and the finding that scores highest with its explanation and attack
// path.
type Group struct {
	// Key is the vulnerability id, the node id or the image's node id (a
	// registry image's reference when no node holds it); Label names it
	// (the node's label in the topology, or the scanned reference).
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
	GroupByImage         = "image"
)

// nodeLookup is the topology's node lookup (labels, a container's image).
type nodeLookup interface {
	Lookup(ids ...string) map[string]topology.NodeInfo
}

// Groups ranks the current findings grouped by vulnerability (one CVE on
// 300 containers is one row with its counts and worst exposure), by node,
// or by image (an image's own findings with those of the containers
// running it), highest score first.
//
// The filter narrows the findings grouped (its type is vulnerability; its
// sort and page are not used); total counts every group.
func (s *Service) Groups(ctx context.Context, by string, ff Filter, limit int) (_ []Group, total int, _ error) {
	switch by {
	case GroupByVulnerability, GroupByNode, GroupByImage:
	default:
		return nil, 0, fmt.Errorf("%w: by %q (want vulnerability, node or image)", ErrInvalid, by)
	}
	ff.Type = TypeVulnerability // vulnerabilities only: a group is one vulnerability's or counts them
	ff.Sort, ff.Order, ff.Limit, ff.Offset = "", "", 0, 0
	if err := s.resolve(ctx, &ff); err != nil {
		return nil, 0, err
	}
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	// One row per node and vulnerability, folded into groups here: an
	// image's group needs the topology (a container's image).
	w := s.where(ff)
	w.Add("f.target_kind IN ('host', 'container', 'image', 'registry')")
	rows, err := s.st.Read().QueryContext(ctx, `SELECT f.node_id, f.target_kind, f.target_ref, f.vuln_id, COUNT(*), MAX(f.score), MAX(f.kev)
		FROM scan_findings f`+w.SQL()+` GROUP BY f.node_id, f.target_kind, f.target_ref, f.vuln_id`, w.Args()...)
	if err != nil {
		return nil, 0, fmt.Errorf("group findings by %s: %w", by, err)
	}
	type cell struct {
		node, kind, ref, vuln string
		n                     int
		score                 float64
		kev                   bool
	}
	var cells []cell
	nodeIDs := map[string]bool{}
	for rows.Next() {
		var c cell
		var kev int
		if err := rows.Scan(&c.node, &c.kind, &c.ref, &c.vuln, &c.n, &c.score, &kev); err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("group findings by %s: %w", by, err)
		}
		c.kev = kev != 0
		cells = append(cells, c)
		if c.node != "" {
			nodeIDs[c.node] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("group findings by %s: %w", by, err)
	}
	var nodes map[string]topology.NodeInfo
	if l, ok := s.exposure.(nodeLookup); ok && by != GroupByVulnerability && len(nodeIDs) > 0 {
		ids := make([]string, 0, len(nodeIDs))
		for id := range nodeIDs {
			ids = append(ids, id)
		}
		nodes = l.Lookup(ids...)
		if by == GroupByImage {
			var imgs []string
			for _, ni := range nodes {
				if ni.Image != "" {
					imgs = append(imgs, ni.Image)
				}
			}
			for id, ni := range l.Lookup(imgs...) {
				nodes[id] = ni
			}
		}
	}

	type acc struct {
		Group
		nodes, vulns map[string]bool
		topNode      string
		topVuln      string
	}
	groups := map[string]*acc{}
	for _, c := range cells {
		key, label := "", ""
		switch by {
		case GroupByVulnerability:
			key = c.vuln
		case GroupByNode:
			key, label = c.node, c.ref
			if key == "" {
				key = c.ref // a registry image no node holds
			}
		case GroupByImage:
			switch {
			case c.kind == "image" || c.kind == "registry":
				key, label = c.node, c.ref
				if key == "" {
					key = c.ref
				}
			case c.kind == "container" && nodes[c.node].Image != "":
				key = nodes[c.node].Image
			default:
				continue // a host, or a container whose image is unknown
			}
		}
		g := groups[key]
		if g == nil {
			g = &acc{Group: Group{Key: key, Label: label}, nodes: map[string]bool{}, vulns: map[string]bool{}}
			groups[key] = g
		}
		g.Findings += c.n
		g.nodes[c.node+"\x00"+c.ref] = true
		g.vulns[c.vuln] = true
		g.KEV = g.KEV || c.kev
		if g.topNode == "" && g.topVuln == "" || c.score > g.MaxScore {
			g.MaxScore, g.topNode, g.topVuln = c.score, c.node, c.vuln
		}
	}
	all := make([]*acc, 0, len(groups))
	for _, g := range groups {
		g.Nodes, g.Vulnerabilities = len(g.nodes), len(g.vulns)
		all = append(all, g)
	}
	slices.SortFunc(all, func(a, b *acc) int {
		return cmp.Or(cmp.Compare(b.MaxScore, a.MaxScore), cmp.Compare(a.Key, b.Key))
	})
	total = len(all)
	all = all[:min(len(all), limit)]

	out := make([]Group, 0, len(all))
	for _, g := range all {
		tf := ff
		tf.Sort, tf.Limit, tf.NoCount, tf.VulnID = "risk", 1, true, g.topVuln
		if by != GroupByVulnerability {
			tf.NodeID = g.topNode
		}
		top, _, err := s.Findings(ctx, tf)
		if err != nil {
			return nil, 0, err
		}
		if len(top) > 0 {
			g.Top = top[0]
		}
		if g.Label == "" {
			g.Label = g.Top.Target.Ref
		}
		if by == GroupByVulnerability {
			g.Label = g.Key
		} else if ni, ok := nodes[g.Key]; ok && ni.Label != "" {
			g.Label = ni.Label
		}
		out = append(out, g.Group)
	}
	return out, total, nil
}
