package scans

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// CoverageGap is an ecosystem (a distribution release such as "Debian:12",
// a language such as "PyPI") that the latest scans of live nodes and
// registry images found packages of while the knowledge base held no
// records for it: those packages were not judged.
type CoverageGap struct {
	Ecosystem string `json:"ecosystem"`
	// Nodes counts the live nodes (hosts, containers, images) whose latest
	// complete scan has the gap; RegistryImages the registry images.
	Nodes          int `json:"nodes"`
	RegistryImages int `json:"registryImages"`
	// Packages counts the packages not judged, over those scans.
	Packages int `json:"packages"`
	// Examples name up to MaxGapExamples of those targets ("container web").
	Examples []string `json:"examples"`
}

// MaxGapExamples bounds CoverageGap.Examples.
const MaxGapExamples = 5

// CoverageGaps gathers the uncovered lists of the latest complete scan of
// every target by ecosystem (diagnosis), leaving out nodes the topology no
// longer holds or marks gone. Ecosystems are sorted by packages, most
// first.
func (s *Service) CoverageGaps(ctx context.Context) ([]CoverageGap, error) {
	rows, err := s.st.Read().QueryContext(ctx, `SELECT node_ref, target_kind, target_ref, uncovered FROM scans
		WHERE latest = 1 AND uncovered <> '' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("coverage gaps: %w", err)
	}
	type scanGap struct {
		node, kind, ref, uncovered string
	}
	var got []scanGap
	for rows.Next() {
		var g scanGap
		if err := rows.Scan(&g.node, &g.kind, &g.ref, &g.uncovered); err != nil {
			rows.Close()
			return nil, fmt.Errorf("coverage gaps: %w", err)
		}
		got = append(got, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("coverage gaps: %w", err)
	}
	var nodeIDs []string
	for _, g := range got {
		if g.node != "" {
			nodeIDs = append(nodeIDs, g.node)
		}
	}
	nodes := s.topo.Lookup(nodeIDs...)
	byEco := map[string]*CoverageGap{}
	for _, g := range got {
		name := g.kind + " " + g.ref
		if g.node != "" {
			n, ok := nodes[g.node]
			if !ok || n.Gone {
				continue
			}
			if n.Label != "" {
				name = g.kind + " " + n.Label
			}
		}
		us, err := decodeUncovered(g.uncovered)
		if err != nil {
			s.log.Warn("coverage gaps: unreadable uncovered list skipped", "node", g.node, "ref", g.ref, "err", err)
			continue
		}
		for _, u := range us {
			cg := byEco[u.Ecosystem]
			if cg == nil {
				cg = &CoverageGap{Ecosystem: u.Ecosystem, Examples: []string{}}
				byEco[u.Ecosystem] = cg
			}
			if g.node != "" {
				cg.Nodes++
			} else {
				cg.RegistryImages++
			}
			cg.Packages += u.Packages
			if len(cg.Examples) < MaxGapExamples {
				cg.Examples = append(cg.Examples, name)
			}
		}
	}
	out := make([]CoverageGap, 0, len(byEco))
	for _, cg := range byEco {
		out = append(out, *cg)
	}
	slices.SortFunc(out, func(a, b CoverageGap) int {
		if a.Packages != b.Packages {
			return b.Packages - a.Packages
		}
		return strings.Compare(a.Ecosystem, b.Ecosystem)
	})
	return out, nil
}
