// Package risk computes the exposure-aware risk of a vulnerability finding
// on its node: severity (CVSS base) × exploit evidence (CISA KEV, EPSS) ×
// exposure (is the package loaded by a running process, does that process
// listen, is the node reachable from the internet). The formula is
// documented in docs/risk.md; Score explains every factor. Findings that
// are not packages (secrets, malware, failed controls) are scored on the
// node's exposure by ScoreOnNode.
package risk

import (
	"fmt"
	"math"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/riskmap/riskmap/internal/match"
)

// Exposure is what the topology knows about a node: its processes (with the
// files they have loaded and the sockets they listen on) and whether the
// internet pseudo-node reaches it, with the path.
type Exposure struct {
	// Known is false when the topology has nothing on the node (not seen
	// by a sensor, or gone): exposure is then unknown, not absent.
	Known     bool      `json:"known"`
	Processes []Process `json:"processes,omitempty"`
	// Internet is true when the internet pseudo-node reaches the node
	// through the connection graph; Path is that route (internet first),
	// the shortest of Paths, the shortest route from each entry point
	// (at most five).
	Internet bool    `json:"internet"`
	Path     []Hop   `json:"path,omitempty"`
	Paths    [][]Hop `json:"paths,omitempty"`
	// NotDeployed is true for an image that no running container (and no
	// process) of the topology uses: its findings are idle risk.
	NotDeployed bool `json:"notDeployed,omitempty"`
	// Node is the node itself as paths name it (its label, not its id),
	// when the topology holds it.
	Node Hop `json:"node,omitempty"`
}

// Process is a running process of the node.
type Process struct {
	NodeID string `json:"nodeId,omitempty"`
	PID    int    `json:"pid"`
	Name   string `json:"name"`
	Exe    string `json:"exe,omitempty"`
	// LoadedFiles are absolute paths (in the process's mount namespace) of
	// the files it has mapped: its executable and shared objects.
	LoadedFiles []string   `json:"loadedFiles,omitempty"`
	Listening   []Endpoint `json:"listening,omitempty"`
	// InternetReachable, Reason and Path say whether and how the internet
	// reaches this process (the topology fills them; Exposure.Path is the
	// first reachable process's). Paths are the shortest route from each
	// entry point that reaches it, shortest first (Path is the first).
	InternetReachable bool    `json:"internetReachable,omitempty"`
	Reason            string  `json:"reason,omitempty"`
	Path              []Hop   `json:"path,omitempty"`
	Paths             [][]Hop `json:"paths,omitempty"`
}

// Endpoint is a listening socket.
type Endpoint struct {
	Proto string `json:"proto"`
	Addr  string `json:"addr"`
	Port  int    `json:"port"`
	// Isolated is true when the socket's network namespace has no
	// interface but loopback (a container started with --network none):
	// whatever address it binds, only the namespace itself reaches it.
	Isolated bool `json:"isolated,omitempty"`
}

// Loopback reports whether the socket is reachable from its own network
// namespace only: it listens on a loopback address (127.0.0.0/8, ::1), or
// its namespace has no other interface.
func (e Endpoint) Loopback() bool {
	if e.Isolated {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(e.Addr, "[]"))
	return err == nil && a.Unmap().IsLoopback()
}

// scope says where a loopback-only socket can be reached from.
func (e Endpoint) scope() string {
	if e.Isolated {
		return "in a network namespace with loopback only"
	}
	return "a loopback address only"
}

func (e Endpoint) String() string {
	return fmt.Sprintf("%s %s", e.Proto, joinHostPort(e.Addr, e.Port))
}

func joinHostPort(h string, p int) string {
	if strings.Contains(h, ":") {
		return fmt.Sprintf("[%s]:%d", h, p)
	}
	return fmt.Sprintf("%s:%d", h, p)
}

// Hop is one node on an attack path.
type Hop struct {
	NodeID string `json:"nodeId,omitempty"`
	Kind   string `json:"kind"`
	Name   string `json:"name"`
}

