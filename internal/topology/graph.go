package topology

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"sync"
	"time"

	"github.com/riskmap/riskmap/internal/report"
)

// sensorState is what the console knows of one sensor.
type sensorState struct {
	ID, RunID, Version, Hostname string
	Seq                          uint64
	IntervalSeconds              int
	Reports                      int64
	ProbeErrors                  string
	FirstSeen, LastReport        time.Time
	// Silent is set once the sensor has been silent past GoneAfter and its
	// nodes were released.
	Silent bool

	nodes  map[string]struct{}
	edges  map[edgeKey]int
	listen map[uint16]string // port → process id (for other sensors' edges)
	ips    []netip.Addr
}

// graph is the in-memory topology. The writer goroutine is its only
// mutator (under mu); queries hold mu for reading.
type graph struct {
	mu       sync.RWMutex
	nodes    map[string]*Node
	edges    map[edgeKey]*Edge
	children map[string]map[string]struct{}
	out, in  map[string]map[edgeKey]struct{}
	sensors  map[string]*sensorState
	ipHost   map[netip.Addr]string
	// version counts applied changes (cache key of derived answers).
	version uint64
	// drops counts the nodes the graph stopped holding or marked gone
	// (Node.dropped, markGone): a sensor's shared nodes recorded at drops
	// n are all held while it is still n (sharedHeld).
	drops uint64
	// internMu guards strings and loaded: the writer derives a batch's
	// reports on several goroutines.
	internMu sync.Mutex
	strings  map[string]string
	// loaded shares equal loaded-file lists by set id; loadedAt finds a
	// shared list by its first element's address (a list already shared
	// costs no hash).
	loaded   map[string]loadedSet
	loadedAt map[*string]loadedSet
	// unclaimedSince is when nodes loaded from the store without a claim
	// (shared nodes after a restart) started waiting for one.
	unclaimedSince map[string]time.Time
	// touched are the nodes changed since the internet reachability was
	// last computed: nodes put, marked gone or deleted, and both ends of
	// edges put, marked gone or deleted (reach.go reads and clears it).
	// touchedAll asks for a computation from scratch instead (a loaded
	// graph, or more changes than a fresh computation costs).
	touched    map[string]struct{}
	touchedAll bool
	// imageVersion counts changes of container and image nodes (and
	// their edges): ImageUses' cache key.
	imageVersion uint64
}

// maxTouched is how many touched nodes the graph remembers before asking
// for the reachability from scratch.
const maxTouched = 1 << 15

// touch records that node id, or an edge of it, changed. The caller holds
// mu for writing.
func (g *graph) touch(id string) {
	g.imageTouched(g.nodes[id])
	if g.touchedAll {
		return
	}
	g.touched[id] = struct{}{}
	if len(g.touched) > maxTouched {
		g.touchAll()
	}
}

// touchAll asks for the reachability from scratch.
func (g *graph) touchAll() {
	g.touchedAll = true
	g.imageVersion++
	clear(g.touched)
}

// imageTouched counts a change of n if it is a container or an image (or
// the edge of one): ImageUses' answer is kept until one changes.
func (g *graph) imageTouched(n *Node) {
	if n != nil && (n.Kind == KindContainer || n.Kind == KindImage) {
		g.imageVersion++
	}
}

func newGraph() *graph {
	g := &graph{nodes: map[string]*Node{}, edges: map[edgeKey]*Edge{}, children: map[string]map[string]struct{}{},
		out: map[string]map[edgeKey]struct{}{}, in: map[string]map[edgeKey]struct{}{}, sensors: map[string]*sensorState{},
		ipHost: map[netip.Addr]string{}, strings: map[string]string{}, loaded: map[string]loadedSet{}, loadedAt: map[*string]loadedSet{}, unclaimedSince: map[string]time.Time{},
		touched: map[string]struct{}{}, touchedAll: true}
	for _, n := range pseudoNodes(time.Time{}) {
		g.nodes[n.ID] = n
	}
	return g
}

