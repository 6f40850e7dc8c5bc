package sensor_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensor"
	"github.com/riskmap/riskmap/internal/sensor/kubernetes"
	"github.com/riskmap/riskmap/internal/testenv"
)

// TestKubernetesRealAPIServer runs the Kubernetes probe against a real
// kube-apiserver and etcd, with kwok making the node Ready and the pod
// Running. The pod's container is a real Docker container (labelled like
// cri-dockerd labels pod containers, without the pod uid); its id is put
// in the pod status. The sensor's report must show the pod, namespace,
// service and node, and the container joined to the pod by the id from the
// pod status (uid included).
func TestKubernetesRealAPIServer(t *testing.T) {
	kc := testenv.Kubernetes(t)
	img := testenv.DockerImage(t, testenv.RootfsMinbase)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rc, err := clientcmd.BuildConfigFromFlags("", kc.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	api, err := corev1client.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	const nodeName = "kwok-node-0"
	ann, val, _ := strings.Cut(kc.KwokNodeAnnotation, "=")
	must(api.Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName, Annotations: map[string]string{ann: val},
		Labels: map[string]string{"type": "kwok"}}}, metav1.CreateOptions{}))
	must(api.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}))
	must(api.Services("shop").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt(8080), Protocol: corev1.ProtocolTCP}}}},
		metav1.CreateOptions{}))
	must(api.Pods("shop").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "app", Image: img}},
			Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}}}, metav1.CreateOptions{}))
	var pod *corev1.Pod
	waitFor(t, "kwok to run the pod", 90*time.Second, func() bool {
		pod, err = api.Pods("shop").Get(ctx, "web-0", metav1.GetOptions{})
		return err == nil && pod.Status.Phase == corev1.PodRunning && pod.Status.PodIP != "" && len(pod.Status.ContainerStatuses) == 1
	})
	// The pod's container, run by the real engine.
	id := startContainer(t, "--network", "none", "--label", report.LabelPodName+"=web-0", "--label", report.LabelPodNamespace+"=shop",
		"--label", report.LabelContainerName+"=app", img, "sleep", "infinity")
	pod.Status.ContainerStatuses[0].ContainerID = "docker://" + id
	must(api.Pods("shop").UpdateStatus(ctx, pod, metav1.UpdateOptions{}))

	probe, err := kubernetes.New(kubernetes.Config{Kubeconfig: kc.Kubeconfig, NodeName: nodeName, ClusterName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := dockerConfig()
	cfg.Kubernetes = probe
	s, err := sensor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var r *report.Report
	waitFor(t, "the pod with its container id in the sensor's report", 60*time.Second, func() bool {
		r = s.Collect(ctx)
		if r.Kubernetes == nil {
			return false
		}
		i := slices.IndexFunc(r.Kubernetes.Pods, func(p report.Pod) bool { return p.Name == "web-0" })
		return i >= 0 && len(r.Kubernetes.Pods[i].Containers) == 1 && r.Kubernetes.Pods[i].Containers[0].ContainerID == id
	})
	k := r.Kubernetes
	if k.ClusterID == "" || k.ClusterName != "test" || k.NodeName != nodeName {
		t.Errorf("cluster id %q name %q node %q", k.ClusterID, k.ClusterName, k.NodeName)
	}
	p := k.Pods[slices.IndexFunc(k.Pods, func(p report.Pod) bool { return p.Name == "web-0" })]
	if p.UID != string(pod.UID) || p.Namespace != "shop" || p.Phase != "Running" || p.PodIP == "" || p.Node != nodeName ||
		p.Containers[0].Runtime != "docker" || p.Containers[0].Image != img || !p.Containers[0].Ready {
		t.Errorf("pod = %+v", p)
	}
	if !slices.ContainsFunc(k.Namespaces, func(n report.Namespace) bool { return n.Name == "shop" }) {
		t.Errorf("namespace shop missing from %+v", k.Namespaces)
	}
	if !slices.ContainsFunc(k.Services, func(s report.Service) bool {
		return s.Name == "web" && s.Namespace == "shop" && len(s.ClusterIPs) == 1 && s.Selector["app"] == "web" &&
			len(s.Ports) == 1 && s.Ports[0].Port == 80 && s.Ports[0].TargetPort == "8080"
	}) {
		t.Errorf("service shop/web missing or wrong: %+v", k.Services)
	}
	if len(k.Nodes) != 1 || k.Nodes[0].Name != nodeName || !k.Nodes[0].Ready {
		t.Errorf("nodes = %+v, want only %s, Ready (kwok)", k.Nodes, nodeName)
	}
	i := slices.IndexFunc(r.Containers, func(c report.Container) bool { return c.ID == id })
	if i < 0 {
		t.Fatalf("container %s missing", id)
	}
	want := &report.PodRef{UID: string(pod.UID), Name: "web-0", Namespace: "shop", Container: "app"}
	if got := r.Containers[i].Pod; got == nil || *got != *want {
		t.Errorf("container joined to pod %+v, want %+v", got, want)
	}
	// The container's main process is in the report, tagged with the
	// container: process -> container -> pod.
	pid := r.Containers[i].PID
	if !slices.ContainsFunc(r.Processes, func(p report.Process) bool { return p.PID == pid && p.ContainerID == id }) {
		t.Errorf("process %d of container %s missing", pid, id)
	}
}
