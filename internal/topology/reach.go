package topology

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// The internet reachability (which processes the internet reaches, from
// which entry points, by which shortest routes) is computed from scratch
// once, then kept up to date from what each batch touched:
//
//   - A process's seeds (the entry points that reach it directly) depend
//     only on the process, its parent, host, container and pod, the
//     services selecting its pod and the internet's edges to it and its
//     parent. A touched node makes the processes under it dirty.
//   - Labels then spread over live connections, at most MaxHops-1 of them.
//     A process's labels depend only on its cone: the processes with a
//     route to it of at most MaxHops-1 connections, their seeds and the
//     connections between them (the order in which entry points arrive
//     at a process, which decides the MaxPaths it keeps, is the order of
//     their visits in the cone, the same in any computation that holds
//     the whole cone).
//   - So the processes whose labels may change are those within
//     MaxHops-1 connections downstream of a dirty one (the forward
//     closure); they are recomputed from the seeds of their cones (the
//     backward closure of the forward one), walking only inside it.
//
// TestReachIncrementalMatchesFull checks, batch after batch, that this
// gives what a computation from scratch gives.

// reachability computes (or returns the cached) internet reachability.
func (t *Topology) reachability() *reach { return t.reachabilityOf(false) }

// reachabilityOf is reachability; current refuses a cached answer for an
// older graph.
func (t *Topology) reachabilityOf(current bool) *reach {
	t.reachMu.Lock()
	defer t.reachMu.Unlock()
	return t.reachLocked(current)
}

// reachLocked is reachabilityOf with reachMu held.
func (t *Topology) reachLocked(current bool) *reach {
	g := t.g
	g.mu.RLock()
	defer g.mu.RUnlock()
	// Reuse an answer for the same graph, or one under two seconds old
	// (the graph changes with every batch of reports).
	old := t.reach
	if old != nil && (old.version == g.version || (!current && t.now().Sub(old.at) < 2*time.Second)) {
		return old
	}
	// The touched set is read and cleared here, under the read lock: the
	// writer changes it only under the write lock, and reachMu keeps
	// computations one at a time.
	var rc *reach
	var changed []string
	if old == nil || g.touchedAll {
		rc = g.reachFrom(nil)
		changed = changedLabels(old, rc)
	} else {
		rc, changed = g.reachUpdate(old)
	}
	g.touchedAll = false
	clear(g.touched)
	rc.version, rc.at = g.version, t.now()
	if t.scopeChanged != nil {
		for _, id := range changed {
			t.scopeChanged[id] = struct{}{}
		}
	}
	t.reach = rc
	return rc
}

// reachUpdate is old brought up to the graph from what was touched since,
// and the processes whose entry points changed.
func (g *graph) reachUpdate(old *reach) (*reach, []string) {
	dirty := map[string]struct{}{}
	for id := range g.touched {
		n := g.nodes[id]
		if n == nil {
			dirty[id] = struct{}{} // deleted: its labels go
			continue
		}
		switch n.Kind {
		case KindProcess:
			dirty[id] = struct{}{}
		case KindContainer, KindPod:
			g.processesUnder(id, dirty)
		case KindHost:
			// Its processes, in its containers and pods too.
			g.processesUnder(id, dirty)
			g.processesOnHost(n, dirty)
		case KindService:
			// The processes of the pods it selects (or selected: an edge
			// that went touched the pod too).
			for k := range g.out[id] {
				if k.Kind == EdgeSelects {
					g.processesUnder(k.Dst, dirty)
				}
			}
		}
		// Nothing else (clusters, namespaces, images, the internet) is
		// part of a process's seeds.
	}
	if len(dirty) == 0 {
		return &reach{labels: old.labels}, nil
	}
	fwd := g.closure(dirty, true)
	cone := g.closure(fwd, false)
	fresh := g.reachFrom(cone)
	labels := old.labels.derive()
	var changed []string
	for id := range fwd {
		was, now := old.labels.get(id), fresh.labels.get(id)
		if len(now) == 0 {
			labels.del(id)
		} else {
			labels.set(id, now)
		}
		if !sameEntries(was, now) {
			changed = append(changed, id)
		}
	}
	return &reach{labels: labels}, changed
}

