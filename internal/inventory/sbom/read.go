package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/inventory/extract"
)

// MaxDocument bounds the size of an SBOM document read (256 MiB).
const MaxDocument = 256 << 20

// Read decodes a CycloneDX (1.2-1.6) or SPDX 2.x JSON document, or
// riskmap's own JSON, into an inventory. Packages without a purl and
// without an ecosystem are kept with an empty ecosystem.
func Read(r io.Reader) (*inventory.Inventory, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxDocument+1))
	if err != nil {
		return nil, fmt.Errorf("read SBOM: %w", err)
	}
	if len(b) > MaxDocument {
		return nil, fmt.Errorf("read SBOM: larger than %d bytes", MaxDocument)
	}
	var probe struct {
		BOMFormat     string `json:"bomFormat"`
		SPDXVersion   string `json:"spdxVersion"`
		SchemaVersion string `json:"schemaVersion"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		if bytes.HasPrefix(bytes.TrimSpace(b), []byte("<")) {
			return nil, errors.New("read SBOM: XML documents are not supported; use CycloneDX or SPDX JSON")
		}
		return nil, fmt.Errorf("read SBOM: not JSON: %w", err)
	}
	var inv *inventory.Inventory
	switch {
	case probe.BOMFormat == "CycloneDX":
		inv, err = readCycloneDX(b)
	case strings.HasPrefix(probe.SPDXVersion, "SPDX-2."):
		inv, err = readSPDX(b)
	case probe.SchemaVersion != "":
		inv = &inventory.Inventory{}
		err = json.Unmarshal(b, inv)
	default:
		return nil, errors.New("read SBOM: neither CycloneDX (bomFormat) nor SPDX 2.x (spdxVersion) JSON")
	}
	if err != nil {
		return nil, fmt.Errorf("read SBOM: %w", err)
	}
	if inv.Packages == nil {
		inv.Packages = []inventory.Package{}
	}
	extract.SortPackages(inv.Packages)
	return inv, nil
}

func readCycloneDX(b []byte) (*inventory.Inventory, error) {
	var bom cdxBOM
	if err := json.Unmarshal(b, &bom); err != nil {
		return nil, err
	}
	inv := &inventory.Inventory{}
	if bom.Metadata != nil {
		if t, err := time.Parse(time.RFC3339, bom.Metadata.Timestamp); err == nil {
			inv.CreatedAt = t
		}
		if c := bom.Metadata.Component; c != nil {
			inv.Target.Digest = c.Version
		}
	}
	var walk func(cs []cdxComponent, depth int) error
	walk = func(cs []cdxComponent, depth int) error {
		if depth > 32 {
			return errors.New("components nested more than 32 deep")
		}
		for _, c := range cs {
			if c.Type == "operating-system" {
				inv.Distro = &inventory.Distro{ID: c.Name, VersionID: c.Version, Codename: prop(c, "riskmap:codename"), Name: prop(c, "riskmap:prettyName")}
			} else if c.Purl != "" || prop(c, propEcosystem) != "" {
				name := c.Name
				if c.Group != "" && strings.HasPrefix(c.Purl, "pkg:maven/") {
					name = c.Group + ":" + c.Name // Maven's (and OSV's) group:artifact
				}
				p := inventory.Package{
					Name: name, Version: c.Version, PURL: c.Purl,
					Ecosystem: prop(c, propEcosystem), SourceName: prop(c, propSourceName), SourceVersion: prop(c, propSourceVersion),
					Layer: prop(c, propLayer), OwnedBy: prop(c, propOwnedBy), Extractor: prop(c, propExtractor),
				}
				for _, l := range c.Licenses {
					switch {
					case l.Expression != "":
						p.Licenses = append(p.Licenses, l.Expression)
					case l.License != nil && l.License.ID != "":
						p.Licenses = append(p.Licenses, l.License.ID)
					case l.License != nil && l.License.Name != "":
						p.Licenses = append(p.Licenses, l.License.Name)
					}
				}
				if c.Evidence != nil {
					for _, o := range c.Evidence.Occurrences {
						p.Locations = append(p.Locations, o.Location)
					}
				}
				if p.Ecosystem == "" {
					p.Ecosystem = ecosystemFromPURL(p.PURL, inv.Distro)
				}
				inv.Packages = append(inv.Packages, p)
			}
			if err := walk(c.Components, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	// The operating system first, so deb ecosystems can take its release.
	for _, c := range bom.Components {
		if c.Type == "operating-system" {
			inv.Distro = &inventory.Distro{ID: c.Name, VersionID: c.Version}
		}
	}
	if err := walk(bom.Components, 0); err != nil {
		return nil, err
	}
	return inv, nil
}

func prop(c cdxComponent, name string) string {
	for _, p := range c.Properties {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

func readSPDX(b []byte) (*inventory.Inventory, error) {
	var doc spdxDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	inv := &inventory.Inventory{}
	if t, err := time.Parse(time.RFC3339, doc.CreationInfo.Created); err == nil {
		inv.CreatedAt = t
	}
	for _, sp := range doc.Packages {
		if sp.PrimaryPackagePurpos == "OPERATING-SYSTEM" {
			inv.Distro = &inventory.Distro{ID: sp.Name, VersionID: sp.VersionInfo, Name: sp.Comment}
		}
	}
	for _, sp := range doc.Packages {
		purl := ""
		for _, r := range sp.ExternalRefs {
			if strings.EqualFold(r.ReferenceType, "purl") {
				purl = r.ReferenceLocator
				break
			}
		}
		if purl == "" {
			continue // the described root, files, the OS: not packages
		}
		p := inventory.Package{Name: sp.Name, Version: sp.VersionInfo, PURL: purl}
		for _, a := range sp.Annotations {
			for _, line := range strings.Split(a.Comment, "\n") {
				k, v, _ := strings.Cut(line, "=")
				switch k {
				case propEcosystem:
					p.Ecosystem = v
				case propSourceName:
					p.SourceName = v
				case propSourceVersion:
					p.SourceVersion = v
				case propLayer:
					p.Layer = v
				case propOwnedBy:
					p.OwnedBy = v
				}
			}
		}
		if l := sp.LicenseDeclared; l != "" && l != "NOASSERTION" && l != "NONE" {
			p.Licenses = []string{l}
		}
		if loc, ok := strings.CutPrefix(sp.SourceInfo, "acquired package info from: "); ok {
			p.Locations = strings.Split(loc, ", ")
		}
		if p.Ecosystem == "" {
			p.Ecosystem = ecosystemFromPURL(purl, inv.Distro)
		}
		inv.Packages = append(inv.Packages, p)
	}
	return inv, nil
}
