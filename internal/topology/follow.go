package topology

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/store"
)

// Following the other replicas (several consoles on one PostgreSQL,
// docs/replicas.md). Every topology batch committed on PostgreSQL also
// records what it changed in topology_changes: the ids of the nodes and
// edges it wrote or marked gone, and each sensor's claims (what the
// sensor reports: the whole set after a full report, what it added and
// dropped after a delta). The sequence number comes from the one-row
// topology_change_seq counter, whose row lock orders the batches of all
// replicas by commit, so a follower that has read to N never later finds
// a change below N. The transaction ends with NOTIFY riskmap_topology.
//
// Each replica follows with a cursor in memory (every replica must see
// every change, unlike an event consumer): woken by the notification, or
// every FollowEvery when none comes, the writer goroutine reads the
// changes after its cursor that other replicas made, loads only the nodes,
// edges and sensor rows they name, and applies them to its graph. A
// replica starts its cursor at the counter it read before loading the
// graph; changes are idempotent, so one replayed over the loaded graph
// does no harm. On SQLite (one console) nothing is recorded or followed.

// followChannel is the NOTIFY channel of topology changes.
const followChannel = "riskmap_topology"

// changeRetention is how long topology_changes rows are kept: a replica
// further behind than this cannot catch up (it reports not ready).
const changeRetention = time.Hour

// change is one batch's topology_changes body.
type change struct {
	Nodes   []string       `json:"n,omitempty"` // written or marked gone
	Edges   []edgeKey      `json:"e,omitempty"` // written or marked gone
	Sensors []sensorChange `json:"s,omitempty"`
}

// sensorChange is a sensor's claims after the batch: All replaces them
// (a full report, or a silent sensor's empty set), else Add and Drop
// change them; Keep leaves them (a delta the writer could not apply).
type sensorChange struct {
	ID       string    `json:"id"`
	All      bool      `json:"all,omitempty"`
	Keep     bool      `json:"keep,omitempty"`
	Silent   bool      `json:"silent,omitempty"` // released by the sweep, not a report
	Add      []string  `json:"add,omitempty"`
	Drop     []string  `json:"drop,omitempty"`
	EdgeAdd  []edgeKey `json:"eadd,omitempty"`
	EdgeDrop []edgeKey `json:"edrop,omitempty"`
	Counts   []int     `json:"cnt,omitempty"` // EdgeAdd's counts
}

// follower is the replica's position in topology_changes.
type follower struct {
	replica string // this process's id in topology_changes.replica
	on      bool   // PostgreSQL
	cursor  int64  // only the writer goroutine touches it
	pending atomic.Bool

	mu      sync.Mutex
	lastOK  time.Time // the last pass that read to the end
	applied int64     // changes of other replicas applied
	broken  string    // changes were pruned before this replica read them
}

func newFollower(st *store.Store) *follower {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &follower{replica: hex.EncodeToString(b[:]), on: st.Dialect() == store.Postgres}
}

// startCursor reads the change counter before the graph is loaded.
func (t *Topology) startCursor(ctx context.Context) error {
	if !t.follow.on {
		return nil
	}
	if err := t.st.Read().QueryRowContext(ctx, "SELECT n FROM topology_change_seq WHERE id = 1").Scan(&t.follow.cursor); err != nil {
		return fmt.Errorf("read topology change counter: %w", err)
	}
	t.follow.mu.Lock()
	t.follow.lastOK = time.Now()
	t.follow.mu.Unlock()
	return nil
}

