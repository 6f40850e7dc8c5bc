// Package alpine reads Alpine Linux security databases (secdb,
// https://secdb.alpinelinux.org/<branch>/<repo>.json, generated from the
// APKBUILD `secfixes` blocks) and converts them into OSV records in the
// ecosystem "Alpine:<branch>", keyed by origin package name.
package alpine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/google/osv-scalibr/semantic"
	"github.com/riskmap/riskmap/internal/intake"
	"github.com/riskmap/riskmap/internal/vuln/osv"
)

// Name is the feed source name.
const Name = "alpine-secdb"

// DefaultBaseURL is the public secdb; files are <base>/<branch>/<repo>.json.
const DefaultBaseURL = "https://secdb.alpinelinux.org"

// DefaultBranches are fetched by `riskmap feeds update`.
var DefaultBranches = []string{"v3.18", "v3.19", "v3.20", "v3.21", "v3.22", "edge"}

// DefaultRepos are the repositories per branch.
var DefaultRepos = []string{"main", "community"}

// SecDB is one secdb file.
type SecDB struct {
	DistroVersion string    `json:"distroversion"`
	RepoName      string    `json:"reponame"`
	Packages      []Package `json:"packages"`
}

// Package is one origin package and its fixes.
type Package struct {
	Pkg struct {
		Name     string              `json:"name"`
		SecFixes map[string][]string `json:"secfixes"`
	} `json:"pkg"`
}

// MaxSize bounds one secdb file.
const MaxSize = 256 << 20

// MaxPackages bounds the packages of one file (and each one's fixes).
const MaxPackages = 100_000

// Parse reads and validates one secdb file.
func Parse(r io.Reader) (*SecDB, error) {
	var db SecDB
	// Read package by package within bounds: the file is an upload too.
	d := intake.NewDecoder(r, intake.Limits{MaxInput: MaxSize, MaxBytes: MaxSize, MaxDepth: 16, MaxString: 1 << 20,
		MaxItems: MaxPackages, MaxElement: 4 << 20})
	err := d.DecodeStruct(&db, false)
	if err == nil {
		err = d.End()
	}
	if err != nil {
		return nil, fmt.Errorf("parse Alpine secdb: %w", err)
	}
	if db.DistroVersion == "" {
		return nil, errors.New("parse Alpine secdb: missing distroversion")
	}
	if db.Packages == nil {
		return nil, errors.New("parse Alpine secdb: missing packages")
	}
	for i, p := range db.Packages {
		if p.Pkg.Name == "" {
			return nil, fmt.Errorf("parse Alpine secdb: packages[%d]: missing name", i)
		}
	}
	return &db, nil
}

// Ecosystem returns the OSV ecosystem of a branch ("v3.19" → "Alpine:v3.19").
func Ecosystem(branch string) string { return "Alpine:" + branch }

// ToOSV converts the fixes into one OSV record per package and vulnerability
// ID: the first token of a secfixes entry is the ID, further tokens are
// aliases. Version "0" means not affected and yields no record. When an ID
// is listed under several fixed versions the lowest one is kept.
func (db *SecDB) ToOSV() []*osv.Vulnerability {
	eco := Ecosystem(db.DistroVersion)
	var out []*osv.Vulnerability
	for _, p := range db.Packages {
		type fix struct {
			version string
			aliases []string
		}
		fixes := map[string]fix{}
		for ver, ids := range p.Pkg.SecFixes {
			if ver == "0" {
				continue
			}
			pv, err := semantic.Parse(ver, "Alpine")
			if err != nil {
				continue
			}
			for _, entry := range ids {
				tok := strings.Fields(entry)
				if len(tok) == 0 {
					continue
				}
				id := tok[0]
				if old, ok := fixes[id]; ok {
					if c, err := pv.CompareStr(old.version); err != nil || c >= 0 {
						continue
					}
				}
				fixes[id] = fix{ver, tok[1:]}
			}
		}
		ids := make([]string, 0, len(fixes))
		for id := range fixes {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			f := fixes[id]
			out = append(out, &osv.Vulnerability{
				ID:      id,
				Aliases: f.aliases,
				Affected: []osv.Affected{{
					Package: osv.Package{Ecosystem: eco, Name: p.Pkg.Name},
					Ranges: []osv.Range{{Type: osv.RangeEcosystem, Events: []osv.Event{
						{Introduced: "0"}, {Fixed: f.version},
					}}},
				}},
				DatabaseSpecific: json.RawMessage(`{"source":"alpine-secdb/` + db.DistroVersion + `/` + db.RepoName + `"}`),
			})
		}
	}
	return out
}