// Exposure multipliers (docs/risk.md), lowest first.
const (
	ExposureNotDeployed = 0.15 // an image no running container uses
	ExposureUnused      = 0.25 // no running process loads the package
	ExposureUnknown     = 0.5  // no topology for the node, or the package has no files to look for
	ExposureInUse       = 0.5  // loaded by a running process that does not listen
	ExposureLocal       = 0.55 // loaded by a process listening on loopback addresses only
	ExposureListening   = 0.75 // loaded by a process listening on a network address
	ExposureInternet    = 1.0  // ...and the node is reachable from the internet
)

// Severity floors of known-exploited vulnerabilities: with them a KEV
// finding outranks every finding not in KEV at the same or a lower
// exposure (the highest exploit factor outside KEV is 0.9, and 9.5 × 1 >
// 10 × 0.9), whatever CVSS its records carry or lack.
const (
	KEVSeverityFloor        = 9.5
	RansomwareSeverityFloor = 10.0
)

// MaxPaths bounds the attack paths of a finding.
const MaxPaths = 5

// Factor is one term of the score, explained.
type Factor struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Reason string  `json:"reason"`
}

// Result is a finding's risk on its node.
type Result struct {
	Score   float64  `json:"score"` // 0-100
	Factors []Factor `json:"factors"`
	// InUse, Listening and Internet are the exposure facts (nil: unknown).
	InUse     *bool `json:"inUse,omitempty"`
	Listening *bool `json:"listening,omitempty"`
	Internet  *bool `json:"internet,omitempty"`
	// Path is the attack path internet → ... → node → process → package
	// when the package is loaded by a listening process of an
	// internet-reachable node (else the longest known prefix). Paths,
	// when several entry points (a host, a Kubernetes service and its load
	// balancer) reach the process, are the shortest attack path from each,
	// shortest first, at most MaxPaths; Path is the first.
	Path  []Hop   `json:"path,omitempty"`
	Paths [][]Hop `json:"paths,omitempty"`
}

// Severity weights used when no CVSS score is known (the middle of each
// band), as in match.RiskOf.
var severityScore = map[string]float64{
	match.SeverityCritical: 9.5, match.SeverityHigh: 8.0, match.SeverityMedium: 5.5, match.SeverityLow: 2.5, match.SeverityUnknown: 5.0,
}

// Severity returns the severity factor: the CVSS base score, else the band.
func Severity(f *match.Finding) Factor {
	if f.CVSS != nil && f.CVSS.BaseScore > 0 {
		r := fmt.Sprintf("CVSS %s base score %.1f (%s)", f.CVSS.Version, f.CVSS.BaseScore, f.CVSS.Vector)
		if src := cvssSource(f.CVSS); src != "" {
			r += ", from " + src
		}
		return Factor{"severity", f.CVSS.BaseScore, r}
	}
	v, ok := severityScore[f.Severity]
	if !ok {
		v = severityScore[match.SeverityUnknown]
	}
	return Factor{"severity", v, fmt.Sprintf("no CVSS score; severity %q counts as %.1f", f.Severity, v)}
}

// cvssSource names where a CVSS score came from: NVD, a CNA or an ADP
// (CISA-ADP) for a CVE, or an advisory's own vector.
func cvssSource(c *match.CVSSInfo) string {
	var who string
	switch src := c.Source; {
	case src == "":
		return ""
	case src == "nvd":
		who = "NVD"
	case strings.HasPrefix(src, "cna:"):
		who = "the CNA " + strings.TrimPrefix(src, "cna:")
	case strings.HasPrefix(src, "adp:"):
		who = strings.TrimPrefix(src, "adp:")
	case strings.HasPrefix(src, "osv:"):
		return "the advisory " + strings.TrimPrefix(src, "osv:")
	default:
		who = src
	}
	if c.CVE != "" {
		return who + " for " + c.CVE
	}
	return who
}

// Exploit returns the exploit-evidence factor: 1 in CISA KEV, else
// 0.2 + 0.7 × EPSS percentile, else 0.35.
func Exploit(f *match.Finding) Factor {
	switch {
	case f.KEV != nil:
		r := "in CISA KEV (exploited in the wild) since " + f.KEV.DateAdded
		if f.KEV.Ransomware {
			r += ", known ransomware use"
		}
		return Factor{"exploit", 1, r}
	case f.EPSS != nil:
		v := 0.2 + 0.7*f.EPSS.Percentile
		return Factor{"exploit", round2(v), fmt.Sprintf("EPSS %.4f (percentile %.0f): 0.2 + 0.7 × %.2f", f.EPSS.Score, 100*f.EPSS.Percentile, f.EPSS.Percentile)}
	}
	return Factor{"exploit", 0.35, "no exploit evidence (not in KEV, no EPSS score)"}
}

