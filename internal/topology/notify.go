package topology

import (
	"slices"
	"time"

	"github.com/riskmap/riskmap/internal/events"
)

// Events the topology publishes, in the transaction that commits the batch
// of reports that caused them (internal/events). Each carries the nodes of
// one batch; the key is the module's, so they keep their order.

// EventNodesChanged is the type of NodesChanged.
const (
	EventNodesChanged  = "node.changed"
	EventNodesAppeared = "node.appeared"
	EventNodesGone     = "node.gone"
	EventSensorOffline = "sensor.offline"
)

// NodesChanged lists the nodes a batch changed: nodes whose stored form
// changed, the hosts and parents of changed processes and containers, the
// ends of edges that appeared or went, and nodes that went. A node's
// exposure can only change when it is in such a list.
type NodesChanged struct {
	Nodes []string `json:"nodes"`
}

func (NodesChanged) EventType() string { return EventNodesChanged }
func (NodesChanged) EventKey() string  { return "topology" }

// GatherAppeared is how long a consumer of NodesAppeared lets them gather
// (events.Consumer.Gather): at a large fleet a batch of reports commits
// several times a second, most adding a process that replaced another,
// and a consumer that only starts jobs for new hosts, images and
// containers need not wake for each.
const GatherAppeared = 500 * time.Millisecond

// NodesAppeared lists the nodes a batch added that the graph did not hold.
type NodesAppeared struct {
	Nodes []NodeRef `json:"nodes"`
}

func (NodesAppeared) EventType() string { return EventNodesAppeared }
func (NodesAppeared) EventKey() string  { return "topology" }

// NodesGone lists the nodes no live sensor reports any more.
type NodesGone struct {
	Nodes []string `json:"nodes"`
}

func (NodesGone) EventType() string { return EventNodesGone }
func (NodesGone) EventKey() string  { return "topology" }

// SensorOffline says a sensor stopped reporting for GoneAfter; its nodes
// are gone.
type SensorOffline struct {
	SensorID   string `json:"sensorId"`
	Hostname   string `json:"hostname,omitempty"`
	LastReport string `json:"lastReport"`
}

func (SensorOffline) EventType() string  { return EventSensorOffline }
func (e SensorOffline) EventKey() string { return "sensor:" + e.SensorID }

// planEvents lists the events of a planned batch. Call it before apply:
// appeared nodes are those the graph does not hold yet.
func (t *Topology) planEvents(pl *plan) []events.Typed {
	changed := map[string]struct{}{}
	add := func(id string) {
		if id != "" {
			changed[id] = struct{}{}
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
	var out []events.Typed
	if len(changed) > 0 {
		ids := make([]string, 0, len(changed))
		for id := range changed {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		out = append(out, NodesChanged{Nodes: ids})
	}
	var appeared []NodeRef
	t.g.mu.RLock()
	for id, n := range pl.upNodes {
		if _, ok := t.g.nodes[id]; !ok {
			appeared = append(appeared, NodeRef{ID: id, Kind: n.Kind, Label: n.Label})
		}
	}
	t.g.mu.RUnlock()
	if len(appeared) > 0 {
		slices.SortFunc(appeared, func(a, b NodeRef) int {
			if a.ID < b.ID {
				return -1
			}
			if a.ID > b.ID {
				return 1
			}
			return 0
		})
		out = append(out, NodesAppeared{Nodes: appeared})
	}
	if len(pl.goneNodes) > 0 {
		out = append(out, NodesGone{Nodes: slices.Sorted(slices.Values(pl.goneNodes))})
	}
	for _, sp := range pl.sensors {
		if sp.j.silent != "" {
			out = append(out, SensorOffline{SensorID: sp.s.ID, Hostname: sp.s.Hostname, LastReport: sp.s.LastReport.UTC().Format("2006-01-02T15:04:05Z")})
		}
	}
	return out
}
