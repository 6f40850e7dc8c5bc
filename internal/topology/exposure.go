package topology

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"time"

	"github.com/riskmap/riskmap/internal/risk"
)

// ErrNodeNotFound is returned for an unknown node id.
var ErrNodeNotFound = errors.New("node not found")

// NodeRef names a node.
type NodeRef struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	Label string `json:"label"`
}

// A node's exposure is risk.Exposure, the risk engine's own type: the
// topology fills it (Exposure below) and internal/scans scores with it.

// MaxHops bounds how many connections an internet path may follow.
const MaxHops = 4

// reach is the cached reachability of the graph at a version.
type reach struct {
	version uint64
	at      time.Time
	// via is, for each reached node, the node it was reached from
	// (InternetInbound for first hops); reason why the first hop is exposed.
	via    map[string]string
	reason map[string]string
}

// Exposure returns the exposure of a node (host, container, pod, image or
// process) for the risk engine: its live processes, what they load and
// listen on, and whether and how the internet reaches them. A node the
// topology does not hold has an unknown exposure (Known false), not an
// error. It reads the in-memory graph; reachability is computed once per
// graph change, so calls are cheap.
func (t *Topology) Exposure(ctx context.Context, nodeID string) (risk.Exposure, error) {
	g := t.g
	rc := t.reachability()
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := g.nodes[nodeID]
	if n == nil {
		return risk.Exposure{}, ctx.Err()
	}
	ex := risk.Exposure{Known: true, Processes: []risk.Process{}, Node: risk.Hop{NodeID: n.ID, Kind: n.Kind, Name: n.Label}}
	var procs []*Node
	switch n.Kind {
	case KindProcess:
		procs = []*Node{n}
	case KindHost, KindContainer:
		for c := range g.children[n.ID] {
			cn := g.nodes[c]
			switch {
			case cn == nil || cn.Gone():
			case cn.Kind == KindProcess:
				procs = append(procs, cn)
			case cn.Kind == KindContainer && n.Kind == KindHost:
				for p := range g.children[cn.ID] {
					if pn := g.nodes[p]; pn != nil && !pn.Gone() && pn.Kind == KindProcess {
						procs = append(procs, pn)
					}
				}
			}
		}
	case KindPod, KindImage:
		// The processes of the live containers of the pod, or running the
		// image; an image no live container runs is not deployed.
		deployed := false
		for _, cn := range g.nodes {
			if cn.Kind != KindContainer || cn.Gone() || (cn.Pod != n.ID && cn.Image != n.ID) {
				continue
			}
			deployed = true
			for p := range g.children[cn.ID] {
				if pn := g.nodes[p]; pn != nil && !pn.Gone() && pn.Kind == KindProcess {
					procs = append(procs, pn)
				}
			}
		}
		ex.NotDeployed = n.Kind == KindImage && !deployed
	}
	slices.SortFunc(procs, func(a, b *Node) int { return a.PID - b.PID })
	for _, p := range procs {
		// A container without network (--network none) has loopback only.
		isolated := false
		if c := g.nodes[p.Container]; c != nil && c.Meta["networkMode"] == "none" {
			isolated = true
		}
		rp := risk.Process{NodeID: p.ID, PID: p.PID, Name: filepath.Base(p.Exe), Exe: p.Exe, LoadedFiles: p.Loaded}
		if p.Exe == "" {
			rp.Name = p.Label
		}
		for _, l := range p.Listen {
			rp.Listening = append(rp.Listening, risk.Endpoint{Proto: "tcp", Addr: l.Addr, Port: int(l.Port), Isolated: isolated})
		}
		if _, ok := rc.via[p.ID]; ok {
			rp.InternetReachable = true
			for _, h := range g.pathTo(rc, p.ID) {
				rp.Path = append(rp.Path, risk.Hop{NodeID: h.ID, Kind: h.Kind, Name: h.Label})
			}
			rp.Reason = rc.reason[g.firstHop(rc, p.ID)]
			if !ex.Internet {
				ex.Internet, ex.Path = true, rp.Path
			}
		}
		ex.Processes = append(ex.Processes, rp)
	}
	return ex, ctx.Err()
}

func ref(n *Node) NodeRef { return NodeRef{ID: n.ID, Kind: n.Kind, Label: n.Label} }

// reachability computes (or returns the cached) internet reachability.
func (t *Topology) reachability() *reach { return t.reachabilityOf(false) }

