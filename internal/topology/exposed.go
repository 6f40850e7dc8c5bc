package topology

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/store"
)

// EventNodesExposed is the type of NodesExposed.
const EventNodesExposed = "node.exposed"

// NodesExposed lists the hosts and containers that became reachable from
// the internet (one of their processes is: the same reachability as
// Exposure). A node that stops being reachable is news again only after
// it stayed unreachable for Config.ExposureForget, so a connection that
// comes and goes does not repeat the news.
type NodesExposed struct {
	Nodes []ExposedNode `json:"nodes"`
}

func (NodesExposed) EventType() string { return EventNodesExposed }
func (NodesExposed) EventKey() string  { return "topology" }

// ExposedNode is a node newly reachable from the internet.
type ExposedNode struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"` // host or container
	Label string `json:"label"`
	// Host is the host node of a container.
	Host string `json:"host,omitempty"`
	// Process is the first reachable process (by label), Reason why the
	// internet reaches it.
	Process string `json:"process,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// exposedBaseline is the row saying the first pass recorded what was
// reachable then without publishing it (so that starting a console on an
// existing estate does not announce every exposed node as news).
const exposedBaseline = "*"

type exposedState struct {
	since, lostAt int64
}

// CheckExposure compares the nodes reachable from the internet now with
// those recorded (the topology_exposed table) and, in one transaction,
// records the difference and publishes NodesExposed for the nodes that
// became reachable. The console runs it every Config.ExposureEvery; a
// crash between a batch and this pass loses nothing, since the next pass
// compares with what was recorded.
func (t *Topology) CheckExposure(ctx context.Context) error {
	t.exposedMu.Lock()
	defer t.exposedMu.Unlock()
	if t.exposed == nil {
		m, err := t.loadExposed(ctx)
		if err != nil {
			return err
		}
		t.exposed = m
	}
	_, baseline := t.exposed[exposedBaseline]
	rc := t.reachabilityOf(true)
	g := t.g
	current := map[string]ExposedNode{}
	g.mu.RLock()
	procs := make([]string, 0, rc.labels.len())
	for id := range rc.labels.all() {
		procs = append(procs, id)
	}
	slices.Sort(procs)
	for _, pid := range procs {
		p := g.nodes[pid]
		if p == nil || p.Gone() || p.Kind != KindProcess {
			continue
		}
		reason := rc.reason(g.firstHop(rc, pid))
		add := func(n *Node, host string) {
			if n == nil || n.Gone() {
				return
			}
			if _, ok := current[n.ID]; !ok {
				current[n.ID] = ExposedNode{ID: n.ID, Kind: n.Kind, Label: n.Label, Host: host, Process: p.Label, Reason: reason}
			}
		}
		add(g.nodes[p.Host], "")
		if p.Container != "" {
			add(g.nodes[p.Container], p.Host)
		}
	}
	g.mu.RUnlock()

	now := t.now()
	ms := store.Millis(now)
	forget := store.Millis(now.Add(-t.cfg.ExposureForget))
	var newly []ExposedNode
	var insert []ExposedNode
	var regained, lost, drop []string
	for id, n := range current {
		st, ok := t.exposed[id]
		switch {
		case !ok:
			insert = append(insert, n)
			if baseline {
				newly = append(newly, n)
			}
		case st.lostAt != 0 && st.lostAt < forget:
			// Unreachable long enough to be forgotten: news again.
			drop = append(drop, id)
			insert = append(insert, n)
			newly = append(newly, n)
		case st.lostAt != 0:
			regained = append(regained, id)
		}
	}
	for id, st := range t.exposed {
		if id == exposedBaseline {
			continue
		}
		if _, ok := current[id]; ok {
			continue
		}
		switch {
		case st.lostAt == 0:
			lost = append(lost, id)
		case st.lostAt < forget:
			drop = append(drop, id)
		}
	}
	if baseline && len(insert)+len(regained)+len(lost)+len(drop) == 0 {
		return nil
	}
	slices.SortFunc(newly, func(a, b ExposedNode) int { return strings.Compare(a.ID, b.ID) })
	err := t.st.Tx(ctx, func(q store.Querier) error {
		if err := t.exposedUnchanged(ctx, q, insert, regained, lost, drop); err != nil {
			return err
		}
		if !baseline {
			if _, err := q.ExecContext(ctx, `INSERT INTO topology_exposed (node_id, kind, since) VALUES (?, '', ?) ON CONFLICT (node_id) DO NOTHING`,
				exposedBaseline, ms); err != nil {
				return err
			}
		}
		for _, id := range drop {
			if _, err := q.ExecContext(ctx, `DELETE FROM topology_exposed WHERE node_id = ?`, id); err != nil {
				return err
			}
		}
		if err := store.ExecValues(ctx, q, "INSERT INTO topology_exposed (node_id, kind, since)", 3, len(insert), "ON CONFLICT (node_id) DO UPDATE SET since = excluded.since, lost_at = NULL",
			func(i int, args []any) ([]any, error) { return append(args, insert[i].ID, insert[i].Kind, ms), nil }); err != nil {
			return err
		}
		for _, id := range regained {
			if _, err := q.ExecContext(ctx, `UPDATE topology_exposed SET lost_at = NULL WHERE node_id = ?`, id); err != nil {
				return err
			}
		}
		for _, id := range lost {
			if _, err := q.ExecContext(ctx, `UPDATE topology_exposed SET lost_at = ? WHERE node_id = ?`, ms, id); err != nil {
				return err
			}
		}
		if len(newly) == 0 {
			return nil
		}
		return events.Publish(ctx, q, now, NodesExposed{Nodes: newly})
	})
	if errors.Is(err, errExposedStale) {
		t.exposed = nil // another replica recorded a change: read the table again next pass
		return nil
	}
	if err != nil {
		return fmt.Errorf("record exposed nodes: %w", err)
	}
	if !baseline {
		t.exposed[exposedBaseline] = exposedState{since: ms}
	}
	for _, id := range drop {
		delete(t.exposed, id)
	}
	for _, n := range insert {
		t.exposed[n.ID] = exposedState{since: ms}
	}
	for _, id := range regained {
		t.exposed[id] = exposedState{since: t.exposed[id].since}
	}
	for _, id := range lost {
		t.exposed[id] = exposedState{since: t.exposed[id].since, lostAt: ms}
	}
	if len(newly) > 0 && t.cfg.Events != nil {
		t.cfg.Events.Notify()
	}
	return nil
}

func (t *Topology) loadExposed(ctx context.Context) (map[string]exposedState, error) {
	rows, err := t.st.Read().QueryContext(ctx, `SELECT node_id, since, lost_at FROM topology_exposed`)
	if err != nil {
		return nil, fmt.Errorf("read exposed nodes: %w", err)
	}
	defer rows.Close()
	m := map[string]exposedState{}
	for rows.Next() {
		var id string
		var since int64
		var lost sql.NullInt64
		if err := rows.Scan(&id, &since, &lost); err != nil {
			return nil, fmt.Errorf("read exposed nodes: %w", err)
		}
		m[id] = exposedState{since: since, lostAt: lost.Int64}
	}
	return m, rows.Err()
}

func (t *Topology) exposureLoop(ctx context.Context) {
	tick := time.NewTicker(t.cfg.ExposureEvery)
	defer tick.Stop()
	var seen uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t.g.mu.RLock()
		v := t.g.version
		t.g.mu.RUnlock()
		if v == seen && t.exposedChecked() {
			continue
		}
		if err := t.CheckExposure(ctx); err != nil {
			if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				t.log.Warn("topology: exposure check", "err", err)
			}
			continue
		}
		seen = v
	}
}

// exposedChecked reports whether a pass recorded a baseline (a graph that
// did not change since may still have nodes whose forget time passed, but
// those only matter when the graph changes again).
func (t *Topology) exposedChecked() bool {
	t.exposedMu.Lock()
	defer t.exposedMu.Unlock()
	_, ok := t.exposed[exposedBaseline]
	return ok
}

// NodeContext is where a node sits, as rules that filter on it see it
// (internal/integrations): its host, cluster, namespace and image by
// name, and whether the internet reaches it.
type NodeContext struct {
	ID        string
	Kind      string
	Label     string
	Host      string // the host's label
	Cluster   string // the cluster's label
	Namespace string // the namespace's name
	Image     string // an image's label, or a container's image name
	// Internet is true when the node, or a process of it, is reachable
	// from the internet.
	Internet bool
	Gone     bool
}

// Describe returns the context of the nodes the graph holds among ids.
func (t *Topology) Describe(ids ...string) map[string]NodeContext {
	rc := t.reachability()
	g := t.g
	g.mu.RLock()
	defer g.mu.RUnlock()
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	reached := map[string]bool{}
	for pid := range rc.labels.all() {
		p := g.nodes[pid]
		if p == nil || p.Gone() {
			continue
		}
		for _, id := range []string{p.ID, p.Host, p.Container, p.Pod, p.Image} {
			if id != "" && want[id] {
				reached[id] = true
			}
		}
	}
	label := func(id string) string {
		if n := g.nodes[id]; n != nil {
			return n.Label
		}
		return ""
	}
	out := make(map[string]NodeContext, len(ids))
	for _, id := range ids {
		n := g.nodes[id]
		if n == nil {
			continue
		}
		c := NodeContext{ID: n.ID, Kind: n.Kind, Label: n.Label, Host: label(n.Host), Cluster: label(n.Cluster), Internet: reached[id], Gone: n.Gone()}
		if n.Kind == KindHost {
			c.Host = n.Label
		}
		if ns := g.nodes[n.Namespace]; ns != nil {
			c.Namespace = ns.Label
		}
		switch n.Kind {
		case KindImage:
			c.Image = n.Label
		case KindContainer:
			c.Image = n.Meta["image"]
			if c.Image == "" {
				c.Image = label(n.Image)
			}
		}
		out[id] = c
	}
	return out
}
