// Package vulndb owns the local vulnerability knowledge base: a compact,
// schema-versioned, checksummed file built from the OSV exports and the
// Alpine secdb (affected packages indexed by ecosystem and package name)
// plus per-CVE enrichment (CVSS, CISA KEV, FIRST EPSS). The file is written
// whole and renamed into place, so a reader sees the old or the new data,
// never a mix, and Open reads it in one go (no per-record parsing).
package vulndb

import (
	"encoding/json"
	"time"

	"github.com/riskmap/riskmap/internal/vuln/cvss"
	"github.com/riskmap/riskmap/internal/vuln/osv"
)

// SchemaVersion is the file format version. Open refuses other versions;
// rebuilding from the stored feeds (riskmap feeds rebuild happens on every
// update/import) upgrades the file. Schema 2 stores records and CVE
// enrichment in a binary form instead of JSON (codec.go).
const SchemaVersion = 2

// FileName is the knowledge base's name inside the data directory.
const FileName = "riskmap.kb"

// Vuln is the descriptive part of one vulnerability record.
type Vuln struct {
	ID      string   `json:"id"`
	Aliases []string `json:"aliases,omitempty"`
	// Related holds upstream and related IDs (the CVEs of DSA/DLA/ALSA
	// advisories); they enrich the finding but do not merge findings.
	Related    []string       `json:"related,omitempty"`
	Summary    string         `json:"summary,omitempty"`
	Severity   []osv.Severity `json:"severity,omitempty"`
	DBSeverity string         `json:"dbSeverity,omitempty"` // vendor word: low, medium, high, critical
	Published  time.Time      `json:"published,omitzero"`
	Modified   time.Time      `json:"modified,omitzero"`
	References []string       `json:"references,omitempty"`
	Source     string         `json:"source"` // feed: OSV ecosystem or alpine-secdb
}

// Event kinds of a range.
const (
	Introduced uint8 = iota + 1
	Fixed
	LastAffected
	Limit
)

// Event is one range event.
type Event struct {
	Kind    uint8
	Version string
}

// Range is an ECOSYSTEM or SEMVER range with its events sorted by version.
type Range struct {
	Semver bool
	Events []Event
}

// Affected is one affected[] entry of a record for the looked-up package.
type Affected struct {
	Vuln     uint32 // index for DB.Vuln
	Versions []string
	Ranges   []Range
}

// KEV is a CISA KEV entry as kept in the knowledge base.
type KEV struct {
	DateAdded  string `json:"dateAdded"`
	DueDate    string `json:"dueDate,omitempty"`
	Ransomware bool   `json:"ransomware,omitempty"`
	Name       string `json:"name,omitempty"`
}

// CVEInfo is the enrichment known for one CVE.
type CVEInfo struct {
	EPSS       float64      `json:"-"`
	Percentile float64      `json:"-"`
	HasEPSS    bool         `json:"-"`
	KEV        *KEV         `json:"kev,omitempty"`
	CVSS       *cvss.Metric `json:"cvss,omitempty"`
}

// Source describes one feed's contribution.
type Source struct {
	Name      string    `json:"name"`
	Records   int       `json:"records"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
	Detail    string    `json:"detail,omitempty"`
}

// Meta is the knowledge base's header.
type Meta struct {
	Schema   int       `json:"schema"`
	BuiltAt  time.Time `json:"builtAt"`
	Sources  []Source  `json:"sources"`
	Vulns    int       `json:"vulns"`
	Packages int       `json:"packages"`
	CVEs     int       `json:"cves"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs are marshalled
	}
	return b
}