// reachabilityOf is reachability; current refuses a cached answer for an
// older graph.
func (t *Topology) reachabilityOf(current bool) *reach {
	g := t.g
	g.mu.RLock()
	v := g.version
	g.mu.RUnlock()
	t.reachMu.Lock()
	defer t.reachMu.Unlock()
	// Reuse an answer for the same graph, or one under two seconds old
	// (the graph changes with every batch of reports).
	if t.reach != nil && (t.reach.version == v || (!current && t.now().Sub(t.reach.at) < 2*time.Second)) {
		return t.reach
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	rc := &reach{version: g.version, at: t.now(), via: map[string]string{}, reason: map[string]string{}}
	var frontier []string
	seed := func(id, why string) {
		if _, ok := rc.via[id]; ok {
			return
		}
		rc.via[id] = InternetInbound
		rc.reason[id] = why
		frontier = append(frontier, id)
	}
	// Observed inbound connections from the internet.
	for k := range g.out[InternetInbound] {
		e := g.edges[k]
		if e == nil || !e.GoneAt.IsZero() {
			continue
		}
		dst := g.nodes[e.Dst]
		if dst == nil || dst.Gone() {
			continue
		}
		switch dst.Kind {
		case KindProcess:
			seed(dst.ID, "connections from the internet observed")
		case KindContainer, KindHost:
			// The listener was not identified: its listening processes.
			for c := range g.children[dst.ID] {
				if p := g.nodes[c]; p != nil && !p.Gone() && p.Kind == KindProcess && publicListener(p) {
					seed(p.ID, "connections from the internet observed to its "+dst.Kind)
				}
			}
		}
	}
	// Listeners on non-loopback addresses of hosts with a public address.
	for _, p := range g.nodes {
		if p.Kind != KindProcess || p.Gone() || !publicListener(p) {
			continue
		}
		h := g.nodes[p.Host]
		if h == nil || !h.Public {
			continue
		}
		if p.Container != "" {
			c := g.nodes[p.Container]
			if c == nil || !(c.Meta["networkMode"] == "host" || publishes(c, p)) {
				continue
			}
		}
		seed(p.ID, "listens on a non-loopback address of a host with a public address")
	}
	// Onward connections.
	for hop := 1; hop < MaxHops && len(frontier) > 0; hop++ {
		var next []string
		for _, id := range frontier {
			for k := range g.out[id] {
				e := g.edges[k]
				if e == nil || !e.GoneAt.IsZero() {
					continue
				}
				dst := g.nodes[e.Dst]
				if dst == nil || dst.Gone() || dst.Kind != KindProcess {
					continue
				}
				if _, ok := rc.via[dst.ID]; !ok {
					rc.via[dst.ID] = id
					next = append(next, dst.ID)
				}
			}
		}
		frontier = next
	}
	t.reach = rc
	return rc
}

func publicListener(p *Node) bool {
	for _, ep := range p.Listen {
		if a := parseAddr(ep.Addr); !a.IsValid() || !a.IsLoopback() {
			return true
		}
	}
	return false
}

func publishes(c *Node, p *Node) bool {
	for _, port := range c.Ports {
		if port.HostPort != 0 && hasPort(p.Listen, port.ContainerPort) {
			if a, err := netip.ParseAddr(port.HostIP); err == nil && a.IsLoopback() {
				continue
			}
			return true
		}
	}
	return false
}

func (g *graph) firstHop(rc *reach, id string) string {
	for i := 0; i < MaxHops+1; i++ {
		v := rc.via[id]
		if v == InternetInbound || v == "" {
			return id
		}
		id = v
	}
	return id
}

// pathTo is internet → (host → container → process)+ for a reached process.
func (g *graph) pathTo(rc *reach, id string) []NodeRef {
	var chain []string
	for i := 0; i < MaxHops+1 && id != "" && id != InternetInbound; i++ {
		chain = append(chain, id)
		id = rc.via[id]
	}
	slices.Reverse(chain)
	path := []NodeRef{ref(g.nodes[InternetInbound])}
	for _, pid := range chain {
		p := g.nodes[pid]
		if p == nil {
			continue
		}
		if h := g.nodes[p.Host]; h != nil {
			path = append(path, ref(h))
		}
		if c := g.nodes[p.Container]; c != nil {
			path = append(path, ref(c))
		}
		path = append(path, ref(p))
	}
	return path
}

// ExposureScope widens the nodes a batch of reports changed (NodesChanged,
// NodesGone) to every node whose exposure they may have changed, for the
// findings stored on them to be rescored: the nodes whose internet
// reachability changed since the last call (a connection to a front
// process makes the processes behind it reachable too), and, for each of
// those and of ids, its parents (process → container → pod → host) and a
// container's image. The first call only records the reachability it
// sees (the findings were scored with it).
func (t *Topology) ExposureScope(ids []string) []string {
	rc := t.reachabilityOf(true)
	set := map[string]struct{}{}
	for _, id := range ids {
		set[id] = struct{}{}
	}
	t.scopeMu.Lock()
	if t.scopeReach != nil {
		for id := range rc.via {
			if _, ok := t.scopeReach[id]; !ok {
				set[id] = struct{}{}
			}
		}
		for id := range t.scopeReach {
			if _, ok := rc.via[id]; !ok {
				set[id] = struct{}{}
			}
		}
	}
	now := make(map[string]struct{}, len(rc.via))
	for id := range rc.via {
		now[id] = struct{}{}
	}
	t.scopeReach = now
	t.scopeMu.Unlock()

	g := t.g
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := make(map[string]struct{}, len(set))
	var add func(id string, depth int)
	add = func(id string, depth int) {
		if id == "" || depth > 8 {
			return
		}
		if _, ok := out[id]; ok {
			return
		}
		out[id] = struct{}{}
		n := g.nodes[id]
		if n == nil {
			return
		}
		add(n.Parent, depth+1)
		add(n.Host, depth+1)
		if n.Kind == KindContainer {
			add(n.Pod, depth+1)
			add(n.Image, depth+1)
		}
	}
	for id := range set {
		add(id, 0)
	}
	return slices.Sorted(maps.Keys(out))
}
