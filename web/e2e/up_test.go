package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/malwarescan/malwaretest"
	"github.com/riskmap/riskmap/internal/secretscan/secrettest"
	"github.com/riskmap/riskmap/internal/testenv"
)

// upReadme lists the screenshots of the up scenario -update copies to
// docs/screenshots/.
var upReadme = []string{"21-dashboard", "22-topology-hosts", "23-topology-table", "25-scans", "26-vulnerabilities", "27-explanation",
	"28-attack-path", "29-decision", "30-scan-diff"}

// TestUpInBrowser runs `riskmap up` (console and local sensor in one
// process) on a fresh data directory holding the real feeds, with a
// container running a vulnerable Go module and Python package: the admin
// registers, finds this host on the topology map (reported by the local
// sensor), opens its detail panel, starts a scan of the container from the
// map, follows it on the scans page until it completes, and reads the ranked
// findings with the explanation of a score (up.mjs lists the steps).
func TestUpInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser end-to-end test; not in -short")
	}
	root := testenv.ModuleRoot(t)
	chromium := lookPath(t, "RISKMAP_E2E_CHROMIUM", "chromium", "Chromium", "apt-get install chromium")
	node := lookPath(t, "RISKMAP_E2E_NODE", "node", "Node.js", "apt-get install nodejs")
	for _, need := range []struct{ file, what string }{
		{"web/node_modules/playwright-core/package.json", "playwright-core"},
		{"web/dist/app/index.html", "the built web app"},
	} {
		if _, err := os.Stat(filepath.Join(root, need.file)); err != nil {
			testenv.Missing(t, need.what, "run `make web` (npm ci && npm run build in web/)")
		}
	}
	feedsDir := testenv.SharedFeeds(t)
	image := vulnImage(t, root)
	bin := riskmapBinary(t, root)
	if !hasCommand(t, bin, "up") {
		t.Skip("this build of riskmap has no `up` command")
	}

	work := t.TempDir()
	dataDir := filepath.Join(work, "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// The console's knowledge base is built from <data-dir>/feeds.
	imp := exec.Command(bin, "feeds", "import", "--db", filepath.Join(dataDir, "feeds"), feedsDir)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("riskmap feeds import: %v\n%s", err, out)
	}

	var suffix [4]byte
	rand.Read(suffix[:])
	container := "riskmap-e2e-web-" + hex.EncodeToString(suffix[:])
	out, err := exec.Command("docker", "run", "-d", "--network", "none", "--name", container, image, "/app", "listen", "18081").CombinedOutput()
	if err != nil {
		t.Fatalf("docker run %s: %v\n%s", image, err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", container).Run() })

	certFile, keyFile, pool, spki := testCertificate(t, work)
	base := startUp(t, bin, work, dataDir, certFile, keyFile)
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	waitReady(t, client, base)

	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	artifacts := artifactDir(t)
	type plantedSecret struct {
		Rule   string `json:"rule"`
		Path   string `json:"path"`
		Secret string `json:"secret"`
	}
	var ps []plantedSecret
	for _, p := range upSecrets() {
		ps = append(ps, plantedSecret{p.Rule, p.Path, p.Secret})
	}
	secretsJSON, _ := json.Marshal(ps)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(root, "web", "e2e", "up.mjs"))
	cmd.Dir = filepath.Join(root, "web")
	cmd.Env = append(os.Environ(),
		"RISKMAP_URL="+base,
		"RISKMAP_E2E_ARTIFACTS="+artifacts,
		"RISKMAP_E2E_PROFILES="+filepath.Join(work, "profiles"),
		"RISKMAP_E2E_CHROMIUM="+chromium,
		"RISKMAP_E2E_SPKI="+spki,
		"RISKMAP_E2E_HOSTNAME="+hostname,
		"RISKMAP_E2E_CONTAINER="+container,
		"RISKMAP_E2E_IMAGE="+image,
		"RISKMAP_E2E_SECRETS="+string(secretsJSON),
		"RISKMAP_E2E_ADMIN_EMAIL=ada@example.com",
		"RISKMAP_E2E_ADMIN_PASSWORD=correct horse battery staple 1",
	)
	outb, err := cmd.CombinedOutput()
	t.Logf("browser run:\n%s", outb)
	t.Logf("screenshots: %s", artifacts)
	if err != nil {
		t.Fatalf("browser run failed: %v", err)
	}
	// No secret in the database (its WAL included) or the console's log.
	dbFiles, _ := filepath.Glob(filepath.Join(dataDir, "*.db*"))
	if len(dbFiles) == 0 {
		t.Errorf("no database file in %s", dataDir)
	}
	checkNoSecretIn(t, upSecrets(), append(dbFiles, filepath.Join(work, "up.log"))...)
	if !t.Failed() {
		copyReadmeShots(t, root, artifacts)
	}
	if *update && !t.Failed() {
		copyScreenshots(t, root, artifacts, upReadme)
	}
}

