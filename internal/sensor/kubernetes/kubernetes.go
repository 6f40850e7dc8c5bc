// Package kubernetes is the sensor's Kubernetes probe: pods (with their
// containers' runtime ids, so the sensor joins them to the containers the
// runtimes report), namespaces, services and nodes, watched through the
// API server with the pod's service account (in cluster) or a kubeconfig.
// It keeps informer caches (watches, not periodic lists) so a pass reads
// memory only; pods and nodes are restricted to this node when its name is
// known, so a DaemonSet of sensors does not make every sensor watch every
// pod of the cluster.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/riskmap/riskmap/internal/report"
)

// Name is the probe's name in reports.
const Name = "kubernetes"

// Config configures the probe.
type Config struct {
	// Kubeconfig is a kubeconfig file; empty means in-cluster (the pod's
	// service account).
	Kubeconfig string
	// NodeName restricts pods and nodes to this node (a DaemonSet sets it
	// from spec.nodeName); empty watches every pod and node.
	NodeName string
	// ClusterName is shown in the console (the API has no cluster name).
	ClusterName string
	// SyncTimeout bounds the wait for the first full list (default 30 s).
	SyncTimeout time.Duration
	Logger      *slog.Logger
}

// Probe watches the API server. Start it with the first Collect.
type Probe struct {
	cfg    Config
	client rest.Interface

	mu        sync.Mutex
	started   bool
	synced    bool
	stop      context.CancelFunc
	informers map[string]cache.SharedIndexInformer
}

// InCluster reports whether the process runs in a Kubernetes pod.
func InCluster() bool {
	_, err := rest.InClusterConfig()
	return err == nil
}

// New builds a probe from cfg.
func New(cfg Config) (*Probe, error) {
	var rc *rest.Config
	var err error
	if cfg.Kubeconfig != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	} else {
		rc, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes: client configuration: %w", err)
	}
	return NewForConfig(rc, cfg)
}

// NewForConfig builds a probe for a REST configuration.
func NewForConfig(rc *rest.Config, cfg Config) (*Probe, error) {
	rc = rest.CopyConfig(rc)
	rc.UserAgent = "riskmap-sensor"
	if rc.QPS == 0 {
		rc.QPS, rc.Burst = 5, 10
	}
	// A REST client for core/v1 with a scheme of core/v1 alone. The typed
	// clientset's scheme registers every API group at package init, which
	// cost every run of the riskmap binary ~13 ms of start-up.
	gv := corev1.SchemeGroupVersion
	rc.GroupVersion = &gv
	rc.APIPath = "/api"
	rc.NegotiatedSerializer = coreCodecs().WithoutConversion()
	c, err := rest.RESTClientFor(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: client: %w", err)
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Probe{cfg: cfg, client: c}, nil
}

// coreCodecs decodes core/v1 objects, lists and watch events.
// Built on first use, not at package init.
var coreCodecs = sync.OnceValue(func() serializer.CodecFactory {
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		panic(err) // static registration: fails only on a programming error
	}
	return serializer.NewCodecFactory(s)
})

// Name implements the sensor's Probe.
func (p *Probe) Name() string { return Name }

// Close stops the watches.
func (p *Probe) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop != nil {
		p.stop()
	}
	return nil
}

// strip drops what the sensor never reads, to keep the caches small.
func strip(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
		m.SetAnnotations(nil)
	}
	return obj, nil
}

func (p *Probe) start() {
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	rc := p.client
	node := func(field string) func(*metav1.ListOptions) {
		return func(o *metav1.ListOptions) {
			if p.cfg.NodeName != "" { // else every pod and node
				o.FieldSelector = fields.OneTermEqualSelector(field, p.cfg.NodeName).String()
			}
		}
	}
	all := func(*metav1.ListOptions) {} // client-go calls the modifier unconditionally
	mk := func(resource string, obj runtime.Object, mod func(*metav1.ListOptions)) cache.SharedIndexInformer {
		lw := cache.NewFilteredListWatchFromClient(rc, resource, metav1.NamespaceAll, mod)
		inf := cache.NewSharedIndexInformer(lw, obj, 0, cache.Indexers{})
		_ = inf.SetTransform(strip)
		go inf.RunWithContext(ctx)
		return inf
	}
	p.informers = map[string]cache.SharedIndexInformer{
		"pods":       mk("pods", &corev1.Pod{}, node("spec.nodeName")),
		"namespaces": mk("namespaces", &corev1.Namespace{}, all),
		"services":   mk("services", &corev1.Service{}, all),
		"nodes":      mk("nodes", &corev1.Node{}, node("metadata.name")),
	}
	p.started = true
}

