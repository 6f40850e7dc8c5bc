// Package threatgraph is the estate seen from the internet (GET
// /api/v1/threat-graph), as ThreatMapper's threat graph draws it: the
// entry points (hosts with a public address or observed inbound
// connections, Kubernetes services with a public load balancer), then
// what each reaches hop by hop (pods, containers, processes, and the
// hosts and processes they connect to), with the exploitable findings at
// every node and hop. It composes two modules' answers and reads no table:
// the topology's reachable layers (topology.Reachable: each node's
// distance from the internet and its predecessors) and the findings'
// counts per node (findings.NodeCounts).
package threatgraph

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/topology"
)

// Route is the module's one route (its row is in console.Policy()).
const Route = "/api/v1/threat-graph"

// Limits of an answer's nodes.
const (
	DefaultLimit = 300
	MaxLimit     = 2000
)

// Reachability is what the threat graph needs from the topology.
type Reachability interface {
	Reachable(ctx context.Context) ([]topology.Reached, error)
}

// Counts is what it needs from the findings.
type Counts interface {
	NodeCounts(ctx context.Context, ids []string) (map[string]findings.NodeCount, error)
}

// ThreatGraph is the threat graph (the names of the API types are
// unique across the console's OpenAPI document, hence the prefix).
type ThreatGraph struct {
	// Internet is the id of the internet pseudo-node, the predecessor of
	// every entry point.
	Internet string `json:"internet"`
	// Hops are the columns, by distance from the internet (1: the entry
	// points), each with its nodes' findings summed; over every reached
	// node, whatever the limit.
	Hops []ThreatHop `json:"hops"`
	// Nodes are the reached nodes, nearest first (then highest score,
	// then label), at most the limit; Truncated when there were more
	// (Total counts them).
	Nodes     []ThreatNode `json:"nodes"`
	Total     int          `json:"total"`
	Truncated bool         `json:"truncated"`
	// Exploitable sums the findings of every reached node that holds
	// them (hosts, containers, pods: a process's findings are its
	// container's or host's, so they are not added again).
	Exploitable findings.NodeCount `json:"exploitable"`
}

// ThreatHop is one column of the graph: the nodes at one distance.
type ThreatHop struct {
	Distance int `json:"distance"`
	Nodes    int `json:"nodes"`
	// Counts sums the findings held by the column's nodes (not the
	// processes', which are their holders').
	Counts findings.NodeCount `json:"counts"`
}

// ThreatNode is a reached node with its findings.
type ThreatNode struct {
	topology.Reached
	// Counts are the node's findings: those it holds (a host, container
	// or pod), or, for a process, those whose attack path ends at it (it
	// loads the vulnerable package and listens).
	Counts findings.NodeCount `json:"counts"`
	// Reaches, for an entry point, sums what it reaches beyond itself:
	// the nodes and the findings they hold.
	Reaches *ThreatReach `json:"reaches,omitempty"`
}

// ThreatReach is what an entry point leads to.
type ThreatReach struct {
	Nodes  int                `json:"nodes"`
	Counts findings.NodeCount `json:"counts"`
}

// Service is the threat graph module.
type Service struct {
	topo Reachability
	fnd  Counts
	log  *slog.Logger
}

// New builds the module.
func New(topo Reachability, fnd Counts, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{topo: topo, fnd: fnd, log: log}
}

// holds tells whether findings are stored on nodes of a kind (a
// process's are its holder's).
func holds(kind string) bool { return kind != topology.KindProcess }

