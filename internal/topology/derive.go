package topology

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/report"
)

// resolver answers, across sensors, which host owns an address and which
// process listens on a host's port (the graph's indexes).
type resolver interface {
	hostByIP(ip netip.Addr) (hostID string, ok bool)
	listener(hostID string, port uint16) (processID string, ok bool)
}

// derived is one sensor's contribution to the graph.
type derived struct {
	nodes    map[string]*Node
	edges    map[edgeKey]*Edge
	sensorID string
	// reused maps a process node copied from the sensor's previous one
	// (reuse: its CPU, memory or listeners changed) to that node, whose
	// hash it keeps while its listeners are the same.
	reused map[*Node]*Node
	// clusterKey is the Kubernetes cluster the report names ("" none).
	clusterKey string
	// base, for a delta derived from the previous derivation (reuse), holds
	// the processes it left as they were: the graph's own nodes, which are
	// part of this derivation but not in nodes (the writer plans and
	// applies only what the delta changed). materialize puts them in.
	base *reuse
	// own are the process nodes derived here, by process key (with base).
	own map[string]*Node
}

// reuse lends derive the process nodes of the sensor's previous report,
// by process key, for a delta that changed neither containers nor pods
// nor the cluster: a process the delta does not name (changed) is the
// graph's node itself, shared, unless its CPU, memory or listening
// endpoints changed (then a copy of it), instead of derived again (ids,
// metadata, loaded files and hash). The nodes are the graph's: derive
// never changes them, and reads them under the graph's read lock.
type reuse struct {
	procs map[string]*Node
	// changed are the keys whose previous node is not shared: the ones
	// the delta names or removes, and those derive copied.
	changed map[string]struct{}
	// shared counts the processes derived as the graph's own node.
	shared int
	// fixed, when not empty, are the sensor's host and container nodes as
	// the graph holds them, for a delta that changes none of what they are
	// derived from (no host, containers, Kubernetes or sensor version):
	// derive shares them, as the processes, instead of deriving them again.
	fixed []*Node
	// drops is graph.drops when procs and fixed were recorded: while the
	// graph's count is the same, it holds each of them (sharedHeld).
	drops uint64
}

func (u *reuse) node(key string) *Node {
	if u == nil {
		return nil
	}
	if _, ok := u.changed[key]; ok {
		return nil
	}
	return u.procs[key]
}

// eachShared calls f with each shared process node.
func (u *reuse) eachShared(f func(*Node)) {
	if u == nil {
		return
	}
	for k, n := range u.procs {
		if _, ok := u.changed[k]; !ok {
			f(n)
		}
	}
}

// materialize puts the shared process nodes in d.nodes (as reused, the
// graph's own), making d a whole derivation.
func (d *derived) materialize() {
	u := d.base
	if u == nil {
		return
	}
	d.base = nil
	if d.reused == nil {
		d.reused = make(map[*Node]*Node, u.shared)
	}
	u.eachShared(func(n *Node) {
		d.nodes[n.ID] = n
		d.reused[n] = n
	})
}

// eachProcess calls f with each process node of the derivation, shared
// ones included.
func (d *derived) eachProcess(f func(*Node)) {
	for _, n := range d.nodes {
		if n.Kind == KindProcess {
			f(n)
		}
	}
	d.base.eachShared(f)
}

// reuseProcess copies prev, the node p derived to last time, for p now
// listening on listen (listenOf).
func reuseProcess(prev *Node, p *report.Process, listen []Endpoint) *Node {
	n := reuseNode(prev)
	n.Listen = listen
	n.CPUPercent, n.RSSBytes = p.CPUPercent, p.RSSBytes
	return n
}

