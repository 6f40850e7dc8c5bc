package match

import (
	"math"
	"strconv"
)

// Severity levels, lowest first.
const (
	SeverityUnknown  = "unknown"
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

func rank(s string) int {
	switch s {
	case SeverityLow:
		return 1
	case SeverityMedium:
		return 2
	case SeverityHigh:
		return 3
	case SeverityCritical:
		return 4
	}
	return 0
}

// SeverityRank orders severities: unknown 0, low 1 … critical 4.
func SeverityRank(s string) int { return rank(s) }

// PackageRef is the affected package as found in the inventory.
type PackageRef struct {
	Name          string   `json:"name"`
	Version       string   `json:"version"`
	Ecosystem     string   `json:"ecosystem"`
	PURL          string   `json:"purl,omitempty"`
	SourceName    string   `json:"sourceName,omitempty"`
	SourceVersion string   `json:"sourceVersion,omitempty"`
	Locations     []string `json:"locations,omitempty"`
	Layer         string   `json:"layer,omitempty"`
	OwnedBy       string   `json:"ownedBy,omitempty"`
}

// MatchedAs is what the advisories were looked up by (the source package
// for Debian, the origin for Alpine).
type MatchedAs struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	Version   string `json:"version"`
}

// CVSSInfo is the representative CVSS assessment.
type CVSSInfo struct {
	CVE       string  `json:"cve,omitempty"`
	Version   string  `json:"version"`
	Vector    string  `json:"vector"`
	BaseScore float64 `json:"baseScore"`
	Source    string  `json:"source,omitempty"`
}

// KEVInfo says the vulnerability is in CISA's KEV catalog.
type KEVInfo struct {
	CVE        string `json:"cve"`
	DateAdded  string `json:"dateAdded"`
	DueDate    string `json:"dueDate,omitempty"`
	Ransomware bool   `json:"knownRansomwareUse"`
}

// EPSSInfo is the highest EPSS score among the finding's CVEs.
type EPSSInfo struct {
	CVE        string  `json:"cve"`
	Score      float64 `json:"score"`
	Percentile float64 `json:"percentile"`
}

// Risk is the static risk score (0-100) and why.
type Risk struct {
	Score       float64 `json:"score"`
	Explanation string  `json:"explanation"`
}

// Finding is one vulnerability of one package, with every ID the merged
// records carry.
type Finding struct {
	// ID is the preferred identifier (a CVE when the records alias one).
	ID string `json:"id"`
	// Aliases are the other IDs of the merged records.
	Aliases []string `json:"aliases,omitempty"`
	// Records are the knowledge-base records merged into this finding.
	Records []string `json:"records"`
	// CVEs are every CVE the records name (aliases, upstream, related).
	CVEs          []string   `json:"cves,omitempty"`
	Package       PackageRef `json:"package"`
	MatchedAs     MatchedAs  `json:"matchedAs"`
	FixedVersions []string   `json:"fixedVersions,omitempty"`
	Severity      string     `json:"severity"`
	CVSS          *CVSSInfo  `json:"cvss,omitempty"`
	KEV           *KEVInfo   `json:"kev,omitempty"`
	EPSS          *EPSSInfo  `json:"epss,omitempty"`
	Summary       string     `json:"summary,omitempty"`
	References    []string   `json:"references,omitempty"`
	Risk          Risk       `json:"risk"`
}

// AllIDs returns the ID, aliases and CVEs.
func (f *Finding) AllIDs() []string {
	out := append([]string{f.ID}, f.Aliases...)
	for _, c := range f.CVEs {
		if c != f.ID && !contains(f.Aliases, c) {
			out = append(out, c)
		}
	}
	return out
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// Severity weights used when no CVSS score is known (the middle of each
// CVSS band).
var severityScore = map[string]float64{
	SeverityCritical: 9.5, SeverityHigh: 8.0, SeverityMedium: 5.5, SeverityLow: 2.5, SeverityUnknown: 5.0,
}

// RiskOf computes the static risk score: severity × exploit evidence,
// scaled to 0-100.
//
//	severity = CVSS base score (0-10), else the band middle of the vendor
//	           severity (critical 9.5, high 8, medium 5.5, low 2.5, unknown 5)
//	exploit  = 1.0 when the CVE is in CISA KEV;
//	           else 0.2 + 0.7 × EPSS percentile (0.2-0.9);
//	           else 0.35 when no EPSS score is known
//	risk     = round(severity × exploit × 10)
//
// The console multiplies in exposure (reachable, loaded by a listening
// process) on top.
func RiskOf(f *Finding) Risk {
	// Built with strconv: one explanation per finding, thousands per scan.
	b := make([]byte, 0, 96)
	var sev float64
	if f.CVSS != nil && f.CVSS.BaseScore > 0 {
		sev = f.CVSS.BaseScore
		b = strconv.AppendFloat(append(b, "CVSS "...), sev, 'f', 1, 64)
	} else {
		sev = severityScore[f.Severity]
		if sev == 0 {
			sev = severityScore[SeverityUnknown]
		}
		b = append(append(append(b, "severity "...), f.Severity...), " ("...)
		b = append(strconv.AppendFloat(b, sev, 'f', 1, 64), ')')
	}
	var exp float64
	b = append(b, " × exploit "...)
	switch {
	case f.KEV != nil:
		exp = 1.0
		b = append(b, "1.00 (in CISA KEV since"...)
		if f.KEV.DateAdded != "" {
			b = append(append(b, ' '), f.KEV.DateAdded...)
		}
		if f.KEV.Ransomware {
			b = append(b, ", known ransomware use"...)
		}
	case f.EPSS != nil:
		exp = 0.2 + 0.7*f.EPSS.Percentile
		b = strconv.AppendFloat(b, exp, 'f', 2, 64)
		b = strconv.AppendFloat(append(b, " (EPSS "...), f.EPSS.Score, 'f', 4, 64)
		b = strconv.AppendFloat(append(b, ", percentile "...), 100*f.EPSS.Percentile, 'f', 0, 64)
	default:
		exp = 0.35
		b = append(b, "0.35 (no exploit evidence"...)
	}
	b = append(b, ')')
	return Risk{Score: math.Round(sev * exp * 10), Explanation: string(b)}
}
