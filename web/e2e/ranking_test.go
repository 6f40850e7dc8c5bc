package e2e

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.RunNetHelper()
	os.Exit(m.Run())
}

// The ranking scenario of docs/risk.md, with the real console and sensor
// (`riskmap up`), real Docker containers and "the internet" at
// 203.0.113.10 in a network namespace of the test's own, joined to this
// host by a veth pair (203.0.113.1 on the host's side): never routed off
// the machine.
//
// One image (a Go program linking golang.org/x/text v0.3.0, GO-2020-0015,
// and Debian 11's liblog4j2-java 2.13.3-1, DSA-5020-1 Log4Shell: in CISA
// KEV with ransomware use) runs twice: "web" on the host's network,
// listening on loopback, then also on every address once signalled, with
// a client in the namespace connected; "batch" in a container without
// network listening on 0.0.0.0. A copy of the image that no container runs
// is idle. Only the two images are scanned: the containers inherit their
// image's findings, and web's exposure changes without a rescan.
func TestRankingScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("scenario with Docker, a network namespace and `riskmap up`; not in -short")
	}
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root", "the scenario creates a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		testenv.Missing(t, "ip (iproute2)", "apt-get install iproute2")
	}
	root := testenv.ModuleRoot(t)
	testenv.Docker(t)
	feedsDir := testenv.SharedFeeds(t)
	bin := riskmapBinary(t, root)
	if !hasCommand(t, bin, "up") {
		t.Skip("this build of riskmap has no `up` command")
	}
	suffix := randomSuffix()
	running, idle := scenarioImages(t, root)
	inet := internetNamespace(t, suffix)

	loopPort, publicPort, isolatedPort := freePort(t), freePort(t), freePort(t)
	jar := "/usr/share/java/log4j-core.jar"
	web, batch := "rm-scn-web-"+suffix, "rm-scn-batch-"+suffix
	dockerRun(t, web, "--network", "host", running, "/app", "serve", fmt.Sprintf("127.0.0.1:%d", loopPort), fmt.Sprintf("0.0.0.0:%d", publicPort), jar)
	dockerRun(t, batch, "--network", "none", running, "/app", "serve", fmt.Sprintf("0.0.0.0:%d", isolatedPort), "-", jar)

	work := t.TempDir()
	dataDir := filepath.Join(work, "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "feeds", "import", "--db", filepath.Join(dataDir, "feeds"), feedsDir).CombinedOutput(); err != nil {
		t.Fatalf("riskmap feeds import: %v\n%s", err, out)
	}
	certFile, keyFile, pool, _ := testCertificate(t, work)
	base := startUp(t, bin, work, dataDir, certFile, keyFile)
	cj, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: cj, Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	waitReady(t, hc, base)
	api := apiClient{t: t, c: hc, base: base}
	if status := api.do("POST", "/api/v1/auth/register", "", map[string]string{"email": "ada@example.com", "password": "correct horse battery staple 1",
		"name": "Ada", "organisation": "Example"}, nil); status != http.StatusCreated {
		t.Fatalf("register: %d", status)
	}
	key := sessionAPIKey(t, hc, base)

	// The local sensor reports both containers and both images.
	node := func(kind, q string) string {
		t.Helper()
		var id string
		waitUntil(t, fmt.Sprintf("the %s %s on the map", kind, q), 90*time.Second, func() bool {
			var page struct{ Items []struct{ ID, Label string } }
			api.do("GET", "/api/v1/topology/nodes?kind="+kind+"&q="+url.QueryEscape(q), key, nil, &page)
			if len(page.Items) > 0 {
				id = page.Items[0].ID
			}
			return id != ""
		})
		return id
	}
	webID, batchID := node("container", web), node("container", batch)
	runningID, idleID := node("image", running), node("image", idle)

	// Scan the two images only.
	var started struct{ Items []struct{ ID string } }
	if status := api.do("POST", "/api/v1/scans", key, map[string]any{"nodeIds": []string{runningID, idleID}}, &started); status != http.StatusCreated || len(started.Items) != 2 {
		t.Fatalf("start the image scans: %d %+v", status, started)
	}
	for _, sc := range started.Items {
		waitUntil(t, "image scan "+sc.ID+" complete", 3*time.Minute, func() bool {
			var s struct{ Status, Message string }
			api.do("GET", "/api/v1/scans/"+sc.ID, key, nil, &s)
			if s.Status == "error" || s.Status == "cancelled" {
				t.Fatalf("image scan %s ended %s: %s", sc.ID, s.Status, s.Message)
			}
			return s.Status == "complete"
		})
	}
	// Both containers inherit the running image's findings, unscanned.
	get := func(nodeID, vuln string) scenarioFinding {
		t.Helper()
		var page struct{ Items []scenarioFinding }
		api.do("GET", "/api/v1/findings?limit=5&nodeId="+url.QueryEscape(nodeID)+"&vulnId="+vuln, key, nil, &page)
		if len(page.Items) == 0 {
			return scenarioFinding{}
		}
		return page.Items[0]
	}
	for _, id := range []string{webID, batchID} {
		waitUntil(t, "the inherited findings of "+id, 60*time.Second, func() bool { return get(id, "DSA-5020-1").ID != "" })
	}
	if f := get(webID, "DSA-5020-1"); f.exposure().Value != 0.55 || !strings.Contains(f.exposure().Reason, "loopback address only") {
		t.Errorf("web before it opens a public listener: exposure %+v, want loopback only", f.exposure())
	}

	// web opens a listener on every address and the internet connects to
	// it: its findings are rescored without a rescan.
	var before struct{ Total int }
	api.do("GET", "/api/v1/scans?limit=1", key, nil, &before)
	changed := time.Now()
	if out, err := exec.Command("docker", "kill", "--signal", "USR1", web).CombinedOutput(); err != nil {
		t.Fatalf("signal %s: %v\n%s", web, err, out)
	}
	inet.connect(t, fmt.Sprintf("203.0.113.1:%d", publicPort))
	waitUntil(t, "web's findings rescored as reachable from the internet", 60*time.Second, func() bool {
		return get(webID, "DSA-5020-1").exposure().Value == 1
	})
	t.Logf("exposure change to rescored finding visible in the API: %s", time.Since(changed).Round(time.Millisecond))
	var after struct{ Total int }
	api.do("GET", "/api/v1/scans?limit=1", key, nil, &after)
	if after.Total != before.Total {
		t.Errorf("%d scans before the exposure change, %d after: rescoring must not rescan", before.Total, after.Total)
	}

	// The ranking. Every finding explains its three factors with sources.
	var top struct{ Items []scenarioFinding }
	if status := api.do("GET", "/api/v1/findings?limit=1000", key, nil, &top); status != http.StatusOK || len(top.Items) == 0 {
		t.Fatalf("findings: %d, %d items", status, len(top.Items))
	}
	mine := map[string]string{webID: "web", batchID: "batch", runningID: "running image", idleID: "idle image"}
	var ranked []scenarioFinding
	for _, f := range top.Items {
		if _, ok := mine[f.NodeID]; ok {
			ranked = append(ranked, f)
		}
	}
	for i, f := range ranked {
		t.Logf("%2d %5.1f %-13s %-16s %-22s %s", i+1, f.Risk.Score, mine[f.NodeID], f.Finding.ID, f.Finding.Package.Name, f.exposure().Reason)
	}
	hexID := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for _, f := range ranked {
		if len(f.Risk.Factors) != 3 {
			t.Errorf("%s on %s: factors %+v, want severity, exploit and exposure", f.Finding.ID, mine[f.NodeID], f.Risk.Factors)
			continue
		}
		for _, fc := range f.Risk.Factors {
			if fc.Reason == "" {
				t.Errorf("%s on %s: factor %s has no reason", f.Finding.ID, mine[f.NodeID], fc.Name)
			}
		}
		if sev := f.Risk.Factors[0].Reason; !regexp.MustCompile(`CVSS|no CVSS score`).MatchString(sev) {
			t.Errorf("%s: the severity factor names no source: %q", f.Finding.ID, sev)
		}
		seen := map[string]bool{}
		for _, h := range f.Risk.Path {
			if hexID.MatchString(h.Name) {
				t.Errorf("%s on %s: the attack path names a node by its id: %+v", f.Finding.ID, mine[f.NodeID], f.Risk.Path)
			}
			if h.NodeID != "" && seen[h.NodeID] {
				t.Errorf("%s on %s: the attack path repeats %s: %+v", f.Finding.ID, mine[f.NodeID], h.Name, f.Risk.Path)
			}
			seen[h.NodeID] = true
		}
	}
	// 1. First: the KEV finding reachable from the internet, on web (or
	// its image, which web runs: the same exposure), with its route.
	first := ranked[0]
	if first.Finding.KEV == nil || first.exposure().Value != 1 || (first.NodeID != webID && first.NodeID != runningID) {
		t.Errorf("first: %s on %s (KEV %v, exposure %+v), want a KEV finding web exposes to the internet", first.Finding.ID, mine[first.NodeID], first.Finding.KEV, first.exposure())
	}
	kevOnWeb := get(webID, "DSA-5020-1")
	if !strings.Contains(kevOnWeb.Risk.Factors[1].Reason, "CISA KEV") || !strings.Contains(kevOnWeb.Risk.Factors[1].Reason, "ransomware") ||
		!strings.Contains(kevOnWeb.exposure().Reason, "reachable from the internet") {
		t.Errorf("Log4Shell on web explains %+v", kevOnWeb.Risk.Factors)
	}
	if p := kevOnWeb.Risk.Path; len(p) < 4 || p[0].Kind != "internet" || !slices.ContainsFunc(p, func(h hop) bool { return h.Kind == "container" && strings.Contains(h.Name, web) }) ||
		p[len(p)-1].Kind != "package" {
		t.Errorf("Log4Shell on web: attack path %+v, want the internet … the container %s … the package", p, web)
	}
	// 2. The same finding ranks by exposure: web (internet) > batch (a
	// network namespace with loopback only) > the idle image.
	for _, v := range []string{"DSA-5020-1", "GO-2020-0015"} {
		w, b, i := get(webID, v), get(batchID, v), get(idleID, v)
		if !(w.Risk.Score > b.Risk.Score && b.Risk.Score > i.Risk.Score) {
			t.Errorf("%s: web %.1f, batch %.1f, idle image %.1f; want strictly decreasing", v, w.Risk.Score, b.Risk.Score, i.Risk.Score)
		}
		if b.exposure().Value != 0.55 || !strings.Contains(b.exposure().Reason, "loopback only") {
			t.Errorf("%s on batch (0.0.0.0 without network): exposure %+v, want loopback only", v, b.exposure())
		}
		if i.exposure().Value != 0.15 || !strings.Contains(i.exposure().Reason, "not deployed") {
			t.Errorf("%s on the idle image: exposure %+v, want not deployed", v, i.exposure())
		}
	}
	// 3. Exploit evidence first: a KEV finding ranks above every non-KEV
	// finding of the same or a lower exposure.
	for i, a := range ranked {
		for _, b := range ranked[:i] {
			if a.Finding.KEV != nil && b.Finding.KEV == nil && b.exposure().Value <= a.exposure().Value {
				t.Errorf("non-KEV %s on %s (%.1f) ranks above KEV %s on %s (%.1f) at exposure %.2f ≥ its %.2f", b.Finding.ID, mine[b.NodeID], b.Risk.Score,
					a.Finding.ID, mine[a.NodeID], a.Risk.Score, a.exposure().Value, b.exposure().Value)
			}
		}
	}
	// 4. The internet-exposed KEV findings come before everything else,
	// and every vulnerability web (internet) carries ranks lower on batch
	// (loopback only) and lower again on the idle image.
	lead := 0
	for lead < len(ranked) && ranked[lead].Finding.KEV != nil && ranked[lead].exposure().Value == 1 {
		lead++
	}
	for _, f := range ranked[lead:] {
		if f.Finding.KEV != nil && f.exposure().Value == 1 {
			t.Errorf("internet-exposed KEV %s on %s (%.1f) comes after %s (%.1f)", f.Finding.ID, mine[f.NodeID], f.Risk.Score, ranked[lead].Finding.ID, ranked[lead].Risk.Score)
		}
	}
	if lead < 2 {
		t.Errorf("%d internet-exposed KEV findings lead the list, want Log4Shell on web and its image at least", lead)
	}
	for _, f := range ranked {
		if f.NodeID != webID {
			continue
		}
		b, i := get(batchID, f.Finding.ID), get(idleID, f.Finding.ID)
		if !(f.Risk.Score > b.Risk.Score && b.Risk.Score > i.Risk.Score) {
			t.Errorf("%s: web %.1f, batch %.1f, idle image %.1f; want strictly decreasing", f.Finding.ID, f.Risk.Score, b.Risk.Score, i.Risk.Score)
		}
	}
}

