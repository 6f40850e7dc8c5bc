package compliance

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/riskmap/riskmap/internal/compliance/oscap"
)

// Riskmap's profile names: what a person picks, whatever the OS. Each maps
// to an XCCDF profile of the OS's data stream, when it has one.
const (
	ProfileStandard            = "standard"
	ProfileCISL1Server         = "cis-level1-server"
	ProfileCISL2Server         = "cis-level2-server"
	ProfileCISL1Workstation    = "cis-level1-workstation"
	ProfileCISL2Workstation    = "cis-level2-workstation"
	ProfilePCIDSS              = "pci-dss"
	ProfileHIPAA               = "hipaa"
	ProfileNIST80053           = "nist-800-53"
	ProfileNISTMissionCritical = "nist-mission-critical"
	ProfileANSSI               = "anssi"
)

// DefaultProfile is the profile of a compliance scan that names none.
const DefaultProfile = ProfileStandard

// Name is one of Riskmap's profile names, its title, and the SSG profile
// ids (without the xccdf_org.ssgproject.content_profile_ prefix) that
// implement it, best first.
type Name struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	// SSG lists the SSG short profile ids, best first.
	SSG []string `json:"ssg"`
}

// Names lists Riskmap's profile names in the order they are shown.
var Names = []Name{
	{ProfileStandard, "Standard System Security", []string{"standard"}},
	{ProfileCISL1Server, "CIS Level 1 - Server", []string{"cis_level1_server", "cis_server_l1"}},
	{ProfileCISL2Server, "CIS Level 2 - Server", []string{"cis_level2_server", "cis"}},
	{ProfileCISL1Workstation, "CIS Level 1 - Workstation", []string{"cis_level1_workstation", "cis_workstation_l1"}},
	{ProfileCISL2Workstation, "CIS Level 2 - Workstation", []string{"cis_level2_workstation", "cis_workstation_l2"}},
	{ProfilePCIDSS, "PCI-DSS", []string{"pci-dss-4", "pci-dss"}},
	{ProfileHIPAA, "HIPAA", []string{"hipaa"}},
	// NIST 800-53: the NIAP protection profile for general purpose OSes,
	// whose requirements SSG maps to 800-53 controls.
	{ProfileNIST80053, "NIST 800-53 (OSPP)", []string{"ospp"}},
	// NIST mission critical: DISA's STIG (800-53 high baseline systems).
	{ProfileNISTMissionCritical, "NIST mission critical (DISA STIG)", []string{"stig"}},
	{ProfileANSSI, "ANSSI", []string{"anssi_bp28_intermediary", "anssi_np_nt28_average", "anssi_bp28_minimal", "anssi_np_nt28_minimal"}},
}

// SSGProfilePrefix is the prefix of the SCAP Security Guide's profile ids.
const SSGProfilePrefix = "xccdf_org.ssgproject.content_profile_"

// Choice is a Riskmap profile name resolved for one data stream.
type Choice struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	// Available says whether the data stream implements it; ProfileID and
	// ProfileTitle are then its XCCDF profile; Reason says why not.
	Available    bool   `json:"available"`
	ProfileID    string `json:"profileId,omitempty"`
	ProfileTitle string `json:"profileTitle,omitempty"`
	Reason       string `json:"reason,omitempty"`
}

// Map resolves each of Riskmap's profile names against a benchmark's
// profiles (product names the data stream for the reasons).
func Map(product string, b *oscap.Benchmark) []Choice {
	out := make([]Choice, 0, len(Names))
	for _, n := range Names {
		c := Choice{Name: n.Name, Title: n.Title}
		for _, short := range n.SSG {
			if i := slices.IndexFunc(b.Profiles, func(p oscap.Profile) bool { return p.ID == SSGProfilePrefix+short }); i >= 0 {
				c.Available, c.ProfileID, c.ProfileTitle = true, b.Profiles[i].ID, b.Profiles[i].Title
				break
			}
		}
		if !c.Available {
			c.Reason = fmt.Sprintf("the SCAP Security Guide has no %s profile for %s", n.Title, product)
		}
		out = append(out, c)
	}
	return out
}

