package extract

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/google/osv-scalibr/extractor"
	"github.com/google/osv-scalibr/extractor/filesystem/language/golang/gobinary"
	"github.com/google/osv-scalibr/extractor/filesystem/language/golang/gomod"
	apkmeta "github.com/google/osv-scalibr/extractor/filesystem/os/apk/metadata"
	dpkgmeta "github.com/google/osv-scalibr/extractor/filesystem/os/dpkg/metadata"
	rpmmeta "github.com/google/osv-scalibr/extractor/filesystem/os/rpm/metadata"
	scalibrinv "github.com/google/osv-scalibr/inventory"

	"github.com/riskmap/riskmap/internal/inventory"
)

// convert maps osv-scalibr packages to the shared model, merging the same
// package found by several files (a lockfile entry and its installed
// node_modules copy, say) into one with all locations.
func convert(sinv scalibrinv.Inventory) []inventory.Package {
	byKey := map[string]int{}
	var out []inventory.Package
	for _, sp := range sinv.Packages {
		p := convertOne(sp)
		if p.Extractor == gomod.Name && p.Name == "stdlib" {
			// The go.mod "go" directive is a language version, not the
			// toolchain a binary was built with: matching it as stdlib
			// would report every advisory of that minor release.
			continue
		}
		k := p.Ecosystem + "\x00" + p.Name + "\x00" + p.Version + "\x00" + p.PURL
		if i, ok := byKey[k]; ok {
			out[i].Locations = mergeSorted(out[i].Locations, p.Locations)
			continue
		}
		byKey[k] = len(out)
		out = append(out, p)
	}
	SortPackages(out)
	return out
}

// SortPackages orders packages by ecosystem, name, version and first location.
func SortPackages(pkgs []inventory.Package) {
	slices.SortFunc(pkgs, func(a, b inventory.Package) int {
		return cmp.Or(
			strings.Compare(a.Ecosystem, b.Ecosystem),
			strings.Compare(a.Name, b.Name),
			strings.Compare(a.Version, b.Version),
			strings.Compare(a.PURL, b.PURL),
			strings.Compare(first(a.Locations), first(b.Locations)),
		)
	})
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func convertOne(sp *extractor.Package) inventory.Package {
	p := inventory.Package{
		Name:      sp.Name,
		Version:   sp.Version,
		Ecosystem: sp.Ecosystem().String(),
	}
	if u := sp.PURL(); u != nil {
		p.PURL = u.String()
	}
	if len(sp.Plugins) > 0 {
		p.Extractor = sp.Plugins[0]
	}
	var locs []string
	if path := sp.Location.PathOrEmpty(); path != "" {
		locs = append(locs, path)
	}
	for _, r := range sp.Location.Related {
		if r.File != nil && r.File.Path != "" {
			locs = append(locs, r.File.Path)
		}
	}
	slices.Sort(locs)
	p.Locations = slices.Compact(locs)
	for _, l := range sp.Licenses {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(p.Licenses, l) {
			p.Licenses = append(p.Licenses, l)
		}
	}
	if p.Extractor == gobinary.Name && p.Name == "go" && p.Ecosystem == "Go" {
		// The toolchain a binary was built with: OSV (and syft) call the Go
		// standard library "stdlib".
		p.Name, p.PURL = "stdlib", "pkg:golang/stdlib@"+p.Version
	}
	switch m := sp.Metadata.(type) {
	case *dpkgmeta.Metadata:
		// Debian omits Source when it equals the binary package, and the
		// version when it equals the binary version.
		p.SourceName = cmp.Or(m.SourceName, m.PackageName)
		p.SourceVersion = cmp.Or(m.SourceVersion, m.PackageVersion)
	case *apkmeta.Metadata:
		p.SourceName = cmp.Or(m.OriginName, m.PackageName)
		p.SourceVersion = sp.Version
	case *rpmmeta.Metadata:
		p.SourceName, p.SourceVersion = ParseSourceRPM(m.SourceRPM)
		if m.Epoch > 0 {
			// Red Hat advisories compare epoch:version-release.
			p.Version = fmt.Sprintf("%d:%s", m.Epoch, p.Version)
		}
		if rel := rpmRelease(m.OSID, m.OSVersionID); rel != "" && !strings.Contains(p.Ecosystem, ":") {
			p.Ecosystem += ":" + rel
		}
	}
	return p
}

// rpmRelease is the release suffix OSV uses for an RPM distribution's
// ecosystem ("AlmaLinux:9", "Rocky Linux:9", "Red Hat" keeps none).
func rpmRelease(osID, versionID string) string {
	switch osID {
	case "almalinux", "rocky":
		major, _, _ := strings.Cut(versionID, ".")
		return major
	}
	return ""
}

// ParseSourceRPM splits a source RPM file name such as
// "openssl-3.0.7-25.el9_3.src.rpm" into name "openssl" and version
// "3.0.7-25.el9_3". It returns empty strings for anything else.
func ParseSourceRPM(s string) (name, version string) {
	s = strings.TrimSuffix(strings.TrimSuffix(s, ".rpm"), ".src")
	s = strings.TrimSuffix(s, ".nosrc")
	// name-version-release: the last two dashes separate the fields.
	r := strings.LastIndexByte(s, '-')
	if r <= 0 {
		return "", ""
	}
	v := strings.LastIndexByte(s[:r], '-')
	if v <= 0 {
		return "", ""
	}
	return s[:v], s[v+1:]
}

func mergeSorted(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}
