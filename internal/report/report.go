// Package report owns the sensor's topology report: the versioned JSON
// document (gzip on the wire) a sensor pushes to the console, the delta
// tracker that sends only what changed between periodic full reports, the
// size bound, the strict decoder the console uses, and Snapshot, which
// applies full and delta reports to rebuild what a sensor currently sees.
// The format is documented in docs/report-format.md; its JSON Schema is
// schema/report-v1.json.
package report

import "time"

// Version is the report format version. The console accepts reports whose
// major version equals its own; minor versions only add optional fields.
const Version = "1.0"

// MajorVersion is the part of Version that must match for a report to be
// accepted.
const MajorVersion = "1"

// Kind tells a full report from a delta.
type Kind string

// Report kinds.
const (
	// KindFull lists everything the sensor sees; it replaces the console's
	// previous picture of this sensor.
	KindFull Kind = "full"
	// KindDelta lists only items that are new or changed since the report
	// numbered BaseSeq, plus the keys of removed items.
	KindDelta Kind = "delta"
)

// Report is one push from a sensor.
type Report struct {
	Version string `json:"version"`
	// SensorID identifies the sensor across restarts (machine id based).
	SensorID string `json:"sensorId"`
	// RunID is random per sensor start: a new RunID resets the sequence.
	RunID         string `json:"runId"`
	SensorVersion string `json:"sensorVersion,omitempty"`
	// Seq numbers reports within a run, from 1.
	Seq  uint64 `json:"seq"`
	Kind Kind   `json:"kind"`
	// BaseSeq is, for a delta, the Seq of the report it applies to.
	BaseSeq uint64    `json:"baseSeq,omitempty"`
	Time    time.Time `json:"time"`
	// IntervalSeconds is the interval the sensor is reporting at.
	IntervalSeconds int `json:"intervalSeconds,omitempty"`

	// Host is omitted from a delta when unchanged.
	Host        *Host        `json:"host,omitempty"`
	Processes   []Process    `json:"processes,omitempty"`
	Connections []Connection `json:"connections,omitempty"`
	Containers  []Container  `json:"containers,omitempty"`
	Images      []Image      `json:"images,omitempty"`
	Kubernetes  *Kubernetes  `json:"kubernetes,omitempty"`

	// Removed lists, in a delta, the keys of items gone since BaseSeq.
	Removed *Removed `json:"removed,omitempty"`
	// Probes reports each probe's health for this pass.
	Probes []ProbeStatus `json:"probes,omitempty"`
	// Truncated counts items left out to keep the report under its size
	// bound, per collection ("connections": 1200). They are sent later.
	Truncated map[string]int `json:"truncated,omitempty"`
}

// Host describes the machine the sensor runs on.
type Host struct {
	Hostname  string `json:"hostname"`
	MachineID string `json:"machineId,omitempty"`
	OS        OS     `json:"os"`
	Kernel    string `json:"kernel,omitempty"`
	Arch      string `json:"arch,omitempty"`
	CPUs      int    `json:"cpus,omitempty"`
	// MemoryBytes is MemTotal.
	MemoryBytes uint64      `json:"memoryBytes,omitempty"`
	BootTime    time.Time   `json:"bootTime,omitzero"`
	Interfaces  []Interface `json:"interfaces,omitempty"`
	Cloud       *Cloud      `json:"cloud,omitempty"`
}

// OS is the operating system release, from os-release.
type OS struct {
	ID        string `json:"id,omitempty"`
	VersionID string `json:"versionId,omitempty"`
	Name      string `json:"name,omitempty"`
}

// Interface is a network interface with its addresses in CIDR form.
type Interface struct {
	Name  string   `json:"name"`
	MAC   string   `json:"mac,omitempty"`
	Up    bool     `json:"up"`
	Addrs []string `json:"addrs,omitempty"`
}

// Cloud is the instance metadata of a cloud virtual machine.
type Cloud struct {
	Provider     string   `json:"provider"` // aws, gcp, azure
	InstanceID   string   `json:"instanceId,omitempty"`
	InstanceType string   `json:"instanceType,omitempty"`
	Region       string   `json:"region,omitempty"`
	Zone         string   `json:"zone,omitempty"`
	Account      string   `json:"account,omitempty"` // AWS account, GCP project, Azure subscription
	Hostname     string   `json:"hostname,omitempty"`
	PrivateIPs   []string `json:"privateIps,omitempty"`
	PublicIPs    []string `json:"publicIps,omitempty"`
}