// Build composes the threat graph, with at most limit nodes (0: the
// default; at most MaxLimit).
func (s *Service) Build(ctx context.Context, limit int) (*ThreatGraph, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	reached, err := s.topo.Reachable(ctx)
	if err != nil {
		return nil, fmt.Errorf("threat graph: reachability: %w", err)
	}
	ids := make([]string, len(reached))
	for i, r := range reached {
		ids[i] = r.ID
	}
	counts, err := s.fnd.NodeCounts(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("threat graph: %w", err)
	}
	g := &ThreatGraph{Internet: topology.InternetInbound, Hops: []ThreatHop{}, Nodes: []ThreatNode{}, Total: len(reached)}
	nodes := make([]ThreatNode, len(reached))
	index := make(map[string]int, len(reached))
	for i, r := range reached {
		nodes[i] = ThreatNode{Reached: r, Counts: counts[r.ID]}
		index[r.ID] = i
		for len(g.Hops) < r.Distance {
			g.Hops = append(g.Hops, ThreatHop{Distance: len(g.Hops) + 1})
		}
		h := &g.Hops[r.Distance-1]
		h.Nodes++
		if holds(r.Kind) {
			sum(&h.Counts, counts[r.ID])
			sum(&g.Exploitable, counts[r.ID])
		}
	}
	// What each entry point reaches: its descendants in the layers.
	next := make(map[string][]int, len(reached))
	for i, r := range reached {
		for _, p := range r.Preds {
			next[p] = append(next[p], i)
		}
	}
	for i := range nodes {
		if nodes[i].Distance != 1 {
			continue
		}
		seen := map[int]bool{i: true}
		queue := []int{i}
		rc := &ThreatReach{}
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			for _, k := range next[nodes[n].ID] {
				if seen[k] {
					continue
				}
				seen[k] = true
				queue = append(queue, k)
				rc.Nodes++
				if holds(nodes[k].Kind) {
					sum(&rc.Counts, nodes[k].Counts)
				}
			}
		}
		nodes[i].Reaches = rc
	}
	// Nearest first; in a column, the worst first.
	slices.SortStableFunc(nodes, func(a, b ThreatNode) int {
		if a.Distance != b.Distance {
			return a.Distance - b.Distance
		}
		if a.Counts.MaxScore != b.Counts.MaxScore {
			if a.Counts.MaxScore > b.Counts.MaxScore {
				return -1
			}
			return 1
		}
		return b.Counts.Exploitable - a.Counts.Exploitable
	})
	if len(nodes) > limit {
		nodes, g.Truncated = nodes[:limit], true
	}
	for i := range nodes {
		if nodes[i].Preds == nil {
			nodes[i].Preds = []string{}
		}
		nonNil(&nodes[i].Counts)
	}
	for i := range g.Hops {
		nonNil(&g.Hops[i].Counts)
	}
	for i := range nodes {
		if nodes[i].Reaches != nil {
			nonNil(&nodes[i].Reaches.Counts)
		}
	}
	nonNil(&g.Exploitable)
	g.Nodes = nodes
	return g, nil
}

func nonNil(c *findings.NodeCount) {
	if c.BySeverity == nil {
		c.BySeverity = map[string]int{}
	}
}

func sum(into *findings.NodeCount, c findings.NodeCount) {
	if into.BySeverity == nil {
		into.BySeverity = map[string]int{}
	}
	into.Findings += c.Findings
	into.Exploitable += c.Exploitable
	into.KEV += c.KEV
	for k, v := range c.BySeverity {
		into.BySeverity[k] += v
	}
	into.MaxScore = max(into.MaxScore, c.MaxScore)
}

var _ console.Module = (*Service)(nil)

type graphIn struct {
	Limit int `query:"limit" minimum:"0" maximum:"2000" doc:"at most this many nodes, nearest the internet first (default 300); truncated says when there were more"`
}

type graphOut struct{ Body *ThreatGraph }

// Routes registers GET /api/v1/threat-graph.
func (s *Service) Routes(api huma.API, _ chi.Router) {
	huma.Register(api, huma.Operation{OperationID: "get-threat-graph", Method: http.MethodGet, Path: Route, Tags: []string{"findings"},
		Summary: "The estate by distance from the internet: entry points, what each reaches hop by hop, exploitable findings per node and hop"},
		func(ctx context.Context, in *graphIn) (*graphOut, error) {
			g, err := s.Build(ctx, in.Limit)
			if err != nil {
				return nil, console.Error(ctx, s.log, "threat graph", err)
			}
			return &graphOut{g}, nil
		})
}
