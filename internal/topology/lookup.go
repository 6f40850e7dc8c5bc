package topology

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The topology alone reads and writes the nodes and edges tables. What
// other modules need of them goes through the queries below (answered from
// the in-memory graph) and through the events of notify.go.

// DetailSource adds a module's part to a node's details (GET
// /api/v1/topology/nodes/{id}): the scans module fills d.Scans. Sources are
// registered in the composition root with AddDetailSource.
type DetailSource interface {
	NodeDetail(ctx context.Context, d *NodeDetail) error
}

// AddDetailSource registers a source of node details.
func (t *Topology) AddDetailSource(s DetailSource) {
	t.detailsMu.Lock()
	t.details = append(t.details, s)
	t.detailsMu.Unlock()
}

func (t *Topology) fillDetails(ctx context.Context, d *NodeDetail) {
	t.detailsMu.RLock()
	srcs := slices.Clone(t.details)
	t.detailsMu.RUnlock()
	for _, s := range srcs {
		if err := s.NodeDetail(ctx, d); err != nil {
			t.log.Warn("node details without a module's part", "node", d.ID, "err", err)
		}
	}
}

// NodeInfo is a node as other modules see it.
type NodeInfo struct {
	ID       string
	Kind     string
	Key      string
	Label    string
	SensorID string // the owning sensor; "" for shared nodes (images, pods)
	ScanRef  string // what a sensor scans for it, when not the key
	Host     string // host node id
	Image    string // image node id of a container
	// Namespace and Cluster are the node's Kubernetes namespace and
	// cluster, by name ("" outside Kubernetes).
	Namespace string
	Cluster   string
	Gone      bool
	LastSeen  time.Time
	// Sensors are the live sensors reporting the node.
	Sensors []string
}

// Lookup returns the nodes the graph holds among ids.
func (t *Topology) Lookup(ids ...string) map[string]NodeInfo {
	g := t.g
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := make(map[string]NodeInfo, len(ids))
	for _, id := range ids {
		if n := g.nodes[id]; n != nil {
			out[id] = t.info(n)
		}
	}
	return out
}

// info describes n; the caller holds the graph's read lock.
func (t *Topology) info(n *Node) NodeInfo {
	g := t.g
	ni := NodeInfo{ID: n.ID, Kind: n.Kind, Key: n.Key, Label: n.Label, SensorID: n.SensorID, ScanRef: n.ScanRef,
		Host: n.Host, Image: n.Image, Gone: n.Gone(), LastSeen: g.lastSeen(n)}
	if ns := g.nodes[n.Namespace]; ns != nil {
		ni.Namespace = ns.Label
	}
	if c := g.nodes[n.Cluster]; c != nil {
		ni.Cluster = c.Label
	}
	for s := range n.claims.all() {
		if st := g.sensors[s]; st != nil && !st.Silent {
			ni.Sensors = append(ni.Sensors, s)
		}
	}
	// The most recently reporting sensor first.
	slices.SortFunc(ni.Sensors, func(a, b string) int {
		return g.sensors[b].LastReport.Compare(g.sensors[a].LastReport)
	})
	return ni
}

// Errors of the scan target queries.
var (
	ErrNotScannable = errors.New("not scannable")
)

// ScanTarget is a node as a sensor scans it: the sensor that runs the
// scan, the target kind (host, container, image) and the ref it scans.
type ScanTarget struct {
	NodeID   string
	SensorID string
	Kind     string
	Ref      string
}

// ScanTarget says which sensor scans a node and how: a host or container
// by the sensor that reports it; an image by a live sensor that holds it
// (the most recently reporting one).
func (t *Topology) ScanTarget(id string) (ScanTarget, error) {
	g := t.g
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := g.nodes[id]
	if n == nil {
		return ScanTarget{}, fmt.Errorf("node %q: %w", id, ErrNodeNotFound)
	}
	return t.scanTarget(n)
}

func (t *Topology) scanTarget(n *Node) (ScanTarget, error) {
	st := ScanTarget{NodeID: n.ID, Kind: n.Kind, Ref: n.Key, SensorID: n.SensorID}
	if n.ScanRef != "" {
		st.Ref = n.ScanRef
	}
	switch n.Kind {
	case KindHost, KindContainer:
		if st.SensorID == "" {
			return st, fmt.Errorf("%w: node %s has no sensor that could scan it", ErrNotScannable, n.ID)
		}
	case KindImage:
		// An image seen only as a running container's image name is
		// scanned by that name.
		st.Ref = strings.TrimPrefix(st.Ref, "name:")
		sensors := t.info(n).Sensors
		if len(sensors) == 0 {
			return st, fmt.Errorf("%w: no live sensor holds image %s (%s)", ErrNotScannable, n.Label, n.ID)
		}
		st.SensorID = sensors[0]
	default:
		return st, fmt.Errorf("%w: node %s is a %s; scans run on hosts, containers and images", ErrNotScannable, n.ID, n.Kind)
	}
	return st, nil
}

// TargetFilter selects nodes to scan.
type TargetFilter struct {
	Kind         string // host, container or image (required)
	SensorID     string
	NameContains string
	SeenWithin   time.Duration // 0: any
	Limit        int           // the most targets returned
}

// ScanTargets lists the scan targets of the nodes a filter selects, by
// node id; nodes no sensor can scan now are left out.
func (t *Topology) ScanTargets(f TargetFilter) ([]ScanTarget, error) {
	switch f.Kind {
	case KindHost, KindContainer, KindImage:
	default:
		return nil, fmt.Errorf("%w: filter kind %q (want host, container or image)", ErrNotScannable, f.Kind)
	}
	g := t.g
	now := t.now()
	name := strings.ToLower(f.NameContains)
	g.mu.RLock()
	defer g.mu.RUnlock()
	var out []ScanTarget
	for _, n := range g.nodes {
		if n.Kind != f.Kind || (name != "" && !strings.Contains(strings.ToLower(n.Label), name)) {
			continue
		}
		if f.SeenWithin > 0 && now.Sub(g.lastSeen(n)) > f.SeenWithin {
			continue
		}
		if f.SensorID != "" && n.SensorID != f.SensorID {
			if !n.claims.has(f.SensorID) {
				continue
			}
		}
		st, err := t.scanTarget(n)
		if err != nil {
			continue
		}
		if f.SensorID != "" && n.Kind == KindImage {
			st.SensorID = f.SensorID
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b ScanTarget) int { return strings.Compare(a.NodeID, b.NodeID) })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// OSOf returns the operating system release a host node reports (its
// os-release ID and VERSION_ID); false for another kind of node or a host
// that reports none.
func (t *Topology) OSOf(id string) (osID, versionID string, ok bool) {
	g := t.g
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := g.nodes[id]
	if n == nil || n.Kind != KindHost || n.Meta["osId"] == "" {
		return "", "", false
	}
	return n.Meta["osId"], n.Meta["osVersion"], true
}