// Process is one running process.
type Process struct {
	PID  int `json:"pid"`
	PPID int `json:"ppid"`
	// StartTicks is the start time in clock ticks after boot; with PID it
	// identifies the process across PID reuse.
	StartTicks uint64   `json:"startTicks"`
	Name       string   `json:"name"`
	Cmdline    []string `json:"cmdline,omitempty"`
	Exe        string   `json:"exe,omitempty"`
	UID        int      `json:"uid"`
	User       string   `json:"user,omitempty"`
	// ContainerID is the full id found in the process's cgroup.
	ContainerID string `json:"containerId,omitempty"`
	// NetNS is the inode of the process's network namespace.
	NetNS uint64 `json:"netns,omitempty"`
	// CPUPercent is the share of one core used since the previous pass,
	// rounded to 0.1.
	CPUPercent float64 `json:"cpuPercent"`
	RSSBytes   uint64  `json:"rssBytes"`
	// Listen lists the TCP endpoints the process listens on.
	Listen []Endpoint `json:"listen,omitempty"`
	// Loaded lists the executables and shared libraries mapped into the
	// process (from /proc/PID/maps, paths as the process sees them, sorted,
	// at most MaxLoaded). A " (deleted)" suffix marks a replaced file.
	Loaded []string `json:"loaded,omitempty"`
}

// MaxLoaded bounds Process.Loaded.
const MaxLoaded = 512

// Key identifies a process in deltas: "pid:startTicks".
func (p *Process) Key() string { return itoa(p.PID) + ":" + utoa(p.StartTicks) }

// Endpoint is an address and port.
type Endpoint struct {
	Addr string `json:"addr"`
	Port uint16 `json:"port"`
}

// Connection is a TCP socket (listening or connected) or a conntrack flow.
type Connection struct {
	// Source is "proc" (a socket of a process) or "conntrack" (a flow the
	// kernel tracks, including NAT-ed and short-lived ones).
	Source string `json:"source"`
	Proto  string `json:"proto"` // tcp, udp
	// State is LISTEN, ESTABLISHED, SYN_SENT, ... for sockets; the
	// conntrack TCP state for flows.
	State  string   `json:"state"`
	Local  Endpoint `json:"local"`
	Remote Endpoint `json:"remote"`
	// Translated is, for a NAT-ed conntrack flow, the endpoint that
	// actually answered (the reply's source).
	Translated *Endpoint `json:"translated,omitempty"`
	NetNS      uint64    `json:"netns,omitempty"`
	Inode      uint64    `json:"inode,omitempty"`
	PID        int       `json:"pid,omitempty"`
	// ProcessKey is the owning process's Key, when known.
	ProcessKey string `json:"processKey,omitempty"`
}

// Key identifies a connection in deltas.
func (c *Connection) Key() string {
	return c.Source + "|" + c.Proto + "|" + utoa(c.NetNS) + "|" + c.Local.Addr + "|" + itoa(int(c.Local.Port)) + "|" + c.Remote.Addr + "|" + itoa(int(c.Remote.Port)) + "|" + utoa(c.Inode)
}

// Container is a container known to a runtime on this host.
type Container struct {
	ID string `json:"id"`
	// Runtime is docker or containerd; Namespace the containerd namespace.
	Runtime     string            `json:"runtime"`
	Namespace   string            `json:"namespace,omitempty"`
	Name        string            `json:"name,omitempty"`
	Image       string            `json:"image,omitempty"`
	ImageID     string            `json:"imageId,omitempty"`
	State       string            `json:"state,omitempty"` // running, exited, paused, created
	Labels      map[string]string `json:"labels,omitempty"`
	Ports       []Port            `json:"ports,omitempty"`
	NetworkMode string            `json:"networkMode,omitempty"`
	PID         int               `json:"pid,omitempty"`
	Mounts      []Mount           `json:"mounts,omitempty"`
	Created     time.Time         `json:"created,omitzero"`
	// Pod joins the container to its Kubernetes pod (from the API or from
	// the io.kubernetes.* labels).
	Pod *PodRef `json:"pod,omitempty"`
}

// PodRef names the pod a container belongs to.
type PodRef struct {
	UID       string `json:"uid,omitempty"`
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Container string `json:"container,omitempty"`
}

// Port is a published container port.
type Port struct {
	HostIP        string `json:"hostIp,omitempty"`
	HostPort      uint16 `json:"hostPort,omitempty"`
	ContainerPort uint16 `json:"containerPort"`
	Proto         string `json:"proto"`
}

// Mount is a container mount.
type Mount struct {
	Type        string `json:"type,omitempty"`
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination"`
	RW          bool   `json:"rw"`
}

// Image is a container image stored on this host.
type Image struct {
	ID          string    `json:"id"`
	Runtime     string    `json:"runtime"`
	Namespace   string    `json:"namespace,omitempty"`
	RepoTags    []string  `json:"repoTags,omitempty"`
	RepoDigests []string  `json:"repoDigests,omitempty"`
	SizeBytes   int64     `json:"sizeBytes,omitempty"`
	Created     time.Time `json:"created,omitzero"`
}

// Key identifies an image in deltas.
func (i *Image) Key() string { return i.Runtime + "|" + i.Namespace + "|" + i.ID }

// Key identifies a container in deltas.
func (c *Container) Key() string { return c.Runtime + "|" + c.Namespace + "|" + c.ID }