// listenOf is what a process listens on: its own endpoints, then each of
// its LISTEN sockets (in the report's order) not already there. own, the
// report's array, is never appended to.
func listenOf(own, sockets []report.Endpoint) []Endpoint {
	out := slices.Clip(own)
	for _, e := range sockets {
		if !hasEndpoint(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// reuseNode copies a graph node as derive would make it again (without
// the graph's times and claims).
func reuseNode(prev *Node) *Node {
	n := new(Node)
	*n = *prev
	n.FirstSeen, n.LastSeen, n.GoneAt = time.Time{}, time.Time{}, time.Time{}
	n.claims = claimSet{}
	return n
}

// addrClass classifies an address seen on a connection.
type addrClass int

const (
	classInvalid addrClass = iota
	classLocal             // loopback, unspecified
	classPrivate           // RFC 1918, ULA, CGNAT, link-local
	classPublic
)

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func classify(a netip.Addr) addrClass {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return classInvalid
	case a.IsLoopback() || a.IsUnspecified():
		return classLocal
	case a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsMulticast() || cgnat.Contains(a):
		return classPrivate
	}
	return classPublic
}

func parseAddr(s string) netip.Addr {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func short(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// derive turns a sensor's full picture into nodes and connection edges.
// keys, when not nil, are the process keys of r.Processes, in order (the
// snapshot's). With u (a delta), the processes it did not change are the
// previous derivation's nodes, left out of d.nodes (see derived.base).
func derive(sensorID string, r *report.Report, keys []string, intern func(string) string, share func(*Node, []string), res resolver, u *reuse) *derived {
	procs := len(r.Processes)
	if u != nil {
		procs = len(u.changed) // most processes are shared (derived.base)
	}
	size := 2 + procs + len(r.Containers) + len(r.Images)
	if k := r.Kubernetes; k != nil {
		size += len(k.Pods) + len(k.Namespaces) + len(k.Services) + len(k.Nodes)
	}
	d := &derived{nodes: make(map[string]*Node, size), edges: make(map[edgeKey]*Edge, len(r.Connections)/2), sensorID: sensorID}
	hostID := HostNodeID(sensorID)
	ownIPs := map[netip.Addr]bool{}
	ctrByID := map[string]*Node{}
	publish := map[uint16]*Node{} // host port → container
	var host *Node
	if u != nil && len(u.fixed) > 0 {
		host = d.shareFixed(u.fixed, ownIPs, ctrByID, publish)
		deriveImages(d, r)
		for i := range r.Containers {
			containerImage(d, &r.Containers[i])
		}
	} else {
		host = deriveHost(d, sensorID, r, ownIPs)
		deriveKubernetes(d, r, host)
		deriveImages(d, r)
		deriveContainers(d, sensorID, r, host, ctrByID, publish)
	}

	// Processes: mine are those derived here; with u, a key not there and
	// not changed is the previous derivation's node (proc).
	var mine map[string]*Node
	if u != nil {
		mine = make(map[string]*Node, len(u.changed))
	} else {
		mine = make(map[string]*Node, len(r.Processes))
	}
	proc := func(key string) *Node {
		if n, ok := mine[key]; ok {
			return n
		}
		return u.node(key)
	}
	listening := map[string][]report.Endpoint{} // process key → its LISTEN sockets
	for i := range r.Connections {
		if c := &r.Connections[i]; c.Source == report.SourceProc && c.State == "LISTEN" {
			listening[c.ProcessKey] = append(listening[c.ProcessKey], c.Local)
		}
	}
	for i := range r.Processes {
		p := &r.Processes[i]
		if p.PID == 2 || p.PPID == 2 && p.Exe == "" {
			continue // kernel threads
		}
		var key string
		if keys != nil {
			key = keys[i]
		} else {
			key = p.Key()
		}
		listen := listenOf(p.Listen, listening[key])
		if prev := u.node(key); prev != nil {
			if prev.CPUPercent == p.CPUPercent && prev.RSSBytes == p.RSSBytes && slices.Equal(prev.Listen, listen) {
				u.shared++ // the same as last time: the graph's node itself, read-only
				continue
			}
			n := reuseProcess(prev, p, listen)
			if d.reused == nil {
				d.reused = make(map[*Node]*Node, 4)
			}
			d.reused[n] = prev
			u.changed[key] = struct{}{}
			mine[key] = n
			d.nodes[n.ID] = n
			continue
		}
		id := ProcessNodeID(sensorID, key)
		n := &Node{ID: id, Kind: KindProcess, Key: sensorID + "|" + key, Label: p.Name, SensorID: sensorID}
		n.Host, n.Parent, n.Cluster = hostID, hostID, host.Cluster
		n.PID, n.Exe = p.PID, intern(p.Exe)
		if len(p.Loaded) > 0 {
			share(n, p.Loaded)
		}
		n.Listen = listen
		n.CPUPercent, n.RSSBytes = p.CPUPercent, p.RSSBytes
		n.Meta = map[string]string{"ppid": strconv.Itoa(p.PPID), "uid": strconv.Itoa(p.UID)}
		if p.User != "" {
			n.Meta["user"] = p.User
		}
		if len(p.Cmdline) > 0 {
			cmd := strings.Join(p.Cmdline, " ")
			if len(cmd) > 1024 {
				cmd = cmd[:1024]
			}
			n.Meta["cmdline"] = cmd
		}
		if c := ctrByID[p.ContainerID]; p.ContainerID != "" && c != nil {
			n.Container, n.Parent, n.Pod, n.Image, n.Namespace = c.ID, c.ID, c.Pod, c.Image, c.Namespace
		} else if p.ContainerID != "" {
			n.Meta["containerId"] = p.ContainerID
		}
		mine[key] = n
		d.nodes[id] = n
	}
	if u != nil {
		// The picture must be the previous one with the delta's changes:
		// each previous process not changed was found as it was.
		want := len(u.procs)
		for k := range u.changed {
			if _, ok := u.procs[k]; ok {
				want--
			}
		}
		if u.shared != want {
			return derive(sensorID, r, keys, intern, share, res, nil)
		}
		d.base, d.own = u, mine
	}

	// Listeners of this host: (netns, port) and port alone.
	type nsPort struct {
		ns   uint64
		port uint16
	}
	listenNS := map[nsPort]*Node{}
	listenPort := map[uint16]*Node{}
	for i := range r.Connections {
		c := &r.Connections[i]
		if c.Source != report.SourceProc || c.State != "LISTEN" {
			continue
		}
		p := proc(c.ProcessKey)
		if p == nil {
			continue
		}
		listenNS[nsPort{c.NetNS, c.Local.Port}] = p
		if _, ok := listenPort[c.Local.Port]; !ok || p.Container == "" {
			listenPort[c.Local.Port] = p
		}
	}
	d.eachProcess(func(p *Node) {
		for _, ep := range p.Listen {
			if _, ok := listenPort[ep.Port]; !ok {
				listenPort[ep.Port] = p
			}
		}
	})
	localListener := func(ns uint64, port uint16) *Node {
		if p := listenNS[nsPort{ns, port}]; p != nil {
			return p
		}
		return listenPort[port]
	}
	addEdge := func(src, dst, remote string) {
		if src == dst {
			return
		}
		k := edgeKey{src, dst, EdgeConnection}
		e := d.edges[k]
		if e == nil {
			e = &Edge{Src: src, Dst: dst, Kind: EdgeConnection, SensorID: sensorID}
			d.edges[k] = e
		}
		e.Count++
		if remote != "" && len(e.Remote) < 8 && !contains(e.Remote, remote) {
			e.Remote = append(e.Remote, remote)
		}
	}
	own := func(ip netip.Addr) bool { return classify(ip) == classLocal || ownIPs[ip] }
	for i := range r.Connections {
		c := &r.Connections[i]
		rip, lip := parseAddr(c.Remote.Addr), parseAddr(c.Local.Addr)
		if c.Source == report.SourceConntrack {
			deriveFlow(d, c, hostID, lip, rip, own, publish, listenPort, addEdge)
			continue
		}
		if c.State == "LISTEN" || c.Remote.Port == 0 || !rip.IsValid() {
			continue
		}
		p := proc(c.ProcessKey)
		if p == nil {
			continue
		}
		server := localListener(c.NetNS, c.Local.Port) == p || hasPort(p.Listen, c.Local.Port)
		switch {
		case own(rip):
			if server {
				continue // the client side, on this host, makes the edge
			}
			if l := localListener(c.NetNS, c.Remote.Port); l != nil {
				addEdge(p.ID, l.ID, "")
			} else {
				addEdge(p.ID, hostID, "")
			}
		default:
			if h, ok := res.hostByIP(rip); ok {
				if server {
					continue // the other host's sensor makes the edge
				}
				if l, ok := res.listener(h, c.Remote.Port); ok {
					addEdge(p.ID, l, "")
				} else {
					addEdge(p.ID, h, "")
				}
				continue
			}
			pseudoIn, pseudoOut := InternetInbound, InternetOutbound
			if classify(rip) != classPublic {
				pseudoIn, pseudoOut = PrivateNetwork, PrivateNetwork
			}
			if server {
				addEdge(pseudoIn, p.ID, rip.String())
			} else {
				addEdge(p.ID, pseudoOut, rip.String()+":"+strconv.Itoa(int(c.Remote.Port))) // as "%s:%d" prints it
			}
		}
	}
	return d
}

// deriveHost makes the sensor's host node, and notes its own addresses.
func deriveHost(d *derived, sensorID string, r *report.Report, ownIPs map[netip.Addr]bool) *Node {
	hostID := HostNodeID(sensorID)
	host := &Node{ID: hostID, Kind: KindHost, Key: sensorID, Label: sensorID, SensorID: sensorID}
	host.Meta = map[string]string{}
	if h := r.Host; h != nil {

		if h.Hostname != "" {
			host.Label = h.Hostname
		}
		m := host.Meta
		set := func(k, v string) {
			if v != "" {
				m[k] = v
			}
		}
		set("hostname", h.Hostname)
		set("os", strings.TrimSpace(h.OS.Name))
		set("osId", h.OS.ID)
		set("osVersion", h.OS.VersionID)
		set("kernel", h.Kernel)
		set("arch", h.Arch)
		set("machineId", h.MachineID)
		if h.CPUs > 0 {
			m["cpus"] = strconv.Itoa(h.CPUs)
		}
		if h.MemoryBytes > 0 {
			m["memoryBytes"] = strconv.FormatUint(h.MemoryBytes, 10)
		}
		for _, ifc := range h.Interfaces {
			if bridgeInterface(ifc.Name) {
				continue // the same bridge addresses exist on many hosts
			}
			for _, a := range ifc.Addrs {
				if ip := parseAddr(a); ip.IsValid() && classify(ip) != classLocal {
					host.IPs = append(host.IPs, ip.String())
				}
			}
		}
		if c := h.Cloud; c != nil {
			set("cloudProvider", c.Provider)
			set("cloudInstanceId", c.InstanceID)
			set("cloudInstanceType", c.InstanceType)
			set("cloudRegion", c.Region)
			set("cloudZone", c.Zone)
			set("cloudAccount", c.Account)
			host.IPs = append(host.IPs, c.PrivateIPs...)
			host.IPs = append(host.IPs, c.PublicIPs...)
		}
	}
	set := map[string]bool{}
	ips := host.IPs[:0]
	for _, s := range host.IPs {
		ip := parseAddr(s)
		if !ip.IsValid() || set[ip.String()] {
			continue
		}
		set[ip.String()] = true
		ips = append(ips, ip.String())
		ownIPs[ip] = true
		if classify(ip) == classPublic {
			host.Public = true
		}
	}
	host.IPs = ips
	if r.SensorVersion != "" {
		host.Meta["sensorVersion"] = r.SensorVersion
	}
	d.nodes[hostID] = host
	return host
}

// deriveKubernetes makes the cluster, namespace, pod, service and node
// nodes of the report's Kubernetes picture, under the host.
func deriveKubernetes(d *derived, r *report.Report, host *Node) {
	hostID := host.ID
	if k := r.Kubernetes; k != nil {
		clusterKey := k.ClusterID
		if clusterKey == "" {
			clusterKey = k.ClusterName
		}
		if clusterKey == "" {
			clusterKey = "default"
		}
		d.clusterKey = clusterKey
		clusterID := nodeID(KindCluster, clusterKey)
		label := k.ClusterName
		if label == "" {
			label = "cluster " + short(clusterKey)
		}
		d.nodes[clusterID] = &Node{ID: clusterID, Kind: KindCluster, Key: clusterKey, Label: label}
		host.Cluster, host.Parent = clusterID, clusterID
		if k.NodeName != "" {
			host.Meta["kubernetesNode"] = k.NodeName
		}
		for _, ns := range k.Namespaces {
			nsNode(d, clusterKey, clusterID, ns.Name)
		}
		for i := range k.Pods {
			p := &k.Pods[i]
			nsID := nsNode(d, clusterKey, clusterID, p.Namespace)
			id := PodNodeID(p.UID)
			n := &Node{ID: id, Kind: KindPod, Key: p.UID, Label: p.Namespace + "/" + p.Name}
			n.Parent, n.Namespace, n.Cluster = nsID, nsID, clusterID
			n.Meta = map[string]string{"name": p.Name, "namespace": p.Namespace}
			for k, v := range map[string]string{"phase": p.Phase, "node": p.Node, "serviceAccount": p.ServiceAccount, "ownerKind": p.OwnerKind, "ownerName": p.OwnerName} {
				if v != "" {
					n.Meta[k] = v
				}
			}
			if p.PodIP != "" && !p.HostNetwork {
				n.IPs = []string{p.PodIP}
			}
			d.nodes[id] = n
		}
		deriveServices(d, k, clusterKey, clusterID)
		for i := range k.Nodes {
			kn := &k.Nodes[i]
			id := KubeNodeID(clusterKey, kn.Name)
			n := &Node{ID: id, Kind: KindKubeNode, Key: clusterKey + "/" + kn.Name, Label: kn.Name}
			n.Parent, n.Cluster = clusterID, clusterID
			n.Meta = map[string]string{"ready": strconv.FormatBool(kn.Ready)}
			for k, v := range map[string]string{"uid": kn.UID, "kubeletVersion": kn.KubeletVersion, "osImage": kn.OSImage, "providerId": kn.ProviderID,
				"internalIps": strings.Join(kn.InternalIPs, " "), "externalIps": strings.Join(kn.ExternalIPs, " "), "labels": joinLabels(kn.Labels)} {
				if v != "" {
					n.Meta[k] = v
				}
			}
			n.IPs = validIPs(append(slices.Clone(kn.InternalIPs), kn.ExternalIPs...))
			for _, a := range n.IPs {
				if classify(parseAddr(a)) == classPublic {
					n.Public = true
				}
			}
			if kn.Name == k.NodeName {
				// This sensor runs on it.
				n.Host = hostID
				host.Meta["kubernetesNodeId"] = id
			}
			d.nodes[id] = n
		}
	}
}

// deriveImages makes the report's image nodes.
func deriveImages(d *derived, r *report.Report) {
	for i := range r.Images {
		img := &r.Images[i]
		id := ImageNodeID(img.ID)
		label := short(img.ID)
		if len(img.RepoTags) > 0 {
			label = img.RepoTags[0]
		}
		n := &Node{ID: id, Kind: KindImage, Key: img.ID, Label: label}
		n.Meta = map[string]string{"runtime": img.Runtime}
		if len(img.RepoTags) > 0 {
			n.Meta["repoTags"] = strings.Join(img.RepoTags, " ")
		}
		if len(img.RepoDigests) > 0 {
			n.Meta["repoDigests"] = strings.Join(img.RepoDigests, " ")
		}
		if img.SizeBytes > 0 {
			n.Meta["sizeBytes"] = strconv.FormatInt(img.SizeBytes, 10)
		}
		d.nodes[id] = n
	}
}

// deriveContainers makes the report's container nodes (and the image
// and pod nodes they name that the report does not), noting them by
// container id and by the host ports they publish.
func deriveContainers(d *derived, sensorID string, r *report.Report, host *Node, ctrByID map[string]*Node, publish map[uint16]*Node) {
	hostID := host.ID
	for i := range r.Containers {
		c := &r.Containers[i]
		id := ContainerNodeID(sensorID, c.Runtime, c.Namespace, c.ID)
		label := strings.TrimPrefix(c.Name, "/")
		if label == "" {
			label = short(c.ID)
		}
		n := &Node{ID: id, Kind: KindContainer, Key: sensorID + "|" + c.Key(), Label: label, SensorID: sensorID}
		n.Host, n.Parent, n.Cluster = hostID, hostID, host.Cluster
		n.Meta = map[string]string{"runtime": c.Runtime, "containerId": c.ID}
		n.ScanRef = c.ID
		for k, v := range map[string]string{"state": c.State, "image": c.Image, "imageId": c.ImageID, "networkMode": c.NetworkMode, "runtimeNamespace": c.Namespace} {
			if v != "" {
				n.Meta[k] = v
			}
		}
		n.Ports = c.Ports
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				publish[p.HostPort] = n
			}
		}
		n.Image = containerImage(d, c)
		if c.Pod != nil {
			uid := c.Pod.UID
			if uid == "" {
				uid = c.Pod.Namespace + "/" + c.Pod.Name
			}
			podID := PodNodeID(uid)
			pod, ok := d.nodes[podID]
			if !ok {
				ck := d.clusterKey
				if ck == "" {
					ck = "default"
				}
				clusterID := nodeID(KindCluster, ck)
				if _, ok := d.nodes[clusterID]; !ok {
					d.nodes[clusterID] = &Node{ID: clusterID, Kind: KindCluster, Key: ck, Label: "cluster " + short(ck)}
				}
				nsID := nsNode(d, ck, clusterID, c.Pod.Namespace)
				pod = &Node{ID: podID, Kind: KindPod, Key: uid, Label: c.Pod.Namespace + "/" + c.Pod.Name}
				pod.Parent, pod.Namespace, pod.Cluster = nsID, nsID, clusterID
				pod.Meta = map[string]string{"name": c.Pod.Name, "namespace": c.Pod.Namespace}
				d.nodes[podID] = pod
			}
			n.Pod, n.Parent, n.Namespace, n.Cluster = podID, podID, pod.Namespace, pod.Cluster
			if pod.Host == "" {
				pod.Host = hostID
			}
			if c.Pod.Container != "" {
				n.Meta["podContainer"] = c.Pod.Container
			}
		}
		ctrByID[c.ID] = n
		d.nodes[id] = n
	}
}

// containerImage is the id of a container's image node ("" none), made
// from its name when the report has no such image.
func containerImage(d *derived, c *report.Container) string {
	imgKey := c.ImageID
	if imgKey == "" && c.Image != "" {
		imgKey = "name:" + c.Image
	}
	if imgKey == "" {
		return ""
	}
	id := ImageNodeID(imgKey)
	if _, ok := d.nodes[id]; !ok {
		label := c.Image
		if label == "" {
			label = short(imgKey)
		}
		d.nodes[id] = &Node{ID: id, Kind: KindImage, Key: imgKey, Label: label}
	}
	return id
}

// shareFixed puts the sensor's host and container nodes of its previous
// derivation in d as the graph's own (reused), noting what deriveHost and
// deriveContainers note; it returns the host node.
func (d *derived) shareFixed(fixed []*Node, ownIPs map[netip.Addr]bool, ctrByID map[string]*Node, publish map[uint16]*Node) *Node {
	var host *Node
	if d.reused == nil {
		d.reused = make(map[*Node]*Node, len(fixed)+4)
	}
	for _, n := range fixed {
		d.nodes[n.ID] = n
		d.reused[n] = n
		switch n.Kind {
		case KindHost:
			host = n
			for _, a := range n.IPs {
				ownIPs[parseAddr(a)] = true
			}
		case KindContainer:
			ctrByID[n.ScanRef] = n
			for _, p := range n.Ports {
				if p.HostPort != 0 {
					publish[p.HostPort] = n
				}
			}
		}
	}
	return host
}

// deriveServices makes a node for each Kubernetes service (under its
// namespace) and a "selects" edge to each pod of this report its selector
// picks (the sensor reports the pods of its own node, so each sensor links
// the service to its own pods).
func deriveServices(d *derived, k *report.Kubernetes, clusterKey, clusterID string) {
	for i := range k.Services {
		sv := &k.Services[i]
		nsID := nsNode(d, clusterKey, clusterID, sv.Namespace)
		id := ServiceNodeID(clusterKey, sv.Namespace, sv.Name)
		n := &Node{ID: id, Kind: KindService, Key: clusterKey + "/" + sv.Namespace + "/" + sv.Name, Label: sv.Namespace + "/" + sv.Name}
		n.Parent, n.Namespace, n.Cluster = nsID, nsID, clusterID
		n.Meta = map[string]string{"name": sv.Name, "namespace": sv.Namespace}
		var ports []string
		for _, p := range sv.Ports {
			s := strconv.Itoa(int(p.Port)) + "/" + p.Proto
			if p.TargetPort != "" {
				s += "→" + p.TargetPort
			}
			if p.NodePort != 0 {
				s += " nodePort " + strconv.Itoa(int(p.NodePort))
			}
			ports = append(ports, s)
			// The target port, for exposure: a number (the service port
			// when none is given), 0 for a port named in the pod.
			target := p.Port
			if p.TargetPort != "" {
				v, err := strconv.ParseUint(p.TargetPort, 10, 16)
				if err != nil {
					v = 0
				}
				target = int32(v)
			}
			if p.Port > 0 && p.Port <= 65535 && target >= 0 {
				n.Ports = append(n.Ports, report.Port{HostPort: uint16(p.Port), ContainerPort: uint16(target), Proto: strings.ToLower(p.Proto)})
			}
		}
		for k, v := range map[string]string{"uid": sv.UID, "type": sv.Type, "clusterIps": strings.Join(sv.ClusterIPs, " "),
			"externalIps": strings.Join(sv.ExternalIPs, " "), "loadBalancer": strings.Join(sv.LoadBalancer, " "),
			"ports": strings.Join(ports, ", "), "selector": joinLabels(sv.Selector)} {
			if v != "" {
				n.Meta[k] = v
			}
		}
		n.IPs = validIPs(append(append(slices.Clone(sv.ClusterIPs), sv.ExternalIPs...), sv.LoadBalancer...))
		for _, a := range n.IPs {
			if classify(parseAddr(a)) == classPublic {
				n.Public = true
			}
		}
		d.nodes[id] = n
		if len(sv.Selector) == 0 {
			continue // endpoints managed by hand: no pods to name
		}
		for j := range k.Pods {
			p := &k.Pods[j]
			if p.Namespace != sv.Namespace || !selects(sv.Selector, p.Labels) {
				continue
			}
			e := &Edge{Src: id, Dst: PodNodeID(p.UID), Kind: EdgeSelects, SensorID: d.sensorID, Count: 1}
			d.edges[e.key()] = e
		}
	}
}

// selects reports whether every selector label is on the pod.
func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if lv, ok := labels[k]; !ok || lv != v {
			return false
		}
	}
	return true
}

