package match

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/inventory/scanner"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/vulndb"
	"github.com/riskmap/riskmap/internal/vulndb/kbtest"
)

var draftDiffs = flag.Bool("draft-diffs", false, "write testdata/accuracy/differences.draft.json with every difference (verdicts to be reviewed)")

// expected is one recorded osv-scanner run (record-osv-scanner.sh).
type expected struct {
	Tool     string `json:"tool"`
	Target   string `json:"target"`
	Packages []struct {
		Name          string   `json:"name"`
		OSPackageName string   `json:"osPackageName"`
		Version       string   `json:"version"`
		Ecosystem     string   `json:"ecosystem"`
		Location      string   `json:"location"`
		IDs           []string `json:"ids"`
	} `json:"packages"`
}

// Difference is one vulnerability record reported by only one tool for a
// package, with the reviewer's verdict.
type Difference struct {
	Target    string `json:"target"`
	Ecosystem string `json:"ecosystem"`
	Package   string `json:"package"`
	Version   string `json:"version"`
	ID        string `json:"id"`
	// Side is "riskmap-only" or "osv-scanner-only".
	Side string `json:"side"`
	// Verdict says who is right: "riskmap", "osv-scanner" or "both" (a
	// policy choice either way).
	Verdict string `json:"verdict"`
	Reason  string `json:"reason"`
}

func (d Difference) key() string {
	return strings.Join([]string{d.Target, d.Ecosystem, d.Package, d.Version, d.ID, d.Side}, "|")
}

// TestAccuracy matches the packages osv-scanner v2.6.0 found in each
// accuracy target against our knowledge base (built from the same zips)
// and compares the vulnerability records per package. Every difference must
// be listed, with a verdict and a reason, in testdata/accuracy/differences.json;
// a listed difference that no longer occurs fails too, so the review stays true.
func TestAccuracy(t *testing.T) {
	files, err := filepath.Glob("testdata/accuracy/expected/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded osv-scanner results (run testdata/accuracy/record-osv-scanner.sh): %v", err)
	}
	db := kbtest.Shared(t)
	m := New(db)
	var got []Difference
	totalTheirs, totalOurs, agree := 0, 0, 0
	for _, f := range files {
		var exp expected
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &exp); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		inv := &inventory.Inventory{}
		for _, p := range exp.Packages {
			pkg := inventory.Package{Name: p.Name, Version: p.Version, Ecosystem: p.Ecosystem, Locations: []string{p.Location}}
			if p.OSPackageName != "" && p.OSPackageName != p.Name {
				pkg.Name, pkg.SourceName = p.OSPackageName, p.Name
			}
			inv.Packages = append(inv.Packages, pkg)
		}
		res, err := m.Match(context.Background(), inv, Options{})
		if err != nil {
			t.Fatal(err)
		}
		d, c := compareToExpected(exp, res)
		got = append(got, d...)
		totalTheirs, totalOurs, agree = totalTheirs+c.theirs, totalOurs+c.ours, agree+c.agree
	}
	t.Logf("osv-scanner records: %d, riskmap records: %d, agreed: %d, differences: %d", totalTheirs, totalOurs, agree, len(got))
	checkReviewed(t, got, "testdata/accuracy/differences.json")
}

type counts struct{ theirs, ours, agree int }

// compareToExpected lists, per package, the records only one tool reports.
// Packages are identified by ecosystem, advisory name (source package for
// Debian) and version.
func compareToExpected(exp expected, res *Result) ([]Difference, counts) {
	var c counts
	var got []Difference
	// Ours are indexed under the inventory version and under the version
	// advisories were matched with (source version for Debian, epoch-prefixed
	// for RPM), since osv-scanner reports either form.
	type set struct {
		eco, name, version string
		ids                map[string]bool
		used               bool
	}
	ours := map[string]*set{}
	var all []*set
	pkgKey := func(eco, name, version string) string {
		eco = vulndb.NormalizeEcosystem(eco)
		return eco + "|" + vulndb.NormalizeName(eco, name) + "|" + version
	}
	for _, fd := range res.Findings {
		k := pkgKey(fd.Package.Ecosystem, fd.MatchedAs.Name, fd.Package.Version)
		st := ours[k]
		if st == nil {
			st = &set{eco: fd.Package.Ecosystem, name: fd.MatchedAs.Name, version: fd.Package.Version, ids: map[string]bool{}}
			ours[k] = st
			all = append(all, st)
		}
		if k2 := pkgKey(fd.Package.Ecosystem, fd.MatchedAs.Name, fd.MatchedAs.Version); ours[k2] == nil {
			ours[k2] = st
		}
		for _, r := range fd.Records {
			st.ids[r] = true
		}
	}
	seen := map[string]bool{}
	for _, p := range exp.Packages {
		k := pkgKey(p.Ecosystem, p.Name, p.Version)
		if seen[k] {
			continue
		}
		seen[k] = true
		theirs := map[string]bool{}
		for _, id := range p.IDs {
			theirs[id] = true
		}
		mine := map[string]bool{}
		if st := ours[k]; st != nil && !st.used {
			st.used, mine = true, st.ids
		}
		for id := range theirs {
			c.theirs++
			if mine[id] {
				c.agree++
			} else {
				got = append(got, Difference{Target: exp.Target, Ecosystem: p.Ecosystem, Package: p.Name, Version: p.Version, ID: id, Side: "osv-scanner-only"})
			}
		}
		for id := range mine {
			c.ours++
			if !theirs[id] {
				got = append(got, Difference{Target: exp.Target, Ecosystem: p.Ecosystem, Package: p.Name, Version: p.Version, ID: id, Side: "riskmap-only"})
			}
		}
	}
	// Findings on packages osv-scanner did not report at all.
	for _, st := range all {
		if st.used {
			continue
		}
		for id := range st.ids {
			c.ours++
			got = append(got, Difference{Target: exp.Target, Ecosystem: st.eco, Package: st.name, Version: st.version, ID: id, Side: "riskmap-only"})
		}
	}
	sort.Slice(got, func(i, j int) bool { return got[i].key() < got[j].key() })
	return got, c
}