// recordChange adds the batch's change row and notification to its
// transaction (PostgreSQL only). It runs just before the events, so the
// counter rows are locked in one order: topology_change_seq, event_seq.
func (t *Topology) recordChange(ctx context.Context, q store.Querier, pl *plan) error {
	if !t.follow.on {
		return nil
	}
	c := change{}
	for id := range pl.upNodes {
		c.Nodes = append(c.Nodes, id)
	}
	c.Nodes = append(c.Nodes, pl.goneNodes...)
	for k := range pl.upEdges {
		c.Edges = append(c.Edges, k)
	}
	c.Edges = append(c.Edges, pl.goneEdges...)
	for _, sp := range pl.sensors {
		sc := sensorChange{ID: sp.s.ID, Silent: sp.j.r == nil}
		switch {
		case sp.d == nil:
			sc.Keep = true
		case sp.j.r == nil || sp.j.r.Kind != report.KindDelta:
			// A full report resends the sensor's whole claim set, so a
			// follower that missed something is whole again.
			sc.All = true
			if sp.nodes != nil {
				for id := range sp.nodes {
					sc.Add = append(sc.Add, id)
				}
			} else {
				// Planned on what the sensor held (a full report
				// rebased on its snapshot): those, with its claims and
				// drops.
				for id := range sp.s.nodes {
					if !slices.Contains(sp.dropped, id) {
						sc.Add = append(sc.Add, id)
					}
				}
				sc.Add = append(sc.Add, sp.claimed...)
			}
			for k, n := range sp.edges {
				sc.EdgeAdd = append(sc.EdgeAdd, k)
				sc.Counts = append(sc.Counts, n)
			}
		default:
			sc.Add, sc.Drop, sc.EdgeDrop = sp.claimed, sp.dropped, sp.edgeDel
			for _, k := range sp.edgeAdd {
				sc.EdgeAdd = append(sc.EdgeAdd, k)
				sc.Counts = append(sc.Counts, sp.edges[k])
			}
		}
		c.Sensors = append(c.Sensors, sc)
	}
	body, err := json.Marshal(&c)
	if err != nil {
		return fmt.Errorf("encode topology change: %w", err)
	}
	var seq int64
	if err := q.QueryRowContext(ctx, "UPDATE topology_change_seq SET n = n + 1 WHERE id = 1 RETURNING n").Scan(&seq); err != nil {
		return fmt.Errorf("number topology change: %w", err)
	}
	if _, err := q.ExecContext(ctx, "INSERT INTO topology_changes (seq, replica, at, body) VALUES (?, ?, ?, ?)",
		seq, t.follow.replica, store.Millis(pl.now), string(body)); err != nil {
		return fmt.Errorf("record topology change %d: %w", seq, err)
	}
	if _, err := q.ExecContext(ctx, "SELECT pg_notify(?, ?)", followChannel, strconv.FormatInt(seq, 10)); err != nil {
		return fmt.Errorf("notify topology change %d: %w", seq, err)
	}
	return nil
}

// followLoop asks the writer to follow the other replicas when one of
// them notifies a change, and every FollowEvery in case a notification was
// lost; it prunes old changes now and then.
func (t *Topology) followLoop(ctx context.Context) {
	if !t.follow.on {
		return
	}
	wake := make(chan struct{}, 1)
	poke := func(string) {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	go func() { _ = t.st.Listen(ctx, followChannel, poke) }()
	tick := time.NewTicker(t.cfg.FollowEvery)
	defer tick.Stop()
	prune := time.NewTicker(5 * time.Minute)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-tick.C:
		case <-prune.C:
			cut := store.Millis(t.now().Add(-changeRetention))
			if err := t.st.Tx(ctx, func(q store.Querier) error {
				_, err := q.ExecContext(ctx, "DELETE FROM topology_changes WHERE at < ?", cut)
				return err
			}); err != nil && ctx.Err() == nil {
				t.log.Warn("prune topology changes", "err", err)
			}
			continue
		}
		if t.follow.pending.Swap(true) {
			continue // one pass queued is enough
		}
		j := &job{follow: true, done: make(chan result, 1)}
		select {
		case t.queue <- j:
		case <-ctx.Done():
			return
		}
	}
}