// pseudoNodes are always present.
func pseudoNodes(now time.Time) []*Node {
	return []*Node{
		{ID: InternetInbound, Kind: KindInternet, Key: "inbound", Label: "The Internet (inbound)", FirstSeen: now, LastSeen: now},
		{ID: InternetOutbound, Kind: KindInternet, Key: "outbound", Label: "The Internet (outbound)", FirstSeen: now, LastSeen: now},
		{ID: PrivateNetwork, Kind: KindPrivate, Key: "unmonitored", Label: "Unmonitored private network", FirstSeen: now, LastSeen: now},
	}
}

// intern shares equal strings (loaded file paths repeat across processes).
// Only the writer calls it (from its derive workers).
func (g *graph) intern(s string) string {
	if s == "" {
		return ""
	}
	g.internMu.Lock()
	defer g.internMu.Unlock()
	return g.internLocked(s)
}

func (g *graph) internLocked(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := g.strings[s]; ok {
		return v
	}
	g.strings[s] = s
	return s
}

// shareLoaded sets n.LoadedSet and n.Loaded to the graph's shared copy of
// the list files (which it never modifies nor keeps: a new list is copied,
// its paths interned). Only the writer calls it (from its derive workers).
// An already known list costs no allocation: every report re-derives its
// processes, so this runs for each process of each report.
func (g *graph) shareLoaded(n *Node, files []string) {
	if len(files) == 0 {
		n.Loaded, n.LoadedSet = nil, ""
		return
	}
	g.internMu.Lock()
	l, ok := g.loadedAt[&files[0]]
	g.internMu.Unlock()
	if ok && len(l.files) == len(files) {
		n.Loaded, n.LoadedSet = l.files, l.id
		return
	}
	var stack [2048]byte
	b := stack[:0]
	for _, f := range files {
		b = append(b, f...)
		b = append(b, 0)
	}
	sum := sha256.Sum256(b)
	var hx [32]byte
	hex.Encode(hx[:], sum[:16])
	g.internMu.Lock()
	defer g.internMu.Unlock()
	if l, ok := g.loaded[string(hx[:])]; ok {
		n.Loaded, n.LoadedSet = l.files, l.id
		return
	}
	l = loadedSet{id: string(hx[:]), files: make([]string, len(files))}
	for i, f := range files {
		l.files[i] = g.internLocked(f)
	}
	g.loaded[l.id] = l
	g.loadedAt[&l.files[0]] = l
	n.Loaded, n.LoadedSet = l.files, l.id
}

// compact shares, before a report joins its sensor's snapshot, the strings
// its processes and connections repeat across reports and sensors (names,
// executables, users, loaded files, states, local addresses), so that a
// sensor's snapshot holds little of its own. Remote addresses and command
// lines, unbounded, are not interned.
func (g *graph) compact(r *report.Report) {
	var n Node
	for i := range r.Processes {
		p := &r.Processes[i]
		p.Name, p.Exe, p.User = g.intern(p.Name), g.intern(p.Exe), g.intern(p.User)
		if len(p.Loaded) > 0 {
			g.shareLoaded(&n, p.Loaded)
			p.Loaded = n.Loaded
		}
		for j := range p.Listen {
			p.Listen[j].Addr = g.intern(p.Listen[j].Addr)
		}
	}
	for i := range r.Connections {
		c := &r.Connections[i]
		c.Source, c.Proto, c.State = constant(c.Source), constant(c.Proto), constant(c.State)
		c.Local.Addr = g.intern(c.Local.Addr)
	}
}

// constant returns the program's copy of the usual values of connection
// fields (no table: any other value is kept as it is).
func constant(s string) string {
	switch s {
	case report.SourceProc:
		return report.SourceProc
	case report.SourceConntrack:
		return report.SourceConntrack
	case "tcp":
		return "tcp"
	case "udp":
		return "udp"
	case "tcp6":
		return "tcp6"
	case "udp6":
		return "udp6"
	case "LISTEN":
		return "LISTEN"
	case "ESTABLISHED":
		return "ESTABLISHED"
	case "TIME_WAIT":
		return "TIME_WAIT"
	case "CLOSE_WAIT":
		return "CLOSE_WAIT"
	case "SYN_SENT":
		return "SYN_SENT"
	}
	return s
}

// loadedSet is a shared list of loaded files and its id.
type loadedSet struct {
	id    string
	files []string
}

