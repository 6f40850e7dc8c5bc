// Package osv is Riskmap's vulnerability model: the OSV schema
// (https://ossf.github.io/osv-schema/) types with the fields Riskmap uses,
// Parse of one JSON record and Validate of what the matcher relies on. Every
// advisory source converts to these types (internal/feeds reads them from
// osv.dev exports or converts other formats into them), and the knowledge
// base (internal/vulndb) and the matcher (internal/match) consume them, as
// golang/vuln keeps its model in internal/osv.
package osv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/riskmap/riskmap/internal/intake"
)

// Range types.
const (
	RangeEcosystem = "ECOSYSTEM"
	RangeSemver    = "SEMVER"
	RangeGit       = "GIT"
)

// Vulnerability is one OSV record, with the fields Riskmap uses.
type Vulnerability struct {
	SchemaVersion    string          `json:"schema_version,omitempty"`
	ID               string          `json:"id"`
	Modified         time.Time       `json:"modified"`
	Published        time.Time       `json:"published,omitzero"`
	Withdrawn        time.Time       `json:"withdrawn,omitzero"`
	Aliases          []string        `json:"aliases,omitempty"`
	Related          []string        `json:"related,omitempty"`
	Upstream         []string        `json:"upstream,omitempty"`
	Summary          string          `json:"summary,omitempty"`
	Details          string          `json:"details,omitempty"`
	Severity         []Severity      `json:"severity,omitempty"`
	Affected         []Affected      `json:"affected,omitempty"`
	References       []Reference     `json:"references,omitempty"`
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
}

// Severity is a scored severity (CVSS_V2, CVSS_V3, CVSS_V4, Ubuntu).
type Severity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Reference is a link about the vulnerability.
type Reference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// Package identifies an affected package.
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	PURL      string `json:"purl,omitempty"`
}

// Affected lists the affected versions of one package.
type Affected struct {
	Package           Package         `json:"package"`
	Severity          []Severity      `json:"severity,omitempty"`
	Ranges            []Range         `json:"ranges,omitempty"`
	Versions          []string        `json:"versions,omitempty"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific,omitempty"`
	DatabaseSpecific  json.RawMessage `json:"database_specific,omitempty"`
}

// Range is a sequence of events over versions.
type Range struct {
	Type   string  `json:"type"`
	Repo   string  `json:"repo,omitempty"`
	Events []Event `json:"events"`
}

// Event is one of introduced, fixed, last_affected or limit.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Version returns the event's version, whatever its kind.
func (e Event) Version() string {
	switch {
	case e.Introduced != "":
		return e.Introduced
	case e.Fixed != "":
		return e.Fixed
	case e.LastAffected != "":
		return e.LastAffected
	}
	return e.Limit
}

// IsWithdrawn reports whether the record was withdrawn.
func (v *Vulnerability) IsWithdrawn() bool { return !v.Withdrawn.IsZero() }

// ReadLimits bound one OSV record read from a feed file: maxJSON bytes of
// JSON (whitespace included), 8 MiB of it significant, 200,000
// values. The largest records osv.dev publishes are a few hundred KB.
func ReadLimits(maxJSON int64) intake.Limits {
	return intake.Limits{MaxInput: maxJSON, MaxBytes: min(maxJSON, 8<<20), MaxDepth: 32, MaxString: 1 << 20,
		MaxValues: 200_000}
}

// Parse decodes and validates one OSV JSON document.
func Parse(data []byte) (*Vulnerability, error) {
	return Read(bytes.NewReader(data), int64(len(data)))
}

// Read decodes and validates the one OSV JSON document r holds, within
// ReadLimits(maxJSON), as r streams.
func Read(r io.Reader, maxJSON int64) (*Vulnerability, error) {
	var v Vulnerability
	d := intake.NewDecoder(r, ReadLimits(maxJSON))
	err := d.Decode(&v)
	if err == nil {
		err = d.End()
	}
	if err != nil {
		return nil, fmt.Errorf("parse OSV record: %w", err)
	}
	if err := v.Validate(); err != nil {
		return nil, err
	}
	return &v, nil
}

// Validate checks the fields the matcher depends on.
func (v *Vulnerability) Validate() error {
	if v.ID == "" {
		return errors.New("OSV record: missing id")
	}
	for i, a := range v.Affected {
		if a.Package.Ecosystem == "" && len(a.Ranges) == 0 {
			return fmt.Errorf("OSV record %s: affected[%d]: no package ecosystem and no ranges", v.ID, i)
		}
		if a.Package.Ecosystem != "" && a.Package.Name == "" {
			return fmt.Errorf("OSV record %s: affected[%d]: package without name", v.ID, i)
		}
		for j, r := range a.Ranges {
			switch r.Type {
			case RangeEcosystem, RangeSemver, RangeGit:
			default:
				return fmt.Errorf("OSV record %s: affected[%d].ranges[%d]: unknown type %q", v.ID, i, j, r.Type)
			}
			if len(r.Events) == 0 {
				return fmt.Errorf("OSV record %s: affected[%d].ranges[%d]: no events", v.ID, i, j)
			}
			for k, e := range r.Events {
				n := 0
				for _, s := range []string{e.Introduced, e.Fixed, e.LastAffected, e.Limit} {
					if s != "" {
						n++
					}
				}
				if n != 1 {
					return fmt.Errorf("OSV record %s: affected[%d].ranges[%d].events[%d]: want exactly one of introduced, fixed, last_affected, limit", v.ID, i, j, k)
				}
			}
		}
	}
	return nil
}
