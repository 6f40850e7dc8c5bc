// Package cvss is Riskmap's model of CVSS: parsing vectors (v2, v3.0, v3.1,
// v4.0), base scores computed from the specification formulas for v2 and
// v3.x and with github.com/pandatix/go-cvss (FIRST's macro-vector method)
// for v4.0, the qualitative severity bands, the Metric kept per CVE in the
// knowledge base and the order in which one metric is preferred over
// another. Feed readers (internal/feeds/cvss, internal/feeds/nvd) produce
// Metrics; the knowledge base and the matcher consume them.
package cvss

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	cvss40 "github.com/pandatix/go-cvss/40"
)

// Metric is one CVSS assessment of a CVE.
type Metric struct {
	CVE       string  `json:"cve,omitempty"`
	Source    string  `json:"source,omitempty"` // nvd, cna:<org>, adp:<org>, osv:<id>
	Version   string  `json:"version"`          // 2.0, 3.0, 3.1, 4.0
	Vector    string  `json:"vector"`
	BaseScore float64 `json:"baseScore"` // 0 when unknown (v4 without a published score)
	Severity  string  `json:"severity,omitempty"`
}

// Vector is a parsed CVSS vector.
type Vector struct {
	Version string
	Metrics map[string]string
	raw     string // the v4.0 vector as given (its metric order is normative)
}

var required = map[string][]string{
	"2.0": {"AV", "AC", "Au", "C", "I", "A"},
	"3.0": {"AV", "AC", "PR", "UI", "S", "C", "I", "A"},
	"3.1": {"AV", "AC", "PR", "UI", "S", "C", "I", "A"},
	"4.0": {"AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA"},
}

// ParseVector parses a vector string such as "CVSS:3.1/AV:N/...", "CVSS:4.0/..."
// or a bare v2 vector "AV:N/AC:L/Au:N/C:P/I:P/A:P".
func ParseVector(s string) (Vector, error) {
	v := Vector{Metrics: map[string]string{}}
	s = strings.TrimSpace(s)
	parts := strings.Split(s, "/")
	if strings.HasPrefix(parts[0], "CVSS:") {
		v.Version = strings.TrimPrefix(parts[0], "CVSS:")
		parts = parts[1:]
	} else {
		v.Version = "2.0"
		s = strings.TrimPrefix(strings.TrimSuffix(s, ")"), "(")
		parts = strings.Split(s, "/")
	}
	req, ok := required[v.Version]
	if !ok {
		return v, fmt.Errorf("parse CVSS vector %q: unknown version %q", s, v.Version)
	}
	for _, p := range parts {
		k, val, ok := strings.Cut(p, ":")
		if !ok || k == "" || val == "" {
			return v, fmt.Errorf("parse CVSS vector %q: bad metric %q", s, p)
		}
		if _, dup := v.Metrics[k]; dup {
			return v, fmt.Errorf("parse CVSS vector %q: metric %s repeated", s, k)
		}
		v.Metrics[k] = val
	}
	for _, k := range req {
		if _, ok := v.Metrics[k]; !ok {
			return v, fmt.Errorf("parse CVSS vector %q: missing base metric %s", s, k)
		}
	}
	v.raw = s
	if _, err := v.BaseScore(); err != nil {
		return v, err
	}
	return v, nil
}

// order40 is the specification's metric order of a v4.0 vector.
var order40 = []string{"AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA",
	"E", "CR", "IR", "AR", "MAV", "MAC", "MAT", "MPR", "MUI", "MVC", "MVI", "MVA", "MSC", "MSI", "MSA",
	"S", "AU", "R", "V", "RE", "U"}

// canonical40 writes v4.0 metrics in the specification's order (feeds do
// not always keep it); an unknown metric is kept at the end, so the
// calculator refuses it.
func canonical40(m map[string]string) string {
	var b strings.Builder
	b.WriteString("CVSS:4.0")
	n := 0
	for _, k := range order40 {
		if val, ok := m[k]; ok {
			b.WriteString("/" + k + ":" + val)
			n++
		}
	}
	if n != len(m) {
		for k, val := range m {
			if !slices.Contains(order40, k) {
				b.WriteString("/" + k + ":" + val)
			}
		}
	}
	return b.String()
}

func pick(m map[string]string, k string, table map[string]float64) (float64, error) {
	f, ok := table[m[k]]
	if !ok {
		return 0, fmt.Errorf("CVSS metric %s: bad value %q", k, m[k])
	}
	return f, nil
}

