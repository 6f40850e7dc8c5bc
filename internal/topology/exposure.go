package topology

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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

// MaxPaths bounds the entry points a reached process keeps (each with
// its shortest route), so the attack paths of a finding.
const MaxPaths = 5

// reach is the cached reachability of the graph at a version. It is not
// changed once made: the next version is a new reach (reach.go).
type reach struct {
	version uint64
	at      time.Time
	// labels are, for each reached process, the entry points it is
	// reached from (at most MaxPaths, nearest first), each with the
	// process before it on the shortest route from that entry. The first
	// label's pred is the process it was first reached from
	// (InternetInbound for a first hop).
	labels *labelMap

	// layers is Reachable's answer, computed once.
	layersOnce sync.Once
	layers     []Reached
}

// reached reports whether the internet reaches process id.
func (rc *reach) reached(id string) bool { return len(rc.labels.get(id)) > 0 }

// via is the process id was first reached from (InternetInbound for a
// first hop), or "" when it is not reached.
func (rc *reach) via(id string) string {
	if ls := rc.labels.get(id); len(ls) > 0 {
		return ls[0].pred
	}
	return ""
}

// reason is why the internet reaches a first hop (its first entry's).
func (rc *reach) reason(id string) string {
	for _, l := range rc.labels.get(id) {
		if l.pred == InternetInbound {
			return l.reason
		}
	}
	return ""
}

// label is one entry point's route to a process: its last step.
type label struct {
	entry string // the entry point: a host, or a Kubernetes service
	pred  string // the process before, or InternetInbound for a first hop
	hops  int    // connections followed since the entry's first process
	// For a first hop: the nodes from the entry to the process (entry
	// first, process last) and why the internet reaches it.
	route  []string
	reason string
}

func (rc *reach) label(id, entry string) (label, bool) {
	for _, l := range rc.labels.get(id) {
		if l.entry == entry {
			return l, true
		}
	}
	return label{}, false
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
		if rc.reached(p.ID) {
			rp.InternetReachable = true
			for i, r := range g.routes(rc, p.ID) {
				hops := make([]risk.Hop, len(r.path))
				for i, h := range r.path {
					hops[i] = risk.Hop{NodeID: h.ID, Kind: h.Kind, Name: h.Label}
				}
				rp.Paths = append(rp.Paths, hops)
				if i == 0 {
					rp.Path, rp.Reason = hops, r.reason
				}
			}
			if !ex.Internet {
				ex.Internet, ex.Path, ex.Paths = true, rp.Path, rp.Paths
			}
		}
		ex.Processes = append(ex.Processes, rp)
	}
	return ex, ctx.Err()
}

func ref(n *Node) NodeRef { return NodeRef{ID: n.ID, Kind: n.Kind, Label: n.Label} }

// serviceAddrs names a service's public addresses: " (load balancer
// 203.0.113.50)".
func serviceAddrs(n *Node) string {
	var parts []string
	if v := n.Meta["loadBalancer"]; v != "" {
		parts = append(parts, "load balancer "+v)
	}
	if v := n.Meta["externalIps"]; v != "" {
		parts = append(parts, "external address "+v)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// targets reports whether process p listens on one of service n's target
// ports (any port when one is named: the name is the pod's to resolve).
func targets(n *Node, p *Node) bool {
	if len(n.Ports) == 0 {
		return true
	}
	for _, port := range n.Ports {
		if port.ContainerPort == 0 || hasPort(p.Listen, port.ContainerPort) {
			return true
		}
	}
	return false
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
		v := rc.via(id)
		if v == InternetInbound || v == "" {
			return id
		}
		id = v
	}
	return id
}

// step is the hops from process p to process q over a connection: q's
// host, pod and container where they differ from p's, then q.
func (g *graph) step(p, q *Node) []string {
	var out []string
	if q.Host != "" && q.Host != p.Host {
		out = append(out, q.Host)
	}
	if q.Pod != "" && q.Pod != p.Pod {
		out = append(out, q.Pod)
	}
	if q.Container != "" && q.Container != p.Container {
		out = append(out, q.Container)
	}
	return append(out, q.ID)
}

// route is the shortest route from entry to process id (internet first,
// the process last, each node once), or nil when entry does not reach it,
// and why the internet reaches its first process.
func (g *graph) route(rc *reach, id, entry string) ([]NodeRef, string) {
	var chain []string // processes, the last first
	var first label
	for i := 0; i <= MaxHops+1; i++ {
		l, ok := rc.label(id, entry)
		if !ok {
			return nil, ""
		}
		chain = append(chain, id)
		if l.pred == InternetInbound {
			first = l
			break
		}
		id = l.pred
	}
	if first.route == nil {
		return nil, ""
	}
	slices.Reverse(chain)
	ids := slices.Clone(first.route)
	for i := 1; i < len(chain); i++ {
		p, q := g.nodes[chain[i-1]], g.nodes[chain[i]]
		if p == nil || q == nil {
			return nil, ""
		}
		ids = append(ids, g.step(p, q)...)
	}
	path := []NodeRef{ref(g.nodes[InternetInbound])}
	seen := map[string]bool{InternetInbound: true}
	for _, id := range ids {
		if n := g.nodes[id]; n != nil && !seen[id] {
			seen[id] = true
			path = append(path, ref(n))
		}
	}
	return path, first.reason
}

// attackRoute is one attack path and why the internet reaches its first
// process.
type attackRoute struct {
	path   []NodeRef
	reason string
}

// routes are a reached process's attack paths: the shortest from each
// entry point that reaches it (at most MaxPaths), shortest first.
func (g *graph) routes(rc *reach, id string) []attackRoute {
	var out []attackRoute
	for _, l := range rc.labels.get(id) {
		if r, why := g.route(rc, id, l.entry); r != nil {
			out = append(out, attackRoute{r, why})
		}
	}
	slices.SortStableFunc(out, func(a, b attackRoute) int {
		if len(a.path) != len(b.path) {
			return len(a.path) - len(b.path)
		}
		return strings.Compare(a.path[1].Label, b.path[1].Label)
	})
	return out
}

// ExposureScope widens the nodes a batch of reports changed (NodesChanged,
// NodesGone) to every node whose exposure they may have changed, for the
// findings stored on them to be rescored: the nodes whose internet
// reachability changed since the last call (a connection to a front
// process makes the processes behind it reachable too; a service that
// starts or stops selecting a pod changes the entry points, so the attack
// paths, of its processes and those behind them), and, for each of
// those and of ids, its parents (process → container → pod → host) and a
// container's image. The first call only starts recording (the findings
// were scored with the reachability it sees). Each new reachability
// knows which processes it changed (reach.go), so a call costs what the
// batches since the last one changed, not the graph's size.
func (t *Topology) ExposureScope(ids []string) []string {
	set := map[string]struct{}{}
	for _, id := range ids {
		set[id] = struct{}{}
	}
	t.reachMu.Lock()
	t.reachLocked(true)
	if t.scopeChanged != nil {
		for id := range t.scopeChanged {
			set[id] = struct{}{}
		}
	}
	// From now on every new reachability records the processes whose
	// entry points it changed.
	t.scopeChanged = map[string]struct{}{}
	t.reachMu.Unlock()

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
