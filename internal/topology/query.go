package topology

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Graph views: the unit each node is shown as.
const (
	ViewHosts      = "hosts"
	ViewContainers = "containers"
	ViewProcesses  = "processes"
	ViewPods       = "pods"
	ViewImages     = "images"
	ViewClusters   = "clusters"
	// ViewServices shows Kubernetes services and the pods they select.
	ViewServices = "services"
)

// GraphQuery selects a graph answer.
type GraphQuery struct {
	View  string // hosts (default), containers, processes, pods, images, clusters
	Group string // host, namespace, image, cluster; "" = the view's default when aggregating
	// Filters: a case-insensitive label substring, and node ids (or, for
	// namespace, names) the shown nodes must belong to.
	Q, Host, Namespace, Image, Cluster string
	// Cloud and Region keep the nodes whose host's sensor reported that
	// cloud provider ("aws") and region ("aws/eu-west-1"): the keys of
	// the cloud and region groups, to drill into one.
	Cloud, Region string
	// MaxNodes aggregates above this many nodes (0: the configured default).
	MaxNodes int
	// Aggregate groups the nodes however few there are.
	Aggregate   bool
	IncludeGone bool
	// Risk is the risk of the nodes holding findings (RiskSource); each
	// graph node gets the sum of those it stands for.
	Risk map[string]NodeRisk
}

// GraphNode is a node of a graph answer.
type GraphNode struct {
	ID     string            `json:"id"`
	Kind   string            `json:"kind"`
	Label  string            `json:"label"`
	Parent string            `json:"parent,omitempty"`
	Group  string            `json:"group,omitempty"`
	Attrs  map[string]string `json:"attrs,omitempty"`
	// Count is how many nodes an aggregate stands for (1 otherwise).
	Count int `json:"count"`
	// Risk sums the current findings of the nodes it stands for: itself
	// and, in a view of hosts, pods, images or clusters, the containers
	// (and images, pods) shown as it; a process, which has no findings of
	// its own, carries those of its container, or of its host when it runs
	// outside containers (a group of processes: of each once); absent
	// without findings.
	Risk *NodeRisk `json:"risk,omitempty"`
}

// GraphEdge is an edge of a graph answer.
type GraphEdge struct {
	Source string `json:"source"`
	Target string `json:"target"`
	Kind   string `json:"kind"`
	// Count is the number of connections it stands for.
	Count int `json:"count"`
}

// Graph is a graph answer.
type Graph struct {
	Nodes      []GraphNode `json:"nodes"`
	Edges      []GraphEdge `json:"edges"`
	Aggregated bool        `json:"aggregated"`
	// Total is the number of nodes before aggregation.
	Total int `json:"total"`
}

// ErrBadQuery is wrapped by query errors caused by the caller.
var ErrBadQuery = fmt.Errorf("bad query")