// processesUnder adds to set node id if it is a process, else the
// processes under it (a host's, container's or pod's).
func (g *graph) processesUnder(id string, set map[string]struct{}) {
	var walk func(id string, depth int)
	walk = func(id string, depth int) {
		n := g.nodes[id]
		if n == nil || depth > 4 {
			return
		}
		if n.Kind == KindProcess {
			set[id] = struct{}{}
			return
		}
		for c := range g.children[id] {
			walk(c, depth+1)
		}
	}
	walk(id, 0)
}

// processesOnHost adds to set the processes on host h (its sensor's).
func (g *graph) processesOnHost(h *Node, set map[string]struct{}) {
	add := func(n *Node) {
		if n != nil && n.Kind == KindProcess && n.Host == h.ID {
			set[n.ID] = struct{}{}
		}
	}
	if s := g.sensors[h.SensorID]; s != nil {
		for id := range s.nodes {
			add(g.nodes[id])
		}
		return
	}
	for _, n := range g.nodes {
		add(n)
	}
}

// closure is from and the live processes within MaxHops-1 live
// connections of it, downstream (forward) or upstream.
func (g *graph) closure(from map[string]struct{}, forward bool) map[string]struct{} {
	out := maps.Clone(from)
	frontier := slices.Collect(maps.Keys(from))
	for hop := 1; hop < MaxHops && len(frontier) > 0; hop++ {
		var next []string
		for _, id := range frontier {
			adj := g.in[id]
			if forward {
				adj = g.out[id]
			}
			for k := range adj {
				if k.Kind != EdgeConnection {
					continue
				}
				if e := g.edges[k]; e == nil || !e.GoneAt.IsZero() {
					continue
				}
				o := k.Src
				if forward {
					o = k.Dst
				}
				if _, ok := out[o]; ok {
					continue
				}
				if n := g.nodes[o]; n != nil && !n.Gone() && n.Kind == KindProcess {
					out[o] = struct{}{}
					next = append(next, o)
				}
			}
		}
		frontier = next
	}
	return out
}

// changedLabels are the processes reached differently (or not at all) in
// b than in a.
func changedLabels(a, b *reach) []string {
	var out []string
	al := &labelMap{}
	if a != nil {
		al = a.labels
	}
	for id, ls := range b.labels.all() {
		if !sameEntries(al.get(id), ls) {
			out = append(out, id)
		}
	}
	for id := range al.all() {
		if b.labels.get(id) == nil {
			out = append(out, id)
		}
	}
	return out
}

// sameEntries reports whether two label lists name the same entry points
// in the same order.
func sameEntries(a, b []label) bool {
	return slices.EqualFunc(a, b, func(x, y label) bool { return x.entry == y.entry })
}

// seed is an entry point that reaches a process directly.
type seed struct {
	proc, entry string
	route       []string
	reason      string
}