// copyReadmeShots refreshes the README's screenshots of the main pages
// (docs/screenshots/NAME.png) from the readme-NAME.png a passing browser
// walk took (browser.mjs readmeShot): every run, so they follow the UI.
// RISKMAP_E2E_README_SHOTS=0 leaves docs/ alone.
func copyReadmeShots(t *testing.T, root, artifacts string) {
	t.Helper()
	if os.Getenv("RISKMAP_E2E_README_SHOTS") == "0" {
		return
	}
	shots, err := filepath.Glob(filepath.Join(artifacts, "readme-*.png"))
	if err != nil {
		t.Fatal(err)
	}
	if len(shots) == 0 {
		t.Errorf("the browser walk took no README screenshot (readme-*.png in %s)", artifacts)
		return
	}
	dst := filepath.Join(root, "docs", "screenshots")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, src := range shots {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(filepath.Base(src), "readme-")
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("README screenshot docs/screenshots/%s (%d kB)", name, len(b)/1024)
	}
}

func copyScreenshots(t *testing.T, root, artifacts string, names []string) {
	t.Helper()
	dst := filepath.Join(root, "docs", "screenshots")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(artifacts, name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name+".png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("updated %s", dst)
}

var upURL = regexp.MustCompile(`open (https://\S+) in your browser`)

// startUp runs `riskmap up` on 127.0.0.1:0 until the test ends and returns
// the URL it prints.
func startUp(t *testing.T, bin, work, dataDir, certFile, keyFile string) string {
	t.Helper()
	logPath := filepath.Join(work, "up.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// --feed-interval=0: the feeds are imported; nothing may leave the machine.
	cmd := exec.Command(bin, "up", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile,
		"--feed-interval=0")
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "RISKMAP_LOG_FORMAT=json")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", strings.Join(cmd.Args, " "), err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			fmt.Fprintln(logFile, sc.Text())
			if m := upURL.FindStringSubmatch(sc.Text()); m != nil && !sent {
				urls <- m[1]
				sent = true
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	done := stopAtEnd(t, cmd, "riskmap up", 20*time.Second, logFile, 80)
	t.Logf("riskmap up: %s (log %s)", strings.Join(cmd.Args, " "), logPath)
	select {
	case u := <-urls:
		return strings.TrimRight(u, "/")
	case err := <-done:
		b, _ := os.ReadFile(logPath)
		t.Fatalf("riskmap up exited before printing its URL: %v\n%s", err, tail(b, 40))
	case <-time.After(60 * time.Second):
		t.Fatal("riskmap up printed no URL within 60 s")
	}
	return ""
}

// vulnImage is a scratch image holding a Go program built with a
// vulnerable golang.org/x/text and a vulnerable Python package's metadata
// (urllib3 1.26.0): real findings from the real feeds; and the package
// database of Debian 12 with 3 packages (internal/scans/testdata/debian12),
// a release the shared feeds do not cover: its scans say those packages
// were not judged. It is built from internal/scans/testdata and tagged by
// content, so it is built once.
func vulnImage(t *testing.T, root string) string {
	t.Helper()
	testenv.Docker(t)
	app := buildVulnapp(t, root, "web-e2e-vulnapp")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	site := "usr/lib/python3.11/site-packages/"
	for _, d := range []string{"usr/", "usr/lib/", "usr/lib/python3.11/", site, site + "urllib3-1.26.0.dist-info/"} {
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch})
	}
	add := func(name string, mode int64, b []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(b)), ModTime: epoch})
		tw.Write(b)
	}
	add("app", 0o755, app)
	add(site+"urllib3-1.26.0.dist-info/METADATA", 0o644, []byte("Metadata-Version: 2.1\nName: urllib3\nVersion: 1.26.0\nSummary: HTTP library\n"))
	for _, d := range []string{"etc/", "var/", "var/lib/", "var/lib/dpkg/"} {
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch})
	}
	// Fake secrets (secrettest's, made at run time) for the secret scan.
	for _, d := range []string{"etc/app/", "opt/", "opt/app/", "root/", "root/.ssh/"} {
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch})
	}
	files, _ := secrettest.FixtureFiles()
	for _, p := range upSecrets() {
		add(strings.TrimPrefix(p.Path, "/"), 0o600, files[strings.TrimPrefix(p.Path, "/")])
	}
	// The EICAR test file (made at run time) for the malware scan.
	tw.WriteHeader(&tar.Header{Name: "srv/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch})
	add("srv/eicar.com", 0o644, malwaretest.EICAR())
	for _, f := range []string{"etc/os-release", "var/lib/dpkg/status"} {
		b, err := os.ReadFile(filepath.Join(root, "internal", "scans", "testdata", "debian12", f))
		if err != nil {
			t.Fatal(err)
		}
		add(f, 0o644, b)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	tag := "riskmap-test/web-e2e-vulnapp:" + hex.EncodeToString(sum[:6])
	if exec.Command("docker", "image", "inspect", tag).Run() != nil {
		imp := exec.Command("docker", "import", "-", tag)
		imp.Stdin = &buf
		if b, err := imp.CombinedOutput(); err != nil {
			t.Fatalf("docker import: %v\n%s", err, b)
		}
	}
	return tag
}

// upSecrets are the fake secrets vulnImage plants (one file each).
func upSecrets() []secrettest.Planted {
	_, want := secrettest.FixtureFiles()
	var out []secrettest.Planted
	for _, p := range want {
		if strings.HasPrefix(p.Path, "/etc/app/") || strings.HasPrefix(p.Path, "/opt/app/") || strings.HasPrefix(p.Path, "/root/") {
			out = append(out, p)
		}
	}
	return out
}

// checkNoSecretIn fails when a file under dir (the console's database
// files, its log) holds one of the planted secrets or 10 characters of
// one.
func checkNoSecretIn(t *testing.T, planted []secrettest.Planted, paths ...string) {
	t.Helper()
	for _, root := range paths {
		filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return nil
			}
			for _, p := range planted {
				for _, line := range strings.Split(p.Secret, "\n") {
					if len(line) >= 14 && (bytes.Contains(b, []byte(line)) || bytes.Contains(b, []byte(line[4:14]))) {
						t.Errorf("%s holds the secret of %s (%s)", path, p.Path, p.Rule)
					}
				}
			}
			return nil
		})
	}
}

// buildVulnapp builds internal/scans/testdata/vulnapp (a static Linux
// program linking golang.org/x/text v0.3.0) into the test cache's subdir
// and returns the binary.
func buildVulnapp(t *testing.T, root, subdir string) []byte {
	t.Helper()
	src := filepath.Join(root, "internal", "scans", "testdata", "vulnapp")
	dir := filepath.Join(testenv.CacheDir(t), subdir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "app"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-mod=mod", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", src, err, b)
	}
	app, err := os.ReadFile(filepath.Join(dir, "app"))
	if err != nil {
		t.Fatal(err)
	}
	return app
}
