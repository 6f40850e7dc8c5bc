package topology

import (
	"context"
	"slices"
	"strings"
)

// Reached is a node the internet reaches: where it stands on the attack
// paths of the estate.
type Reached struct {
	NodeRef
	// Distance is the number of hops from the internet on the node's
	// shortest attack path: 1 for an entry point (a host with a public
	// address or observed inbound connections, a Kubernetes service with a
	// public load balancer or external address), then its pods,
	// containers and processes, and what they connect to.
	Distance int `json:"distance"`
	// Preds are the nodes one hop nearer the internet with a hop to this
	// one (InternetInbound for an entry point), sorted by id.
	Preds []string `json:"preds"`
	// Reason, for an entry point, is why the internet reaches it.
	Reason string `json:"reason,omitempty"`
}

// Reachable returns the nodes the internet reaches, nearest first (by
// distance, then label and id): the union of the attack paths (the
// shortest route from each entry point to each reached process, as
// Exposure gives them), laid out by distance from the internet. Computed
// once per graph change.
func (t *Topology) Reachable(ctx context.Context) ([]Reached, error) {
	rc := t.reachability()
	rc.layersOnce.Do(func() { rc.layers = t.g.layers(rc) })
	return rc.layers, ctx.Err()
}

// layers lays the attack paths out by distance: the hops of every route
// make edges, walked breadth first from the internet.
func (g *graph) layers(rc *reach) []Reached {
	g.mu.RLock()
	defer g.mu.RUnlock()
	next := map[string]map[string]struct{}{}
	reason := map[string]string{}
	edge := func(a, b string) {
		if a == b {
			return
		}
		if next[a] == nil {
			next[a] = map[string]struct{}{}
		}
		next[a][b] = struct{}{}
	}
	live := func(id string) bool { n := g.nodes[id]; return n != nil && !n.Gone() }
	for id, ls := range rc.labels.all() {
		q := g.nodes[id]
		if q == nil || q.Gone() {
			continue
		}
		for _, l := range ls {
			var hops []string
			if l.pred == InternetInbound {
				hops = append([]string{InternetInbound}, l.route...)
				why := l.reason
				if e := g.nodes[l.entry]; e != nil && e.Kind == KindHost {
					why = q.Label + ": " + why // a host is an entry point by its listeners
				}
				if old, ok := reason[l.entry]; !ok || why < old {
					reason[l.entry] = why
				}
			} else if p := g.nodes[l.pred]; p != nil && !p.Gone() {
				hops = append([]string{p.ID}, g.step(p, q)...)
			}
			for i := 1; i < len(hops); i++ {
				if live(hops[i]) && (i == 1 && hops[0] == InternetInbound || live(hops[i-1])) {
					edge(hops[i-1], hops[i])
				}
			}
		}
	}
	dist := map[string]int{InternetInbound: 0}
	preds := map[string][]string{}
	frontier := []string{InternetInbound}
	for d := 1; len(frontier) > 0; d++ {
		var layer []string
		for _, a := range frontier {
			for b := range next[a] {
				if db, ok := dist[b]; ok && db < d {
					continue
				}
				if _, ok := dist[b]; !ok {
					dist[b] = d
					layer = append(layer, b)
				}
				preds[b] = append(preds[b], a)
			}
		}
		frontier = layer
	}
	out := make([]Reached, 0, len(dist))
	for id, d := range dist {
		if id == InternetInbound {
			continue
		}
		ps := preds[id]
		slices.Sort(ps)
		r := Reached{NodeRef: ref(g.nodes[id]), Distance: d, Preds: ps}
		if d == 1 {
			r.Reason = reason[id]
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Reached) int {
		if a.Distance != b.Distance {
			return a.Distance - b.Distance
		}
		if c := strings.Compare(a.Label, b.Label); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}
