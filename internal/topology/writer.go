package topology

import (
	"context"
	"maps"
	"slices"
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
	// procs are the sensor's process nodes in the graph after its last
	// report, by process key, and clusterKey the cluster it named: the
	// next delta copies the processes it does not change (reuse). The
	// writer sets them after applying a report (nil: derive everything).
	procs      map[string]*Node
	clusterKey string
	// fixed are its host and container nodes in the graph after its last
	// report (reuse.fixed; empty: derive them).
	fixed []*Node
	// drops is the graph's count of dropped nodes when procs and fixed
	// were recorded (graph.drops).
	drops uint64
}

type result struct {
	full bool // ask the sensor for a full report
	err  error
}

// prepared is a job's report applied to its sensor's snapshot and derived.
type prepared struct {
	h     *snapHolder // the snapshot's holder, whose reuse state the writer updates
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
	h      *snapHolder
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
		take := func(j *job) {
			if j.sweep || j.follow || seen[j.sensorID()] {
				carry = append(carry, j)
				return
			}
			seen[j.sensorID()] = true
			batch = append(batch, j)
		}
	fill:
		for len(batch) < t.cfg.BatchSize {
			select {
			case j := <-t.queue:
				take(j)
			default:
				break fill
			}
		}
		// Group commit: wait a little for the reports under way, or for
		// those a busy stream brings.
		if t.cfg.Linger > 0 && len(batch) < t.cfg.BatchSize {
			t.linger(ctx, first.sensorID(), &batch, take)
		}
		t.process(ctx, batch)
	}
}

