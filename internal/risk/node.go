package risk

import (
	"fmt"
	"math"

	"github.com/riskmap/riskmap/internal/match"
)

// Evidence factors of findings that are not vulnerable packages: they need
// no exploit, so their evidence is fixed by kind rather than read from
// KEV or EPSS (docs/risk.md).
const (
	// EvidenceSecret: a credential left in a file is usable by whoever
	// reads the file; it is not certain it is live.
	EvidenceSecret = 0.8
	// EvidenceMalware: malicious code is present on the node.
	EvidenceMalware = 1.0
	// EvidenceControl: a failed control weakens the node; an attacker
	// still needs a way in.
	EvidenceControl = 0.35
)

// Subject is a finding that is not a vulnerable package (a secret in a
// file, a file malware rules matched, a failed control): what ScoreOnNode
// scores.
type Subject struct {
	// Kind is secret, malware or control; Name says which (the rule and
	// the file).
	Kind, Name string
	// Severity is the rule's (critical, high, medium, low; empty: the
	// kind's default, DefaultSeverity).
	Severity string
}

// DefaultSeverity is the severity of a subject whose rule has none: a
// secret counts as high, malware as critical, a control as medium.
func DefaultSeverity(kind string) string {
	switch kind {
	case "secret":
		return match.SeverityHigh
	case "malware":
		return match.SeverityCritical
	}
	return match.SeverityMedium
}

// ScoreOnNode computes the risk of a finding that sits on its node rather
// than in a package a process loads: severity (the rule's band) ×
// evidence (fixed per kind) × the node's exposure. A secret or malware is
// reachable by anyone who gets into any process of the node, so the
// exposure is that of the node's most exposed process (internet,
// listening, loopback only, running), not of the processes that load a
// file: a cloud key in a container that listens on the internet ranks
// with the container's internet-facing vulnerabilities.
func ScoreOnNode(s Subject, ex Exposure, target Hop) Result {
	if ex.Node.Name != "" && (target.NodeID == "" || target.NodeID == ex.Node.NodeID) {
		target.Name = ex.Node.Name
	}
	sevName := s.Severity
	why := "rule severity"
	if sevName == "" {
		sevName, why = DefaultSeverity(s.Kind), "no rule severity; a "+s.Kind+" counts as"
	}
	v, ok := severityScore[sevName]
	if !ok {
		v = severityScore[match.SeverityUnknown]
	}
	sev := Factor{"severity", v, fmt.Sprintf("%s %q counts as %.1f", why, sevName, v)}
	evid := map[string]Factor{
		"secret":  {"exploit", EvidenceSecret, "a secret needs no exploit: whoever reads the file can use it"},
		"malware": {"exploit", EvidenceMalware, "malicious code is present on the node"},
	}[s.Kind]
	if evid.Name == "" {
		evid = Factor{"exploit", EvidenceControl, "a failed control: an attacker still needs a way in"}
	}
	xf, r := nodeExposure(s, ex, target)
	r.Factors = []Factor{sev, evid, xf}
	r.Score = math.Round(sev.Value*evid.Value*xf.Value*10*10) / 10
	return r
}

// nodeExposure is the exposure of the node's most exposed process.
func nodeExposure(s Subject, ex Exposure, target Hop) (Factor, Result) {
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
	what := Hop{Kind: s.Kind, Name: s.Name}
	var listeners, local []Process
	for _, p := range ex.Processes {
		if nw := networkListening(p); len(nw) > 0 {
			p.Listening = nw
			listeners = append(listeners, p)
		} else if len(p.Listening) > 0 {
			local = append(local, p)
		}
	}
	inUse, listening := len(ex.Processes) > 0, len(listeners) > 0
	r.InUse, r.Listening = &inUse, &listening
	switch {
	case !inUse:
		return Factor{"exposure", ExposureUnused, "no process runs on the node"}, r
	case !listening && len(local) > 0:
		p := local[0]
		r.Path = attackPath(nil, target, Hop{NodeID: p.NodeID, Kind: "process", Name: fmt.Sprintf("%s (pid %d, listening on %s)", p.Name, p.PID, p.Listening[0])}, what)
		return Factor{"exposure", ExposureLocal, fmt.Sprintf("on a node whose %s listens on %s, %s (local attack surface)",
			procNames(local), p.Listening[0], p.Listening[0].scope())}, r
	case !listening:
		return Factor{"exposure", ExposureInUse, fmt.Sprintf("on a node whose processes (%s) listen on no socket", procNames(ex.Processes))}, r
	}
	p := listeners[0]
	for _, l := range listeners {
		if l.InternetReachable {
			p = l
			break
		}
	}
	proc := Hop{NodeID: p.NodeID, Kind: "process", Name: fmt.Sprintf("%s (pid %d, listening on %s)", p.Name, p.PID, p.Listening[0])}
	var via []Hop
	if internet {
		switch {
		case len(p.Paths) > 0:
			via = p.Paths[0]
		case len(p.Path) > 0:
			via = p.Path
		case len(ex.Paths) > 0:
			via = ex.Paths[0]
		default:
			via = ex.Path
		}
	}
	r.Path = attackPath(via, target, proc, what)
	if !internet {
		return Factor{"exposure", ExposureListening, fmt.Sprintf("on a node whose %s listens on %s, a network address; node not reachable from the internet",
			procNames(listeners), p.Listening[0])}, r
	}
	return Factor{"exposure", ExposureInternet, fmt.Sprintf("on a node whose %s listens on %s, and the node is reachable from the internet",
		procNames(listeners), p.Listening[0])}, r
}
