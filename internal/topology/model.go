package topology

import (
	"crypto/sha256"
	"encoding/hex"
	"iter"
	"time"

	"github.com/riskmap/riskmap/internal/report"
)

// Node kinds.
const (
	KindHost      = "host"
	KindProcess   = "process"
	KindContainer = "container"
	KindImage     = "image"
	KindPod       = "pod"
	KindNamespace = "namespace"
	KindCluster   = "cluster"
	// KindService is a Kubernetes service; KindKubeNode a Kubernetes node
	// (the host of the sensor running on it links to it).
	KindService  = "service"
	KindKubeNode = "kubenode"
	// KindInternet is a pseudo-node standing for addresses outside the
	// estate: InternetInbound (connections from it) and InternetOutbound
	// (connections to it).
	KindInternet = "internet"
	// KindPrivate is the pseudo-node for private (RFC 1918, ULA, CGNAT)
	// addresses that belong to no known node.
	KindPrivate = "private"
	// KindGroup is an aggregate of nodes in a graph answer.
	KindGroup = "group"
)

// EdgeConnection is the kind of a network connection edge (client → server;
// internet-inbound → server; client → internet-outbound).
const EdgeConnection = "connection"

// EdgeSelects links a Kubernetes service to each pod its selector picks.
// It is not a connection: exposure never follows it.
const EdgeSelects = "selects"

// Ids of the pseudo-nodes.
var (
	InternetInbound  = nodeID(KindInternet, "inbound")
	InternetOutbound = nodeID(KindInternet, "outbound")
	PrivateNetwork   = nodeID(KindPrivate, "unmonitored")
)

// nodeID is the stable id of a node: a kind prefix and 80 bits of the
// SHA-256 of kind and key, safe in URL paths.
func nodeID(kind, key string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + key))
	return kind + "-" + hex.EncodeToString(sum[:10])
}

// claimSet is the sensors reporting a node. Nearly every node has one (a
// process, a container, a host), kept as that sensor's id; a map is made
// only for a node several report (an image, a cluster, the internet). A
// map per node was 190 bytes of each of a console's ~60 nodes per sensor.
// The zero value is empty.
type claimSet struct {
	one  string
	many map[string]struct{}
}

func (c *claimSet) add(id string) {
	switch {
	case c.many != nil:
		c.many[id] = struct{}{}
	case c.one == "" || c.one == id:
		c.one = id
	default:
		c.many = map[string]struct{}{c.one: {}, id: {}}
		c.one = ""
	}
}

func (c *claimSet) del(id string) {
	if c.many == nil {
		if c.one == id {
			c.one = ""
		}
		return
	}
	delete(c.many, id)
	if len(c.many) == 1 {
		for k := range c.many {
			c.one = k
		}
		c.many = nil
	}
}

func (c *claimSet) has(id string) bool {
	if c.many != nil {
		_, ok := c.many[id]
		return ok
	}
	return c.one != "" && c.one == id
}

func (c *claimSet) len() int {
	if c.many != nil {
		return len(c.many)
	}
	if c.one != "" {
		return 1
	}
	return 0
}

// all yields the sensors' ids (in no order).
func (c *claimSet) all() iter.Seq[string] {
	return func(yield func(string) bool) {
		if c.many == nil {
			if c.one != "" {
				yield(c.one)
			}
			return
		}
		for k := range c.many {
			if !yield(k) {
				return
			}
		}
	}
}

// isProcessID reports whether id is a process node's.
func isProcessID(id string) bool {
	return len(id) > len(KindProcess) && id[len(KindProcess)] == '-' && id[:len(KindProcess)] == KindProcess
}

// HostNodeID is the node id of the host a sensor runs on.
func HostNodeID(sensorID string) string { return nodeID(KindHost, sensorID) }

// ContainerNodeID is the node id of a container reported by a sensor.
func ContainerNodeID(sensorID, runtime, namespace, containerID string) string {
	c := report.Container{Runtime: runtime, Namespace: namespace, ID: containerID}
	return nodeID(KindContainer, sensorID+"|"+c.Key())
}