// Graph answers a graph view from the in-memory graph.
func (t *Topology) Graph(q GraphQuery) (*Graph, error) {
	if q.View == "" {
		q.View = ViewHosts
	}
	unitKind := map[string]string{ViewHosts: KindHost, ViewContainers: KindContainer, ViewProcesses: KindProcess,
		ViewPods: KindPod, ViewImages: KindImage, ViewClusters: KindCluster, ViewServices: KindService}[q.View]
	if unitKind == "" {
		return nil, fmt.Errorf("%w: view %q: want hosts, containers, processes, pods, images, clusters or services", ErrBadQuery, q.View)
	}
	switch q.Group {
	case "", "host", "namespace", "image", "cluster", "cloud", "region":
	default:
		return nil, fmt.Errorf("%w: group %q: want host, namespace, image, cluster, cloud or region", ErrBadQuery, q.Group)
	}
	maxNodes := q.MaxNodes
	if maxNodes <= 0 {
		maxNodes = t.cfg.AggregateAbove
	}
	g := t.g
	g.mu.RLock()
	defer g.mu.RUnlock()

	live := func(n *Node) bool { return n != nil && (q.IncludeGone || !n.Gone()) }
	// unit maps a node to the node it is shown as in this view.
	unit := func(n *Node) *Node {
		if n == nil {
			return nil
		}
		var id string
		switch n.Kind {
		case KindInternet, KindPrivate:
			return n
		case KindProcess:
			switch q.View {
			case ViewProcesses:
				return n
			case ViewContainers:
				id = cmp.Or(n.Container, n.Host)
			case ViewHosts:
				id = n.Host
			case ViewPods:
				id = cmp.Or(n.Pod, n.Host)
			case ViewImages:
				id = cmp.Or(n.Image, n.Host)
			case ViewClusters:
				id = cmp.Or(n.Cluster, n.Host)
			}
		case KindContainer:
			switch q.View {
			case ViewContainers, ViewProcesses:
				return n
			case ViewHosts:
				id = n.Host
			case ViewPods:
				id = cmp.Or(n.Pod, n.Host)
			case ViewImages:
				id = cmp.Or(n.Image, n.Host)
			case ViewClusters:
				id = cmp.Or(n.Cluster, n.Host)
			}
		case KindHost:
			if q.View == ViewClusters && n.Cluster != "" {
				id = n.Cluster
			} else {
				return n
			}
		default:
			return n
		}
		return g.nodes[id]
	}
	// cloudOf is the cloud provider and region of a node's host, as its
	// sensor reported them ("", "" when it did not).
	cloudOf := func(n *Node) (cloud, region string) {
		h := n
		if n.Kind != KindHost {
			h = g.nodes[n.Host]
		}
		if h == nil || h.Meta["cloudProvider"] == "" {
			return "", ""
		}
		return h.Meta["cloudProvider"], h.Meta["cloudProvider"] + "/" + cmp.Or(h.Meta["cloudRegion"], "?")
	}
	lq := strings.ToLower(q.Q)
	match := func(n *Node) bool {
		if n.Kind == KindInternet || n.Kind == KindPrivate {
			return true
		}
		if lq != "" && !strings.Contains(strings.ToLower(n.Label), lq) {
			return false
		}
		if q.Host != "" && n.Host != q.Host && n.ID != q.Host {
			return false
		}
		if q.Image != "" && n.Image != q.Image && n.ID != q.Image {
			return false
		}
		if q.Cluster != "" && n.Cluster != q.Cluster && n.ID != q.Cluster {
			return false
		}
		if q.Cloud != "" || q.Region != "" {
			cloud, region := cloudOf(n)
			if q.Cloud != "" && cloud != q.Cloud || q.Region != "" && region != q.Region {
				return false
			}
		}
		if q.Namespace != "" {
			ns := g.nodes[n.Namespace]
			if ns == nil || ns.ID != q.Namespace && ns.Label != q.Namespace {
				return false
			}
		}
		return true
	}
	units := map[string]*Node{}
	for _, n := range g.nodes {
		if n.Kind != unitKind || !live(n) || !match(n) {
			continue
		}
		units[n.ID] = n
	}
	type ek struct{ s, d string }
	agg := map[ek]int{}
	for k, e := range g.edges {
		if !q.IncludeGone && !e.GoneAt.IsZero() {
			continue
		}
		if e.Kind != EdgeConnection && q.View != ViewPods && q.View != ViewServices {
			continue // a service's pods are shown where pods are
		}
		s, d := unit(g.nodes[k.Src]), unit(g.nodes[k.Dst])
		if !live(s) || !live(d) || s == d || !match(s) || !match(d) {
			continue
		}
		units[s.ID], units[d.ID] = s, d
		agg[ek{s.ID, d.ID}] += max(e.Count, 1)
	}
	// carriers: in the processes view, the processes that carry a node's
	// findings. Findings are recorded per host, container and image, never
	// per process: a process carries those of what it runs in, its
	// container's, or its host's when it runs outside any container.
	var carriers map[string][]string
	if q.View == ViewProcesses && len(q.Risk) > 0 {
		carriers = map[string][]string{}
		for _, n := range units {
			if on := cmp.Or(n.Container, n.Host); n.Kind == KindProcess && on != "" {
				carriers[on] = append(carriers[on], n.ID)
			}
		}
	}
	// shownOn are the units that show node id's findings: its own unit and
	// the processes carrying them (a gone node's findings are nobody's).
	shownOn := func(id string) []string {
		n := g.nodes[id]
		if !live(n) {
			return nil
		}
		var to []string
		if u := unit(n); u != nil && units[u.ID] == u {
			to = append(to, u.ID)
		}
		return append(to, carriers[id]...)
	}
	out := &Graph{Total: len(units), Nodes: []GraphNode{}, Edges: []GraphEdge{}}
	group := q.Group
	if group == "" {
		group = map[string]string{ViewProcesses: "host", ViewContainers: "host", ViewPods: "namespace", ViewServices: "namespace",
			ViewImages: "cluster", ViewHosts: "cluster", ViewClusters: ""}[q.View]
	}
	groupOf := func(n *Node) string {
		switch group {
		case "host":
			return n.Host
		case "namespace":
			return n.Namespace
		case "image":
			return n.Image
		case "cluster":
			return n.Cluster
		case "cloud", "region":
			// The cloud (and region) of the node's host, as its sensor
			// reported them: "cloud:aws", "region:aws/eu-west-1".
			cloud, region := cloudOf(n)
			if cloud == "" {
				return ""
			}
			if group == "cloud" {
				return "cloud:" + cloud
			}
			return "region:" + region
		}
		return ""
	}
	if len(units) <= maxNodes && !q.Aggregate {
		for _, n := range units {
			gn := GraphNode{ID: n.ID, Kind: n.Kind, Label: n.Label, Parent: n.Parent, Group: groupOf(n), Count: 1, Attrs: graphAttrs(n)}
			if n.Kind == KindHost {
				gn.Group = cmp.Or(groupOf(n), n.ID)
			}
			out.Nodes = append(out.Nodes, gn)
		}
		for k, c := range agg {
			out.Edges = append(out.Edges, GraphEdge{Source: k.s, Target: k.d, Kind: EdgeConnection, Count: c})
		}
		addRisk(out, q.Risk, shownOn)
		sortGraph(out)
		return out, nil
	}

	// Aggregate: one node per group; the smallest groups fold into "other"
	// when there are still too many.
	out.Aggregated = true
	members := map[string][]*Node{}
	for _, n := range units {
		k := groupOf(n)
		if n.Kind == KindInternet || n.Kind == KindPrivate {
			k = n.ID
		} else if k == "" {
			k = "none:" + n.Kind
			if n.Kind == KindHost && group == "host" {
				k = n.ID
			}
		}
		members[k] = append(members[k], n)
	}
	keys := make([]string, 0, len(members))
	for k := range members {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(len(members[b])-len(members[a]), strings.Compare(a, b))
	})
	groupID := map[string]string{} // unit id → shown node id
	for i, k := range keys {
		ms := members[k]
		id := "group-" + k
		if i >= maxNodes-1 && len(keys) > maxNodes {
			id = "group-other"
		}
		if len(ms) == 1 && id != "group-other" {
			n := ms[0]
			groupID[n.ID] = n.ID
			out.Nodes = append(out.Nodes, GraphNode{ID: n.ID, Kind: n.Kind, Label: n.Label, Parent: n.Parent, Group: k, Count: 1, Attrs: graphAttrs(n)})
			continue
		}
		for _, n := range ms {
			groupID[n.ID] = id
		}
		if id == "group-other" && slices.ContainsFunc(out.Nodes, func(x GraphNode) bool { return x.ID == id }) {
			for j := range out.Nodes {
				if out.Nodes[j].ID == id {
					out.Nodes[j].Count += len(ms)
				}
			}
			continue
		}
		label := k
		if gn := g.nodes[k]; gn != nil {
			label = gn.Label
		} else if c, ok := strings.CutPrefix(k, "cloud:"); ok {
			label = c
		} else if r, ok := strings.CutPrefix(k, "region:"); ok {
			label = r
		} else if strings.HasPrefix(k, "none:") {
			label = "no " + group
		}
		if id == "group-other" {
			label = "other"
		}
		out.Nodes = append(out.Nodes, GraphNode{ID: id, Kind: KindGroup, Label: label, Group: k, Count: len(ms),
			Attrs: map[string]string{"groupBy": group, "memberKind": unitKind}})
	}
	gagg := map[ek]int{}
	for k, c := range agg {
		s, d := groupID[k.s], groupID[k.d]
		if s == d {
			continue
		}
		gagg[ek{s, d}] += c
	}
	for k, c := range gagg {
		out.Edges = append(out.Edges, GraphEdge{Source: k.s, Target: k.d, Kind: EdgeConnection, Count: c})
	}
	addRisk(out, q.Risk, func(id string) []string {
		to := shownOn(id) // a fresh slice
		for i, u := range to {
			to[i] = groupID[u]
		}
		return to
	})
	sortGraph(out)
	return out, nil
}