// joinLabels renders labels as sorted k=v pairs.
func joinLabels(m map[string]string) string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// validIPs keeps the strings that are IP addresses, once each (load
// balancers may be host names).
func validIPs(in []string) []string {
	var out []string
	for _, s := range in {
		if a := parseAddr(s); a.IsValid() && !slices.Contains(out, a.String()) {
			out = append(out, a.String())
		}
	}
	return out
}

// deriveFlow handles a conntrack flow: Local is the original source, Remote
// the original destination and Translated, after DNAT, the endpoint that
// answered. Flows from outside the estate to this host (directly, or
// through a published container port) make internet→listener edges;
// flows from this host (or its NAT-ed containers) to public addresses make
// host→internet edges. Flows between known addresses are left to the
// process sockets, which name both processes.
func deriveFlow(d *derived, c *report.Connection, hostID string, src, dst netip.Addr, own func(netip.Addr) bool,
	publish map[uint16]*Node, listenPort map[uint16]*Node, addEdge func(src, dst, remote string)) {
	if !src.IsValid() || !dst.IsValid() {
		return
	}
	srcClass := classify(src)
	if !own(src) && srcClass == classPublic && own(dst) {
		target := hostID
		port := c.Remote.Port
		if ctr := publish[port]; ctr != nil && c.Translated != nil {
			target = ctr.ID
			port = c.Translated.Port
			// The container's listener, when the sensor saw it (shared
			// processes included: a delta's are not in d.nodes).
			var l *Node
			d.eachProcess(func(n *Node) {
				if n.Container == ctr.ID && hasPort(n.Listen, port) && (l == nil || n.ID < l.ID) {
					l = n
				}
			})
			if l != nil {
				target = l.ID
			}
		} else if l := listenPort[port]; l != nil {
			target = l.ID
		}
		addEdge(InternetInbound, target, src.String())
		return
	}
	if (own(src) || srcClass == classPrivate) && classify(dst) == classPublic && !own(dst) {
		if c.Translated != nil || own(src) {
			addEdge(hostID, InternetOutbound, fmt.Sprintf("%s:%d", dst, c.Remote.Port))
		}
	}
}

func nsNode(d *derived, clusterKey, clusterID, name string) string {
	id := nodeID(KindNamespace, clusterKey+"/"+name)
	if _, ok := d.nodes[id]; !ok {
		n := &Node{ID: id, Kind: KindNamespace, Key: clusterKey + "/" + name, Label: name}
		n.Parent, n.Cluster, n.Namespace = clusterID, clusterID, id
		d.nodes[id] = n
	}
	return id
}

func hasEndpoint(eps []Endpoint, e Endpoint) bool {
	for _, x := range eps {
		if x == e {
			return true
		}
	}
	return false
}

func hasPort(eps []Endpoint, port uint16) bool {
	for _, x := range eps {
		if x.Port == port {
			return true
		}
	}
	return false
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// bridgeInterface tells container and VM bridges, whose addresses
// (172.17.0.1 on every Docker host) identify no host.
func bridgeInterface(name string) bool {
	for _, p := range []string{"docker", "br-", "veth", "cni", "flannel", "cali", "virbr", "vxlan", "tunl", "kube-"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
