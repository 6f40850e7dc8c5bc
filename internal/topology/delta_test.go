package topology

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/report"
)

// TestDeltasDeriveAsFullReports: a fleet's reports sent as deltas (most
// processes reused from the previous derivation) and the same pictures
// sent as full reports (everything derived afresh) make the same graph,
// node for node and edge for edge, after every round. The hosts change
// the way bench/loadgen's do, and also listen on new ports without
// reporting them on the process, replace containers (their processes
// with them), move pods and switch clusters, over several seeds.
func TestDeltasDeriveAsFullReports(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { deltasAsFull(t, seed) })
	}
}

func newMemTopology() *Topology {
	tp := &Topology{cfg: Default(), g: newGraph(), now: func() time.Time { return time.Unix(2e9, 0) }}
	tp.cfg.fill()
	return tp
}

// ingestMem takes a report the way the console does (from its wire form,
// through a sensor's snapshot holder), without a store.
func ingestMem(t *testing.T, tp *Topology, r *report.Report) ingestResult {
	t.Helper()
	gz, err := report.Marshal(r, report.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	dec, err := report.Decode(bytes.NewReader(gz), report.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	j := &job{r: dec, done: make(chan result, 1)}
	j.h = tp.holder(dec.SensorID)
	j.prep = tp.prepareReport(j.h, dec)
	pl := &plan{now: tp.now(), upNodes: map[string]*Node{}, upEdges: map[edgeKey]*Edge{}, claimDelta: map[string]int{}, edgeDelta: map[edgeKey]int{}}
	sp := tp.planOne(j, pl)
	pl.sensors = append(pl.sensors, sp)
	tp.finishPlan(pl)
	tp.apply(pl)
	res := ingestResult{full: sp.full, reused: len(j.prep.d.reusedOrNil())}
	for n, prev := range j.prep.d.reusedOrNil() {
		switch {
		case n != prev:
		case n.Kind == KindProcess:
			res.shared++ // materialized: the shared nodes are in d.nodes
		default:
			res.fixed++ // a host or container node shared (reuse.fixed)
		}
	}
	if d := j.prep.d; d != nil && d.base != nil {
		res.shared += d.base.shared
		res.reused += d.base.shared
		res.planned = len(d.nodes)
	}
	return res
}

type ingestResult struct {
	full   bool
	reused int
	shared int // reused as the graph's own node, not copied
	// planned counts the nodes planned one by one when the delta was
	// derived on the previous derivation (0 otherwise).
	planned int
	// fixed counts the host and container nodes shared (reuse.fixed).
	fixed int
}

func (d *derived) reusedOrNil() map[*Node]*Node {
	if d == nil {
		return nil
	}
	return d.reused
}

func deltasAsFull(t *testing.T, seed uint64) {
	const hosts, rounds = 9, 20
	a, b := newMemTopology(), newMemTopology() // a: deltas; b: full reports
	var fleet []*simHost
	for i := range hosts {
		h := newSimHost(i, hosts, seed)
		h.tr = report.NewTracker(1 << 30)
		if i%3 == 0 {
			kube(h, "cluster-a")
		}
		fleet = append(fleet, h)
	}
	reused, shared, onBase, fixed, rebased := 0, 0, 0, 0, 0
	for round := range rounds {
		for _, h := range fleet {
			if round > 0 {
				h.churn(false)
				mutate(h)
			}
			out := h.tr.Next(h.cur)
			if round > 0 && out.Kind != report.KindDelta {
				t.Fatalf("round %d: host %d sent a %s report", round, h.id, out.Kind)
			}
			full := *h.cur
			full.Kind, full.Seq, full.Version = report.KindFull, out.Seq, report.Version
			sent := out
			if round%4 == 3 {
				sent = &full // the sensor's periodic full report: a rebases it on its snapshot
			}
			before := a.rebased.Load()
			got := ingestMem(t, a, sent)
			if got.full {
				t.Fatalf("round %d: host %d's delta was refused (full report requested)", round, h.id)
			}
			if a.rebased.Load() > before && got.planned > 0 {
				rebased++ // and derived on the previous derivation
			}
			reused += got.reused
			shared += got.shared
			if got.planned > 0 {
				onBase++
			}
			if got.fixed > 0 {
				if h.cur.Kubernetes != nil {
					t.Fatalf("round %d: host %d, in Kubernetes, shared its host and container nodes", round, h.id)
				}
				fixed++
			}
			h.tr.Ack(out)
			b.holder(full.SensorID).snap = nil // derived whole, not rebased: the oracle
			ingestMem(t, b, &full)
		}
		sameGraph(t, round, a, b)
	}
	if reused < hosts*rounds*10 || shared < reused/2 || shared == reused {
		t.Fatalf("%d process nodes reused over %d deltas, %d of them the graph's own: the reuse path is not exercised", reused, hosts*rounds, shared)
	}
	if fixed < hosts*(rounds-1)/3 {
		t.Fatalf("%d of %d deltas shared the host and container nodes of the previous derivation: that path is not exercised", fixed, hosts*(rounds-1))
	}
	if b.rebased.Load() != 0 {
		t.Fatal("the oracle rebased a full report")
	}
	if fulls := hosts * (rounds / 4); rebased < fulls/2 {
		t.Fatalf("%d of %d periodic full reports rebased on the snapshot and derived on the previous derivation: that path is not exercised", rebased, fulls)
	}
	if onBase < hosts*(rounds-1)/2 {
		t.Fatalf("%d of %d deltas planned on the previous derivation (only what they changed): that path is not exercised", onBase, hosts*(rounds-1))
	}
}

// kube puts a host's containers in pods of a cluster.
func kube(h *simHost, cluster string) {
	r := h.cur
	r.Kubernetes = &report.Kubernetes{ClusterName: cluster, NodeName: fmt.Sprintf("node-%05d", h.id)}
	for i := range r.Containers {
		c := &r.Containers[i]
		uid := fmt.Sprintf("uid-%d-%d", h.id, i)
		c.Pod = &report.PodRef{UID: uid, Name: fmt.Sprintf("app-%d", i), Namespace: "shop"}
		r.Kubernetes.Pods = append(r.Kubernetes.Pods, report.Pod{UID: uid, Name: c.Pod.Name, Namespace: "shop", Phase: "Running", PodIP: fmt.Sprintf("10.244.%d.%d", h.id, i)})
	}
}

// mutate makes the changes loadgen's churn does not: a listener seen only
// on a socket, containers replaced, pods' phases and namespaces, the
// cluster's name.
func mutate(h *simHost) {
	r, rnd := h.cur, h.rnd
	if rnd.IntN(3) == 0 {
		// A socket-only listener on process 30 (no Listen of its own), on
		// and off.
		p := &r.Processes[30]
		i := slices.IndexFunc(r.Connections, func(c report.Connection) bool { return c.ProcessKey == p.Key() && c.State == "LISTEN" })
		if i < 0 {
			r.Connections = append(r.Connections, report.Connection{Source: "proc", Proto: "tcp", State: "LISTEN", Local: report.Endpoint{Addr: "0.0.0.0", Port: 9999}, ProcessKey: p.Key(), PID: p.PID})
		}
	}
	if rnd.IntN(7) == 0 {
		// The host changes (its kernel, or an address).
		if rnd.IntN(2) == 0 {
			r.Host.Kernel = fmt.Sprintf("6.1.0-%d-amd64", rnd.IntN(30))
		} else {
			r.Host.Interfaces = append(slices.Clone(r.Host.Interfaces[:2]), report.Interface{Name: "eth1", Up: true, Addrs: []string{fmt.Sprintf("192.0.2.%d/24", 1+rnd.IntN(200))}})
		}
	}
	// Conntrack: the internet reaching a container through its published
	// port, from a new address each pass, on one host in three.
	r.Connections = slices.DeleteFunc(r.Connections, func(c report.Connection) bool { return c.Source == report.SourceConntrack })
	if h.id%3 == 1 {
		c := r.Containers[0]
		r.Connections = append(r.Connections, report.Connection{Source: report.SourceConntrack, Proto: "tcp", State: "ESTABLISHED",
			Local:      report.Endpoint{Addr: fmt.Sprintf("203.0.113.%d", 1+rnd.IntN(250)), Port: uint16(40000 + rnd.IntN(20000))},
			Remote:     report.Endpoint{Addr: h.ip, Port: c.Ports[0].HostPort},
			Translated: &report.Endpoint{Addr: "172.17.0.2", Port: c.Ports[0].ContainerPort}})
	}
	if rnd.IntN(8) == 0 {
		k := rnd.IntN(len(r.Containers))
		c := &r.Containers[k]
		old := c.ID
		c.ID = fmt.Sprintf("%016x%048d", h.id, 100+rnd.IntN(1000))
		for i := range r.Processes {
			if r.Processes[i].ContainerID == old {
				r.Processes[i].ContainerID = c.ID
			}
		}
	}
	if k := r.Kubernetes; k != nil {
		if rnd.IntN(6) == 0 && len(k.Pods) > 0 {
			p := &k.Pods[rnd.IntN(len(k.Pods))]
			p.Phase = []string{"Running", "Pending", "Succeeded"}[rnd.IntN(3)]
		}
		if rnd.IntN(10) == 0 {
			k.ClusterName = []string{"cluster-a", "cluster-b"}[rnd.IntN(2)]
		}
		if rnd.IntN(10) == 0 && len(k.Pods) > 0 {
			// A container's pod named differently from the pod list.
			i := rnd.IntN(len(r.Containers))
			r.Containers[i].Pod = &report.PodRef{UID: fmt.Sprintf("uid-x-%d", rnd.IntN(3)), Name: "moved", Namespace: []string{"shop", "ops"}[rnd.IntN(2)]}
		}
	}
}

// sameGraph compares the two graphs' nodes (persisted form and volatile
// figures), edges and sensors' claims.
func sameGraph(t *testing.T, round int, a, b *Topology) {
	t.Helper()
	ga, gb := a.g, b.g
	if !slices.Equal(slices.Sorted(maps.Keys(ga.nodes)), slices.Sorted(maps.Keys(gb.nodes))) {
		t.Fatalf("round %d: %d nodes from deltas, %d from full reports, or other ids", round, len(ga.nodes), len(gb.nodes))
	}
	for id, na := range ga.nodes {
		nb := gb.nodes[id]
		if nodeHash(na) != nodeHash(nb) || na.hash != nodeHash(na) && na.Kind != KindInternet && na.Kind != KindPrivate || na.Gone() != nb.Gone() || na.Kind != nb.Kind || na.Key != nb.Key ||
			na.ScanRef != nb.ScanRef || na.CPUPercent != nb.CPUPercent || na.RSSBytes != nb.RSSBytes ||
			!slices.Equal(slices.Sorted(na.claims.all()), slices.Sorted(nb.claims.all())) {
			t.Fatalf("round %d: node %s (%s %q) differs:\ndeltas: %+v gone %v claims %v\nfull:   %+v gone %v claims %v", round, id, na.Kind, na.Label,
				na.nodeData, na.Gone(), slices.Sorted(na.claims.all()), nb.nodeData, nb.Gone(), slices.Sorted(nb.claims.all()))
		}
	}
	if !slices.EqualFunc(sortedEdges(ga), sortedEdges(gb), func(x, y edgeKey) bool { return x == y }) {
		t.Fatalf("round %d: %d edges from deltas, %d from full reports, or other edges", round, len(ga.edges), len(gb.edges))
	}
	for k, ea := range ga.edges {
		eb := gb.edges[k]
		if ea.Count != eb.Count || !slices.Equal(ea.Remote, eb.Remote) || ea.GoneAt.IsZero() != eb.GoneAt.IsZero() || !maps.Equal(ea.claims, eb.claims) {
			t.Fatalf("round %d: edge %v differs: deltas %+v, full %+v", round, k, ea, eb)
		}
	}
	for id, sa := range ga.sensors {
		sb := gb.sensors[id]
		if !maps.Equal(sa.nodes, sb.nodes) || !maps.Equal(sa.edges, sb.edges) || !maps.Equal(sa.listen, sb.listen) || !slices.Equal(sa.ips, sb.ips) {
			t.Fatalf("round %d: sensor %s's claims differ", round, id)
		}
	}
}

func sortedEdges(g *graph) []edgeKey {
	return slices.SortedFunc(maps.Keys(g.edges), func(x, y edgeKey) int {
		return cmpEdge(x, y)
	})
}

func cmpEdge(x, y edgeKey) int {
	switch {
	case x.Src != y.Src:
		return cmpStr(x.Src, y.Src)
	case x.Dst != y.Dst:
		return cmpStr(x.Dst, y.Dst)
	}
	return cmpStr(x.Kind, y.Kind)
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestSharedNodeWentOrReplaced: a delta's unchanged process derives to
// the graph's own node; if that node went meanwhile, or the graph holds
// another one, the report writes a copy and never changes the node it
// shared.
func TestSharedNodeWentOrReplaced(t *testing.T) {
	for _, how := range []string{"went", "replaced"} {
		t.Run(how, func(t *testing.T) {
			tp := newMemTopology()
			h := newSimHost(0, 1, 1)
			h.tr = report.NewTracker(1 << 30)
			for range 2 {
				out := h.tr.Next(h.cur)
				ingestMem(t, tp, out)
				h.tr.Ack(out)
			}
			// The next delta names no process (nothing changed); one of
			// them is taken away under the sensor: marked gone, or put
			// back as another node.
			out := h.tr.Next(h.cur)
			if out.Kind != report.KindDelta || len(out.Processes) > 0 {
				t.Fatalf("a %s report naming %d processes, want a delta naming none", out.Kind, len(out.Processes))
			}
			var id string
			for nid, n := range tp.g.nodes {
				if n.Kind == KindProcess && len(n.Listen) == 0 {
					id = nid
					break
				}
			}
			shared := tp.g.nodes[id]
			tp.g.mu.Lock()
			switch how {
			case "went":
				tp.g.markGone(shared, tp.now().Add(-time.Minute)) // as the sweep does
			case "replaced":
				other := *shared
				other.Label = "someone else's"
				other.hash = nodeHash(&other)
				other.claims = claimSet{}
				tp.g.putNode(&other) // as a followed replica's write does
			}
			tp.g.mu.Unlock()
			before := *shared
			if got := ingestMem(t, tp, out); got.shared == 0 {
				t.Fatal("no node shared: the test does not reach the path")
			}
			h.tr.Ack(out)
			now := tp.g.nodes[id]
			if now == shared || now.Gone() || now.Label == "someone else's" || now.hash != nodeHash(now) {
				t.Fatalf("after the delta: node %p (shared %p), gone %v, label %q", now, shared, now.Gone(), now.Label)
			}
			if shared.GoneAt != before.GoneAt || shared.FirstSeen != before.FirstSeen || shared.LastSeen != before.LastSeen || shared.hash != before.hash {
				t.Fatal("the shared node was changed")
			}
		})
	}
}
