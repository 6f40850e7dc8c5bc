package sbom

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/inventory"
)

// SPDX 2.3 JSON, the subset riskmap writes and reads.
type spdxDoc struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreation       `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships,omitempty"`
}

type spdxCreation struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name                 string        `json:"name"`
	SPDXID               string        `json:"SPDXID"`
	VersionInfo          string        `json:"versionInfo,omitempty"`
	DownloadLocation     string        `json:"downloadLocation"`
	FilesAnalyzed        bool          `json:"filesAnalyzed"`
	LicenseConcluded     string        `json:"licenseConcluded,omitempty"`
	LicenseDeclared      string        `json:"licenseDeclared,omitempty"`
	CopyrightText        string        `json:"copyrightText,omitempty"`
	SourceInfo           string        `json:"sourceInfo,omitempty"`
	Comment              string        `json:"comment,omitempty"`
	PrimaryPackagePurpos string        `json:"primaryPackagePurpose,omitempty"`
	ExternalRefs         []spdxExtRef  `json:"externalRefs,omitempty"`
	Annotations          []spdxAnnotat `json:"annotations,omitempty"`
}

type spdxExtRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxAnnotat struct {
	Annotator      string `json:"annotator"`
	AnnotationDate string `json:"annotationDate"`
	AnnotationType string `json:"annotationType"`
	Comment        string `json:"comment"`
}

type spdxRelationship struct {
	SPDXElementID      string `json:"spdxElementId"`
	RelationshipType   string `json:"relationshipType"`
	RelatedSPDXElement string `json:"relatedSpdxElement"`
}

var spdxIDUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// spdxToken is one license id or operator of an SPDX license expression.
var spdxToken = regexp.MustCompile(`^(\(|\)|AND|OR|WITH|[A-Za-z0-9.+-]+)$`)

// spdxExpr reports whether s looks like a valid SPDX license expression.
func spdxExpr(s string) bool {
	s = strings.NewReplacer("(", " ( ", ")", " ) ").Replace(s)
	f := strings.Fields(s)
	if len(f) == 0 {
		return false
	}
	for _, t := range f {
		if !spdxToken.MatchString(t) {
			return false
		}
	}
	return true
}

func toSPDX(inv *inventory.Inventory, tool Tool) *spdxDoc {
	created := inv.CreatedAt.UTC().Format(time.RFC3339)
	name := inv.Target.Kind + ":" + inv.Target.Ref
	doc := &spdxDoc{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            "SPDXRef-DOCUMENT",
		Name:              name,
		DocumentNamespace: "https://riskmap.invalid/spdx/" + docID(inv),
		CreationInfo:      spdxCreation{Created: created, Creators: []string{"Tool: " + tool.Name + "-" + tool.Version}},
		Packages:          []spdxPackage{},
	}
	root := spdxPackage{
		Name: name, SPDXID: "SPDXRef-Target", VersionInfo: inv.Target.Digest, DownloadLocation: "NOASSERTION",
		PrimaryPackagePurpos: map[bool]string{true: "CONTAINER", false: "SOURCE"}[targetType(inv.Target.Kind) == "container"],
	}
	doc.Packages = append(doc.Packages, root)
	doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", root.SPDXID})
	if d := inv.Distro; d != nil {
		doc.Packages = append(doc.Packages, spdxPackage{
			Name: d.ID, SPDXID: "SPDXRef-OperatingSystem", VersionInfo: d.VersionID, DownloadLocation: "NOASSERTION",
			PrimaryPackagePurpos: "OPERATING-SYSTEM", Comment: d.Name,
		})
		doc.Relationships = append(doc.Relationships, spdxRelationship{root.SPDXID, "CONTAINS", "SPDXRef-OperatingSystem"})
	}
	for i, p := range inv.Packages {
		id := fmt.Sprintf("SPDXRef-Package-%s-%d", spdxIDUnsafe.ReplaceAllString(p.Name, "-"), i)
		lic := "NOASSERTION"
		if len(p.Licenses) > 0 {
			expr := strings.Join(p.Licenses, " AND ")
			if spdxExpr(expr) {
				lic = expr
			}
		}
		sp := spdxPackage{
			Name: p.Name, SPDXID: id, VersionInfo: p.Version, DownloadLocation: "NOASSERTION",
			LicenseConcluded: "NOASSERTION", LicenseDeclared: lic, CopyrightText: "NOASSERTION",
			PrimaryPackagePurpos: "LIBRARY",
		}
		if len(p.Locations) > 0 {
			sp.SourceInfo = "acquired package info from: " + strings.Join(p.Locations, ", ")
		}
		if p.PURL != "" {
			sp.ExternalRefs = append(sp.ExternalRefs, spdxExtRef{"PACKAGE-MANAGER", "purl", p.PURL})
		}
		var notes []string
		for _, kv := range [][2]string{{propEcosystem, p.Ecosystem}, {propSourceName, p.SourceName}, {propSourceVersion, p.SourceVersion}, {propLayer, p.Layer}, {propOwnedBy, p.OwnedBy}} {
			if kv[1] != "" {
				notes = append(notes, kv[0]+"="+kv[1])
			}
		}
		if len(notes) > 0 {
			sp.Annotations = []spdxAnnotat{{Annotator: "Tool: " + tool.Name, AnnotationDate: created, AnnotationType: "OTHER", Comment: strings.Join(notes, "\n")}}
		}
		doc.Packages = append(doc.Packages, sp)
		doc.Relationships = append(doc.Relationships, spdxRelationship{root.SPDXID, "CONTAINS", id})
	}
	return doc
}
