package deploytest_test

import (
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/testenv"
)

// TestReleaseScript runs `make release`'s script for this machine's
// platform (RELEASE_PLATFORMS keeps CI to one build): a static binary with
// the version and the web UI, SHA256SUMS that verify, and a CycloneDX SBOM
// riskmap made of itself listing its Go modules.
func TestReleaseScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the release binary")
	}
	root := testenv.ModuleRoot(t)
	if _, err := os.Stat(filepath.Join(root, "web", "dist", "app", "index.html")); err != nil {
		testenv.Missing(t, "the web UI build (web/dist/app)", "cd web && npm ci && npm run build; make test does it first")
	}
	dist := t.TempDir()
	platform := "linux/" + runtime.GOARCH
	const version = "v0.0.0-release-test"
	out := run(t, root, []string{"RELEASE_PLATFORMS=" + platform, "DIST=" + dist, "VERSION=" + version}, "bash", "scripts/release.sh")
	t.Logf("release:\n%s", out)

	bin := filepath.Join(dist, "riskmap-"+version+"-linux-"+runtime.GOARCH)
	sbomPath := bin + ".cdx.json"
	entries, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"SHA256SUMS", filepath.Base(bin), filepath.Base(sbomPath)}; strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("dist holds %v, want %v", names, want)
	}
	// The checksums verify, and name both files.
	sums := run(t, dist, nil, "sha256sum", "-c", "SHA256SUMS")
	for _, f := range []string{filepath.Base(bin), filepath.Base(sbomPath)} {
		if !strings.Contains(sums, f+": OK") {
			t.Errorf("sha256sum -c does not check %s:\n%s", f, sums)
		}
	}

	// Static, trimmed, the version set, the UI embedded.
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter: not static", bin)
		}
	}
	ef.Close()
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings %v, want CGO_ENABLED=0 and -trimpath", settings)
	}
	if v := run(t, root, nil, bin, "--version"); !strings.Contains(v, version) {
		t.Errorf("--version = %q, want %s", v, version)
	}
	if fi, err := os.Stat(bin); err != nil || fi.Size() < 20<<20 {
		t.Errorf("binary size %v (%v): the web UI and modules should make it larger", fi, err)
	}

	// The SBOM: CycloneDX JSON of the binary's Go modules.
	raw, err := os.ReadFile(sbomPath)
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		BOMFormat string `json:"bomFormat"`
		Metadata  struct {
			Component struct{ Name string }
		}
		Components []struct {
			Name, Version, Purl string
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &bom); err != nil {
		t.Fatalf("SBOM: %v", err)
	}
	if bom.BOMFormat != "CycloneDX" {
		t.Errorf("bomFormat %q", bom.BOMFormat)
	}
	if bom.Metadata.Component.Name != filepath.Base(bin) {
		t.Errorf("the SBOM describes %q, want the release file's name %q", bom.Metadata.Component.Name, filepath.Base(bin))
	}
	found := map[string]string{}
	for _, c := range bom.Components {
		found[c.Name] = c.Purl
	}
	for _, dep := range bi.Deps {
		if dep.Replace != nil {
			continue
		}
		if purl, ok := found[dep.Path]; !ok || !strings.HasPrefix(purl, "pkg:golang/") {
			t.Errorf("SBOM lacks Go module %s %s (purl %q)", dep.Path, dep.Version, purl)
		}
	}
	for _, must := range []string{"github.com/jackc/pgx/v5", "k8s.io/client-go", "modernc.org/sqlite"} {
		if _, ok := found[must]; !ok {
			t.Errorf("SBOM lacks %s", must)
		}
	}
	t.Logf("SBOM lists %d components for %d linked modules", len(bom.Components), len(bi.Deps))
}
