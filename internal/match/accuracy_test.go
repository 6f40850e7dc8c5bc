package match

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/inventory"
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
		ours := map[string]map[string]bool{}
		pkgKey := func(eco, name, version string) string { return eco + "|" + name + "|" + version }
		for _, fd := range res.Findings {
			k := pkgKey(fd.Package.Ecosystem, fd.MatchedAs.Name, fd.Package.Version)
			if ours[k] == nil {
				ours[k] = map[string]bool{}
			}
			for _, r := range fd.Records {
				ours[k][r] = true
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
			name := p.Name
			for id := range theirs {
				totalTheirs++
				if ours[k][id] {
					agree++
				} else {
					got = append(got, Difference{Target: exp.Target, Ecosystem: p.Ecosystem, Package: name, Version: p.Version, ID: id, Side: "osv-scanner-only"})
				}
			}
			for id := range ours[k] {
				totalOurs++
				if !theirs[id] {
					got = append(got, Difference{Target: exp.Target, Ecosystem: p.Ecosystem, Package: name, Version: p.Version, ID: id, Side: "riskmap-only"})
				}
			}
		}
	}
	sort.Slice(got, func(i, j int) bool { return got[i].key() < got[j].key() })
	t.Logf("osv-scanner records: %d, riskmap records: %d, agreed: %d, differences: %d", totalTheirs, totalOurs, agree, len(got))
	if *draftDiffs {
		b, _ := json.MarshalIndent(got, "", "  ")
		os.WriteFile("testdata/accuracy/differences.draft.json", append(b, '\n'), 0o644)
	}
	var reviewed []Difference
	b, err := os.ReadFile("testdata/accuracy/differences.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &reviewed); err != nil {
		t.Fatalf("differences.json: %v", err)
	}
	want := map[string]Difference{}
	for _, d := range reviewed {
		if d.Verdict != "riskmap" && d.Verdict != "osv-scanner" && d.Verdict != "both" || d.Reason == "" {
			t.Errorf("differences.json: %s: verdict %q / reason %q not reviewed", d.key(), d.Verdict, d.Reason)
		}
		want[d.key()] = d
	}
	for _, d := range got {
		if _, ok := want[d.key()]; !ok {
			t.Errorf("unreviewed difference: %s %s %s@%s %s (%s); add it to differences.json with a verdict", d.Target, d.Ecosystem, d.Package, d.Version, d.ID, d.Side)
		}
		delete(want, d.key())
	}
	for k := range want {
		t.Errorf("reviewed difference no longer occurs (remove it from differences.json): %s", k)
	}
	wrong := 0
	for _, d := range reviewed {
		if d.Verdict == "osv-scanner" {
			wrong++
		}
	}
	t.Logf("%s", fmt.Sprintf("differences where osv-scanner is judged right: %d of %d", wrong, len(reviewed)))
}