// seeds appends process p's seeds: the internet's observed connections to
// it or to its container or host, a listener on a public address of its
// host, and the public Kubernetes services selecting its pod.
func (g *graph) seeds(p *Node, out []seed) []seed {
	// hostRoute is the way in through the process's host: host, pod,
	// container, process.
	hostRoute := func(why string) {
		var route []string
		for _, id := range []string{p.Host, p.Pod, p.Container} {
			if n := g.nodes[id]; id != "" && n != nil && !n.Gone() {
				route = append(route, id)
			}
		}
		route = append(route, p.ID)
		out = append(out, seed{p.ID, route[0], route, why})
	}
	// Observed inbound connections from the internet.
	for k := range g.in[p.ID] {
		if e := g.edges[k]; k.Src == InternetInbound && e != nil && e.GoneAt.IsZero() {
			hostRoute("connections from the internet observed")
		}
	}
	listens := publicListener(p)
	parent := g.nodes[p.Parent]
	if listens && parent != nil && !parent.Gone() && (parent.Kind == KindContainer || parent.Kind == KindHost) {
		// To its container or host: the listener was not identified.
		for k := range g.in[parent.ID] {
			if e := g.edges[k]; k.Src == InternetInbound && e != nil && e.GoneAt.IsZero() {
				hostRoute("connections from the internet observed to its " + parent.Kind)
			}
		}
	}
	if !listens {
		return out
	}
	// Listeners on non-loopback addresses of hosts with a public address.
	if h := g.nodes[p.Host]; h != nil && h.Public {
		c := g.nodes[p.Container]
		if p.Container == "" || c != nil && (c.Meta["networkMode"] == "host" || publishes(c, p)) {
			hostRoute("listens on a non-loopback address of a host with a public address")
		}
	}
	// A Kubernetes service with a public load balancer or external address
	// reaches the listeners of its target ports in the pods it selects.
	if parent == nil || parent.Gone() || parent.Kind != KindContainer {
		return out
	}
	pod := g.nodes[parent.Parent]
	if pod == nil || pod.Gone() {
		return out
	}
	for k := range g.in[pod.ID] {
		if k.Kind != EdgeSelects {
			continue
		}
		e, svc := g.edges[k], g.nodes[k.Src]
		if e == nil || !e.GoneAt.IsZero() || svc == nil || svc.Gone() || svc.Kind != KindService || !svc.Public || !targets(svc, p) {
			continue
		}
		out = append(out, seed{p.ID, svc.ID, []string{svc.ID, pod.ID, parent.ID, p.ID}, "behind Kubernetes service " + svc.Label + serviceAddrs(svc)})
	}
	return out
}

// reachFrom computes the reachability of the processes in within (all of
// them when within is nil) from their seeds, walking only inside within.
func (g *graph) reachFrom(within map[string]struct{}) *reach {
	rc := &reach{labels: &labelMap{}}
	in := func(id string) bool {
		if within == nil {
			return true
		}
		_, ok := within[id]
		return ok
	}
	var seeds []seed
	if within == nil {
		for _, n := range g.nodes {
			if n.Kind == KindProcess && !n.Gone() {
				seeds = g.seeds(n, seeds)
			}
		}
	} else {
		for id := range within {
			if n := g.nodes[id]; n != nil && n.Kind == KindProcess && !n.Gone() {
				seeds = g.seeds(n, seeds)
			}
		}
	}
	// Entry points in a stable order, each reaching a process once: the
	// labels a process keeps do not depend on map order.
	slices.SortFunc(seeds, func(a, b seed) int {
		if c := strings.Compare(a.proc, b.proc); c != 0 {
			return c
		}
		if c := strings.Compare(a.entry, b.entry); c != 0 {
			return c
		}
		if len(a.route) != len(b.route) {
			return len(a.route) - len(b.route)
		}
		return strings.Compare(a.reason, b.reason)
	})
	type visit struct{ proc, entry string }
	var frontier []visit
	for _, sd := range seeds {
		if _, ok := rc.label(sd.proc, sd.entry); ok || len(rc.labels.get(sd.proc)) >= MaxPaths {
			continue
		}
		rc.labels.set(sd.proc, append(rc.labels.get(sd.proc), label{entry: sd.entry, pred: InternetInbound, route: sd.route, reason: sd.reason}))
		frontier = append(frontier, visit{sd.proc, sd.entry})
	}
	// Onward connections, one layer at a time: each entry point reaches
	// a process first by its shortest route.
	var dsts []string
	for hop := 1; hop < MaxHops && len(frontier) > 0; hop++ {
		var next []visit
		for _, v := range frontier {
			dsts = dsts[:0]
			for k := range g.out[v.proc] {
				e := g.edges[k]
				if e == nil || !e.GoneAt.IsZero() || k.Kind != EdgeConnection || !in(e.Dst) {
					continue
				}
				if dst := g.nodes[e.Dst]; dst != nil && !dst.Gone() && dst.Kind == KindProcess {
					dsts = append(dsts, dst.ID)
				}
			}
			slices.Sort(dsts)
			for _, d := range dsts {
				if _, ok := rc.label(d, v.entry); ok || len(rc.labels.get(d)) >= MaxPaths {
					continue
				}
				rc.labels.set(d, append(rc.labels.get(d), label{entry: v.entry, pred: v.proc, hops: hop}))
				next = append(next, visit{d, v.entry})
			}
		}
		frontier = next
	}
	return rc
}
