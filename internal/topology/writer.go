package topology

import (
	"context"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/riskmap/riskmap/internal/report"
)

// job is one unit of work for the writer: a report, a silent sensor to
// release, or a sweep.
type job struct {
	r      *report.Report
	silent string // sensor id whose nodes are released
	sweep  bool
	follow bool // apply the other replicas' changes (follow.go)
	done   chan result
	// prep is the report applied to its sensor's snapshot and derived, by
	// Ingest on the request's goroutine (so the single writer only diffs,
	// writes and applies); h holds that snapshot, locked by Ingest until
	// the job is done.
	prep *prepared
	h    *snapHolder
}

// snapHolder is a sensor's last report snapshot, the base of its deltas.
// Ingest holds mu from applying a report until the writer is done with it
// (a sensor sends one report at a time), so reports of one sensor apply
// in order; the writer clears snap when a write fails.
type snapHolder struct {
	mu   chan struct{} // a one-slot semaphore, so Ingest can give up waiting
	snap *report.Snapshot
}

type result struct {
	full bool // ask the sensor for a full report
	err  error
}

// prepared is a job's report applied to its sensor's snapshot and derived.
type prepared struct {
	s     *sensorState
	isNew bool
	d     *derived
	full  bool
	// snapLost: the sensor's snapshot is unknown (the next delta cannot
	// apply); its stored sequence number is reset.
	snapLost bool
}

// sensorPlan is one sensor's part of a batch.
type sensorPlan struct {
	j      *job
	s      *sensorState
	isNew  bool
	d      *derived // nil: the claims stay as they are (delta on an unknown base)
	nodes  map[string]struct{}
	edges  map[edgeKey]int
	listen map[uint16]string
	host   *Node
	full   bool
	// snapLost: the sensor's snapshot is unknown; its stored sequence
	// number is reset so the next delta asks for a full report.
	snapLost bool
	at       time.Time
	claimed  []string // node ids newly claimed
	dropped  []string // node ids no longer claimed
	edgeAdd  []edgeKey
	edgeDel  []edgeKey
}

// plan is what a batch changes, computed before the transaction and
// applied to the in-memory graph after it commits.
type plan struct {
	now        time.Time
	sensors    []*sensorPlan
	upNodes    map[string]*Node
	upEdges    map[edgeKey]*Edge
	claimDelta map[string]int
	edgeDelta  map[edgeKey]int
	goneNodes  []string
	goneEdges  []edgeKey
}

func (t *Topology) writer(ctx context.Context) {
	var carry []*job
	for {
		var first *job
		if len(carry) > 0 {
			first, carry = carry[0], carry[1:]
		} else {
			select {
			case <-ctx.Done():
				t.drain()
				return
			case first = <-t.queue:
			}
		}
		if first.sweep {
			t.sweep(ctx)
			first.done <- result{}
			continue
		}
		if first.follow {
			t.followPass(ctx)
			continue
		}
		batch := []*job{first}
		seen := map[string]bool{first.sensorID(): true}
		// Carried jobs first, then whatever is queued.
		rest := carry[:0:0]
		for _, j := range carry {
			if len(batch) < t.cfg.BatchSize && !j.sweep && !j.follow && !seen[j.sensorID()] {
				seen[j.sensorID()] = true
				batch = append(batch, j)
			} else {
				rest = append(rest, j)
			}
		}
		carry = rest
	fill:
		for len(batch) < t.cfg.BatchSize {
			select {
			case j := <-t.queue:
				if j.sweep || j.follow || seen[j.sensorID()] {
					carry = append(carry, j)
					continue
				}
				seen[j.sensorID()] = true
				batch = append(batch, j)
			default:
				break fill
			}
		}
		t.process(ctx, batch)
	}
}

func (j *job) sensorID() string {
	if j.r != nil {
		return j.r.SensorID
	}
	return j.silent
}