// checkReviewed fails on any difference not in the reviewed file and on
// reviewed entries that no longer occur.
func checkReviewed(t *testing.T, got []Difference, file string) {
	t.Helper()
	sort.Slice(got, func(i, j int) bool { return got[i].key() < got[j].key() })
	if *draftDiffs {
		b, _ := json.MarshalIndent(got, "", "  ")
		os.WriteFile(strings.TrimSuffix(file, ".json")+".draft.json", append(b, '\n'), 0o644)
	}
	var reviewed []Difference
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &reviewed); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	want := map[string]Difference{}
	for _, d := range reviewed {
		if d.Verdict != "riskmap" && d.Verdict != "osv-scanner" && d.Verdict != "both" || d.Reason == "" {
			t.Errorf("%s: %s: verdict %q / reason %q not reviewed", file, d.key(), d.Verdict, d.Reason)
		}
		want[d.key()] = d
	}
	for _, d := range got {
		if _, ok := want[d.key()]; !ok {
			t.Errorf("unreviewed difference: %s %s %s@%s %s (%s); add it to %s with a verdict", d.Target, d.Ecosystem, d.Package, d.Version, d.ID, d.Side, file)
		}
		delete(want, d.key())
	}
	for k := range want {
		t.Errorf("reviewed difference no longer occurs (remove it from %s): %s", file, k)
	}
	wrong := 0
	for _, d := range reviewed {
		if d.Verdict == "osv-scanner" {
			wrong++
		}
	}
	t.Logf("%s: differences where osv-scanner is judged right: %d of %d", file, wrong, len(reviewed))
}

// TestAccuracyEndToEnd runs our own inventory scanner on the same targets
// (the Go binary is built from targets/gobin, the bookworm rootfs comes from
// testenv) and compares the whole pipeline's findings to osv-scanner's.
// Differences, including those from extraction, are reviewed in
// testdata/accuracy/differences-e2e.json.
func TestAccuracyEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go binary and scans the bookworm rootfs")
	}
	db := kbtest.Shared(t)
	m := New(db)
	targets := map[string]string{}
	for _, name := range []string{"python-requirements", "python-poetry", "python-distinfo", "cargo", "dpkg-bullseye", "rpm-alma9"} {
		targets[name] = filepath.Join("testdata", "accuracy", "targets", name)
	}
	targets["gobin"] = filepath.Dir(accuracyGoBinary(t))
	targets["bookworm-full"] = testenv.BookwormRootfs(t, testenv.RootfsFull)
	var got []Difference
	var total counts
	names := make([]string, 0, len(targets))
	for n := range targets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		var exp expected
		b, err := os.ReadFile(filepath.Join("testdata", "accuracy", "expected", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &exp); err != nil {
			t.Fatal(err)
		}
		inv, err := scanner.Scan(context.Background(), "dir:"+targets[name], scanner.Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		res, err := m.Match(context.Background(), inv, Options{})
		if err != nil {
			t.Fatal(err)
		}
		d, c := compareToExpected(exp, res)
		got = append(got, d...)
		total.theirs, total.ours, total.agree = total.theirs+c.theirs, total.ours+c.ours, total.agree+c.agree
		t.Logf("%s: %d packages, osv-scanner %d records, riskmap %d, agreed %d", name, len(inv.Packages), c.theirs, c.ours, c.agree)
	}
	t.Logf("end to end: osv-scanner records %d, riskmap %d, agreed %d, differences %d", total.theirs, total.ours, total.agree, len(got))
	checkReviewed(t, got, "testdata/accuracy/differences-e2e.json")
}

// accuracyGoBinary builds targets/gobin (old golang.org/x/net, x/text,
// jwt-go, yaml.v2, websocket, gjson) once into the test cache.
func accuracyGoBinary(t *testing.T) string {
	t.Helper()
	src, _ := filepath.Abs(filepath.Join("testdata", "accuracy", "targets", "gobin"))
	sum, err := os.ReadFile(filepath.Join(src, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(sum)
	out := filepath.Join(testenv.CacheDir(t), "accuracy", "gobin-"+hex.EncodeToString(h[:6]), "gobin")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build accuracy Go binary: %v\n%s", err, b)
	}
	return out
}