// followPass runs on the writer goroutine: it reads the changes after the
// cursor and applies the other replicas' ones to the graph.
func (t *Topology) followPass(ctx context.Context) {
	t.follow.pending.Store(false)
	for ctx.Err() == nil {
		n, err := t.followBatch(ctx, 500)
		if err != nil {
			if ctx.Err() == nil {
				t.log.Warn("follow other replicas' topology changes", "err", err)
			}
			return
		}
		if n < 500 {
			break
		}
	}
	t.follow.mu.Lock()
	t.follow.lastOK = time.Now()
	t.follow.mu.Unlock()
}

// catchUp applies the other replicas' changes before a batch is planned
// (PostgreSQL; one indexed read, empty when nothing changed), so a sensor
// that moved here is diffed against what the replica it left committed:
// that replica acknowledged the sensor's last report after its commit,
// before the sensor sent this one.
func (t *Topology) catchUp(ctx context.Context) {
	if !t.follow.on {
		return
	}
	for ctx.Err() == nil {
		n, err := t.followBatch(ctx, 500)
		if err != nil {
			if ctx.Err() == nil {
				t.log.Warn("follow other replicas' topology changes before a batch", "err", err)
			}
			return
		}
		if n < 500 {
			return
		}
	}
}

type changeRow struct {
	seq     int64
	replica string
	c       change
}

// followBatch applies up to limit changes and returns how many it read.
func (t *Topology) followBatch(ctx context.Context, limit int) (int, error) {
	rq := t.st.Read()
	// This replica's own changes are applied already: their bodies stay
	// in the database.
	rows, err := rq.QueryContext(ctx, "SELECT seq, replica, CASE WHEN replica = ? THEN '' ELSE body END FROM topology_changes WHERE seq > ? ORDER BY seq LIMIT ?",
		t.follow.replica, t.follow.cursor, limit)
	if err != nil {
		return 0, fmt.Errorf("read topology changes after %d: %w", t.follow.cursor, err)
	}
	var list []changeRow
	for rows.Next() {
		var cr changeRow
		var body string
		if err := rows.Scan(&cr.seq, &cr.replica, &body); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read topology changes: %w", err)
		}
		if cr.replica != t.follow.replica {
			if err := json.Unmarshal([]byte(body), &cr.c); err != nil {
				t.log.Warn("topology change does not decode; skipped", "seq", cr.seq, "err", err)
			}
		}
		list = append(list, cr)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read topology changes: %w", err)
	}
	if len(list) == 0 {
		return 0, nil
	}
	if first := list[0].seq; first != t.follow.cursor+1 {
		msg := fmt.Sprintf("topology changes %d to %d were pruned before this replica read them; restart it to reload the graph", t.follow.cursor+1, first-1)
		t.follow.mu.Lock()
		t.follow.broken = msg
		t.follow.mu.Unlock()
		t.log.Error("replica fell behind", "detail", msg)
	}
	nodeIDs := map[string]struct{}{}
	edgeKeys := map[edgeKey]struct{}{}
	sensorIDs := map[string]struct{}{}
	others := 0
	for _, cr := range list {
		if cr.replica == t.follow.replica {
			continue
		}
		others++
		for _, id := range cr.c.Nodes {
			nodeIDs[id] = struct{}{}
		}
		for _, k := range cr.c.Edges {
			edgeKeys[k] = struct{}{}
		}
		for _, s := range cr.c.Sensors {
			sensorIDs[s.ID] = struct{}{}
			// A claimed node may have been written by an earlier batch of
			// another replica that this one followed; it is in the graph.
		}
	}
	if others > 0 {
		nodes, err := t.loadNodes(ctx, nodeIDs)
		if err != nil {
			return 0, err
		}
		edges, err := t.loadEdges(ctx, edgeKeys)
		if err != nil {
			return 0, err
		}
		sensors, err := t.loadSensors(ctx, sensorIDs)
		if err != nil {
			return 0, err
		}
		t.applyFollowed(list, nodes, edges, sensors)
	}
	t.follow.cursor = list[len(list)-1].seq
	t.follow.mu.Lock()
	t.follow.applied += int64(others)
	t.follow.mu.Unlock()
	return len(list), nil
}

