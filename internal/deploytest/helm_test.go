package deploytest_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/riskmap/riskmap/internal/secrets"
	"github.com/riskmap/riskmap/internal/testenv"
)

const (
	helmNamespace = "riskmap"
	helmRelease   = "rm"
)

// helmTemplate renders a chart of deploy/helm with helm template.
func helmTemplate(t *testing.T, helm, chart string, set ...string) (string, error) {
	t.Helper()
	args := []string{"template", helmRelease, filepath.Join(testenv.ModuleRoot(t), "deploy", "helm", chart), "--namespace", helmNamespace}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	cmd := exec.Command(helm, args...)
	// helm keeps nothing of its own for template, but give it an empty
	// home all the same.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", errors.New(err.Error() + ": " + stderr.String())
	}
	return stdout.String(), nil
}

// decodeObjects splits rendered manifests into objects.
func decodeObjects(t *testing.T, manifests string) []*unstructured.Unstructured {
	t.Helper()
	dec := k8syaml.NewYAMLOrJSONDecoder(strings.NewReader(manifests), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("rendered manifests: %v\n%s", err, manifests)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	return objs
}

// TestHelmCharts renders the console and sensor charts with helm (built
// from its Go module and cached) and applies every object to a real
// kube-apiserver with server-side apply, then reads them back: the
// console's Deployment (replicas, probes on /healthz and /readyz, the
// PostgreSQL URL from a Secret, non-root), Service, Ingress,
// PodDisruptionBudget and generated Secrets; the sensor's DaemonSet and
// RBAC.
func TestHelmCharts(t *testing.T) {
	if testing.Short() {
		t.Skip("renders charts and runs a kube-apiserver")
	}
	helm := testenv.Helm(t)
	const dbURL = "postgres://riskmap:secret@postgres.example:5432/riskmap?sslmode=verify-full"
	console, err := helmTemplate(t, helm, "riskmap-console", "database.url="+dbURL, "image.tag=test", "publicURL=https://riskmap.example.com")
	if err != nil {
		t.Fatal(err)
	}
	sensor, err := helmTemplate(t, helm, "riskmap-sensor", "enrolmentToken=rme_test", "console.url=https://rm-riskmap-console.riskmap.svc:8443")
	if err != nil {
		t.Fatal(err)
	}
	// Refusals and switches.
	if _, err := helmTemplate(t, helm, "riskmap-console"); err == nil || !strings.Contains(err.Error(), "database.url") {
		t.Errorf("console chart without a database: %v, want a failure naming database.url", err)
	}
	if out, err := helmTemplate(t, helm, "riskmap-console", "database.existingSecret=db", "ingress.enabled=false", "podDisruptionBudget.enabled=false"); err != nil {
		t.Error(err)
	} else {
		for _, kind := range []string{"kind: Ingress", "kind: PodDisruptionBudget", "name: rm-riskmap-console-database"} {
			if strings.Contains(out, kind) {
				t.Errorf("rendered %q although switched off or given", kind)
			}
		}
	}

	kc := testenv.Kubernetes(t)
	cfg := &rest.Config{Host: kc.URL, BearerToken: kc.Token, TLSClientConfig: rest.TLSClientConfig{CAFile: kc.CACert}}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": helmNamespace}}}
	objs := append([]*unstructured.Unstructured{ns}, decodeObjects(t, console)...)
	objs = append(objs, decodeObjects(t, sensor)...)
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s: %v", gvk, err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == "namespace" {
			if o.GetNamespace() != helmNamespace {
				t.Errorf("%s %s rendered in namespace %q, want the release's %q", gvk.Kind, o.GetName(), o.GetNamespace(), helmNamespace)
			}
			ri = dyn.Resource(m.Resource).Namespace(helmNamespace)
		}
		if _, err := ri.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: "riskmap-deploy-test", Force: true}); err != nil {
			t.Fatalf("apply %s %s: %v", gvk.Kind, o.GetName(), err)
		}
	}
	t.Logf("applied %d objects", len(objs))

	get := func(gvr schema.GroupVersionResource, name string, into any) {
		t.Helper()
		u, err := dyn.Resource(gvr).Namespace(helmNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get %s %s: %v", gvr.Resource, name, err)
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
			t.Fatal(err)
		}
	}
	const name = helmRelease + "-riskmap-console"

	var dep appsv1.Deployment
	get(appsv1.SchemeGroupVersion.WithResource("deployments"), name, &dep)
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("console replicas %v, want 2", dep.Spec.Replicas)
	}
	pod := dep.Spec.Template.Spec
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
		t.Errorf("pod security context %+v, want non-root 65532", pod.SecurityContext)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("containers %d, want 1", len(pod.Containers))
	}
	ct := pod.Containers[0]
	if ct.Image != "riskmap/console:test" {
		t.Errorf("image %q", ct.Image)
	}
	if sc := ct.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 {
		t.Errorf("container security context %+v", ct.SecurityContext)
	}
	probe := func(what string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Scheme != corev1.URISchemeHTTPS || p.HTTPGet.Port.String() != "https" {
			t.Errorf("%s probe %+v, want HTTPS GET %s on port https", what, p, path)
		}
	}
	probe("liveness", ct.LivenessProbe, "/healthz")
	probe("readiness", ct.ReadinessProbe, "/readyz")
	probe("startup", ct.StartupProbe, "/healthz")
	var dbRef *corev1.SecretKeySelector
	for _, e := range ct.Env {
		if e.Name == "RISKMAP_DATABASE" {
			if e.Value != "" || e.ValueFrom == nil {
				t.Errorf("RISKMAP_DATABASE given in clear: %+v", e)
			} else {
				dbRef = e.ValueFrom.SecretKeyRef
			}
		}
	}
	if dbRef == nil || dbRef.Name != name+"-database" || dbRef.Key != "database-url" {
		t.Fatalf("RISKMAP_DATABASE from %+v, want secret %s-database key database-url", dbRef, name)
	}
	var dbSecret corev1.Secret
	get(corev1.SchemeGroupVersion.WithResource("secrets"), dbRef.Name, &dbSecret)
	if got := string(dbSecret.Data[dbRef.Key]); got != dbURL {
		t.Errorf("database secret holds %q, want %q", got, dbURL)
	}

	var tlsSecret corev1.Secret
	get(corev1.SchemeGroupVersion.WithResource("secrets"), name+"-tls", &tlsSecret)
	if _, err := tls.X509KeyPair(tlsSecret.Data["tls.crt"], tlsSecret.Data["tls.key"]); err != nil || tlsSecret.Type != corev1.SecretTypeTLS {
		t.Errorf("generated TLS secret (%s): %v", tlsSecret.Type, err)
	}
	// The generated key file of stored credentials is one the console loads.
	var keySecret corev1.Secret
	get(corev1.SchemeGroupVersion.WithResource("secrets"), name+"-secrets-key", &keySecret)
	keyPath := filepath.Join(t.TempDir(), "secrets.key")
	if err := os.WriteFile(keyPath, keySecret.Data["secrets.key"], 0o600); err != nil {
		t.Fatal(err)
	}
	if ring, err := secrets.LoadKeyring(keyPath, false); err != nil {
		t.Errorf("the chart's secrets key: %v\n%s", err, keySecret.Data["secrets.key"])
	} else if len(ring.IDs()) != 1 {
		t.Errorf("the chart's secrets key holds %v", ring.IDs())
	}

	var svc corev1.Service
	get(corev1.SchemeGroupVersion.WithResource("services"), name, &svc)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8443 || svc.Spec.Ports[0].TargetPort.String() != "https" ||
		svc.Spec.Selector["app.kubernetes.io/name"] != "riskmap-console" {
		t.Errorf("service %+v", svc.Spec)
	}
	var ing networkingv1.Ingress
	get(networkingv1.SchemeGroupVersion.WithResource("ingresses"), name, &ing)
	if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].HTTP == nil || ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name != name ||
		ing.Annotations["nginx.ingress.kubernetes.io/backend-protocol"] != "HTTPS" {
		t.Errorf("ingress %+v %v", ing.Spec, ing.Annotations)
	}
	var pdb policyv1.PodDisruptionBudget
	get(policyv1.SchemeGroupVersion.WithResource("poddisruptionbudgets"), name, &pdb)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 || pdb.Spec.Selector.MatchLabels["app.kubernetes.io/instance"] != helmRelease {
		t.Errorf("pdb %+v", pdb.Spec)
	}

	var ds appsv1.DaemonSet
	get(appsv1.SchemeGroupVersion.WithResource("daemonsets"), helmRelease+"-riskmap-sensor", &ds)
	if !ds.Spec.Template.Spec.HostPID || ds.Spec.Template.Spec.ServiceAccountName != helmRelease+"-riskmap-sensor" {
		t.Errorf("sensor daemonset %+v", ds.Spec.Template.Spec)
	}
	var sa corev1.ServiceAccount
	get(corev1.SchemeGroupVersion.WithResource("serviceaccounts"), helmRelease+"-riskmap-sensor", &sa)
	if _, err := dyn.Resource(schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}).
		Get(ctx, helmRelease+"-riskmap-sensor", metav1.GetOptions{}); err != nil {
		t.Errorf("sensor cluster role: %v", err)
	}
}