type hop struct {
	NodeID string `json:"nodeId"`
	Kind   string `json:"kind"`
	Name   string `json:"name"`
}

type scenarioFinding struct {
	ID      string `json:"id"`
	NodeID  string `json:"nodeId"`
	Finding struct {
		ID       string `json:"id"`
		Severity string `json:"severity"`
		KEV      *struct {
			Ransomware bool `json:"ransomware"`
		} `json:"kev"`
		Package struct{ Name string } `json:"package"`
	} `json:"finding"`
	Risk struct {
		Score   float64 `json:"score"`
		Factors []struct {
			Name   string  `json:"name"`
			Value  float64 `json:"value"`
			Reason string  `json:"reason"`
		} `json:"factors"`
		Path []hop `json:"path"`
	} `json:"risk"`
}

// exposure is the finding's exposure factor.
func (f scenarioFinding) exposure() (x struct {
	Value  float64
	Reason string
}) {
	for _, fc := range f.Risk.Factors {
		if fc.Name == "exposure" {
			x.Value, x.Reason = fc.Value, fc.Reason
		}
	}
	return x
}

func randomSuffix() string {
	var b [3]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func waitUntil(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func dockerRun(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command("docker", append([]string{"run", "-d", "--name", name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker run %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
}

// scenarioImages imports the running image and its idle copy (one more
// file: another image id), tagged by content so they are built once.
func scenarioImages(t *testing.T, root string) (running, idle string) {
	t.Helper()
	app := buildVulnapp(t, root, "ranking-scenario")
	// A jar (a zip) for the JVM-like mapping of liblog4j2-java's file.
	var jar bytes.Buffer
	zw := zip.NewWriter(&jar)
	w, _ := zw.Create("META-INF/MANIFEST.MF")
	w.Write([]byte("Manifest-Version: 1.0\nImplementation-Title: log4j-core\n"))
	zw.Close()
	files := []struct {
		name string
		mode int64
		body []byte
	}{
		{"app", 0o755, app},
		{"etc/os-release", 0o644, []byte("PRETTY_NAME=\"Debian GNU/Linux 11 (bullseye)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"11\"\nVERSION_CODENAME=bullseye\nID=debian\n")},
		{"var/lib/dpkg/status", 0o644, []byte("Package: liblog4j2-java\nStatus: install ok installed\nPriority: optional\nSection: java\nInstalled-Size: 2048\n" +
			"Maintainer: Debian Java Maintainers <pkg-java-maintainers@lists.alioth.debian.org>\nArchitecture: all\nSource: apache-log4j2\nVersion: 2.13.3-1\n" +
			"Description: Apache Log4j - Logging Framework for Java\n\n")},
		{"var/lib/dpkg/info/liblog4j2-java.list", 0o644, []byte("/.\n/usr\n/usr/share\n/usr/share/java\n/usr/share/java/log4j-core.jar\n")},
		{"usr/share/java/log4j-core.jar", 0o644, jar.Bytes()},
	}
	image := func(extra string) string {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		epoch := time.Unix(0, 0)
		for _, d := range []string{"etc/", "usr/", "usr/share/", "usr/share/java/", "var/", "var/lib/", "var/lib/dpkg/", "var/lib/dpkg/info/"} {
			tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch})
		}
		for _, f := range files {
			tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), ModTime: epoch})
			tw.Write(f.body)
		}
		if extra != "" {
			tw.WriteHeader(&tar.Header{Name: extra, Mode: 0o644, Size: int64(len(extra)), ModTime: epoch})
			tw.Write([]byte(extra))
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(buf.Bytes())
		tag := "riskmap-test/ranking-" + map[bool]string{true: "running", false: "idle"}[extra == ""] + ":" + hex.EncodeToString(sum[:6])
		if exec.Command("docker", "image", "inspect", tag).Run() != nil {
			imp := exec.Command("docker", "import", "-", tag)
			imp.Stdin = &buf
			if b, err := imp.CombinedOutput(); err != nil {
				t.Fatalf("docker import: %v\n%s", err, b)
			}
		}
		return tag
	}
	return image(""), image("idle")
}

// internetNS is a network namespace standing for the internet: 203.0.113.10
// inside, joined by a veth pair to 203.0.113.1 on this host.
type internetNS struct{ name string }

func internetNamespace(t *testing.T, suffix string) internetNS {
	t.Helper()
	ns, host, peer := "rmscn-"+suffix, "rmh"+suffix, "rmp"+suffix
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", host).Run()
		exec.Command("ip", "netns", "del", ns).Run()
	})
	run("link", "add", host, "type", "veth", "peer", "name", peer)
	run("link", "set", peer, "netns", ns)
	run("addr", "add", "203.0.113.1/24", "dev", host)
	run("link", "set", host, "up")
	run("-n", ns, "addr", "add", "203.0.113.10/24", "dev", peer)
	run("-n", ns, "link", "set", peer, "up")
	run("-n", ns, "link", "set", "lo", "up")
	return internetNS{name: ns}
}

// connect starts a client in the namespace holding a connection to addr
// until the test ends.
func (n internetNS) connect(t *testing.T, addr string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", n.name, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), testenv.NetHelperEnv+"=connect:"+addr)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Scan()
		line <- sc.Text()
		io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-line:
		if l == "" || strings.HasPrefix(l, "ERR") {
			t.Fatalf("client in %s connecting to %s: %q", n.name, addr, l)
		}
		t.Logf("the internet (%s in %s) connected to %s", l, n.name, addr)
	case <-time.After(20 * time.Second):
		t.Fatalf("the client in %s did not connect to %s within 20 s", n.name, addr)
	}
}