func (t *Topology) drain() {
	for {
		select {
		case j := <-t.queue:
			j.done <- result{err: ErrClosed}
		default:
			return
		}
	}
}

// process plans, writes and applies one batch.
func (t *Topology) process(ctx context.Context, batch []*job) {
	start := time.Now()
	t.catchUp(ctx)
	now := t.now()
	pl := &plan{now: now, upNodes: map[string]*Node{}, upEdges: map[edgeKey]*Edge{},
		claimDelta: map[string]int{}, edgeDelta: map[edgeKey]int{}}
	for _, j := range batch {
		pl.sensors = append(pl.sensors, t.planJob(j, t.prepareJob(j, now), pl))
	}
	t.finishPlan(pl)
	evs := t.planEvents(pl)
	planned := time.Now()
	err := t.write(ctx, pl, evs)
	written := time.Now()
	if err != nil {
		t.log.Error("write topology batch", "reports", len(batch), "err", err)
		for _, sp := range pl.sensors {
			if sp.j.h != nil {
				sp.j.h.snap = nil // the snapshot ran ahead of the store: ask for a full report
			}
			sp.j.done <- result{err: err}
		}
		t.load.busy(time.Since(start))
		return
	}
	t.apply(pl)
	if len(evs) > 0 && t.cfg.Events != nil {
		t.cfg.Events.Notify()
	}
	for _, sp := range pl.sensors {
		sp.j.done <- result{full: sp.full}
	}
	t.load.busy(time.Since(start))
	if d := time.Since(start); d > time.Second {
		t.log.Warn("slow topology batch", "reports", len(batch), "nodes_written", len(pl.upNodes), "edges_written", len(pl.upEdges),
			"plan", planned.Sub(start), "write", written.Sub(planned), "apply", time.Since(written), "queued", len(t.queue))
	}
}

// prepareReport applies r to its sensor's snapshot and derives the
// sensor's nodes and edges. The caller holds h.mu. It reads the graph's
// cross-host indexes under the graph's read lock.
func (t *Topology) prepareReport(h *snapHolder, r *report.Report) *prepared {
	p := &prepared{}
	if r.Kind == report.KindDelta && (h.snap == nil || h.snap.RunID != r.RunID || h.snap.Seq != r.BaseSeq) {
		// The console does not hold this delta's base (another run, a lost
		// report, or a console restart): keep what is stored, ask for a
		// full report.
		p.full = true
		return p
	}
	if h.snap == nil || r.Kind == report.KindFull {
		h.snap = &report.Snapshot{}
	}
	if err := h.snap.Apply(r); err != nil {
		h.snap = nil
		p.full = true
		return p
	}
	full := h.snap.Full()
	g := t.g
	g.mu.RLock()
	p.d = derive(r.SensorID, full, g.intern, g.shareLoaded, g)
	g.mu.RUnlock()
	for _, n := range p.d.nodes {
		n.hash = nodeHash(n)
	}
	return p
}

// prepareJob completes a job's preparation on the writer: the sensor's
// state, and an empty picture for a silent sensor.
func (t *Topology) prepareJob(j *job, now time.Time) prepared {
	id := j.sensorID()
	var p prepared
	if j.prep != nil {
		p = *j.prep
	} else if j.r == nil {
		p.d = &derived{nodes: map[string]*Node{}, edges: map[edgeKey]*Edge{}}
	} else {
		// A report queued without Ingest's preparation (tests).
		h := j.h
		if h == nil {
			h = t.holder(id)
		}
		p = *t.prepareReport(h, j.r)
	}
	s := t.g.sensors[id]
	if s == nil {
		s = &sensorState{ID: id, FirstSeen: now, nodes: map[string]struct{}{}, edges: map[edgeKey]int{}}
		p.isNew = true
	}
	p.s = s
	p.snapLost = j.r != nil && (j.h == nil || j.h.snap == nil)
	return p
}