// addRisk gives each node of out the sum of the risk of the nodes shown as
// it (shownAs: the ids of the nodes of out that carry a node's findings:
// the node it is shown as, and in the processes view the processes that
// run in it). A node's findings count once in each node they reach.
func addRisk(out *Graph, risk map[string]NodeRisk, shownAs func(id string) []string) {
	if len(risk) == 0 {
		return
	}
	sums := map[string]*NodeRisk{}
	seen := map[string]bool{}
	for id, r := range risk {
		clear(seen)
		for _, to := range shownAs(id) {
			if to == "" || seen[to] {
				continue // a group with several of the node's processes counts its findings once
			}
			seen[to] = true
			s := sums[to]
			if s == nil {
				s = &NodeRisk{}
				sums[to] = s
			}
			s.Add(r)
		}
	}
	for i := range out.Nodes {
		out.Nodes[i].Risk = sums[out.Nodes[i].ID]
	}
}

func sortGraph(out *Graph) {
	slices.SortFunc(out.Nodes, func(a, b GraphNode) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(out.Edges, func(a, b GraphEdge) int {
		return cmp.Or(strings.Compare(a.Source, b.Source), strings.Compare(a.Target, b.Target))
	})
}

func graphAttrs(n *Node) map[string]string {
	a := map[string]string{}
	switch n.Kind {
	case KindProcess:
		a["pid"] = strconv.Itoa(n.PID)
		if n.Exe != "" {
			a["exe"] = n.Exe
		}
	case KindHost:
		if len(n.IPs) > 0 {
			a["ips"] = strings.Join(n.IPs, " ")
		}
		if n.Public {
			a["public"] = "true"
		}
	case KindContainer:
		a["image"] = n.Meta["image"]
		a["state"] = n.Meta["state"]
	}
	if n.Gone() {
		a["gone"] = "true"
	}
	if len(a) == 0 {
		return nil
	}
	return a
}

// NodeSummary is a row of the node table.
type NodeSummary struct {
	ID        string            `json:"id"`
	Kind      string            `json:"kind"`
	Label     string            `json:"label"`
	Parent    string            `json:"parent,omitempty"`
	Host      string            `json:"host,omitempty"`
	SensorID  string            `json:"sensorId,omitempty"`
	FirstSeen time.Time         `json:"firstSeen"`
	LastSeen  time.Time         `json:"lastSeen"`
	Gone      bool              `json:"gone"`
	Attrs     map[string]string `json:"attrs,omitempty"`
}

// NodeQuery selects rows of the node table.
type NodeQuery struct {
	Kind, Q     string
	Sort        string // label (default), kind, firstSeen, lastSeen
	Desc        bool
	Limit       int
	Offset      int
	IncludeGone bool
}

// Nodes lists nodes (table view): filtered by kind and a search over
// label, id, executable, addresses and metadata values; sorted; paginated.
func (t *Topology) Nodes(q NodeQuery) (items []NodeSummary, total int, err error) {
	switch q.Sort {
	case "", "label", "kind", "firstSeen", "lastSeen":
	default:
		return nil, 0, fmt.Errorf("%w: sort %q: want label, kind, firstSeen or lastSeen", ErrBadQuery, q.Sort)
	}
	g := t.g
	g.mu.RLock()
	defer g.mu.RUnlock()
	lq := strings.ToLower(q.Q)
	var sel []*Node
	for _, n := range g.nodes {
		if q.Kind != "" && n.Kind != q.Kind || !q.IncludeGone && n.Gone() {
			continue
		}
		if lq != "" && !searchMatch(n, lq) {
			continue
		}
		sel = append(sel, n)
	}
	type row struct {
		n    *Node
		last time.Time
	}
	rows := make([]row, len(sel))
	for i, n := range sel {
		rows[i] = row{n, g.lastSeen(n)}
	}
	slices.SortFunc(rows, func(a, b row) int {
		var c int
		switch q.Sort {
		case "kind":
			c = strings.Compare(a.n.Kind, b.n.Kind)
		case "firstSeen":
			c = a.n.FirstSeen.Compare(b.n.FirstSeen)
		case "lastSeen":
			c = a.last.Compare(b.last)
		}
		c = cmp.Or(c, strings.Compare(strings.ToLower(a.n.Label), strings.ToLower(b.n.Label)), strings.Compare(a.n.ID, b.n.ID))
		if q.Desc {
			return -c
		}
		return c
	})
	total = len(rows)
	if q.Offset > len(rows) {
		q.Offset = len(rows)
	}
	rows = rows[q.Offset:]
	if q.Limit > 0 && len(rows) > q.Limit {
		rows = rows[:q.Limit]
	}
	items = make([]NodeSummary, len(rows))
	for i, r := range rows {
		items[i] = summary(r.n, r.last)
	}
	return items, total, nil
}

func searchMatch(n *Node, lq string) bool {
	if strings.Contains(strings.ToLower(n.Label), lq) || strings.Contains(n.ID, lq) || strings.Contains(strings.ToLower(n.Exe), lq) {
		return true
	}
	for _, ip := range n.IPs {
		if strings.Contains(ip, lq) {
			return true
		}
	}
	for _, v := range n.Meta {
		if strings.Contains(strings.ToLower(v), lq) {
			return true
		}
	}
	return false
}

func summary(n *Node, last time.Time) NodeSummary {
	s := NodeSummary{ID: n.ID, Kind: n.Kind, Label: n.Label, Parent: n.Parent, Host: n.Host, SensorID: n.SensorID,
		FirstSeen: n.FirstSeen, LastSeen: last, Gone: n.Gone(), Attrs: graphAttrs(n)}
	return s
}

// NodeDetail is a node with its metadata, ancestry, children and
// connections.
type NodeDetail struct {
	NodeSummary
	Meta        map[string]string `json:"meta"`
	PID         int               `json:"pid,omitempty"`
	Exe         string            `json:"exe,omitempty"`
	Loaded      []string          `json:"loaded,omitempty"`
	Listening   []Endpoint        `json:"listening,omitempty"`
	IPs         []string          `json:"ips,omitempty"`
	CPUPercent  float64           `json:"cpuPercent,omitempty"`
	RSSBytes    uint64            `json:"rssBytes,omitempty"`
	Ancestors   []NodeRef         `json:"ancestors"`
	Children    []NodeRef         `json:"children"`
	ChildCount  int               `json:"childCount"`
	Connections []Connection      `json:"connections"`
	// Related are the other nodes it belongs to (image, pod, namespace,
	// cluster).
	Related []NodeRef `json:"related"`
	// Scans are the node's latest scan results (hosts, containers and
	// images that were scanned).
	Scans *NodeScans `json:"scans,omitempty"`
}

// Connection is an edge seen from one node.
type Connection struct {
	Direction string    `json:"direction"` // out (this node is the client) or in
	Peer      NodeRef   `json:"peer"`
	Kind      string    `json:"kind"`
	Count     int       `json:"count"`
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
	Gone      bool      `json:"gone"`
	Remote    []string  `json:"remote,omitempty"`
}

// maxChildren bounds the children listed in a node detail.
const maxChildren = 1000

// Node returns a node's details.
func (t *Topology) Node(id string) (*NodeDetail, error) {
	g := t.g
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := g.nodes[id]
	if n == nil {
		return nil, fmt.Errorf("node %q: %w", id, ErrNodeNotFound)
	}
	d := &NodeDetail{NodeSummary: summary(n, g.lastSeen(n)), Meta: n.Meta, PID: n.PID, Exe: n.Exe, Loaded: n.Loaded,
		Listening: n.Listen, IPs: n.IPs, CPUPercent: n.CPUPercent, RSSBytes: n.RSSBytes,
		Ancestors: []NodeRef{}, Children: []NodeRef{}, Connections: []Connection{}, Related: []NodeRef{}}
	if d.Meta == nil {
		d.Meta = map[string]string{}
	}
	for p, i := g.nodes[n.Parent], 0; p != nil && i < 8; p, i = g.nodes[p.Parent], i+1 {
		d.Ancestors = append([]NodeRef{ref(p)}, d.Ancestors...)
	}
	for _, rid := range []string{n.Image, n.Pod, n.Namespace, n.Cluster} {
		if r := g.nodes[rid]; r != nil && rid != n.ID && rid != n.Parent {
			d.Related = append(d.Related, ref(r))
		}
	}
	var kids []*Node
	for c := range g.children[n.ID] {
		if cn := g.nodes[c]; cn != nil && !cn.Gone() {
			kids = append(kids, cn)
		}
	}
	d.ChildCount = len(kids)
	slices.SortFunc(kids, func(a, b *Node) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Label, b.Label), strings.Compare(a.ID, b.ID))
	})
	for _, c := range kids[:min(len(kids), maxChildren)] {
		d.Children = append(d.Children, ref(c))
	}
	add := func(dir string, keys map[edgeKey]struct{}) {
		for k := range keys {
			e := g.edges[k]
			if e == nil {
				continue
			}
			peer := g.nodes[e.Dst]
			if dir == "in" {
				peer = g.nodes[e.Src]
			}
			if peer == nil {
				continue
			}
			d.Connections = append(d.Connections, Connection{Direction: dir, Peer: ref(peer), Kind: e.Kind, Count: e.Count,
				FirstSeen: e.FirstSeen, LastSeen: edgeLastSeen(g, e), Gone: !e.GoneAt.IsZero(), Remote: e.Remote})
		}
	}
	add("out", g.out[n.ID])
	add("in", g.in[n.ID])
	slices.SortFunc(d.Connections, func(a, b Connection) int {
		return cmp.Or(strings.Compare(a.Direction, b.Direction), strings.Compare(a.Peer.Label, b.Peer.Label), strings.Compare(a.Peer.ID, b.Peer.ID))
	})
	return d, nil
}