// hostByIP and listener implement resolver. The writer calls them without
// the lock (it is the only mutator).
func (g *graph) hostByIP(ip netip.Addr) (string, bool) {
	h, ok := g.ipHost[ip]
	return h, ok
}

func (g *graph) listener(hostID string, port uint16) (string, bool) {
	n := g.nodes[hostID]
	if n == nil || n.SensorID == "" {
		return "", false
	}
	s := g.sensors[n.SensorID]
	if s == nil {
		return "", false
	}
	p, ok := s.listen[port]
	return p, ok
}

func (g *graph) link(n *Node) {
	if n.Parent != "" {
		m := g.children[n.Parent]
		if m == nil {
			m = map[string]struct{}{}
			g.children[n.Parent] = m
		}
		m[n.ID] = struct{}{}
	}
}

func (g *graph) unlink(n *Node) {
	if m := g.children[n.Parent]; m != nil {
		delete(m, n.ID)
		if len(m) == 0 {
			delete(g.children, n.Parent)
		}
	}
}

// markGone marks a node the graph holds gone at at (counted in drops).
func (g *graph) markGone(n *Node, at time.Time) {
	n.GoneAt = at
	g.drops++
}

// putNode inserts or replaces a node (keeping first seen and claims).
func (g *graph) putNode(n *Node) {
	if old := g.nodes[n.ID]; old != nil {
		if old == n {
			return
		}
		n.FirstSeen = old.FirstSeen
		if n.claims.len() == 0 {
			n.claims = old.claims // old is the graph's no more
		}
		old.dropped = true
		g.drops++
		g.unlink(old)
	}
	g.nodes[n.ID] = n
	g.link(n)
	g.touch(n.ID)
}

func (g *graph) putEdge(e *Edge) {
	k := e.key()
	if old := g.edges[k]; old != nil && old != e {
		e.FirstSeen = old.FirstSeen
	}
	g.edges[k] = e
	g.touch(e.Src)
	g.touch(e.Dst)
	if g.out[e.Src] == nil {
		g.out[e.Src] = map[edgeKey]struct{}{}
	}
	g.out[e.Src][k] = struct{}{}
	if g.in[e.Dst] == nil {
		g.in[e.Dst] = map[edgeKey]struct{}{}
	}
	g.in[e.Dst][k] = struct{}{}
}

func (g *graph) deleteEdge(k edgeKey) {
	if _, ok := g.edges[k]; ok {
		g.touch(k.Src)
		g.touch(k.Dst)
	}
	delete(g.edges, k)
	if m := g.out[k.Src]; m != nil {
		delete(m, k)
		if len(m) == 0 {
			delete(g.out, k.Src)
		}
	}
	if m := g.in[k.Dst]; m != nil {
		delete(m, k)
		if len(m) == 0 {
			delete(g.in, k.Dst)
		}
	}
}

func (g *graph) deleteNode(id string) {
	n := g.nodes[id]
	if n == nil {
		return
	}
	g.imageTouched(n)
	g.unlink(n)
	n.dropped = true
	g.drops++
	delete(g.nodes, id)
	g.touch(id)
	delete(g.unclaimedSince, id)
	for k := range g.out[id] {
		g.deleteEdge(k)
	}
	for k := range g.in[id] {
		g.deleteEdge(k)
	}
}

// lastSeen is when a node was last reported: for a live node the latest
// report of a sensor claiming it.
func (g *graph) lastSeen(n *Node) time.Time {
	t := n.LastSeen
	if n.Gone() {
		return t
	}
	for s := range n.claims.all() {
		if st := g.sensors[s]; st != nil && st.LastReport.After(t) {
			t = st.LastReport
		}
	}
	return t
}

// reindexHost refreshes the address index for a sensor's host.
func (g *graph) reindexHost(s *sensorState, host *Node) {
	hostID := HostNodeID(s.ID)
	for _, ip := range s.ips {
		if g.ipHost[ip] == hostID {
			delete(g.ipHost, ip)
		}
	}
	s.ips = s.ips[:0]
	if host == nil || host.Gone() {
		return
	}
	for _, a := range host.IPs {
		if ip := parseAddr(a); ip.IsValid() && classify(ip) != classLocal {
			g.ipHost[ip] = host.ID
			s.ips = append(s.ips, ip)
		}
	}
}