// applyFollowed makes other replicas' committed changes part of the graph.
func (t *Topology) applyFollowed(list []changeRow, nodes map[string]*Node, edges map[edgeKey]*Edge, sensors map[string]*sensorState) {
	g := t.g
	g.mu.Lock()
	defer g.mu.Unlock()
	g.version++
	for _, n := range nodes {
		n.claims = claimSet{} // putNode keeps the current ones
		g.putNode(n)
	}
	for k, e := range edges {
		if old := g.edges[k]; old != nil {
			e.claims = old.claims
		}
		if e.claims == nil {
			e.claims = map[string]int{}
		}
		g.putEdge(e)
	}
	touched := map[string]*sensorState{}
	silent := map[string]bool{} // by the latest change
	for _, cr := range list {
		if cr.replica == t.follow.replica {
			continue
		}
		for _, sc := range cr.c.Sensors {
			s := g.sensors[sc.ID]
			if s == nil {
				s = &sensorState{ID: sc.ID, nodes: map[string]struct{}{}, edges: map[edgeKey]int{}, listen: map[uint16]string{}}
				g.sensors[sc.ID] = s
			}
			touched[sc.ID] = s
			silent[sc.ID] = sc.Silent
			if sc.Keep {
				continue
			}
			if sc.All {
				for id := range s.nodes {
					if n := g.nodes[id]; n != nil {
						n.claims.del(s.ID)
					}
				}
				for k := range s.edges {
					if e := g.edges[k]; e != nil {
						delete(e.claims, s.ID)
					}
				}
				s.nodes, s.edges = map[string]struct{}{}, map[edgeKey]int{}
			}
			for _, id := range sc.Drop {
				delete(s.nodes, id)
				if n := g.nodes[id]; n != nil {
					n.claims.del(s.ID)
				}
			}
			for _, id := range sc.Add {
				s.nodes[id] = struct{}{}
				if n := g.nodes[id]; n != nil {
					n.claims.add(s.ID)
					delete(g.unclaimedSince, id)
				}
			}
			for _, k := range sc.EdgeDrop {
				delete(s.edges, k)
				if e := g.edges[k]; e != nil {
					delete(e.claims, s.ID)
				}
			}
			for i, k := range sc.EdgeAdd {
				c := 0
				if i < len(sc.Counts) {
					c = sc.Counts[i]
				}
				s.edges[k] = c
				if e := g.edges[k]; e != nil {
					e.claims[s.ID] = c
				}
			}
		}
	}
	for k := range edges {
		if e := g.edges[k]; e != nil && len(e.claims) > 0 {
			e.Count = 0
			for _, c := range e.claims {
				e.Count += c
			}
		}
	}
	for id, s := range touched {
		if row := sensors[id]; row != nil {
			s.RunID, s.Seq, s.Version, s.Hostname = row.RunID, row.Seq, row.Version, row.Hostname
			s.IntervalSeconds, s.Reports, s.ProbeErrors = row.IntervalSeconds, row.Reports, row.ProbeErrors
			s.FirstSeen, s.LastReport = row.FirstSeen, row.LastReport
		}
		s.Silent = silent[id]
		s.listen = map[uint16]string{}
		for nid := range s.nodes {
			if n := g.nodes[nid]; n != nil && n.Kind == KindProcess {
				for _, ep := range n.Listen {
					if _, ok := s.listen[ep.Port]; !ok || n.Container == "" {
						s.listen[ep.Port] = nid
					}
				}
			}
		}
		g.reindexHost(s, g.nodes[HostNodeID(id)])
	}
}

