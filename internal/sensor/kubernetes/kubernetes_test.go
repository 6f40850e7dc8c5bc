package kubernetes

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/riskmap/riskmap/internal/report"
)

func TestPodConversion(t *testing.T) {
	yes := true
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-7d9f-abcde", Namespace: "shop", UID: "u-1", Labels: map[string]string{"app": "web"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-7d9f", Controller: &yes}}},
		Spec: corev1.PodSpec{NodeName: "n1", ServiceAccountName: "web",
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox:1.36"}},
			Containers:     []corev1.Container{{Name: "app", Image: "nginx:1.25"}, {Name: "sidecar", Image: "envoy:1.30"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.1.7",
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "init", ContainerID: "containerd://aaa"}},
			ContainerStatuses:     []corev1.ContainerStatus{{Name: "app", Ready: true, ContainerID: "containerd://bbb"}}},
	}
	want := report.Pod{UID: "u-1", Name: "web-7d9f-abcde", Namespace: "shop", Node: "n1", Phase: "Running", PodIP: "10.244.1.7",
		ServiceAccount: "web", Labels: map[string]string{"app": "web"}, OwnerKind: "ReplicaSet", OwnerName: "web-7d9f",
		Containers: []report.PodContainer{
			{Name: "init", Image: "busybox:1.36", ContainerID: "aaa", Runtime: "containerd"},
			{Name: "app", Image: "nginx:1.25", ContainerID: "bbb", Runtime: "containerd", Ready: true},
			{Name: "sidecar", Image: "envoy:1.30"}, // not started yet
		}}
	if diff := cmp.Diff(want, Pod(p)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestServiceAndNodeConversion(t *testing.T) {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "s-1"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.0.20"}, Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromString("https"), NodePort: 31443}}},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "203.0.113.9"}, {Hostname: "lb.example"}}}}}
	wantS := report.Service{UID: "s-1", Name: "web", Namespace: "shop", Type: "LoadBalancer", ClusterIPs: []string{"10.96.0.20"},
		LoadBalancer: []string{"203.0.113.9", "lb.example"}, Selector: map[string]string{"app": "web"},
		Ports: []report.ServicePort{{Name: "https", Proto: "TCP", Port: 443, TargetPort: "https", NodePort: 31443}}}
	if diff := cmp.Diff(wantS, Service(s)); diff != "" {
		t.Errorf("service (-want +got):\n%s", diff)
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "n-1"}, Spec: corev1.NodeSpec{ProviderID: "aws:///eu-west-1b/i-0abc"},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.31.10.20"}, {Type: corev1.NodeExternalIP, Address: "54.1.2.3"}, {Type: corev1.NodeHostName, Address: "n1"}},
			NodeInfo:  corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OSImage: "Debian GNU/Linux 12 (bookworm)"}}}
	wantN := report.Node{Name: "n1", UID: "n-1", Ready: true, InternalIPs: []string{"172.31.10.20"}, ExternalIPs: []string{"54.1.2.3"},
		KubeletVersion: "v1.37.2", OSImage: "Debian GNU/Linux 12 (bookworm)", ProviderID: "aws:///eu-west-1b/i-0abc"}
	if diff := cmp.Diff(wantN, Node(n)); diff != "" {
		t.Errorf("node (-want +got):\n%s", diff)
	}
}
