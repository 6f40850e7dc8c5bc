package findings

import (
	"context"
	"fmt"
	"strings"

	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/topology"
)

// Scope kinds of a report or an export: the estate (every current
// finding), a cluster, a node, an image (with the containers running it)
// or a scan.
const (
	ScopeEstate  = "estate"
	ScopeCluster = "cluster"
	ScopeNode    = "node"
	ScopeImage   = "image"
	ScopeScan    = "scan"
)

// Scopes lists the scope kinds.
var Scopes = []string{ScopeEstate, ScopeCluster, ScopeNode, ScopeImage, ScopeScan}

// nodeScope is the part of a filter that names nodes by what the topology
// knows of them (a name, an image, a namespace, a cluster), resolved to
// node ids before the query.
type nodeScope struct {
	// resolved is set once resolve ran.
	resolved bool
	// only: the findings must be on one of these nodes (nil: no bound).
	only []string
	// search: the nodes whose name, image, namespace or cluster match
	// Search (OR'ed with the search of ids, packages and references).
	search []string
}

// resolve turns the filter's topology terms (Image, Cluster, Namespace and
// the node part of Search) into node ids: the distinct nodes of the
// findings the rest of the filter selects, looked up in the topology.
func (s *Service) resolve(ctx context.Context, ff *Filter) error {
	ff.nodes.resolved = true
	ff.Search = strings.TrimSpace(ff.Search)
	if ff.Image == "" && ff.Cluster == "" && ff.Namespace == "" && ff.Search == "" {
		return nil
	}
	l, _ := s.exposure.(nodeLookup)
	var ids []string
	if l != nil {
		base := Filter{ScanID: ff.ScanID, NodeID: ff.NodeID, Type: ff.Type, IncludeSuppressed: true}
		base.nodes.resolved = true
		w := s.where(base)
		w.Add("f.node_id <> ''")
		rows, err := s.st.Read().QueryContext(ctx, `SELECT DISTINCT f.node_id FROM scan_findings f`+w.SQL(), w.Args()...)
		if err != nil {
			return fmt.Errorf("nodes of findings: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("nodes of findings: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("nodes of findings: %w", err)
		}
	}
	var nodes map[string]topology.NodeInfo
	images := map[string]topology.NodeInfo{}
	if l != nil && len(ids) > 0 {
		nodes = l.Lookup(ids...)
		var imgs []string
		for _, ni := range nodes {
			if ni.Image != "" {
				imgs = append(imgs, ni.Image)
			}
		}
		if len(imgs) > 0 {
			images = l.Lookup(imgs...)
		}
	}
	imageOf := func(id string, ni topology.NodeInfo) (string, string) {
		if ni.Kind == topology.KindImage {
			return id, ni.Label
		}
		if ni.Image != "" {
			return ni.Image, images[ni.Image].Label
		}
		return "", ""
	}
	bounded := ff.Image != "" || ff.Cluster != "" || ff.Namespace != ""
	if bounded {
		ff.nodes.only = []string{}
	}
	q := strings.ToLower(ff.Search)
	for _, id := range ids {
		ni, ok := nodes[id]
		if !ok {
			continue
		}
		imgID, imgLabel := imageOf(id, ni)
		if bounded {
			in := (ff.Image == "" || ff.Image == imgID || ff.Image == imgLabel) &&
				(ff.Cluster == "" || ff.Cluster == ni.Cluster || (ni.Kind == topology.KindHost && ff.Cluster == id)) &&
				(ff.Namespace == "" || ff.Namespace == ni.Namespace)
			if in {
				ff.nodes.only = append(ff.nodes.only, id)
			}
		}
		if q != "" {
			for _, v := range []string{ni.Label, imgLabel, ni.Namespace, ni.Cluster} {
				if v != "" && strings.Contains(strings.ToLower(v), q) {
					ff.nodes.search = append(ff.nodes.search, id)
					break
				}
			}
		}
	}
	return nil
}

// likeContains is a LIKE pattern (ESCAPE '!') of the rows containing s.
func likeContains(s string) string {
	return "%" + strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(strings.ToLower(s)) + "%"
}

// addNodeScope adds the resolved node terms and the search to w.
func (ff *Filter) addNodeScope(w *store.Where) {
	if ff.nodes.only != nil {
		w.Add(inList("f.node_id", len(ff.nodes.only)), anys(ff.nodes.only)...)
	}
	if ff.Search != "" {
		p := likeContains(ff.Search)
		cond := "(LOWER(f.aliases) LIKE ? ESCAPE '!' OR LOWER(f.package_name) LIKE ? ESCAPE '!' OR LOWER(f.subject) LIKE ? ESCAPE '!' OR LOWER(f.target_ref) LIKE ? ESCAPE '!' OR LOWER(f.node_id) LIKE ? ESCAPE '!'"
		args := []any{p, p, p, p, p}
		if len(ff.nodes.search) > 0 {
			cond += " OR " + inList("f.node_id", len(ff.nodes.search))
			args = append(args, anys(ff.nodes.search)...)
		}
		w.Add(cond+")", args...)
	}
}

// inList is "col IN (?, ...)" for n values; with none, a condition no
// row meets.
func inList(col string, n int) string {
	if n == 0 {
		return "1 = 0"
	}
	return col + " IN (" + strings.TrimSuffix(strings.Repeat("?,", n), ",") + ")"
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