// Kubernetes is what the sensor sees of its cluster.
type Kubernetes struct {
	// ClusterID is the UID of the kube-system namespace; ClusterName is
	// configured (the API has no cluster name).
	ClusterID   string      `json:"clusterId,omitempty"`
	ClusterName string      `json:"clusterName,omitempty"`
	NodeName    string      `json:"nodeName,omitempty"`
	Pods        []Pod       `json:"pods,omitempty"`
	Namespaces  []Namespace `json:"namespaces,omitempty"`
	Services    []Service   `json:"services,omitempty"`
	Nodes       []Node      `json:"nodes,omitempty"`
}

// Pod is a Kubernetes pod.
type Pod struct {
	UID            string            `json:"uid"`
	Name           string            `json:"name"`
	Namespace      string            `json:"namespace"`
	Node           string            `json:"node,omitempty"`
	Phase          string            `json:"phase,omitempty"`
	PodIP          string            `json:"podIp,omitempty"`
	HostNetwork    bool              `json:"hostNetwork,omitempty"`
	ServiceAccount string            `json:"serviceAccount,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	OwnerKind      string            `json:"ownerKind,omitempty"`
	OwnerName      string            `json:"ownerName,omitempty"`
	Containers     []PodContainer    `json:"containers,omitempty"`
}

// PodContainer is a container of a pod, with its runtime id when started.
type PodContainer struct {
	Name  string `json:"name"`
	Image string `json:"image,omitempty"`
	// ContainerID is the runtime's id without the "containerd://" prefix;
	// Runtime is that prefix.
	ContainerID string `json:"containerId,omitempty"`
	Runtime     string `json:"runtime,omitempty"`
	Ready       bool   `json:"ready"`
}

// Namespace is a Kubernetes namespace.
type Namespace struct {
	Name   string            `json:"name"`
	UID    string            `json:"uid,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Service is a Kubernetes service.
type Service struct {
	UID         string   `json:"uid,omitempty"`
	Name        string   `json:"name"`
	Namespace   string   `json:"namespace"`
	Type        string   `json:"type,omitempty"`
	ClusterIPs  []string `json:"clusterIps,omitempty"`
	ExternalIPs []string `json:"externalIps,omitempty"`
	// LoadBalancer lists the load balancer ingress IPs or host names.
	LoadBalancer []string          `json:"loadBalancer,omitempty"`
	Ports        []ServicePort     `json:"ports,omitempty"`
	Selector     map[string]string `json:"selector,omitempty"`
}

// ServicePort is a port of a service.
type ServicePort struct {
	Name       string `json:"name,omitempty"`
	Proto      string `json:"proto"`
	Port       int32  `json:"port"`
	TargetPort string `json:"targetPort,omitempty"`
	NodePort   int32  `json:"nodePort,omitempty"`
}

// Node is a Kubernetes node.
type Node struct {
	Name           string            `json:"name"`
	UID            string            `json:"uid,omitempty"`
	Ready          bool              `json:"ready"`
	InternalIPs    []string          `json:"internalIps,omitempty"`
	ExternalIPs    []string          `json:"externalIps,omitempty"`
	KubeletVersion string            `json:"kubeletVersion,omitempty"`
	OSImage        string            `json:"osImage,omitempty"`
	ProviderID     string            `json:"providerId,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
}

// Removed lists the keys of items that disappeared since a delta's base.
type Removed struct {
	Processes   []string `json:"processes,omitempty"`
	Connections []string `json:"connections,omitempty"`
	Containers  []string `json:"containers,omitempty"`
	Images      []string `json:"images,omitempty"`
	Pods        []string `json:"pods,omitempty"`
	Namespaces  []string `json:"namespaces,omitempty"`
	Services    []string `json:"services,omitempty"`
	Nodes       []string `json:"nodes,omitempty"`
}

func (r *Removed) empty() bool {
	return r == nil || len(r.Processes)+len(r.Connections)+len(r.Containers)+len(r.Images)+
		len(r.Pods)+len(r.Namespaces)+len(r.Services)+len(r.Nodes) == 0
}

// ProbeStatus is one probe's outcome in a pass: a probe that fails leaves
// its collection as it was and says why here.
type ProbeStatus struct {
	Name       string `json:"name"`
	Items      int    `json:"items"`
	DurationMS int64  `json:"durationMs"`
	Error      string `json:"error,omitempty"`
}

// Key of a pod: its UID.
func (p *Pod) Key() string { return p.UID }

// Key of a namespace: its name.
func (n *Namespace) Key() string { return n.Name }

// Key of a service: namespace/name.
func (s *Service) Key() string { return s.Namespace + "/" + s.Name }

// Key of a node: its name.
func (n *Node) Key() string { return n.Name }

// Kubernetes labels that container runtimes (containerd's CRI plugin,
// cri-dockerd, CRI-O) put on the containers of a pod.
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
)

// PodRefFromLabels joins a container to its pod from its io.kubernetes.*
// labels; nil when they are absent.
func PodRefFromLabels(labels map[string]string) *PodRef {
	name, ns := labels[LabelPodName], labels[LabelPodNamespace]
	if name == "" || ns == "" {
		return nil
	}
	return &PodRef{UID: labels[LabelPodUID], Name: name, Namespace: ns, Container: labels[LabelContainerName]}
}