// Resolve returns the XCCDF profile id a scan's profile designates in a
// benchmark: one of Riskmap's names ("" is DefaultProfile), an SSG short
// id ("cis_level1_server") or a full XCCDF profile id of the benchmark.
// An error names the profiles the benchmark has.
func Resolve(product string, b *oscap.Benchmark, profile string) (string, error) {
	if profile == "" {
		profile = DefaultProfile
	}
	for _, c := range Map(product, b) {
		if c.Name == profile {
			if !c.Available {
				return "", fmt.Errorf("profile %s: %s", profile, c.Reason)
			}
			return c.ProfileID, nil
		}
	}
	for _, p := range b.Profiles {
		if p.ID == profile || p.ID == SSGProfilePrefix+profile {
			return p.ID, nil
		}
	}
	var have []string
	for _, p := range b.Profiles {
		have = append(have, strings.TrimPrefix(p.ID, SSGProfilePrefix))
	}
	return "", fmt.Errorf("profile %q: not one of Riskmap's names nor a profile of %s (it has: %s)", profile, product, strings.Join(have, ", "))
}

// Product is a data stream in the embedded catalogue.
type Product struct {
	// Product is the SSG product ("debian11"), DataStream its file name.
	Product    string          `json:"product"`
	DataStream string          `json:"dataStream"`
	Benchmark  oscap.Benchmark `json:"benchmark"`
}

// catalogJSON is the catalogue of the SCAP Security Guide content the
// sensor image ships (regenerated from installed content by
// `go test ./internal/compliance -run TestCatalog -update`).
//
//go:embed catalog.json
var catalogJSON []byte

// CatalogVersion is the SSG release of the embedded catalogue.
const CatalogVersion = "0.1.65"

// Catalog returns the embedded catalogue of data streams, sorted by
// product: what the console shows when no sensor reported its own.
func Catalog() []Product {
	var out []Product
	if err := json.Unmarshal(catalogJSON, &out); err != nil {
		panic("compliance: embedded catalog.json: " + err.Error()) // a build error, caught by TestCatalog
	}
	return out
}

// OSProfiles is what the console shows to pick a compliance profile for
// a node: the data stream that covers its OS and Riskmap's profile names
// resolved against it, or why none covers it.
type OSProfiles struct {
	OS      OS     `json:"os"`
	Product string `json:"product,omitempty"`
	// Derived: the product is the OS's parent's (RHEL content for Rocky).
	Derived   bool     `json:"derived,omitempty"`
	Benchmark string   `json:"benchmark,omitempty"`
	Version   string   `json:"version,omitempty"`
	Choices   []Choice `json:"choices"`
	// Reason says why no data stream covers the OS (Choices then all
	// unavailable).
	Reason string `json:"reason,omitempty"`
}

// ProfilesFor resolves Riskmap's profile names for an OS against the
// embedded catalogue (the console has no SCAP content of its own).
func ProfilesFor(o OS) OSProfiles {
	return profilesIn(Catalog(), o)
}

// ProfilesForID is ProfilesFor of an os-release ID and VERSION_ID (as the
// topology reports a host's distribution).
func ProfilesForID(id, versionID string) OSProfiles {
	return ProfilesFor(OS{ID: strings.ToLower(id), VersionID: versionID})
}

func profilesIn(cat []Product, o OS) OSProfiles {
	out := OSProfiles{OS: o}
	cands := Candidates(o)
	for i, c := range cands {
		j := slices.IndexFunc(cat, func(p Product) bool { return p.Product == c })
		if j < 0 {
			continue
		}
		p := cat[j]
		out.Product, out.Derived, out.Benchmark, out.Version = p.Product, i > 0, p.Benchmark.ID, p.Benchmark.Version
		out.Choices = Map(p.Product, &p.Benchmark)
		return out
	}
	switch {
	case len(cands) == 0:
		out.Reason = fmt.Sprintf("the SCAP Security Guide does not cover %s", o)
	default:
		out.Reason = fmt.Sprintf("the SCAP Security Guide %s has no data stream for %s (it would be ssg-%s-ds.xml)", CatalogVersion, o, cands[0])
	}
	for _, n := range Names {
		out.Choices = append(out.Choices, Choice{Name: n.Name, Title: n.Title, Reason: out.Reason})
	}
	return out
}
