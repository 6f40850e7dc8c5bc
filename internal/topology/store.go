package topology

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/store"
)

const chunkRows = 400

func nullMillis(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return store.Millis(t)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// write stores a batch in one transaction, with the events it causes.
func (t *Topology) write(ctx context.Context, pl *plan, evs []events.Typed) error {
	nodes := make([]*Node, 0, len(pl.upNodes))
	for _, n := range pl.upNodes {
		nodes = append(nodes, n)
	}
	// Nodes and edges already stored live (as the graph, not yet applied,
	// has them; with the same sensor for nodes), and the others.
	var newNodes, liveNodes []*Node
	var newEdges, liveEdges []*Edge
	t.g.mu.RLock()
	for _, n := range nodes {
		if o := t.g.nodes[n.ID]; o != nil && !o.Gone() && o.SensorID == n.SensorID {
			liveNodes = append(liveNodes, n)
		} else {
			newNodes = append(newNodes, n)
		}
	}
	for k, e := range pl.upEdges {
		if o := t.g.edges[k]; o != nil && o.GoneAt.IsZero() {
			liveEdges = append(liveEdges, e)
		} else {
			newEdges = append(newEdges, e)
		}
	}
	t.g.mu.RUnlock()
	now := store.Millis(pl.now)
	sets := map[string][]string{}
	for _, n := range nodes {
		if n.LoadedSet != "" {
			sets[n.LoadedSet] = n.Loaded
		}
	}
	setIDs := make([]string, 0, len(sets))
	for id := range sets {
		setIDs = append(setIDs, id)
	}
	return t.st.Tx(ctx, func(q store.Querier) error {
		if err := store.ExecValues(ctx, q, "INSERT INTO topology_loaded_sets (id, paths)", 2, len(setIDs), "ON CONFLICT (id) DO NOTHING",
			func(i int, args []any) ([]any, error) {
				b, _ := json.Marshal(sets[setIDs[i]])
				return append(args, setIDs[i], string(b)), nil
			}); err != nil {
			return fmt.Errorf("store %d loaded-file sets: %w", len(setIDs), err)
		}
		// A node that stays live and with its sensor is updated without
		// assigning sensor_id and gone_at: SQLite rewrites the entries of
		// every index whose column an UPDATE assigns, even to the same
		// value, and those are pages all over the index (most of the WAL
		// an ingest wrote).
		for _, set := range []struct {
			nodes  []*Node
			update string
		}{
			{newNodes, "name = excluded.name, sensor_id = excluded.sensor_id, attrs = excluded.attrs, last_seen = excluded.last_seen, gone_at = NULL"},
			{liveNodes, "name = excluded.name, attrs = excluded.attrs, last_seen = excluded.last_seen"},
		} {
			if err := store.ExecValues(ctx, q, "INSERT INTO nodes (id, kind, node_key, name, sensor_id, attrs, first_seen, last_seen, gone_at)", 9, len(set.nodes),
				"ON CONFLICT (id) DO UPDATE SET "+set.update,
				func(i int, args []any) ([]any, error) {
					n := set.nodes[i]
					attrs, err := json.Marshal(&n.nodeData)
					if err != nil {
						return nil, fmt.Errorf("encode node %s: %w", n.ID, err)
					}
					return append(args, n.ID, n.Kind, n.Key, n.Label, nullString(n.SensorID), string(attrs), store.Millis(n.FirstSeen), now, nil), nil
				}); err != nil {
				return fmt.Errorf("upsert %d nodes: %w", len(set.nodes), err)
			}
		}
		for i := 0; i < len(pl.goneNodes); i += chunkRows {
			part := pl.goneNodes[i:min(i+chunkRows, len(pl.goneNodes))]
			args := []any{now, now}
			for _, id := range part {
				args = append(args, id)
			}
			if _, err := q.ExecContext(ctx, "UPDATE nodes SET gone_at = ?, last_seen = ? WHERE id IN ("+placeholders(len(part))+")", args...); err != nil {
				return fmt.Errorf("mark %d nodes gone: %w", len(part), err)
			}
		}
		for _, set := range []struct {
			edges  []*Edge
			update string
		}{
			{newEdges, "attrs = excluded.attrs, last_seen = excluded.last_seen, sensor_id = excluded.sensor_id, conn_count = excluded.conn_count, gone_at = NULL"},
			{liveEdges, "attrs = excluded.attrs, last_seen = excluded.last_seen, sensor_id = excluded.sensor_id, conn_count = excluded.conn_count"},
		} {
			if err := store.ExecValues(ctx, q, "INSERT INTO edges (src_id, dst_id, kind, attrs, first_seen, last_seen, sensor_id, conn_count, gone_at)", 9, len(set.edges),
				"ON CONFLICT (src_id, dst_id, kind) DO UPDATE SET "+set.update,
				func(i int, args []any) ([]any, error) {
					e := set.edges[i]
					attrs := "{}"
					if len(e.Remote) > 0 {
						a, _ := json.Marshal(map[string][]string{"remote": e.Remote})
						attrs = string(a)
					}
					return append(args, e.Src, e.Dst, e.Kind, attrs, store.Millis(e.FirstSeen), now, nullString(e.SensorID), e.Count, nil), nil
				}); err != nil {
				return fmt.Errorf("upsert %d edges: %w", len(set.edges), err)
			}
		}
		const perEdge = 100
		for i := 0; i < len(pl.goneEdges); i += perEdge {
			part := pl.goneEdges[i:min(i+perEdge, len(pl.goneEdges))]
			args := []any{now, now}
			conds := make([]string, len(part))
			for k, e := range part {
				conds[k] = "(src_id = ? AND dst_id = ? AND kind = ?)"
				args = append(args, e.Src, e.Dst, e.Kind)
			}
			if _, err := q.ExecContext(ctx, "UPDATE edges SET gone_at = ?, last_seen = ? WHERE "+strings.Join(conds, " OR "), args...); err != nil {
				return fmt.Errorf("mark %d edges gone: %w", len(part), err)
			}
		}
		if err := store.ExecValues(ctx, q, "INSERT INTO topology_sensors (id, run_id, seq, version, hostname, interval_s, reports, probe_errors, first_seen, last_report)", 10, len(pl.sensors),
			"ON CONFLICT (id) DO UPDATE SET run_id = excluded.run_id, seq = excluded.seq, version = excluded.version, hostname = excluded.hostname, interval_s = excluded.interval_s, reports = excluded.reports, probe_errors = excluded.probe_errors, last_report = excluded.last_report",
			func(i int, args []any) ([]any, error) {
				sp := pl.sensors[i]
				s := sp.s
				runID, seq, version, host, interval, errs := s.RunID, s.Seq, s.Version, s.Hostname, s.IntervalSeconds, s.ProbeErrors
				if r := sp.j.r; r != nil {
					runID, seq, version, interval, errs = r.RunID, r.Seq, r.SensorVersion, r.IntervalSeconds, probeErrors(r)
					if sp.full && sp.snapLost {
						seq = 0
					}
					if r.Host != nil {
						host = r.Host.Hostname
					}
				}
				return append(args, s.ID, runID, int64(seq), version, host, interval, s.Reports+1, errs, store.Millis(s.FirstSeen), now), nil
			}); err != nil {
			return fmt.Errorf("upsert %d sensors: %w", len(pl.sensors), err)
		}
		if err := t.recordChange(ctx, q, pl); err != nil {
			return err
		}
		// Last in the transaction: the outbox's counter row is held to commit.
		return events.Publish(ctx, q, pl.now, evs...)
	})
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// loadGraph rebuilds the in-memory graph from the store: nodes, edges and
// each sensor's claims (the nodes and edges it reported last). Deltas need
// a full report first (the report snapshots are not stored).
func (t *Topology) loadGraph(ctx context.Context) error {
	g := t.g
	now := t.now()
	if err := t.st.Tx(ctx, func(q store.Querier) error {
		for _, n := range pseudoNodes(now) {
			if _, err := q.ExecContext(ctx, "INSERT INTO nodes (id, kind, node_key, name, attrs, first_seen, last_seen) VALUES (?, ?, ?, ?, '{}', ?, ?) ON CONFLICT (id) DO NOTHING",
				n.ID, n.Kind, n.Key, n.Label, store.Millis(now), store.Millis(now)); err != nil {
				return fmt.Errorf("create pseudo-node %s: %w", n.Label, err)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	rq := t.st.Read()
	rows, err := rq.QueryContext(ctx, "SELECT id, run_id, seq, version, hostname, interval_s, reports, probe_errors, first_seen, last_report FROM topology_sensors")
	if err != nil {
		return fmt.Errorf("load sensors: %w", err)
	}
	for rows.Next() {
		s := &sensorState{nodes: map[string]struct{}{}, edges: map[edgeKey]int{}, listen: map[uint16]string{}}
		var seq, first, last int64
		if err := rows.Scan(&s.ID, &s.RunID, &seq, &s.Version, &s.Hostname, &s.IntervalSeconds, &s.Reports, &s.ProbeErrors, &first, &last); err != nil {
			rows.Close()
			return fmt.Errorf("load sensors: %w", err)
		}
		s.Seq, s.FirstSeen, s.LastReport = uint64(seq), store.FromMillis(first), store.FromMillis(last)
		g.sensors[s.ID] = s
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load sensors: %w", err)
	}

	rows, err = rq.QueryContext(ctx, "SELECT id, paths FROM topology_loaded_sets")
	if err != nil {
		return fmt.Errorf("load loaded-file sets: %w", err)
	}
	for rows.Next() {
		var id, paths string
		if err := rows.Scan(&id, &paths); err != nil {
			rows.Close()
			return fmt.Errorf("load loaded-file sets: %w", err)
		}
		var l []string
		if err := json.Unmarshal([]byte(paths), &l); err != nil {
			t.log.Warn("loaded-file set does not decode; skipped", "set", id, "err", err)
			continue
		}
		for i, f := range l {
			l[i] = g.intern(f)
		}
		g.loaded[id] = loadedSet{id: id, files: l}
		if len(l) > 0 {
			g.loadedAt[&l[0]] = g.loaded[id]
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load loaded-file sets: %w", err)
	}

	rows, err = rq.QueryContext(ctx, "SELECT id, kind, node_key, name, sensor_id, attrs, first_seen, last_seen, gone_at FROM nodes")
	if err != nil {
		return fmt.Errorf("load nodes: %w", err)
	}
	for rows.Next() {
		n := &Node{}
		var sensor sql.NullString
		var attrs string
		var first, last int64
		var gone sql.NullInt64
		if err := rows.Scan(&n.ID, &n.Kind, &n.Key, &n.Label, &sensor, &attrs, &first, &last, &gone); err != nil {
			rows.Close()
			return fmt.Errorf("load nodes: %w", err)
		}
		if err := json.Unmarshal([]byte(attrs), &n.nodeData); err != nil {
			t.log.Warn("node attributes do not decode; node kept without them", "node", n.ID, "err", err)
		}
		n.SensorID = sensor.String
		n.Exe = g.intern(n.Exe)
		if n.LoadedSet != "" {
			n.Loaded = g.loaded[n.LoadedSet].files
		}
		n.FirstSeen, n.LastSeen = store.FromMillis(first), store.FromMillis(last)
		if gone.Valid {
			n.GoneAt = store.FromMillis(gone.Int64)
		}
		n.hash = nodeHash(n)
		g.nodes[n.ID] = n
		g.link(n)
		if n.Gone() || n.Kind == KindInternet || n.Kind == KindPrivate {
			continue
		}
		if s := g.sensors[n.SensorID]; s != nil && n.SensorID != "" {
			n.claims.add(s.ID)
			s.nodes[n.ID] = struct{}{}
			if n.Kind == KindProcess {
				for _, ep := range n.Listen {
					if _, ok := s.listen[ep.Port]; !ok || n.Container == "" {
						s.listen[ep.Port] = n.ID
					}
				}
			}
		} else {
			g.unclaimedSince[n.ID] = now
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load nodes: %w", err)
	}
	for _, s := range g.sensors {
		if h := g.nodes[HostNodeID(s.ID)]; h != nil {
			g.reindexHost(s, h)
		}
	}

	rows, err = rq.QueryContext(ctx, "SELECT src_id, dst_id, kind, attrs, first_seen, last_seen, sensor_id, conn_count, gone_at FROM edges")
	if err != nil {
		return fmt.Errorf("load edges: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e := &Edge{claims: map[string]int{}}
		var attrs string
		var first, last int64
		var sensor sql.NullString
		var gone sql.NullInt64
		if err := rows.Scan(&e.Src, &e.Dst, &e.Kind, &attrs, &first, &last, &sensor, &e.Count, &gone); err != nil {
			return fmt.Errorf("load edges: %w", err)
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
		} else if s := g.sensors[e.SensorID]; s != nil {
			e.claims[s.ID] = e.Count
			s.edges[e.key()] = e.Count
		}
		g.putEdge(e)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load edges: %w", err)
	}
	for _, n := range pseudoNodes(now) {
		if g.nodes[n.ID] == nil {
			g.nodes[n.ID] = n
		}
	}
	g.touchAll()
	t.log.Info("topology loaded", "nodes", len(g.nodes), "edges", len(g.edges), "sensors", len(g.sensors))
	return nil
}

// sweep releases the nodes of sensors silent for GoneAfter, marks gone the
// nodes loaded at start that no sensor has claimed since, and prunes what
// has been gone for Retention. It runs on the writer goroutine.
func (t *Topology) sweep(ctx context.Context) {
	t.catchUp(ctx) // a sensor reporting to another replica is not silent
	g := t.g
	now := t.now()
	var silent []*job
	for _, s := range g.sensors {
		if !s.Silent && now.Sub(s.LastReport) >= t.cfg.GoneAfter {
			silent = append(silent, &job{silent: s.ID, done: make(chan result, 1)})
		}
	}
	for i := 0; i < len(silent); i += t.cfg.BatchSize {
		t.process(ctx, silent[i:min(i+t.cfg.BatchSize, len(silent))])
	}
	for _, s := range silent {
		if r := <-s.done; r.err == nil {
			t.log.Info("sensor silent; its nodes are gone", "sensor", s.silent, "after", t.cfg.GoneAfter)
		}
	}
	var stale []string
	for id, since := range g.unclaimedSince {
		if n := g.nodes[id]; n != nil && n.claims.len() == 0 && !n.Gone() && now.Sub(since) >= t.cfg.GoneAfter {
			stale = append(stale, id)
		}
	}
	if len(stale) > 0 {
		err := t.st.Tx(ctx, func(q store.Querier) error {
			for i := 0; i < len(stale); i += chunkRows {
				part := stale[i:min(i+chunkRows, len(stale))]
				args := []any{store.Millis(now)}
				for _, id := range part {
					args = append(args, id)
				}
				if _, err := q.ExecContext(ctx, "UPDATE nodes SET gone_at = ? WHERE id IN ("+placeholders(len(part))+")", args...); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.log.Error("mark unclaimed nodes gone", "nodes", len(stale), "err", err)
		} else {
			g.mu.Lock()
			g.version++
			for _, id := range stale {
				if n := g.nodes[id]; n != nil {
					g.markGone(n, now)
					g.touch(id)
				}
				delete(g.unclaimedSince, id)
			}
			g.mu.Unlock()
		}
	}
	cut := store.Millis(now.Add(-t.cfg.Retention))
	var pruneN, pruneE int64
	err := t.st.Tx(ctx, func(q store.Querier) error {
		r, err := q.ExecContext(ctx, "DELETE FROM edges WHERE gone_at IS NOT NULL AND gone_at < ?", cut)
		if err != nil {
			return fmt.Errorf("prune edges: %w", err)
		}
		pruneE, _ = r.RowsAffected()
		r, err = q.ExecContext(ctx, "DELETE FROM nodes WHERE gone_at IS NOT NULL AND gone_at < ?", cut)
		if err != nil {
			return fmt.Errorf("prune nodes: %w", err)
		}
		pruneN, _ = r.RowsAffected()
		return nil
	})
	if err != nil {
		t.log.Error("prune topology", "err", err)
		return
	}
	limit := now.Add(-t.cfg.Retention)
	g.mu.Lock()
	g.version++
	for k, e := range g.edges {
		if !e.GoneAt.IsZero() && e.GoneAt.Before(limit) {
			g.deleteEdge(k)
		}
	}
	for id, n := range g.nodes {
		if n.Gone() && n.GoneAt.Before(limit) {
			g.deleteNode(id)
		}
	}
	g.mu.Unlock()
	if pruneN+pruneE > 0 {
		t.log.Info("pruned topology", "nodes", pruneN, "edges", pruneE, "retention", t.cfg.Retention)
	}
}

// Sweep runs one sweep now (on the writer) and waits for it.
func (t *Topology) Sweep(ctx context.Context) error {
	j := &job{sweep: true, done: make(chan result, 1)}
	select {
	case t.queue <- j:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case r := <-j.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *Topology) sweepLoop(ctx context.Context) {
	tick := time.NewTicker(t.cfg.SweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := t.Sweep(ctx); err != nil && ctx.Err() == nil {
				t.log.Warn("topology sweep", "err", err)
			}
		}
	}
}