// loadNodes reads nodes by id (those deleted since are left out).
func (t *Topology) loadNodes(ctx context.Context, ids map[string]struct{}) (map[string]*Node, error) {
	out := make(map[string]*Node, len(ids))
	list := make([]any, 0, len(ids))
	for id := range ids {
		list = append(list, id)
	}
	g := t.g
	for i := 0; i < len(list); i += chunkRows {
		part := list[i:min(i+chunkRows, len(list))]
		rows, err := t.st.Read().QueryContext(ctx, "SELECT id, kind, node_key, name, sensor_id, attrs, first_seen, last_seen, gone_at FROM nodes WHERE id IN ("+placeholders(len(part))+")", part...)
		if err != nil {
			return nil, fmt.Errorf("follow: load %d nodes: %w", len(part), err)
		}
		for rows.Next() {
			n := &Node{}
			var sensor sql.NullString
			var attrs string
			var first, last int64
			var gone sql.NullInt64
			if err := rows.Scan(&n.ID, &n.Kind, &n.Key, &n.Label, &sensor, &attrs, &first, &last, &gone); err != nil {
				rows.Close()
				return nil, fmt.Errorf("follow: load nodes: %w", err)
			}
			if err := json.Unmarshal([]byte(attrs), &n.nodeData); err != nil {
				t.log.Warn("node attributes do not decode; node kept without them", "node", n.ID, "err", err)
			}
			n.SensorID = sensor.String
			n.Exe = g.intern(n.Exe)
			if n.LoadedSet != "" {
				g.internMu.Lock()
				l, ok := g.loaded[n.LoadedSet]
				g.internMu.Unlock()
				if !ok {
					var err error
					if l, err = t.loadLoadedSet(ctx, n.LoadedSet); err != nil {
						rows.Close()
						return nil, err
					}
				}
				n.Loaded = l.files
			}
			n.FirstSeen, n.LastSeen = store.FromMillis(first), store.FromMillis(last)
			if gone.Valid {
				n.GoneAt = store.FromMillis(gone.Int64)
			}
			n.hash = nodeHash(n)
			out[n.ID] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("follow: load nodes: %w", err)
		}
	}
	return out, nil
}

// loadLoadedSet reads one loaded-file set another replica stored and
// shares it in the graph.
func (t *Topology) loadLoadedSet(ctx context.Context, id string) (loadedSet, error) {
	var paths string
	err := t.st.Read().QueryRowContext(ctx, "SELECT paths FROM topology_loaded_sets WHERE id = ?", id).Scan(&paths)
	if errors.Is(err, sql.ErrNoRows) {
		return loadedSet{id: id}, nil
	}
	if err != nil {
		return loadedSet{}, fmt.Errorf("follow: load loaded-file set %s: %w", id, err)
	}
	var l []string
	if err := json.Unmarshal([]byte(paths), &l); err != nil {
		t.log.Warn("loaded-file set does not decode; skipped", "set", id, "err", err)
		return loadedSet{id: id}, nil
	}
	g := t.g
	g.internMu.Lock()
	defer g.internMu.Unlock()
	if have, ok := g.loaded[id]; ok {
		return have, nil
	}
	for i, f := range l {
		l[i] = g.internLocked(f)
	}
	ls := loadedSet{id: id, files: l}
	g.loaded[id] = ls
	return ls, nil
}