// BaseScore computes the base score of a vector. For v4.0 it is the score
// of the vector as given (CVSS-B, or CVSS-BT/BE/BTE when threat or
// environmental metrics are present), as FIRST's calculator and NVD compute
// it.
func (v Vector) BaseScore() (float64, error) {
	if v.Version == "4.0" {
		c, err := cvss40.ParseVector(canonical40(v.Metrics))
		if err != nil {
			return 0, fmt.Errorf("CVSS 4.0 vector %q: %w", v.raw, err)
		}
		return c.Score(), nil
	}
	m := v.Metrics
	var errs []error
	get := func(k string, t map[string]float64) float64 {
		f, err := pick(m, k, t)
		errs = append(errs, err)
		return f
	}
	switch v.Version {
	case "3.0", "3.1":
		cia := map[string]float64{"H": 0.56, "L": 0.22, "N": 0}
		scope := m["S"]
		if scope != "U" && scope != "C" {
			return 0, fmt.Errorf("CVSS metric S: bad value %q", scope)
		}
		pr := map[string]float64{"N": 0.85, "L": 0.62, "H": 0.27}
		if scope == "C" {
			pr = map[string]float64{"N": 0.85, "L": 0.68, "H": 0.5}
		}
		av := get("AV", map[string]float64{"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2})
		ac := get("AC", map[string]float64{"L": 0.77, "H": 0.44})
		p := get("PR", pr)
		ui := get("UI", map[string]float64{"N": 0.85, "R": 0.62})
		c, i, a := get("C", cia), get("I", cia), get("A", cia)
		if err := errors.Join(errs...); err != nil {
			return 0, err
		}
		iss := 1 - (1-c)*(1-i)*(1-a)
		var impact float64
		if scope == "U" {
			impact = 6.42 * iss
		} else {
			impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
		}
		expl := 8.22 * av * ac * p * ui
		if impact <= 0 {
			return 0, nil
		}
		base := impact + expl
		if scope == "C" {
			base *= 1.08
		}
		return roundUp(math.Min(base, 10), v.Version), nil
	case "2.0":
		cia := map[string]float64{"N": 0, "P": 0.275, "C": 0.660}
		av := get("AV", map[string]float64{"L": 0.395, "A": 0.646, "N": 1.0})
		ac := get("AC", map[string]float64{"H": 0.35, "M": 0.61, "L": 0.71})
		au := get("Au", map[string]float64{"M": 0.45, "S": 0.56, "N": 0.704})
		c, i, a := get("C", cia), get("I", cia), get("A", cia)
		if err := errors.Join(errs...); err != nil {
			return 0, err
		}
		impact := 10.41 * (1 - (1-c)*(1-i)*(1-a))
		expl := 20 * av * ac * au
		f := 1.176
		if impact == 0 {
			f = 0
		}
		return math.Round(((0.6*impact)+(0.4*expl)-1.5)*f*10) / 10, nil
	}
	return 0, fmt.Errorf("CVSS %s: base score not computed", v.Version)
}

func roundUp(x float64, version string) float64 {
	if version == "3.0" {
		return math.Ceil(x*10) / 10
	}
	i := int64(math.Round(x * 100000))
	if i%10000 == 0 {
		return float64(i) / 100000
	}
	return float64(i/10000+1) / 10
}

// SeverityOf maps a score to the qualitative rating (v3/v4 bands; v2 has no
// critical band but the same bands are used for ranking).
func SeverityOf(score float64) string {
	switch {
	case score >= 9:
		return "critical"
	case score >= 7:
		return "high"
	case score >= 4:
		return "medium"
	case score > 0:
		return "low"
	}
	return "none"
}

// FromVector builds a metric from a vector, computing the score when it can.
func FromVector(vector string) (Metric, error) {
	v, err := ParseVector(vector)
	if err != nil {
		return Metric{}, err
	}
	m := Metric{Version: v.Version, Vector: vector}
	m.BaseScore, _ = v.BaseScore()
	m.Severity = SeverityOf(m.BaseScore)
	return m, nil
}

// Better reports whether a is preferred over b as the CVE's representative
// score: a scored metric beats an unscored one, then v3.1 > v3.0 > v4.0 > v2.0,
// then NVD > CNA > ADP > OSV.
func Better(a, b Metric) bool {
	if (a.BaseScore > 0) != (b.BaseScore > 0) {
		return a.BaseScore > 0
	}
	if ra, rb := versionRank(a.Version), versionRank(b.Version); ra != rb {
		return ra > rb
	}
	return sourceRank(a.Source) > sourceRank(b.Source)
}

func versionRank(v string) int {
	switch v {
	case "3.1":
		return 4
	case "3.0":
		return 3
	case "4.0":
		return 2
	case "2.0":
		return 1
	}
	return 0
}

func sourceRank(s string) int {
	switch {
	case s == "nvd" || strings.HasPrefix(s, "nvd:"):
		return 4
	case strings.HasPrefix(s, "cna:"):
		return 3
	case strings.HasPrefix(s, "adp:"):
		return 2
	}
	return 1
}