// Score computes a finding's risk on a node with exposure ex. files are
// the package's files in the target (inventory Package.Files; its
// Locations are added here).
func Score(f *match.Finding, files []string, ex Exposure, target Hop) Result {
	if ex.Node.Name != "" && (target.NodeID == "" || target.NodeID == ex.Node.NodeID) {
		target.Name = ex.Node.Name // the topology's name, not a reference or id
	}
	sev, exp := kevFloor(f, Severity(f)), Exploit(f)
	xf, r := exposure(f, PackageFiles(f.Package.Locations, files), ex, target)
	r.Factors = []Factor{sev, exp, xf}
	r.Score = math.Round(sev.Value*exp.Value*xf.Value*10*10) / 10
	return r
}

// kevFloor raises the severity of a known-exploited vulnerability to its
// floor, saying so.
func kevFloor(f *match.Finding, sev Factor) Factor {
	if f.KEV == nil {
		return sev
	}
	floor, why := KEVSeverityFloor, "in CISA KEV"
	if f.KEV.Ransomware {
		floor, why = RansomwareSeverityFloor, "in CISA KEV with known ransomware use"
	}
	if sev.Value >= floor {
		return sev
	}
	return Factor{"severity", floor, fmt.Sprintf("%s; raised to %.1f: %s", sev.Reason, floor, why)}
}

func exposure(f *match.Finding, files []string, ex Exposure, target Hop) (Factor, Result) {
	var r Result
	if ex.NotDeployed {
		f := false
		r.InUse, r.Listening, r.Internet = &f, &f, &f
		return Factor{"exposure", ExposureNotDeployed, "image not deployed: no running container uses it"}, r
	}
	if !ex.Known {
		return Factor{"exposure", ExposureUnknown, "no topology for this node: exposure unknown"}, r
	}
	internet := ex.Internet
	r.Internet = &internet
	if len(files) == 0 {
		return Factor{"exposure", ExposureUnknown, "the package lists no files to look for in running processes: use unknown"}, r
	}
	var loaders, listeners, local []Process
	for _, p := range ex.Processes {
		if !loads(p, files) {
			continue
		}
		loaders = append(loaders, p)
		if nw := networkListening(p); len(nw) > 0 {
			p.Listening = nw
			listeners = append(listeners, p)
		} else if len(p.Listening) > 0 {
			local = append(local, p)
		}
	}
	inUse, listening := len(loaders) > 0, len(listeners) > 0
	r.InUse, r.Listening = &inUse, &listening
	switch {
	case !inUse:
		return Factor{"exposure", ExposureUnused, "no running process loads the package's files"}, r
	case !listening && len(local) > 0:
		// The path of a local attack: the node, the process, the package.
		p := local[0]
		r.Path = attackPath(nil, target, Hop{NodeID: p.NodeID, Kind: "process", Name: fmt.Sprintf("%s (pid %d, listening on %s)", p.Name, p.PID, p.Listening[0])},
			Hop{Kind: "package", Name: f.Package.Name + " " + f.Package.Version})
		return Factor{"exposure", ExposureLocal, fmt.Sprintf("loaded by %s listening on %s, %s (local attack surface)",
			procNames(local), p.Listening[0], p.Listening[0].scope())}, r
	case !listening:
		return Factor{"exposure", ExposureInUse, fmt.Sprintf("loaded by %s, which listens on no socket", procNames(loaders))}, r
	}
	// The listener the internet reaches, if one does; its own route.
	p := listeners[0]
	for _, l := range listeners {
		if l.InternetReachable {
			p = l
			break
		}
	}
	var vias [][]Hop
	if internet {
		switch {
		case len(p.Paths) > 0:
			vias = p.Paths
		case len(p.Path) > 0:
			vias = [][]Hop{p.Path}
		case len(ex.Paths) > 0:
			vias = ex.Paths
		default:
			vias = [][]Hop{ex.Path}
		}
	}
	proc := Hop{NodeID: p.NodeID, Kind: "process", Name: fmt.Sprintf("%s (pid %d, listening on %s)", p.Name, p.PID, p.Listening[0])}
	pkg := Hop{Kind: "package", Name: f.Package.Name + " " + f.Package.Version}
	r.Path = attackPath(nil, target, proc, pkg)
	for i, via := range vias {
		if i == MaxPaths {
			break
		}
		path := attackPath(via, target, proc, pkg)
		if i == 0 {
			r.Path = path
		}
		if len(vias) > 1 {
			r.Paths = append(r.Paths, path)
		}
	}
	if !internet {
		return Factor{"exposure", ExposureListening, fmt.Sprintf("loaded by %s listening on %s, a network address; node not reachable from the internet",
			procNames(listeners), p.Listening[0])}, r
	}
	return Factor{"exposure", ExposureInternet, fmt.Sprintf("loaded by %s listening on %s, and the node is reachable from the internet", procNames(listeners), p.Listening[0])}, r
}

