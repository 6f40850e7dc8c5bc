// Package kev reads the CISA Known Exploited Vulnerabilities catalog
// (https://www.cisa.gov/known-exploited-vulnerabilities-catalog) JSON feed.
package kev

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/riskmap/riskmap/internal/intake"
)

// Name is the feed source name.
const Name = "kev"

// DefaultURL is CISA's public JSON feed.
const DefaultURL = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"

// Catalog is the KEV catalog.
type Catalog struct {
	Title           string  `json:"title"`
	CatalogVersion  string  `json:"catalogVersion"`
	DateReleased    string  `json:"dateReleased"`
	Count           int     `json:"count"`
	Vulnerabilities []Entry `json:"vulnerabilities"`
}

// Entry is one known exploited vulnerability.
type Entry struct {
	CVE                        string `json:"cveID"`
	VendorProject              string `json:"vendorProject"`
	Product                    string `json:"product"`
	VulnerabilityName          string `json:"vulnerabilityName"`
	DateAdded                  string `json:"dateAdded"`
	ShortDescription           string `json:"shortDescription"`
	RequiredAction             string `json:"requiredAction"`
	DueDate                    string `json:"dueDate"`
	KnownRansomwareCampaignUse string `json:"knownRansomwareCampaignUse"`
	Notes                      string `json:"notes"`
}

// Ransomware reports whether the entry is known to be used in ransomware
// campaigns.
func (e Entry) Ransomware() bool { return strings.EqualFold(e.KnownRansomwareCampaignUse, "Known") }

// MaxSize bounds the catalog size read (the real one is under 2 MB).
const MaxSize = 256 << 20

// MaxEntries bounds the entries of a catalog (the real one has under 2,000).
const MaxEntries = 100_000

// Parse reads and validates a catalog.
func Parse(r io.Reader) (*Catalog, error) {
	var c Catalog
	// Read entry by entry within bounds: the catalog is an upload too.
	d := intake.NewDecoder(r, intake.Limits{MaxInput: MaxSize, MaxBytes: MaxSize, MaxDepth: 16, MaxString: 1 << 20,
		MaxItems: MaxEntries, MaxElement: 1 << 20})
	err := d.DecodeStruct(&c, false)
	if err == nil {
		err = d.End()
	}
	if err != nil {
		return nil, fmt.Errorf("parse KEV catalog: %w", err)
	}
	if c.Vulnerabilities == nil {
		return nil, errors.New("parse KEV catalog: no vulnerabilities array")
	}
	for i, e := range c.Vulnerabilities {
		if !strings.HasPrefix(e.CVE, "CVE-") {
			return nil, fmt.Errorf("parse KEV catalog: vulnerabilities[%d]: bad cveID %q", i, e.CVE)
		}
	}
	if c.Count != 0 && c.Count != len(c.Vulnerabilities) {
		return nil, fmt.Errorf("parse KEV catalog: count says %d, found %d entries (truncated?)", c.Count, len(c.Vulnerabilities))
	}
	return &c, nil
}
