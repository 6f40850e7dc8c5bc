package secretscan

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/riskmap/riskmap/internal/secretscan/secrettest"
)

// got is what a test compares of a finding.
type got struct {
	Rule, Path string
	Line       int
	Layer      int // index of the layer, -1 for none
	Deleted    bool
}

func summarize(res *Result, diffIDs []string) []got {
	var out []got
	for _, f := range res.Findings {
		li := -1
		for i, d := range diffIDs {
			if f.Layer == d {
				li = i
			}
		}
		out = append(out, got{f.RuleID, f.Path, f.Line, li, f.Deleted})
	}
	return out
}

func wantFrom(want []secrettest.Planted, layer int, deleted map[string]bool) []got {
	var out []got
	for _, p := range want {
		out = append(out, got{p.Rule, p.Path, p.Line, layer, deleted[p.Path]})
	}
	return out
}

func newScanner(t testing.TB, cfg Config) *Scanner {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkNoSecret fails when any planted secret (or a long piece of one)
// appears in out.
func checkNoSecret(t *testing.T, what string, out []byte, want []secrettest.Planted) {
	t.Helper()
	for _, p := range want {
		for _, piece := range strings.Split(p.Secret, "\n") {
			if len(piece) < 10 {
				continue
			}
			// Any 10 characters past the redacted prefix.
			if bytes.Contains(out, []byte(piece[4:min(len(piece), 14)])) || bytes.Contains(out, []byte(piece)) {
				t.Errorf("%s holds the secret of %s (%s)", what, p.Path, p.Rule)
			}
		}
	}
}

func TestScanDir(t *testing.T) {
	files, want := secrettest.FixtureFiles()
	dir := secrettest.WriteTree(t, files)
	var logs bytes.Buffer
	s := newScanner(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if s.Rules() < 150 {
		t.Errorf("rules = %d, want the gitleaks default set (150+)", s.Rules())
	}
	res, err := s.ScanTarget(context.Background(), "dir:"+dir, TargetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wantFrom(want, -1, nil), summarize(res, nil)); d != "" {
		t.Errorf("findings (-want +got):\n%s", d)
	}
	if res.Binary != 1 {
		t.Errorf("binary files = %d, want 1 (usr/local/bin/app)", res.Binary)
	}
	if res.Files != 8 {
		t.Errorf("text files read = %d, want 8", res.Files)
	}
	for _, f := range res.Findings {
		if len(f.Fingerprint) != 64 || !strings.HasSuffix(f.Redacted, "****") || len(f.Redacted) > 8 || f.Entropy <= 0 || f.Description == "" || f.Severity == "" {
			t.Errorf("finding %+v: want a 64-hex fingerprint, a redacted excerpt, an entropy, a description, a severity", f)
		}
	}
	b, _ := json.Marshal(res)
	checkNoSecret(t, "the result's JSON", b, want)
	checkNoSecret(t, "the logs", logs.Bytes(), want)

	// Fingerprints are stable across scans and places.
	again, err := s.ScanDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(res.Findings, again.Findings); d != "" {
		t.Errorf("second scan differs:\n%s", d)
	}
}

func TestScanDockerSaveWhiteout(t *testing.T) {
	files, want := secrettest.FixtureFiles()
	layers := secrettest.ImageLayers(t, files)
	archive, diffIDs := secrettest.DockerSave(t, layers)
	s := newScanner(t, Config{})
	res, err := s.ScanTarget(context.Background(), "docker-archive:"+archive, TargetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The key deleted by layer 2 is still in layer 1: reported, deleted.
	wantG := wantFrom(want, 0, map[string]bool{"/etc/app/aws.env": true})
	if d := cmp.Diff(wantG, summarize(res, diffIDs)); d != "" {
		t.Errorf("findings (-want +got):\n%s", d)
	}
	b, _ := json.Marshal(res)
	checkNoSecret(t, "the result's JSON", b, want)
}

// fixtureImage is the fixture image with gzip layers, and its diff IDs.
func fixtureImage(t *testing.T) (v1.Image, []string) {
	files, _ := secrettest.FixtureFiles()
	img := empty.Image
	var diffIDs []string
	for _, l := range secrettest.ImageLayers(t, files) {
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(l)), nil })
		if err != nil {
			t.Fatal(err)
		}
		d, _ := layer.DiffID()
		diffIDs = append(diffIDs, d.String())
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			t.Fatal(err)
		}
	}
	return img, diffIDs
}

