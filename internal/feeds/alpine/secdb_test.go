package alpine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/vuln/osv"
)

func TestParseShared(t *testing.T) {
	dir := testenv.SharedFeeds(t)
	for repo, want := range map[string]int{"main": 286, "community": 479} {
		f, err := os.Open(filepath.Join(dir, "alpine", "secdb", "edge", repo+".json"))
		if err != nil {
			t.Fatal(err)
		}
		db, err := Parse(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(db.Packages) != want {
			t.Errorf("%s: %d packages, want %d", repo, len(db.Packages), want)
		}
		if len(db.ToOSV()) < 3000 {
			t.Errorf("%s: only %d records", repo, len(db.ToOSV()))
		}
	}
}

func TestToOSV(t *testing.T) {
	in := `{"distroversion":"v3.19","reponame":"main","packages":[{"pkg":{"name":"glib","secfixes":{
		"0":["CVE-2000-1"],
		"2.66.6-r0":["CVE-2021-27219 GHSL-2021-045"],
		"2.60.4-r0":["CVE-2021-27219"]}}}]}`
	db, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	got := db.ToOSV()
	want := []*osv.Vulnerability{{
		ID: "CVE-2021-27219",
		Affected: []osv.Affected{{
			Package: osv.Package{Ecosystem: "Alpine:v3.19", Name: "glib"},
			Ranges:  []osv.Range{{Type: "ECOSYSTEM", Events: []osv.Event{{Introduced: "0"}, {Fixed: "2.60.4-r0"}}}},
		}},
	}}
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty(), cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".DatabaseSpecific" }, cmp.Ignore())); d != "" {
		t.Errorf("ToOSV (-want +got):\n%s", d)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(`{"distroversion":"edge","reponame":"main","packages":[{"pkg":{"name":"a","secfixes":{"1.0-r0":["CVE-2020-1 X"]}}}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		db, err := Parse(strings.NewReader(s))
		if err == nil {
			_ = db.ToOSV()
		}
	})
}
