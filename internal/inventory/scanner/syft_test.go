package scanner

import (
	"debug/buildinfo"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/testenv"
)

// syft v1.57.1 is never built or run in CI: bench/syft_fixtures.sh builds it
// once and reruns this test with -syft, which records its results as
// fixtures. The test itself only compares riskmap with those records.
var syftBin = flag.String("syft", "", "path to a syft binary: rerun syft on the targets and rewrite testdata/syft/*.json")

// syftFixtureVersion is the syft version the fixtures were recorded with.
const syftFixtureVersion = "1.57.1"

type syftRecord struct {
	SyftVersion string        `json:"syftVersion"`
	Target      string        `json:"target"`
	Packages    []syftPackage `json:"packages"`
}

type syftPackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Type    string `json:"type"`
	PURL    string `json:"purl"`
}

// difference is one reviewed language-package difference.
type difference struct {
	Target  string `json:"target"`
	Side    string `json:"side"` // "riskmap-only" or "syft-only"
	Package string `json:"package"`
	Reason  string `json:"reason"`
}

// syftTargets are the targets compared, named as their fixture files.
func syftTargets(t *testing.T) map[string]string {
	return map[string]string{
		"rootfs_minbase":  "dir:" + testenv.BookwormRootfs(t, testenv.RootfsMinbase),
		"rootfs_full":     "dir:" + testenv.BookwormRootfs(t, testenv.RootfsFull),
		"docker_archive":  "docker-archive:" + testenv.DockerArchive(t, testenv.RootfsMinbase),
		"go_binary":       "dir:" + goOldBinary(t),
		"npm_old":         "dir:" + mustAbs(t, "testdata/npm_old"),
		"python_distinfo": "dir:" + mustAbs(t, "testdata/python_distinfo"),
		"polyglot":        "dir:" + mustAbs(t, "testdata/polyglot"),
		"java_archives":   "dir:" + javaFixture(t),
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestSyftAgreement(t *testing.T) {
	targets := syftTargets(t)
	if *syftBin != "" {
		for name, target := range targets {
			recordSyft(t, name, target)
		}
	}
	b, err := os.ReadFile("testdata/syft/differences.json")
	if err != nil {
		t.Fatal(err)
	}
	var reviewed []difference
	if err := json.Unmarshal(b, &reviewed); err != nil {
		t.Fatalf("differences.json: %v", err)
	}
	seen := map[difference]bool{}
	ran := map[string]bool{}
	var unexplained []difference
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range targets {
			if !yield(k) {
				return
			}
		}
	})
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			ran[name] = true
			rec := readSyft(t, name)
			inv := scan(t, targets[name], Options{})
			// OS packages: exactly the same.
			if diff := cmp.Diff(syftOS(rec), riskmapOS(inv)); diff != "" {
				t.Errorf("OS packages differ (-syft +riskmap):\n%s", diff)
			}
			// Language packages: every difference reviewed.
			sy, rm := syftLang(rec), riskmapLang(inv)
			for _, k := range minus(rm, sy) {
				d := difference{Target: name, Side: "riskmap-only", Package: k}
				if r := reason(reviewed, d); r != "" {
					d.Reason = r
					seen[d] = true
					continue
				}
				unexplained = append(unexplained, d)
			}
			for _, k := range minus(sy, rm) {
				d := difference{Target: name, Side: "syft-only", Package: k}
				if r := reason(reviewed, d); r != "" {
					d.Reason = r
					seen[d] = true
					continue
				}
				unexplained = append(unexplained, d)
			}
		})
	}
	for _, d := range unexplained {
		t.Errorf("unreviewed difference with syft: %s %s %s (add it with a reason to testdata/syft/differences.json)", d.Target, d.Side, d.Package)
	}
	for _, d := range reviewed {
		if d.Reason == "" {
			t.Errorf("difference without a reason: %+v", d)
		}
		if ran[d.Target] && !seen[d] {
			t.Errorf("reviewed difference no longer occurs, remove it: %+v", d)
		}
	}
}

func reason(reviewed []difference, d difference) string {
	for _, r := range reviewed {
		if r.Target == d.Target && r.Side == d.Side && r.Package == d.Package {
			return r.Reason
		}
	}
	return ""
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			out = append(out, x)
		}
	}
	return out
}