// TestScanRegistry: the fixture image pulled from a registry on loopback,
// its layers streamed (concurrently) from their blobs.
func TestScanRegistry(t *testing.T) {
	_, want := secrettest.FixtureFiles()
	img, diffIDs := fixtureImage(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	ref := strings.TrimPrefix(srv.URL, "http://") + "/riskmap-test/secrets:1"
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	res, err := newScanner(t, Config{}).ScanTarget(context.Background(), "registry:"+ref, TargetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wantFrom(want, 0, map[string]bool{"/etc/app/aws.env": true}), summarize(res, diffIDs)); d != "" {
		t.Errorf("findings (-want +got):\n%s", d)
	}
}

func TestScanOCIArchiveGzipLayers(t *testing.T) {
	_, want := secrettest.FixtureFiles()
	img, diffIDs := fixtureImage(t)
	dir := filepath.Join(t.TempDir(), "oci")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "image.oci.tar")
	if err := tarDir(dir, archive); err != nil {
		t.Fatal(err)
	}
	s := newScanner(t, Config{})
	wantG := wantFrom(want, 0, map[string]bool{"/etc/app/aws.env": true})
	for _, target := range []string{"oci-dir:" + dir, "oci-archive:" + archive} {
		res, err := s.ScanTarget(context.Background(), target, TargetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(wantG, summarize(res, diffIDs)); d != "" {
			t.Errorf("%s: findings (-want +got):\n%s", target, d)
		}
	}
}

// tarDir writes the files under dir into a tar.
func tarDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: fi.Size(), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func TestAllow(t *testing.T) {
	files, want := secrettest.FixtureFiles()
	dir := secrettest.WriteTree(t, files)
	var fpGitHubDeploy string
	{
		res, err := newScanner(t, Config{}).ScanDir(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range res.Findings {
			if f.Path == "/opt/app/deploy.sh" {
				fpGitHubDeploy = f.Fingerprint
			}
		}
	}
	drop := func(paths ...string) []got {
		var out []got
	next:
		for _, g := range wantFrom(want, -1, nil) {
			for _, p := range paths {
				if g.Path == p {
					continue next
				}
			}
			out = append(out, g)
		}
		return out
	}
	for _, tc := range []struct {
		name              string
		paths, rules, fps []string
		want              []got
		allowed           int
		wantErr           bool
	}{
		{name: "path_glob_any_depth", paths: []string{"testdata/**"}, want: drop("/srv/www/testdata/fake.env")},
		{name: "path_absolute_dir", paths: []string{"/etc/app"}, want: drop("/etc/app/aws.env", "/etc/app/db.conf")},
		{name: "path_star", paths: []string{"/opt/app/*.yaml"}, want: drop("/opt/app/notify.yaml")},
		{name: "rule", rules: []string{"github-pat"}, want: drop("/opt/app/deploy.sh", "/srv/www/testdata/fake.env"), allowed: 2},
		{name: "fingerprint", fps: []string{strings.ToUpper(fpGitHubDeploy)}, want: drop("/opt/app/deploy.sh"), allowed: 1},
		{name: "bad_fingerprint", fps: []string{"abc"}, wantErr: true},
		{name: "bad_rule", rules: []string{"two words"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewAllow(tc.paths, tc.rules, tc.fps)
			if tc.wantErr {
				if err == nil {
					t.Fatal("NewAllow: no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			res, err := newScanner(t, Config{Allow: a}).ScanDir(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, summarize(res, nil)); d != "" {
				t.Errorf("findings (-want +got):\n%s", d)
			}
			if res.Allowed != tc.allowed {
				t.Errorf("allowed = %d, want %d", res.Allowed, tc.allowed)
			}
		})
	}
}

func TestParseIgnore(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	data := []byte(`# vulnerabilities and secrets in one file
CVE-2024-0001 package=openssl not reachable
secret:path=testdata/** fixtures of the test suite
secret:rule=generic-api-key expires=2026-01-31 noisy until the config moves
secret:fingerprint=` + fp + ` rotated on 2026-11-02
`)
	entries, err := ParseIgnore(data, "ignore.txt")
	if err != nil {
		t.Fatal(err)
	}
	wantE := []IgnoreEntry{
		{Kind: "path", Value: "testdata/**", Reason: "fixtures of the test suite", Source: "ignore.txt:3"},
		{Kind: "rule", Value: "generic-api-key", Reason: "noisy until the config moves", Expires: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), Source: "ignore.txt:4"},
		{Kind: "fingerprint", Value: fp, Reason: "rotated on 2026-11-02", Source: "ignore.txt:5"},
	}
	if d := cmp.Diff(wantE, entries); d != "" {
		t.Errorf("entries (-want +got):\n%s", d)
	}
	a, expired := AllowFrom(entries, time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	if len(expired) != 1 || expired[0].Value != "generic-api-key" {
		t.Errorf("expired = %+v, want the generic-api-key entry", expired)
	}
	if a.Allows(&Finding{RuleID: "generic-api-key", Path: "/x"}) {
		t.Error("an expired entry still applies")
	}
	if !a.Allows(&Finding{RuleID: "x", Path: "/a/testdata/b/c.env"}) || !a.Allows(&Finding{RuleID: "x", Path: "/y", Fingerprint: fp}) {
		t.Error("live entries do not apply")
	}
	for _, bad := range []string{
		"secret:path=/x",                 // no reason
		"secret:colour=red because",      // unknown kind
		"secret:fingerprint=12 reason",   // not 64 hex
		"secret:rule=x expires=soon why", // bad date
		"secret: nothing",
	} {
		if _, err := ParseIgnore([]byte(bad), "f"); err == nil {
			t.Errorf("ParseIgnore(%q): no error", bad)
		}
	}
}

func TestChunksKeepLineNumbers(t *testing.T) {
	s := secrettest.FakeSecrets()
	var b strings.Builder
	for i := range 5000 {
		b.WriteString("filler line number ")
		b.WriteString(strings.Repeat("x", i%50))
		b.WriteString("\n")
	}
	b.WriteString("export GITHUB_TOKEN=" + s["github"] + "\n") // line 5001
	for range 3000 {
		b.WriteString("more filler\n")
	}
	b.WriteString("aws_access_key_id = " + s["aws"] + "\n") // line 8002
	dir := secrettest.WriteTree(t, map[string][]byte{"big/file.txt": []byte(b.String())})
	res, err := newScanner(t, Config{ChunkSize: 4096, Workers: 2}).ScanDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []got{{"github-pat", "/big/file.txt", 5001, -1, false}, {"aws-access-token", "/big/file.txt", 8002, -1, false}}
	if d := cmp.Diff(want, summarize(res, nil), cmp.Transformer("sort", func(g []got) []got { return g })); d != "" {
		// findings are sorted by line
		t.Errorf("findings (-want +got):\n%s", d)
	}
}

func TestLimits(t *testing.T) {
	files, _ := secrettest.FixtureFiles()
	dir := secrettest.WriteTree(t, files)
	res, err := newScanner(t, Config{MaxFileSize: 80}).ScanDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var skipped []string
	for _, sk := range res.Skipped {
		skipped = append(skipped, sk.Path)
	}
	if len(skipped) == 0 || !strings.Contains(strings.Join(skipped, " "), "/root/.ssh/id_rsa") {
		t.Errorf("skipped = %v, want the private key (over 80 bytes)", skipped)
	}
	for _, f := range res.Findings {
		if f.Path == "/root/.ssh/id_rsa" {
			t.Error("a file over the size limit was read")
		}
	}
	res, err = newScanner(t, Config{MaxTotalBytes: 1, Workers: 1}).ScanDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Truncated || res.Files > 1 {
		t.Errorf("truncated = %v after %d files, want true after 1", res.Truncated, res.Files)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"AKIAABCDEFGHIJKLMNOP": "AKIA****",
		"short":                "****",
		"12345678":             "12****",
		"":                     "****",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCancel(t *testing.T) {
	files, _ := secrettest.FixtureFiles()
	dir := secrettest.WriteTree(t, files)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := newScanner(t, Config{}).ScanDir(ctx, dir); err == nil {
		t.Error("a cancelled scan returned no error")
	}
}

func TestMaxFindings(t *testing.T) {
	files, want := secrettest.FixtureFiles()
	dir := secrettest.WriteTree(t, files)
	res, err := newScanner(t, Config{MaxFindings: 2}).ScanDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 2 || res.Dropped != len(want)-2 {
		t.Errorf("kept %d, dropped %d; want 2 and %d", len(res.Findings), res.Dropped, len(want)-2)
	}
}

// TestPEMNotCut: a private key that a chunk boundary would cut is read
// whole into one chunk.
func TestPEMNotCut(t *testing.T) {
	s := secrettest.FakeSecrets()
	for _, pad := range []int{0, 100, 1000, 3000} {
		var b strings.Builder
		for b.Len() < 4096-pad {
			b.WriteString("# padding line\n")
		}
		start := strings.Count(b.String(), "\n") + 1
		b.WriteString(s["pem"] + "\n")
		dir := secrettest.WriteTree(t, map[string][]byte{"etc/keys.txt": []byte(b.String())})
		res, err := newScanner(t, Config{ChunkSize: 4096}).ScanDir(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		want := []got{{"private-key", "/etc/keys.txt", start, -1, false}}
		if d := cmp.Diff(want, summarize(res, nil)); d != "" {
			t.Errorf("pad %d: findings (-want +got):\n%s", pad, d)
		}
	}
}