func (t *Topology) planJob(j *job, p prepared, pl *plan) *sensorPlan {
	g := t.g
	s := p.s
	sp := &sensorPlan{j: j, at: pl.now, s: s, isNew: p.isNew, d: p.d, full: p.full, snapLost: p.snapLost}
	if sp.d == nil {
		return sp
	}
	d := sp.d
	sp.nodes = make(map[string]struct{}, len(d.nodes))
	sp.edges = make(map[edgeKey]int, len(d.edges))
	sp.listen = map[uint16]string{}
	for nid, n := range d.nodes {
		sp.nodes[nid] = struct{}{}
		if n.Kind == KindHost {
			sp.host = n
		}
		if n.Kind == KindProcess {
			for _, ep := range n.Listen {
				if _, ok := sp.listen[ep.Port]; !ok || n.Container == "" {
					sp.listen[ep.Port] = nid
				}
			}
		}
		if _, ok := s.nodes[nid]; !ok {
			sp.claimed = append(sp.claimed, nid)
			pl.claimDelta[nid]++
		}
		old := g.nodes[nid]
		if up := pl.upNodes[nid]; up != nil {
			continue // another sensor of this batch writes it
		}
		switch {
		case old == nil || old.Gone():
			n.FirstSeen = pl.now
			if old != nil {
				n.FirstSeen = old.FirstSeen
			}
			n.LastSeen = pl.now
			pl.upNodes[nid] = n
		case old.hash != n.hash && (old.SensorID != "" || len(old.claims) <= 1):
			n.FirstSeen, n.LastSeen = old.FirstSeen, pl.now
			pl.upNodes[nid] = n
		}
	}
	for nid := range s.nodes {
		if _, ok := sp.nodes[nid]; !ok {
			sp.dropped = append(sp.dropped, nid)
			pl.claimDelta[nid]--
		}
	}
	for k, e := range d.edges {
		sp.edges[k] = e.Count
		if _, ok := s.edges[k]; !ok {
			sp.edgeAdd = append(sp.edgeAdd, k)
			pl.edgeDelta[k]++
		}
		if old := g.edges[k]; (old == nil || !old.GoneAt.IsZero()) && pl.upEdges[k] == nil {
			e.FirstSeen, e.LastSeen = pl.now, pl.now
			if old != nil {
				e.FirstSeen = old.FirstSeen
			}
			pl.upEdges[k] = e
		}
	}
	for k := range s.edges {
		if _, ok := sp.edges[k]; !ok {
			sp.edgeDel = append(sp.edgeDel, k)
			pl.edgeDelta[k]--
		}
	}
	return sp
}

// finishPlan finds the nodes and edges no sensor claims any more.
func (t *Topology) finishPlan(pl *plan) {
	g := t.g
	for nid, delta := range pl.claimDelta {
		n := g.nodes[nid]
		if n == nil || n.Gone() || delta >= 0 || pl.upNodes[nid] != nil {
			continue
		}
		if len(n.claims)+delta <= 0 {
			pl.goneNodes = append(pl.goneNodes, nid)
		}
	}
	for k, delta := range pl.edgeDelta {
		e := g.edges[k]
		if e == nil || !e.GoneAt.IsZero() || delta >= 0 || pl.upEdges[k] != nil {
			continue
		}
		if len(e.claims)+delta <= 0 {
			pl.goneEdges = append(pl.goneEdges, k)
		}
	}
	slices.Sort(pl.goneNodes)
}