// linger waits up to Linger for more jobs to join the batch (group
// commit) while reports are under way or other sensors' reports stream in.
func (t *Topology) linger(ctx context.Context, sensor string, batch *[]*job, take func(*job)) {
	busy := t.recent.busy(sensor, t.cfg.Linger)
	if !busy && t.underway.Load() == 0 {
		return
	}
	timer := time.NewTimer(t.cfg.Linger)
	defer timer.Stop()
	for len(*batch) < t.cfg.BatchSize && (busy || t.underway.Load() > 0) {
		select {
		case j := <-t.queue:
			take(j)
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// countReports counts the jobs of batch that are reports (not a silent
// sensor's).
func countReports(batch []*job) int {
	n := 0
	for _, j := range batch {
		if j.r != nil {
			n++
		}
	}
	return n
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
			if sp.h != nil {
				sp.h.procs = nil
			}
			sp.j.done <- result{err: err}
		}
		t.load.busy(time.Since(start))
		return
	}
	t.apply(pl)
	if n := countReports(batch); n > 0 {
		t.batches.Inc()
		t.batched.Add(float64(n))
	}
	if len(evs) > 0 && t.cfg.Events != nil {
		t.cfg.Events.NotifyOf(evs...)
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
	p := &prepared{h: h}
	if r.Kind == report.KindDelta && (h.snap == nil || h.snap.RunID != r.RunID || h.snap.Seq != r.BaseSeq) {
		// The console does not hold this delta's base (another run, a lost
		// report, or a console restart): keep what is stored, ask for a
		// full report.
		p.full = true
		return p
	}
	if r.Kind == report.KindFull && h.snap != nil && h.procs != nil {
		// The sensor's periodic full report, on the snapshot of its
		// run: derived as the delta from that snapshot, so that what did
		// not change is shared, not derived and compared again.
		if d := h.snap.Rebase(r); d != nil {
			r = d
			t.rebased.Add(1)
		}
	}
	if h.snap == nil || r.Kind == report.KindFull {
		h.snap = &report.Snapshot{}
		h.procs = nil
	}
	g := t.g
	g.compact(r)
	if err := h.snap.Apply(r); err != nil {
		h.snap, h.procs = nil, nil
		p.full = true
		return p
	}
	full := h.snap.Full()
	u := reusable(h, r, full)
	g.mu.RLock()
	p.d = derive(r.SensorID, full, h.snap.ProcessKeys(), g.intern, g.shareLoaded, g, u)
	g.mu.RUnlock()
	for _, n := range p.d.nodes {
		prev := p.d.reused[n]
		if prev == n {
			continue // the graph's own node
		}
		if prev != nil && slices.Equal(n.Listen, prev.Listen) {
			n.hash = prev.hash
			continue
		}
		n.hash = nodeHash(n)
	}
	return p
}

// reusable returns what a delta may reuse of the sensor's previous
// derivation (nil: derive it all): the processes it does not name, when
// it changes no container and no pod and names the same cluster, since
// a process node depends on nothing else (its container's and pod's
// nodes, the host's cluster).
func reusable(h *snapHolder, r, full *report.Report) *reuse {
	if r.Kind != report.KindDelta || h.procs == nil || len(r.Containers) > 0 {
		return nil
	}
	if rm := r.Removed; rm != nil && (len(rm.Containers) > 0 || len(rm.Pods) > 0) {
		return nil
	}
	if k := r.Kubernetes; k != nil && len(k.Pods) > 0 {
		return nil
	}
	if clusterKeyOf(full) != h.clusterKey {
		return nil
	}
	u := &reuse{procs: h.procs, changed: make(map[string]struct{}, len(r.Processes)+4), drops: h.drops}
	if r.Host == nil && full.Kubernetes == nil && len(h.fixed) > 0 &&
		h.fixed[0].Meta["sensorVersion"] == full.SensorVersion {
		// Nothing the host and container nodes are derived from changed.
		u.fixed = h.fixed
	}
	for i := range r.Processes {
		u.changed[r.Processes[i].Key()] = struct{}{}
	}
	if rm := r.Removed; rm != nil {
		for _, k := range rm.Processes {
			u.changed[k] = struct{}{}
		}
	}
	return u
}

// clusterKeyOf is the cluster key derive gives a report's nodes.
func clusterKeyOf(r *report.Report) string {
	k := r.Kubernetes
	switch {
	case k == nil:
		return ""
	case k.ClusterID != "":
		return k.ClusterID
	case k.ClusterName != "":
		return k.ClusterName
	}
	return "default"
}

// keepReuse records, after a sensor's report is applied, its process
// nodes as the graph now holds them, for its next delta (reusable). The
// caller holds the graph's lock.
func (g *graph) keepReuse(h *snapHolder, s *sensorState, d *derived) {
	if h == nil || h.snap == nil {
		return
	}
	keepFixed(g, h, s, d)
	h.drops = g.drops
	if u := d.base; u != nil && h.procs != nil {
		// Derived from them: only the changed keys differ.
		for k := range u.changed {
			if n := d.own[k]; n != nil {
				if cur := g.nodes[n.ID]; cur != nil {
					h.procs[k] = cur
					continue
				}
			}
			delete(h.procs, k)
		}
		return
	}
	if h.procs == nil {
		h.procs = make(map[string]*Node, len(d.nodes))
	} else {
		clear(h.procs)
	}
	h.clusterKey = d.clusterKey
	for nid, n := range d.nodes {
		if n.Kind != KindProcess || len(n.Key) <= len(s.ID) {
			continue
		}
		if cur := g.nodes[nid]; cur != nil {
			h.procs[n.Key[len(s.ID)+1:]] = cur
		}
	}
}

// keepFixed records the sensor's host and container nodes as the graph now
// holds them (the host first), for its next delta (reusable); none when a
// container belongs to a pod (Kubernetes derives those).
func keepFixed(g *graph, h *snapHolder, s *sensorState, d *derived) {
	h.fixed = append(h.fixed[:0], nil) // [0]: the host
	for nid, n := range d.nodes {
		if n.SensorID != s.ID || n.Kind != KindHost && n.Kind != KindContainer {
			continue
		}
		cur := g.nodes[nid]
		if cur == nil || cur.Gone() || cur.Pod != "" {
			h.fixed = h.fixed[:0]
			return
		}
		if cur.Kind == KindHost {
			h.fixed[0] = cur
		} else {
			h.fixed = append(h.fixed, cur)
		}
	}
	if h.fixed[0] == nil {
		h.fixed = h.fixed[:0]
	}
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
	sp := &sensorPlan{j: j, h: p.h, at: pl.now, s: s, isNew: p.isNew, d: p.d, full: p.full, snapLost: p.snapLost}
	if sp.d == nil {
		return sp
	}
	d := sp.d
	if d.base != nil && (p.isNew || d.base.drops != g.drops && !sharedHeld(d)) {
		d.materialize() // plan it whole: the shared nodes are checked one by one below
	}
	if d.base == nil {
		sp.nodes = make(map[string]struct{}, len(d.nodes))
	}
	sp.edges = make(map[edgeKey]int, len(d.edges))
	if d.base != nil && !listenChanged(d) {
		sp.listen = s.listen
	} else {
		sp.listen = map[uint16]string{}
		d.eachProcess(func(n *Node) {
			for _, ep := range n.Listen {
				if _, ok := sp.listen[ep.Port]; !ok || n.Container == "" {
					sp.listen[ep.Port] = n.ID
				}
			}
		})
	}
	for nid, n := range d.nodes {
		if sp.nodes != nil {
			sp.nodes[nid] = struct{}{}
		}
		if n.Kind == KindHost {
			sp.host = n
		}
		if _, ok := s.nodes[nid]; !ok {
			sp.claimed = append(sp.claimed, nid)
			pl.claimDelta[nid]++
		}
		old := g.nodes[nid]
		if up := pl.upNodes[nid]; up != nil {
			continue // another sensor of this batch writes it
		}
		if d.reused[n] == n {
			// Derived as the graph's own node (reuse): nothing to write
			// while it is. If it went, or the graph holds another node
			// by now, it is written again as a copy of its own (the
			// graph's node is never changed here).
			if n == old && !old.Gone() {
				continue
			}
			n = reuseNode(n)
			d.nodes[nid] = n
		}
		switch {
		case old == nil || old.Gone():
			n.FirstSeen = pl.now
			if old != nil {
				n.FirstSeen = old.FirstSeen
			}
			n.LastSeen = pl.now
			pl.upNodes[nid] = n
		case old.hash != n.hash && (old.SensorID != "" || old.claims.len() <= 1):
			n.FirstSeen, n.LastSeen = old.FirstSeen, pl.now
			pl.upNodes[nid] = n
		}
	}
	drop := func(nid string) {
		sp.dropped = append(sp.dropped, nid)
		pl.claimDelta[nid]--
	}
	if sp.nodes != nil {
		for nid := range s.nodes {
			if _, ok := sp.nodes[nid]; !ok {
				drop(nid)
			}
		}
	} else {
		// On a base: the processes it removed, and what else the sensor
		// held and did not derive again (its processes are shared).
		for k := range d.base.changed {
			if prev := d.base.procs[k]; prev != nil && d.own[k] == nil {
				if _, ok := s.nodes[prev.ID]; ok {
					drop(prev.ID)
				}
			}
		}
		for nid := range s.nodes {
			if _, ok := d.nodes[nid]; !ok && !isProcessID(nid) {
				drop(nid)
			}
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

// sharedHeld reports whether the graph still holds each of d's shared
// process nodes, live (the writer may have replaced one since derive: a
// replica's write followed, a sweep).
func sharedHeld(d *derived) bool {
	held := true
	d.base.eachShared(func(n *Node) {
		if n.dropped || n.Gone() {
			held = false
		}
	})
	return held
}

// listenChanged reports whether a delta derived on a base changed what
// its processes listen on (the ports other sensors' edges resolve).
func listenChanged(d *derived) bool {
	for k := range d.base.changed {
		prev, cur := d.base.procs[k], d.own[k]
		switch {
		case prev == nil && cur == nil:
		case prev == nil || cur == nil:
			if len(listenOrNil(prev)) > 0 || len(listenOrNil(cur)) > 0 {
				return true
			}
		case !slices.Equal(prev.Listen, cur.Listen) || len(cur.Listen) > 0 && prev.Container != cur.Container:
			return true
		}
	}
	return false
}

func listenOrNil(n *Node) []Endpoint {
	if n == nil {
		return nil
	}
	return n.Listen
}

// finishPlan finds the nodes and edges no sensor claims any more.
func (t *Topology) finishPlan(pl *plan) {
	g := t.g
	for nid, delta := range pl.claimDelta {
		n := g.nodes[nid]
		if n == nil || n.Gone() || delta >= 0 || pl.upNodes[nid] != nil {
			continue
		}
		if n.claims.len()+delta <= 0 {
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
			cur.claims.add(s.ID)
			if cur != n {
				cur.CPUPercent, cur.RSSBytes = n.CPUPercent, n.RSSBytes
			}
		}
		for _, nid := range sp.dropped {
			if cur := g.nodes[nid]; cur != nil {
				cur.claims.del(s.ID)
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
		if sp.nodes != nil {
			s.nodes = sp.nodes
		} else {
			// Planned on what the sensor held (derived.base): the claims
			// it made and dropped.
			for _, nid := range sp.claimed {
				s.nodes[nid] = struct{}{}
			}
			for _, nid := range sp.dropped {
				delete(s.nodes, nid)
			}
		}
		s.edges, s.listen = sp.edges, sp.listen
		g.keepReuse(sp.h, s, sp.d)
		if sp.host != nil {
			g.reindexHost(s, g.nodes[sp.host.ID])
		} else {
			g.reindexHost(s, nil)
		}
	}
	for _, nid := range pl.goneNodes {
		if n := g.nodes[nid]; n != nil && n.claims.len() == 0 {
			g.markGone(n, pl.now)
			n.LastSeen = pl.now
			g.touch(nid)
		}
	}
	for _, k := range pl.goneEdges {
		if e := g.edges[k]; e != nil && len(e.claims) == 0 {
			e.GoneAt, e.LastSeen = pl.now, pl.now
			g.touch(k.Src)
			g.touch(k.Dst)
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
// memory figures), to write only nodes that changed. It allocates nothing
// for up to 16 metadata keys.
func nodeHash(n *Node) uint64 {
	h := fnvHash(fnvOffset)
	h.str(n.Label)
	h.str(n.SensorID)
	d := &n.nodeData
	for _, s := range [...]string{d.Parent, d.Host, d.Container, d.Pod, d.Image, d.Namespace, d.Cluster, d.Exe} {
		h.str(s)
	}
	h.num(uint64(d.PID))
	for _, s := range d.Loaded {
		h.str(s)
	}
	h.str("|")
	for _, e := range d.Listen {
		h.str(e.Addr)
		h.num(uint64(e.Port))
	}
	h.str("|")
	for _, s := range d.IPs {
		h.str(s)
	}
	if d.Public {
		h.str("public")
	}
	for _, p := range d.Ports {
		h.str(p.HostIP)
		h.num(uint64(p.HostPort))
		h.num(uint64(p.ContainerPort))
		h.str(p.Proto)
	}
	h.str("|")
	var buf [16]string
	keys := buf[:0]
	for k := range d.Meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		h.str(k)
		h.str(d.Meta[k])
	}
	return uint64(h)
}

// fnvHash is FNV-1a, 64 bits, over strings (each followed by a 0 byte) and
// numbers (8 bytes), without the hash.Hash interface's conversions.
type fnvHash uint64

const (
	fnvOffset fnvHash = 14695981039346656037
	fnvPrime  fnvHash = 1099511628211
)

func (h *fnvHash) str(s string) {
	x := *h
	for i := 0; i < len(s); i++ {
		x ^= fnvHash(s[i])
		x *= fnvPrime
	}
	x *= fnvPrime // the 0 separator
	*h = x
}

func (h *fnvHash) num(v uint64) {
	x := *h
	for range 8 {
		x ^= fnvHash(v & 0xff)
		x *= fnvPrime
		v >>= 8
	}
	*h = x
}
