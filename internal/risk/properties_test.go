package risk

import (
	"math/rand/v2"
	"testing"

	"github.com/riskmap/riskmap/internal/match"
)

// The ordering rules of docs/risk.md ("Ordering rules"), checked as
// properties over generated findings and exposures.

// level is an exposure the generator can build, in the documented order.
type level int

const (
	lvNotDeployed level = iota
	lvUnused
	lvInUse
	lvLocal
	lvListening
	lvInternet
)

var levelNames = []string{"not deployed", "unused", "in use", "loopback only", "listening", "internet"}

// exposureAt is a node's topology that puts a package at usr/local/bin/app
// at level l.
func exposureAt(l level) Exposure {
	target := Hop{NodeID: "c1", Kind: "container", Name: "web"}
	other := Process{PID: 2, Name: "sh", LoadedFiles: []string{"/bin/sh"}, Listening: []Endpoint{{Proto: "tcp", Addr: "0.0.0.0", Port: 22}}}
	app := Process{PID: 7, Name: "app", LoadedFiles: []string{"/usr/local/bin/app"}}
	switch l {
	case lvNotDeployed:
		return Exposure{NotDeployed: true}
	case lvUnused:
		return Exposure{Known: true, Processes: []Process{other}}
	case lvInUse:
		return Exposure{Known: true, Processes: []Process{other, app}}
	case lvLocal:
		// Loopback addresses, and every address of a namespace without
		// network (a --network none container).
		app.Listening = []Endpoint{{Proto: "tcp", Addr: "127.0.0.1", Port: 6060}, {Proto: "tcp", Addr: "::1", Port: 6060},
			{Proto: "tcp", Addr: "0.0.0.0", Port: 8080, Isolated: true}}
		return Exposure{Known: true, Internet: true, Path: []Hop{{Kind: "internet"}, target}, Processes: []Process{other, app}}
	case lvListening:
		app.Listening = []Endpoint{{Proto: "tcp", Addr: "10.0.0.5", Port: 8080}}
		return Exposure{Known: true, Processes: []Process{app}}
	default:
		app.Listening = []Endpoint{{Proto: "tcp", Addr: "0.0.0.0", Port: 8080}}
		return Exposure{Known: true, Internet: true, Path: []Hop{{Kind: "internet"}, target}, Processes: []Process{app}}
	}
}

// genFinding is any finding the knowledge base could produce: with or
// without CVSS, any band, with or without EPSS, in KEV or not.
func genFinding(r *rand.Rand, kev bool) match.Finding {
	bands := []string{match.SeverityCritical, match.SeverityHigh, match.SeverityMedium, match.SeverityLow, match.SeverityUnknown}
	f := match.Finding{ID: "CVE-X", Severity: bands[r.IntN(len(bands))],
		Package: match.PackageRef{Name: "app", Version: "1", Locations: []string{"usr/local/bin/app"}}}
	if r.IntN(3) > 0 {
		f.CVSS = &match.CVSSInfo{Version: "3.1", BaseScore: float64(1+r.IntN(100)) / 10}
	}
	if r.IntN(4) > 0 {
		p := r.Float64()
		if r.IntN(10) == 0 {
			p = 1
		}
		f.EPSS = &match.EPSSInfo{Score: p, Percentile: p}
	}
	if kev {
		f.KEV = &match.KEVInfo{DateAdded: "2024-01-01", Ransomware: r.IntN(2) == 0}
	}
	return f
}

func score(f match.Finding, l level) Result {
	return Score(&f, nil, exposureAt(l), Hop{NodeID: "c1", Kind: "container", Name: "web"})
}

// raw is a result's score before rounding to one decimal (the product of
// its factors): strict orderings are of it, as two tiny scores may show
// the same rounded value.
func raw(r Result) float64 {
	return r.Factors[0].Value * r.Factors[1].Value * r.Factors[2].Value * 10
}

const propertyRuns = 20000

// TestPropertyExploitEvidenceFirst: a KEV finding in use (or more
// exposed) outranks every finding not in KEV at the same or a lower
// exposure.
func TestPropertyExploitEvidenceFirst(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 19))
	for range propertyRuns {
		la := lvInUse + level(r.IntN(int(lvInternet-lvInUse)+1))
		lb := level(r.IntN(int(la) + 1))
		a, b := genFinding(r, true), genFinding(r, false)
		sa, sb := score(a, la), score(b, lb)
		if sa.Score <= sb.Score || raw(sa) <= raw(sb) {
			t.Fatalf("KEV at %s scored %v, not above %v of a finding not in KEV at %s:\n%+v\n%+v", levelNames[la], sa.Score, sb.Score, levelNames[lb], sa.Factors, sb.Factors)
		}
	}
}

// TestPropertyExposureOrder: the same finding ranks higher at each step of
// exposure (not deployed, unused, in use, loopback only, listening,
// internet): strictly before rounding, never lower after.
func TestPropertyExposureOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 19))
	for range propertyRuns {
		f := genFinding(r, r.IntN(4) == 0)
		prev, prevRaw := -1.0, -1.0
		for l := lvNotDeployed; l <= lvInternet; l++ {
			res := score(f, l)
			if res.Score < prev || raw(res) <= prevRaw {
				t.Fatalf("%s scored %v (%v) after %v (%v) one step less exposed (%+v)", levelNames[l], res.Score, raw(res), prev, prevRaw, f)
			}
			prev, prevRaw = res.Score, raw(res)
		}
	}
}

// TestPropertyDeployedBeforeIdle: a finding of an image no container runs
// ranks below the same finding on any running container of it, whatever
// that container's exposure (unknown included).
func TestPropertyDeployedBeforeIdle(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 19))
	for range propertyRuns {
		f := genFinding(r, r.IntN(4) == 0)
		idle := score(f, lvNotDeployed)
		unknown := Score(&f, nil, Exposure{}, Hop{})
		running := score(f, lvUnused+level(r.IntN(int(lvInternet))))
		if raw(idle) >= raw(running) || raw(idle) >= raw(unknown) || idle.Score > running.Score || idle.Score > unknown.Score {
			t.Fatalf("not deployed %v, running %v, unknown %v (%+v)", idle.Score, running.Score, unknown.Score, f)
		}
	}
}

// TestPropertyBounded: every score is within 0-100 and explained by three
// factors whose product it is.
func TestPropertyBounded(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 19))
	for range propertyRuns {
		f := genFinding(r, r.IntN(2) == 0)
		res := score(f, level(r.IntN(int(lvInternet)+1)))
		if res.Score < 0 || res.Score > 100 || len(res.Factors) != 3 {
			t.Fatalf("score %v factors %+v", res.Score, res.Factors)
		}
		p := raw(res)
		if d := p - res.Score; d > 0.050001 || d < -0.050001 {
			t.Fatalf("score %v is not the product of its factors %v", res.Score, p)
		}
		for _, fc := range res.Factors {
			if fc.Reason == "" {
				t.Fatalf("factor %s unexplained", fc.Name)
			}
		}
	}
}