func edgeLastSeen(g *graph, e *Edge) time.Time {
	t := e.LastSeen
	if !e.GoneAt.IsZero() {
		return t
	}
	for s := range e.claims {
		if st := g.sensors[s]; st != nil && st.LastReport.After(t) {
			t = st.LastReport
		}
	}
	return t
}

// SensorInfo is what the console knows of a sensor (for diagnosis).
type SensorInfo struct {
	ID              string    `json:"id"`
	Hostname        string    `json:"hostname"`
	Version         string    `json:"version"`
	RunID           string    `json:"runId"`
	Seq             uint64    `json:"seq"`
	IntervalSeconds int       `json:"intervalSeconds"`
	Reports         int64     `json:"reports"`
	ProbeErrors     string    `json:"probeErrors,omitempty"`
	FirstSeen       time.Time `json:"firstSeen"`
	LastReport      time.Time `json:"lastReport"`
	Silent          bool      `json:"silent"`
	Nodes           int       `json:"nodes"`
}

// Sensors lists the sensors that have reported, by id.
func (t *Topology) Sensors() []SensorInfo {
	g := t.g
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := make([]SensorInfo, 0, len(g.sensors))
	for _, s := range g.sensors {
		out = append(out, SensorInfo{ID: s.ID, Hostname: s.Hostname, Version: s.Version, RunID: s.RunID, Seq: s.Seq,
			IntervalSeconds: s.IntervalSeconds, Reports: s.Reports, ProbeErrors: s.ProbeErrors, FirstSeen: s.FirstSeen,
			LastReport: s.LastReport, Silent: s.Silent, Nodes: len(s.nodes)})
	}
	slices.SortFunc(out, func(a, b SensorInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}