// Collect adds the cluster's pods, namespaces, services and nodes.
func (p *Probe) Collect(ctx context.Context, r *report.Report) error {
	p.mu.Lock()
	if !p.started {
		p.start()
	}
	infs := p.informers
	synced := p.synced
	p.mu.Unlock()
	if !synced {
		wctx, cancel := context.WithTimeout(ctx, p.cfg.SyncTimeout)
		ok := cache.WaitForCacheSync(wctx.Done(), infs["pods"].HasSynced, infs["namespaces"].HasSynced, infs["services"].HasSynced, infs["nodes"].HasSynced)
		cancel()
		if !ok {
			return errors.New("kubernetes: caches not synced yet (API server unreachable or access denied; see the sensor's RBAC)")
		}
		p.mu.Lock()
		p.synced = true
		p.mu.Unlock()
	}
	k := &report.Kubernetes{ClusterName: p.cfg.ClusterName, NodeName: p.cfg.NodeName}
	for _, o := range infs["namespaces"].GetStore().List() {
		ns := o.(*corev1.Namespace)
		k.Namespaces = append(k.Namespaces, report.Namespace{Name: ns.Name, UID: string(ns.UID), Labels: ns.Labels})
		if ns.Name == "kube-system" {
			k.ClusterID = string(ns.UID)
		}
	}
	for _, o := range infs["pods"].GetStore().List() {
		k.Pods = append(k.Pods, Pod(o.(*corev1.Pod)))
	}
	for _, o := range infs["services"].GetStore().List() {
		k.Services = append(k.Services, Service(o.(*corev1.Service)))
	}
	for _, o := range infs["nodes"].GetStore().List() {
		k.Nodes = append(k.Nodes, Node(o.(*corev1.Node)))
	}
	sort.Slice(k.Namespaces, func(i, j int) bool { return k.Namespaces[i].Name < k.Namespaces[j].Name })
	r.Kubernetes = k
	return nil
}

// Pod converts a pod.
func Pod(p *corev1.Pod) report.Pod {
	out := report.Pod{UID: string(p.UID), Name: p.Name, Namespace: p.Namespace, Node: p.Spec.NodeName,
		Phase: string(p.Status.Phase), PodIP: p.Status.PodIP, HostNetwork: p.Spec.HostNetwork,
		ServiceAccount: p.Spec.ServiceAccountName, Labels: p.Labels}
	for _, o := range p.OwnerReferences {
		if o.Controller != nil && *o.Controller {
			out.OwnerKind, out.OwnerName = o.Kind, o.Name
		}
	}
	images := map[string]string{}
	for _, c := range append(append([]corev1.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...) {
		images[c.Name] = c.Image
	}
	seen := map[string]bool{}
	for _, st := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		pc := report.PodContainer{Name: st.Name, Image: images[st.Name], Ready: st.Ready}
		if rt, id, ok := strings.Cut(st.ContainerID, "://"); ok {
			pc.Runtime, pc.ContainerID = rt, id
		}
		seen[st.Name] = true
		out.Containers = append(out.Containers, pc)
	}
	for _, c := range p.Spec.Containers {
		if !seen[c.Name] {
			out.Containers = append(out.Containers, report.PodContainer{Name: c.Name, Image: c.Image})
		}
	}
	return out
}

// Service converts a service.
func Service(s *corev1.Service) report.Service {
	out := report.Service{UID: string(s.UID), Name: s.Name, Namespace: s.Namespace, Type: string(s.Spec.Type),
		ClusterIPs: s.Spec.ClusterIPs, ExternalIPs: s.Spec.ExternalIPs, Selector: s.Spec.Selector}
	for _, in := range s.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			out.LoadBalancer = append(out.LoadBalancer, in.IP)
		} else if in.Hostname != "" {
			out.LoadBalancer = append(out.LoadBalancer, in.Hostname)
		}
	}
	for _, p := range s.Spec.Ports {
		out.Ports = append(out.Ports, report.ServicePort{Name: p.Name, Proto: string(p.Protocol), Port: p.Port,
			TargetPort: p.TargetPort.String(), NodePort: p.NodePort})
	}
	return out
}

// Node converts a node.
func Node(n *corev1.Node) report.Node {
	out := report.Node{Name: n.Name, UID: string(n.UID), KubeletVersion: n.Status.NodeInfo.KubeletVersion,
		OSImage: n.Status.NodeInfo.OSImage, ProviderID: n.Spec.ProviderID, Labels: n.Labels}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			out.Ready = c.Status == corev1.ConditionTrue
		}
	}
	for _, a := range n.Status.Addresses {
		switch a.Type {
		case corev1.NodeInternalIP:
			out.InternalIPs = append(out.InternalIPs, a.Address)
		case corev1.NodeExternalIP:
			out.ExternalIPs = append(out.ExternalIPs, a.Address)
		}
	}
	return out
}
