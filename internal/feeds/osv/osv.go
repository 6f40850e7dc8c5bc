// Package osv is the osv.dev feed: where its `<Ecosystem>/all.zip` exports
// are downloaded from, which ecosystems are fetched by default, and ReadZip,
// which reads an export into the OSV model (internal/vuln/osv), recording
// per-record failures without stopping.
package osv

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/riskmap/riskmap/internal/vuln/osv"
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
func ReadZip(ctx context.Context, data []byte, fn func(*osv.Vulnerability) error) (ZipStats, error) {
	var st ZipStats
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return st, fmt.Errorf("open OSV zip: %w", err)
	}
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
		// Decoded as it is decompressed (the sizes in the zip directory are
		// the sender's word): padding costs nothing, and a record over its
		// limits is refused before it is held.
		mr := &member{r: rc}
		v, err := osv.Read(mr, MaxMemberSize)
		rc.Close()
		if mr.err != nil {
			// A checksum or inflate error means the archive itself is damaged.
			return st, fmt.Errorf("read OSV zip member %s: %w", f.Name, mr.err)
		}
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

// member keeps a zip member's read error (not io.EOF) apart from what the
// JSON decoder makes of the content.
type member struct {
	r   io.Reader
	err error
}

func (m *member) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if err != nil && err != io.EOF {
		m.err = err
	}
	return n, err
}
