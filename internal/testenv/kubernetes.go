package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Kubernetes test server versions; scripts/k8s-build.sh builds them into
// CacheDir/k8s under these names.
const (
	KubeVersion = "v1.37.2"
	EtcdVersion = "v3.7.3"
	KwokVersion = "v0.8.0"
)

// KubeCluster is a running etcd + kube-apiserver (+ kwok) on loopback.
type KubeCluster struct {
	// Kubeconfig is a kubeconfig file for a cluster admin (token auth,
	// the API server's certificate as the CA).
	Kubeconfig string
	// URL is the API server's https URL, Token its admin bearer token.
	URL, Token string
	// CACert is the API server's self-signed certificate (PEM file).
	CACert string
	// KwokNodeAnnotation marks nodes kwok manages (key=value).
	KwokNodeAnnotation string
	// Dir is the servers' working directory (certificates, the token
	// file tokens.csv, logs).
	Dir string
}

// KubeOptions change the test cluster's servers.
type KubeOptions struct {
	// APIServerArgs are added to kube-apiserver's command line (after the
	// defaults, so a flag given here wins: "--profiling=false").
	APIServerArgs []string
}

// Kubernetes starts etcd, kube-apiserver and kwok from binaries built by
// scripts/k8s-build.sh (cached in CacheDir/k8s; about 13 minutes of CPU to
// build the first time). Without them the test is skipped, or fails when
// RISKMAP_TEST_K8S=1 (which .ci/run sets by default, after running
// the build script, which is a no-op once the binaries are cached). Everything
// listens on 127.0.0.1 and stops when the test ends.
func Kubernetes(t testing.TB) *KubeCluster {
	t.Helper()
	return KubernetesWith(t, KubeOptions{})
}

// KubernetesWith is Kubernetes with options. etcd and kube-apiserver run
// under their usual program names (through symbolic links named etcd and
// kube-apiserver), so tools that find them by process name, as kube-bench
// does, see them as on a real control-plane node.
func KubernetesWith(t testing.TB, opts KubeOptions) *KubeCluster {
	t.Helper()
	dir := filepath.Join(CacheDir(t), "k8s")
	apiserver := filepath.Join(dir, "kube-apiserver-"+KubeVersion)
	etcd := filepath.Join(dir, "etcd-"+EtcdVersion)
	kwok := filepath.Join(dir, "kwok-"+KwokVersion)
	stages := filepath.Join(dir, "kwok-stages-"+KwokVersion+".yaml")
	for _, f := range []string{apiserver, etcd, kwok, stages} {
		if _, err := os.Stat(f); err != nil {
			msg := fmt.Sprintf("Kubernetes test servers not built (%s missing); run scripts/k8s-build.sh (about 13 min of CPU once)", f)
			if v, _ := strconv.ParseBool(os.Getenv("RISKMAP_TEST_K8S")); v {
				t.Fatal(msg + "; RISKMAP_TEST_K8S=1 makes this a failure")
			}
			t.Skip("skipping: " + msg + "; RISKMAP_TEST_K8S=1 makes this a failure")
		}
	}
	work := t.TempDir()
	binDir := filepath.Join(work, "bin")
	if err := os.Mkdir(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]*string{"etcd": &etcd, "kube-apiserver": &apiserver} {
		link := filepath.Join(binDir, name)
		if err := os.Symlink(*target, link); err != nil {
			t.Fatal(err)
		}
		*target = link
	}
	ports := freePorts(t, 4)
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	start(t, work, "etcd", etcd, "--name=riskmap-test", "--data-dir="+filepath.Join(work, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=riskmap-test="+peerURL, "--log-level=warn")

	// Service account signing key, admin token.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalECPrivateKey(key)
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	saKey, saPub := filepath.Join(work, "sa.key"), filepath.Join(work, "sa.pub")
	writeFile(t, saKey, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	writeFile(t, saPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	var tb [16]byte
	rand.Read(tb[:])
	token := hex.EncodeToString(tb[:])
	tokens := filepath.Join(work, "tokens.csv")
	writeFile(t, tokens, []byte(token+",riskmap-admin,riskmap-admin,system:masters\n"))
	certDir := filepath.Join(work, "certs")
	port := strconv.Itoa(ports[2])
	args := []string{"--etcd-servers=" + etcdURL, "--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1", "--secure-port=" + port, "--cert-dir=" + certDir,
		"--service-account-issuer=https://kubernetes.default.svc", "--service-account-key-file=" + saPub,
		"--service-account-signing-key-file=" + saKey, "--token-auth-file=" + tokens, "--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.96.0.0/24", "--endpoint-reconciler-type=none",
		"--disable-admission-plugins=ServiceAccount", "--enable-priority-and-fairness=false"}
	start(t, work, "kube-apiserver", apiserver, append(args, opts.APIServerArgs...)...)
	kc := &KubeCluster{URL: "https://127.0.0.1:" + port, Token: token, CACert: filepath.Join(certDir, "apiserver.crt"),
		KwokNodeAnnotation: "kwok.x-k8s.io/node=fake", Dir: work}
	waitReady(t, kc)
	kc.Kubeconfig = filepath.Join(work, "kubeconfig")
	writeFile(t, kc.Kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
`, kc.URL, kc.CACert, token)))
	start(t, work, "kwok", kwok, "--kubeconfig="+kc.Kubeconfig, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector="+kc.KwokNodeAnnotation,
		"--server-address=127.0.0.1:"+strconv.Itoa(ports[3]), "-c", stages)
	return kc
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var out []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs a server in its own process group, logging to work/NAME.log,
// and stops it when the test ends.
func start(t testing.TB, work, name, bin string, args ...string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(work, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s log (tail):\n%s", name, tail(b, 3000))
		}
	})
}

func waitReady(t testing.TB, kc *KubeCluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The serving certificate is generated at start-up; until it exists
	// readiness is probed without verification, then verified with it.
	c := &http.Client{Timeout: 3 * time.Second}
	for {
		pool := x509.NewCertPool()
		if b, err := os.ReadFile(kc.CACert); err == nil && pool.AppendCertsFromPEM(b) {
			c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, kc.URL+"/readyz", nil)
			req.Header.Set("Authorization", "Bearer "+kc.Token)
			if resp, err := c.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("kube-apiserver at %s not ready after 90 s", kc.URL)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