var osTypes = map[string]bool{"deb": true, "apk": true, "rpm": true}

func syftOS(rec syftRecord) []string {
	var out []string
	for _, p := range rec.Packages {
		if osTypes[p.Type] {
			out = append(out, p.Type+" "+p.Name+"@"+p.Version)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func riskmapOS(inv *inventory.Inventory) []string {
	var out []string
	for _, p := range inv.Packages {
		if isOS(p) {
			typ, _, _ := strings.Cut(strings.TrimPrefix(p.PURL, "pkg:"), "/")
			out = append(out, typ+" "+p.Name+"@"+p.Version)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// langKey normalises a language package to "purltype/name@version" the way
// both tools can be compared: purl type from the purl, Go versions without
// the "v" or "go" prefix, Python names in PEP 503 form.
func langKey(purl, name, version string) string {
	typ, rest, _ := strings.Cut(strings.TrimPrefix(purl, "pkg:"), "/")
	switch typ {
	case "maven":
		// group:artifact, from the purl (syft names the artifact only).
		rest, _, _ = strings.Cut(rest, "@")
		if ns, art, ok := strings.Cut(rest, "/"); ok {
			name = ns + ":" + art
		}
	case "golang":
		version = strings.TrimPrefix(strings.TrimPrefix(version, "go"), "v")
	case "pypi":
		name = strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(name))
	}
	return typ + "/" + name + "@" + version
}

// syftPurlTypes maps syft package types to purl types, for the packages
// syft gives no purl (local crates, for one).
var syftPurlTypes = map[string]string{
	"rust-crate": "cargo", "go-module": "golang", "npm": "npm", "python": "pypi", "java-archive": "maven",
	"gem": "gem", "php-composer": "composer", "dotnet": "nuget",
}

func syftLang(rec syftRecord) []string {
	var out []string
	for _, p := range rec.Packages {
		if !osTypes[p.Type] {
			purl := p.PURL
			if purl == "" {
				purl = "pkg:" + syftPurlTypes[p.Type] + "/" + p.Name + "@" + p.Version
			}
			out = append(out, langKey(purl, p.Name, p.Version))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func riskmapLang(inv *inventory.Inventory) []string {
	var out []string
	for _, p := range inv.Packages {
		if !isOS(p) {
			out = append(out, langKey(p.PURL, p.Name, p.Version))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func readSyft(t *testing.T, name string) syftRecord {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "syft", name+".json"))
	if err != nil {
		t.Fatalf("syft fixture: %v (bench/syft_fixtures.sh records it)", err)
	}
	var rec syftRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.SyftVersion != syftFixtureVersion {
		t.Fatalf("fixture %s recorded with syft %s, want %s", name, rec.SyftVersion, syftFixtureVersion)
	}
	return rec
}

// recordSyft runs syft on target and writes the reduced fixture.
func recordSyft(t *testing.T, name, target string) {
	t.Helper()
	cmd := exec.Command(*syftBin, "scan", "-q", "-o", "syft-json", target)
	cmd.Env = append(os.Environ(), "SYFT_CHECK_FOR_APP_UPDATE=false")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("syft %s: %v", target, err)
	}
	var doc struct {
		Artifacts  []syftPackage `json:"artifacts"`
		Descriptor struct {
			Version string `json:"version"`
		} `json:"descriptor"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("syft output: %v", err)
	}
	// `go install` builds carry no version string; the module version is
	// in the binary's build information.
	version := doc.Descriptor.Version
	if bi, err := buildinfo.ReadFile(*syftBin); err == nil && bi.Main.Version != "" {
		version = strings.TrimPrefix(bi.Main.Version, "v")
	}
	rec := syftRecord{SyftVersion: version, Target: strings.SplitN(target, ":", 2)[0] + ":<" + name + ">", Packages: doc.Artifacts}
	slices.SortFunc(rec.Packages, func(a, b syftPackage) int {
		return strings.Compare(a.Type+a.Name+a.Version+a.PURL, b.Type+b.Name+b.Version+b.PURL)
	})
	rec.Packages = slices.Compact(rec.Packages)
	b, _ := json.MarshalIndent(rec, "", "  ")
	if err := os.WriteFile(filepath.Join("testdata", "syft", name+".json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "recorded syft %s on %s: %d packages\n", rec.SyftVersion, name, len(rec.Packages))
}
