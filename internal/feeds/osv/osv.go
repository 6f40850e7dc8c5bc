// Package osv reads OSV-schema vulnerability records (https://ossf.github.io/osv-schema/),
// one JSON document each, and the osv.dev `<Ecosystem>/all.zip` exports that
// bundle them. It validates what the matcher relies on and reports
// per-record failures without stopping.
package osv

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// Name is the feed source name.
const Name = "osv"

// DefaultBaseURL is osv.dev's public export bucket; an ecosystem's export is
// DefaultBaseURL + "/<Ecosystem>/all.zip".
const DefaultBaseURL = "https://osv-vulnerabilities.storage.googleapis.com"

// DefaultEcosystems are the ecosystems `riskmap feeds update` fetches unless
// configured otherwise.
var DefaultEcosystems = []string{
	"AlmaLinux", "Alpine", "Debian", "Red Hat", "Rocky Linux", "SUSE", "Ubuntu",
	"Go", "PyPI", "npm", "Maven", "crates.io", "RubyGems", "Packagist", "NuGet",
}

// URL returns the export URL of one ecosystem under base.
func URL(base, ecosystem string) string {
	return strings.TrimRight(base, "/") + "/" + url.PathEscape(ecosystem) + "/all.zip"
}

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

// Parse decodes and validates one OSV JSON document.
func Parse(data []byte) (*Vulnerability, error) {
	var v Vulnerability
	if err := json.Unmarshal(data, &v); err != nil {
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

// RecordError is a member of an export that could not be read.
type RecordError struct {
	Member string
	Err    error
}

func (e RecordError) Error() string { return fmt.Sprintf("%s: %v", e.Member, e.Err) }

// ZipStats summarises one export read.
type ZipStats struct {
	Records   int
	Withdrawn int
	Errors    []RecordError
}

// MaxMemberSize bounds one record's uncompressed size (the largest real
// records are a few MB).
const MaxMemberSize = 64 << 20

// ReadZip calls fn for every valid record in an all.zip export held in data.
// A member that fails to parse is recorded in the stats and skipped; a zip
// that cannot be opened is an error. Withdrawn records are passed to fn
// (callers decide) and counted.
func ReadZip(ctx context.Context, data []byte, fn func(*Vulnerability) error) (ZipStats, error) {
	var st ZipStats
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return st, fmt.Errorf("open OSV zip: %w", err)
	}
	var buf bytes.Buffer
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if f.FileInfo().IsDir() || !strings.HasSuffix(f.Name, ".json") {
			continue
		}
		if f.UncompressedSize64 > MaxMemberSize {
			st.Errors = append(st.Errors, RecordError{f.Name, fmt.Errorf("member of %d bytes exceeds %d", f.UncompressedSize64, MaxMemberSize)})
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return st, fmt.Errorf("open OSV zip member %s: %w", f.Name, err)
		}
		buf.Reset()
		_, err = io.Copy(&buf, io.LimitReader(rc, MaxMemberSize+1))
		rc.Close()
		if err != nil {
			// A checksum or inflate error means the archive itself is damaged.
			return st, fmt.Errorf("read OSV zip member %s: %w", f.Name, err)
		}
		v, err := Parse(buf.Bytes())
		if err != nil {
			st.Errors = append(st.Errors, RecordError{f.Name, err})
			continue
		}
		st.Records++
		if v.IsWithdrawn() {
			st.Withdrawn++
		}
		if err := fn(v); err != nil {
			return st, err
		}
	}
	return st, nil
}