// apply makes a committed batch the current graph.
func (t *Topology) apply(pl *plan) {
	g := t.g
	g.mu.Lock()
	defer g.mu.Unlock()
	g.version++
	for _, n := range pl.upNodes {
		g.putNode(n)
		delete(g.unclaimedSince, n.ID)
	}
	for _, e := range pl.upEdges {
		if e.claims == nil {
			e.claims = map[string]int{}
		}
		if old := g.edges[e.key()]; old != nil {
			maps.Copy(e.claims, old.claims)
		}
		g.putEdge(e)
	}
	for _, sp := range pl.sensors {
		s := sp.s
		if sp.isNew {
			g.sensors[s.ID] = s
		}
		s.LastReport = sp.at
		s.Silent = sp.j.r == nil
		if r := sp.j.r; r != nil {
			s.Reports++
			s.RunID, s.Seq = r.RunID, r.Seq
			if sp.full && sp.snapLost {
				// Keep the base the sensor will next build on unknown.
				s.Seq = 0
			}
			s.Version = r.SensorVersion
			s.IntervalSeconds = r.IntervalSeconds
			s.ProbeErrors = probeErrors(r)
			if r.Host != nil {
				s.Hostname = r.Host.Hostname
			}
		}
		if sp.d == nil {
			continue
		}
		for nid, n := range sp.d.nodes {
			cur := g.nodes[nid]
			if cur == nil {
				continue
			}
			cur.claims[s.ID] = struct{}{}
			if cur != n {
				cur.CPUPercent, cur.RSSBytes = n.CPUPercent, n.RSSBytes
			}
		}
		for _, nid := range sp.dropped {
			if cur := g.nodes[nid]; cur != nil {
				delete(cur.claims, s.ID)
			}
		}
		for k, e := range sp.d.edges {
			cur := g.edges[k]
			if cur == nil {
				continue
			}
			cur.claims[s.ID] = e.Count
			cur.Count = 0
			for _, c := range cur.claims {
				cur.Count += c
			}
			if cur != e && len(e.Remote) > 0 {
				cur.Remote = e.Remote
			}
		}
		for _, k := range sp.edgeDel {
			if cur := g.edges[k]; cur != nil {
				delete(cur.claims, s.ID)
				cur.Count = 0
				for _, c := range cur.claims {
					cur.Count += c
				}
			}
		}
		s.nodes, s.edges, s.listen = sp.nodes, sp.edges, sp.listen
		if sp.host != nil {
			g.reindexHost(s, g.nodes[sp.host.ID])
		} else {
			g.reindexHost(s, nil)
		}
	}
	for _, nid := range pl.goneNodes {
		if n := g.nodes[nid]; n != nil && len(n.claims) == 0 {
			n.GoneAt, n.LastSeen = pl.now, pl.now
		}
	}
	for _, k := range pl.goneEdges {
		if e := g.edges[k]; e != nil && len(e.claims) == 0 {
			e.GoneAt, e.LastSeen = pl.now, pl.now
		}
	}
}

func probeErrors(r *report.Report) string {
	var s string
	for _, p := range r.Probes {
		if p.Error != "" {
			if s != "" {
				s += "; "
			}
			s += p.Name + ": " + p.Error
		}
	}
	if len(s) > 2000 {
		s = s[:2000]
	}
	return s
}

// nodeHash hashes the persisted form of a node (not the volatile CPU and
// memory figures), to write only nodes that changed.
func nodeHash(n *Node) uint64 {
	h := fnv.New64a()
	w := func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) }
	w(n.Label)
	w(n.SensorID)
	d := &n.nodeData
	for _, s := range []string{d.Parent, d.Host, d.Container, d.Pod, d.Image, d.Namespace, d.Cluster, d.Exe} {
		w(s)
	}
	w(strconv.Itoa(d.PID))
	for _, s := range d.Loaded {
		w(s)
	}
	w("|")
	for _, e := range d.Listen {
		w(e.Addr)
		w(strconv.Itoa(int(e.Port)))
	}
	w("|")
	for _, s := range d.IPs {
		w(s)
	}
	if d.Public {
		w("public")
	}
	for _, p := range d.Ports {
		w(p.HostIP + ":" + strconv.Itoa(int(p.HostPort)) + ":" + strconv.Itoa(int(p.ContainerPort)) + "/" + p.Proto)
	}
	w("|")
	for _, k := range slices.Sorted(maps.Keys(d.Meta)) {
		w(k)
		w(d.Meta[k])
	}
	return h.Sum64()
}