// ImageNodeID is the node id of an image by its id (digest), shared by every
// host holding it.
func ImageNodeID(imageID string) string { return nodeID(KindImage, imageID) }

// ProcessNodeID is the node id of a process ("pid:startTicks" key).
func ProcessNodeID(sensorID, processKey string) string {
	return nodeID(KindProcess, sensorID+"|"+processKey)
}

// PodNodeID is the node id of a pod by UID.
func PodNodeID(uid string) string { return nodeID(KindPod, uid) }

// ServiceNodeID is the node id of a Kubernetes service (by cluster,
// namespace and name: every sensor of the cluster reports it).
func ServiceNodeID(clusterKey, namespace, name string) string {
	return nodeID(KindService, clusterKey+"/"+namespace+"/"+name)
}

// KubeNodeID is the node id of a Kubernetes node.
func KubeNodeID(clusterKey, name string) string { return nodeID(KindKubeNode, clusterKey+"/"+name) }

// Endpoint is an address and port.
type Endpoint = report.Endpoint

// nodeData is what is persisted (as JSON, the nodes.attrs column) beyond
// kind, key and label: enough to rebuild the in-memory graph.
type nodeData struct {
	Parent    string `json:"parent,omitempty"`
	Host      string `json:"host,omitempty"`
	Container string `json:"container,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Image     string `json:"image,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Cluster   string `json:"cluster,omitempty"`

	PID    int      `json:"pid,omitempty"`
	Exe    string   `json:"exe,omitempty"`
	Loaded []string `json:"-"`
	// LoadedSet names Loaded in topology_loaded_sets (stored once per
	// distinct set).
	LoadedSet string     `json:"loadedSet,omitempty"`
	Listen    []Endpoint `json:"listen,omitempty"`
	// IPs are the node's addresses (host interfaces and cloud addresses,
	// pod IP); Public tells whether one of them is a public address.
	IPs    []string `json:"ips,omitempty"`
	Public bool     `json:"public,omitempty"`
	// Ports are a container's published ports, or a Kubernetes service's
	// ports (HostPort the service's port, ContainerPort its numeric target
	// port, 0 for a port named in the pod).
	Ports []report.Port `json:"ports,omitempty"`
	// Meta is display metadata (OS, runtime, state, command line...).
	Meta map[string]string `json:"meta,omitempty"`
	// ScanRef is what a sensor scans for the node when it differs from the
	// node key: a container's runtime id (internal/scans reads it).
	ScanRef string `json:"scanRef,omitempty"`
}

// Node is a node of the in-memory graph.
type Node struct {
	ID       string
	Kind     string
	Key      string
	Label    string
	SensorID string // owning sensor; "" for shared nodes (images, pods...) and pseudo-nodes
	nodeData
	FirstSeen time.Time
	LastSeen  time.Time
	GoneAt    time.Time // zero while some live sensor reports it

	// Volatile, in memory only.
	CPUPercent float64
	RSSBytes   uint64

	hash   uint64   // of the persisted form
	claims claimSet // sensors reporting the node
	// dropped is set when the graph no longer holds this node (another
	// replaced it, or it was deleted); the writer alone reads and sets it.
	dropped bool
}

// Gone reports whether no live sensor reports the node.
func (n *Node) Gone() bool { return !n.GoneAt.IsZero() }

type edgeKey struct{ Src, Dst, Kind string }

// Edge is a connection between two nodes, aggregated over the sockets and
// flows seen between them.
type Edge struct {
	Src, Dst, Kind string
	SensorID       string
	Count          int // sockets/flows currently seen
	FirstSeen      time.Time
	LastSeen       time.Time
	GoneAt         time.Time
	// Remote holds a few remote addresses (internet and private edges).
	Remote []string
	claims map[string]int // sensor → count
}

func (e *Edge) key() edgeKey { return edgeKey{e.Src, e.Dst, e.Kind} }