// attackPath is the route via (from the internet, ending at the process or
// the node), then the node itself if the route did not pass it, then the
// process and the package: each node once, at its first place (a route
// through a host's front process comes back to the host).
func attackPath(via []Hop, target, proc, pkg Hop) []Hop {
	if n := len(via); n > 0 && proc.NodeID != "" && via[n-1].NodeID == proc.NodeID {
		via = via[:n-1]
	}
	hops := append([]Hop(nil), via...)
	if !slices.ContainsFunc(hops, func(h Hop) bool { return h.NodeID != "" && h.NodeID == target.NodeID }) {
		hops = append(hops, target)
	}
	hops = append(hops, proc, pkg)
	seen := map[string]bool{}
	out := hops[:0]
	for _, h := range hops {
		if h.NodeID != "" {
			if seen[h.NodeID] {
				continue
			}
			seen[h.NodeID] = true
		}
		out = append(out, h)
	}
	return out
}

// networkListening is what p listens on beyond loopback.
func networkListening(p Process) []Endpoint {
	var out []Endpoint
	for _, e := range p.Listening {
		if !e.Loopback() {
			out = append(out, e)
		}
	}
	return out
}

func procNames(ps []Process) string {
	var names []string
	for _, p := range ps {
		names = append(names, fmt.Sprintf("%s (pid %d)", p.Name, p.PID))
	}
	sort.Strings(names)
	if len(names) > 3 {
		names = append(names[:3], fmt.Sprintf("%d more", len(names)-3))
	}
	return strings.Join(names, ", ")
}

// PackageFiles are the absolute paths that belong to a package: where it
// was found (a Go binary, a jar, a .so; locations are relative to the
// target root) and the files it owns. Metadata locations (dist-info,
// egg-info, package.json) stand for the directory of the package's code
// (see loads).
func PackageFiles(locations, owned []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range append(append([]string(nil), locations...), owned...) {
		if l == "" {
			continue
		}
		abs := path.Clean("/" + l)
		if !seen[abs] {
			seen[abs] = true
			out = append(out, abs)
		}
	}
	return out
}

// loads reports whether process p has one of the package's files (or a
// file under the package's directory, for metadata locations) mapped.
func loads(p Process, files []string) bool {
	for _, lf := range p.LoadedFiles {
		lf = path.Clean("/" + lf)
		for _, f := range files {
			if lf == f {
				return true
			}
			if dir, ok := codeDir(f); ok && strings.HasPrefix(lf, dir+"/") {
				return true
			}
		}
	}
	return false
}

// codeDir maps a metadata location to the directory of the package's code:
// site-packages/foo-1.0.dist-info/METADATA → site-packages/foo.
func codeDir(f string) (string, bool) {
	dir := path.Dir(f)
	base := path.Base(dir)
	for _, suf := range []string{".dist-info", ".egg-info"} {
		if strings.HasSuffix(base, suf) {
			name := strings.TrimSuffix(base, suf)
			if i := strings.Index(name, "-"); i > 0 {
				name = name[:i]
			}
			return path.Join(path.Dir(dir), strings.ToLower(name)), true
		}
	}
	if path.Base(f) == "package.json" {
		return dir, true
	}
	return "", false
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