// loadEdges reads edges by key.
func (t *Topology) loadEdges(ctx context.Context, keys map[edgeKey]struct{}) (map[edgeKey]*Edge, error) {
	out := make(map[edgeKey]*Edge, len(keys))
	list := make([]edgeKey, 0, len(keys))
	for k := range keys {
		list = append(list, k)
	}
	const perQuery = 100
	for i := 0; i < len(list); i += perQuery {
		part := list[i:min(i+perQuery, len(list))]
		args := make([]any, 0, 3*len(part))
		q := "SELECT src_id, dst_id, kind, attrs, first_seen, last_seen, sensor_id, conn_count, gone_at FROM edges WHERE "
		for k, e := range part {
			if k > 0 {
				q += " OR "
			}
			q += "(src_id = ? AND dst_id = ? AND kind = ?)"
			args = append(args, e.Src, e.Dst, e.Kind)
		}
		rows, err := t.st.Read().QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("follow: load %d edges: %w", len(part), err)
		}
		for rows.Next() {
			e := &Edge{}
			var attrs string
			var first, last int64
			var sensor sql.NullString
			var gone sql.NullInt64
			if err := rows.Scan(&e.Src, &e.Dst, &e.Kind, &attrs, &first, &last, &sensor, &e.Count, &gone); err != nil {
				rows.Close()
				return nil, fmt.Errorf("follow: load edges: %w", err)
			}
			var a struct {
				Remote []string `json:"remote"`
			}
			_ = json.Unmarshal([]byte(attrs), &a)
			e.Remote = a.Remote
			e.SensorID = sensor.String
			e.FirstSeen, e.LastSeen = store.FromMillis(first), store.FromMillis(last)
			if gone.Valid {
				e.GoneAt = store.FromMillis(gone.Int64)
			}
			out[e.key()] = e
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("follow: load edges: %w", err)
		}
	}
	return out, nil
}

// loadSensors reads sensor rows by id.
func (t *Topology) loadSensors(ctx context.Context, ids map[string]struct{}) (map[string]*sensorState, error) {
	out := make(map[string]*sensorState, len(ids))
	list := make([]any, 0, len(ids))
	for id := range ids {
		list = append(list, id)
	}
	for i := 0; i < len(list); i += chunkRows {
		part := list[i:min(i+chunkRows, len(list))]
		rows, err := t.st.Read().QueryContext(ctx, "SELECT id, run_id, seq, version, hostname, interval_s, reports, probe_errors, first_seen, last_report FROM topology_sensors WHERE id IN ("+placeholders(len(part))+")", part...)
		if err != nil {
			return nil, fmt.Errorf("follow: load %d sensors: %w", len(part), err)
		}
		for rows.Next() {
			s := &sensorState{}
			var seq, first, last int64
			if err := rows.Scan(&s.ID, &s.RunID, &seq, &s.Version, &s.Hostname, &s.IntervalSeconds, &s.Reports, &s.ProbeErrors, &first, &last); err != nil {
				rows.Close()
				return nil, fmt.Errorf("follow: load sensors: %w", err)
			}
			s.Seq, s.FirstSeen, s.LastReport = uint64(seq), store.FromMillis(first), store.FromMillis(last)
			out[s.ID] = s
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("follow: load sensors: %w", err)
		}
	}
	return out, nil
}

// FollowStatus is this replica's following of the others (PostgreSQL).
type FollowStatus struct {
	// On: the store is shared (PostgreSQL), so changes are followed.
	On bool
	// Lag is the time since the last pass that read every committed
	// change (zero when off).
	Lag time.Duration
	// Applied counts the other replicas' changes applied.
	Applied int64
	// Broken says why this replica cannot catch up ("" when it can).
	Broken string
}

// Follow reports the follower's state.
func (t *Topology) Follow() FollowStatus {
	f := t.follow
	if !f.on {
		return FollowStatus{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return FollowStatus{On: true, Lag: time.Since(f.lastOK), Applied: f.applied, Broken: f.broken}
}

// Ready reports whether this replica's graph can serve: loaded (New
// returned), and following the other replicas within the report interval.
func (t *Topology) Ready(ctx context.Context) error {
	st := t.Follow()
	if st.Broken != "" {
		return errors.New(st.Broken)
	}
	if bound := max(t.cfg.Interval, 5*t.cfg.FollowEvery); st.On && st.Lag > bound {
		return fmt.Errorf("the topology graph has not followed the other replicas for %s (bound %s)", st.Lag.Round(time.Second), bound)
	}
	return nil
}
