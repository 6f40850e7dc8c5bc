package match

import (
	"testing"

	"github.com/google/osv-scalibr/semantic"
	"github.com/riskmap/riskmap/internal/vulndb"
)

var fuzzEcosystems = []string{"Debian", "AlmaLinux", "Alpine", "Go", "PyPI", "crates.io", "npm", "Maven", "RubyGems", "NuGet", "Packagist"}

// FuzzVersionCompare checks the comparators the matcher relies on: no
// panics, and compare(a,b) = -compare(b,a).
func FuzzVersionCompare(f *testing.F) {
	seeds := [][2]string{
		{"1:1.2.11.dfsg-2+deb11u1", "1.2.11.dfsg-2+deb11u2"}, {"1.0~rc1", "1.0"}, {"3.0.7-24.el9", "1:3.0.7-25.el9_3"},
		{"1.2.3-r10", "1.2.3-r2"}, {"1.2.3_rc1", "1.2.3_p1"}, {"v0.0.0-20210226172049-e18ecbb05110", "v0.3.5"},
		{"1.0.0-alpha.1", "1.0.0"}, {"1!2.0.post1", "2.0.dev3"}, {"1.0-SNAPSHOT", "1.0.RC1"}, {"1.0.0.pre", "1.0.0"},
	}
	for i, s := range seeds {
		f.Add(uint8(i), s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, e uint8, a, b string) {
		eco := fuzzEcosystems[int(e)%len(fuzzEcosystems)]
		va, errA := semantic.Parse(a, eco)
		vb, errB := semantic.Parse(b, eco)
		if errA != nil || errB != nil {
			return
		}
		ab, err1 := va.Compare(vb)
		ba, err2 := vb.Compare(va)
		if err1 != nil || err2 != nil {
			return
		}
		if ab != -ba {
			t.Errorf("%s: compare(%q,%q)=%d but compare(%q,%q)=%d", eco, a, b, ab, b, a, ba)
		}
	})
}

// FuzzAffects runs the range evaluation on arbitrary events.
func FuzzAffects(f *testing.F) {
	f.Add("1.2.3", "0", "1.5", "1.1", uint8(3))
	f.Add("2.0", "1.0", "", "2.0", uint8(4))
	f.Fuzz(func(t *testing.T, version, intro, fixed, last string, e uint8) {
		eco := fuzzEcosystems[int(e)%len(fuzzEcosystems)]
		vp, err := semantic.Parse(version, eco)
		if err != nil {
			return
		}
		r := vulndb.Range{Events: []vulndb.Event{{Kind: vulndb.Introduced, Version: intro}}}
		if fixed != "" {
			r.Events = append(r.Events, vulndb.Event{Kind: vulndb.Fixed, Version: fixed})
		}
		if last != "" {
			r.Events = append(r.Events, vulndb.Event{Kind: vulndb.LastAffected, Version: last})
		}
		_, _ = Affects(vulndb.Affected{Ranges: []vulndb.Range{r}, Versions: []string{last}}, vp, version)
	})
}
