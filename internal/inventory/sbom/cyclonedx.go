package sbom

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/inventory"
)

// CycloneDX 1.6 JSON, the subset riskmap writes and reads.
type cdxBOM struct {
	BOMFormat    string         `json:"bomFormat"`
	SpecVersion  string         `json:"specVersion"`
	SerialNumber string         `json:"serialNumber,omitempty"`
	Version      int            `json:"version"`
	Metadata     *cdxMetadata   `json:"metadata,omitempty"`
	Components   []cdxComponent `json:"components"`
}

type cdxMetadata struct {
	Timestamp string        `json:"timestamp,omitempty"`
	Tools     *cdxTools     `json:"tools,omitempty"`
	Component *cdxComponent `json:"component,omitempty"`
}

type cdxTools struct {
	Components []cdxComponent `json:"components,omitempty"`
}

type cdxComponent struct {
	BOMRef     string         `json:"bom-ref,omitempty"`
	Type       string         `json:"type"`
	Group      string         `json:"group,omitempty"`
	Name       string         `json:"name"`
	Version    string         `json:"version,omitempty"`
	Purl       string         `json:"purl,omitempty"`
	Licenses   []cdxLicense   `json:"licenses,omitempty"`
	Properties []cdxProperty  `json:"properties,omitempty"`
	Evidence   *cdxEvidence   `json:"evidence,omitempty"`
	Components []cdxComponent `json:"components,omitempty"`
	Hashes     []any          `json:"hashes,omitempty"`
}

type cdxLicense struct {
	License    *cdxLicenseID `json:"license,omitempty"`
	Expression string        `json:"expression,omitempty"`
}

type cdxLicenseID struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

type cdxProperty struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type cdxEvidence struct {
	Occurrences []cdxOccurrence `json:"occurrences,omitempty"`
}

type cdxOccurrence struct {
	Location string `json:"location"`
}

// Property names riskmap adds to CycloneDX components and reads back.
const (
	propEcosystem     = "riskmap:ecosystem"
	propSourceName    = "riskmap:sourceName"
	propSourceVersion = "riskmap:sourceVersion"
	propLayer         = "riskmap:layer"
	propOwnedBy       = "riskmap:ownedBy"
	propExtractor     = "riskmap:extractor"
)

// docID derives a stable identifier from what the document describes, so
// the same inventory always gets the same serial number.
func docID(inv *inventory.Inventory) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%d", inv.Target.Kind, inv.Target.Ref, inv.Target.Digest, inv.CreatedAt.Format(time.RFC3339Nano), len(inv.Packages))
	for _, p := range inv.Packages {
		fmt.Fprintf(h, "\x00%s", p.PURL)
	}
	s := h.Sum(nil)
	s[6] = s[6]&0x0f | 0x50 // version 5 style (name-based, SHA)
	s[8] = s[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

func toCycloneDX(inv *inventory.Inventory, tool Tool) *cdxBOM {
	bom := &cdxBOM{
		BOMFormat:    "CycloneDX",
		SpecVersion:  "1.6",
		SerialNumber: "urn:uuid:" + docID(inv),
		Version:      1,
		Metadata: &cdxMetadata{
			Timestamp: inv.CreatedAt.UTC().Format(time.RFC3339),
			Tools:     &cdxTools{Components: []cdxComponent{{Type: "application", Name: tool.Name, Version: tool.Version}}},
			Component: &cdxComponent{BOMRef: "target", Type: targetType(inv.Target.Kind), Name: inv.Target.Ref, Version: inv.Target.Digest},
		},
		Components: []cdxComponent{},
	}
	if d := inv.Distro; d != nil {
		bom.Components = append(bom.Components, cdxComponent{
			BOMRef: "os:" + d.ID + "@" + d.VersionID, Type: "operating-system", Name: d.ID, Version: d.VersionID,
			Properties: props("riskmap:codename", d.Codename, "riskmap:prettyName", d.Name),
		})
	}
	seen := map[string]int{}
	for _, p := range inv.Packages {
		ref := p.PURL
		if ref == "" {
			ref = p.Ecosystem + "/" + p.Name + "@" + p.Version
		}
		n := seen[ref]
		seen[ref]++
		if n > 0 {
			ref = fmt.Sprintf("%s#%d", ref, n)
		}
		c := cdxComponent{
			BOMRef: ref, Type: "library", Name: p.Name, Version: p.Version, Purl: p.PURL,
			Properties: props(propEcosystem, p.Ecosystem, propSourceName, p.SourceName, propSourceVersion, p.SourceVersion,
				propLayer, p.Layer, propOwnedBy, p.OwnedBy, propExtractor, p.Extractor),
		}
		if g, a, ok := strings.Cut(p.Name, ":"); ok && strings.HasPrefix(p.PURL, "pkg:maven/") {
			c.Group, c.Name = g, a
		}
		for _, l := range p.Licenses {
			if spdxExpr(l) && !strings.ContainsAny(l, " ()") {
				c.Licenses = append(c.Licenses, cdxLicense{License: &cdxLicenseID{ID: l}})
			} else {
				c.Licenses = append(c.Licenses, cdxLicense{License: &cdxLicenseID{Name: l}})
			}
		}
		if len(p.Locations) > 0 {
			c.Evidence = &cdxEvidence{}
			for _, l := range p.Locations {
				c.Evidence.Occurrences = append(c.Evidence.Occurrences, cdxOccurrence{Location: l})
			}
		}
		bom.Components = append(bom.Components, c)
	}
	return bom
}

func targetType(kind string) string {
	switch kind {
	case "dir", "sbom", "file", "host":
		return "file"
	}
	return "container"
}

func props(kv ...string) []cdxProperty {
	var out []cdxProperty
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			out = append(out, cdxProperty{Name: kv[i], Value: kv[i+1]})
		}
	}
	return out
}
