package topology

import (
	"context"
	"sync"
)

// changeSet accumulates the node ids changed by committed batches until the
// OnChange listener takes them.
type changeSet struct {
	mu       sync.Mutex
	changed  map[string]struct{}
	appeared map[string]struct{}
	signal   chan struct{} // nil when nobody listens
}

// newNodes lists the nodes a plan adds that the graph does not hold yet.
// Call it before apply.
func (t *Topology) newNodes(pl *plan) []string {
	if t.changes.signal == nil {
		return nil
	}
	t.g.mu.RLock()
	defer t.g.mu.RUnlock()
	var out []string
	for id := range pl.upNodes {
		if _, ok := t.g.nodes[id]; !ok {
			out = append(out, id)
		}
	}
	return out
}

// noteChanges records what a committed plan changed and wakes the listener.
// A process's change also changes its host's and container's exposure.
func (t *Topology) noteChanges(pl *plan, appeared []string) {
	cs := &t.changes
	if cs.signal == nil {
		return
	}
	cs.mu.Lock()
	if cs.changed == nil {
		cs.changed, cs.appeared = map[string]struct{}{}, map[string]struct{}{}
	}
	add := func(id string) {
		if id != "" {
			cs.changed[id] = struct{}{}
		}
	}
	for id, n := range pl.upNodes {
		add(id)
		add(n.Host)
		add(n.Parent)
	}
	for _, id := range pl.goneNodes {
		add(id)
	}
	for k := range pl.upEdges {
		add(k.Src)
		add(k.Dst)
	}
	for _, k := range pl.goneEdges {
		add(k.Src)
		add(k.Dst)
	}
	for _, id := range appeared {
		cs.appeared[id] = struct{}{}
	}
	empty := len(cs.changed) == 0 && len(cs.appeared) == 0
	cs.mu.Unlock()
	if !empty {
		select {
		case cs.signal <- struct{}{}:
		default:
		}
	}
}

// notifyLoop hands accumulated changes to OnChange, one call at a time.
func (t *Topology) notifyLoop(ctx context.Context) {
	cs := &t.changes
	for {
		select {
		case <-ctx.Done():
			return
		case <-cs.signal:
		}
		cs.mu.Lock()
		changed, appeared := keys(cs.changed), keys(cs.appeared)
		cs.changed, cs.appeared = nil, nil
		cs.mu.Unlock()
		if len(changed) > 0 || len(appeared) > 0 {
			t.cfg.OnChange(ctx, changed, appeared)
		}
	}
}

func keys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
