package posture

import (
	"strings"

	"github.com/riskmap/riskmap/internal/compliance"
)

// Profile is a benchmark profile a compliance scan may ask for: its id as
// the scan command carries it (an SCAP Security Guide profile's short
// name, which oscap takes as xccdf_org.ssgproject.content_profile_ID; a
// CIS Kubernetes or Docker target), what it is, and the engines and
// content it is found in.
type Profile struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Family groups profiles of one standard: standard, cis, pci-dss,
	// hipaa, nist, anssi, stig, cis-kubernetes, cis-docker.
	Family string `json:"family"`
	// Engine runs it: openscap, kube-bench, docker.
	Engine string `json:"engine"`
	// Content lists the SSG data streams (by product) that hold it; empty
	// for the non-SCAP engines.
	Content []string `json:"content,omitempty"`
	// Targets are the target kinds it applies to (host, container).
	Targets []string `json:"targets"`
}

// Catalogue is the profiles the console offers: Riskmap's OpenSCAP
// profile names (compliance.Names: standard, the CIS levels, PCI-DSS,
// HIPAA, NIST 800-53 (OSPP), NIST mission critical (DISA STIG), ANSSI),
// each with the SCAP Security Guide products whose data stream implements
// it (from the catalogue of the content sensors ship, compliance.Catalog),
// then the CIS Kubernetes benchmark (kube-bench, on the node's detected
// control-plane and worker targets: the seed's NIST Kube Master and Kube
// Slave) and the CIS Docker benchmark. Sensors take these ids in a scan
// command's profile.
var Catalogue = buildCatalogue()

func buildCatalogue() []Profile {
	hostCtr := []string{"host", "container"}
	products := compliance.Catalog()
	out := make([]Profile, 0, len(compliance.Names)+2)
	for _, n := range compliance.Names {
		p := Profile{ID: n.Name, Title: n.Title, Family: family(n.Name), Engine: "openscap", Targets: hostCtr}
		for i := range products {
			for _, c := range compliance.Map(products[i].Product, &products[i].Benchmark) {
				if c.Name == n.Name && c.Available {
					p.Content = append(p.Content, products[i].Product)
				}
			}
		}
		out = append(out, p)
	}
	return append(out,
		Profile{ID: "cis-kubernetes", Title: "CIS Kubernetes Benchmark (control plane and worker node)", Family: "cis-kubernetes", Engine: "kube-bench", Targets: []string{"host"}},
		Profile{ID: "cis-docker", Title: "CIS Docker Benchmark", Family: "cis-docker", Engine: "docker", Targets: hostCtr})
}

// family groups a profile name by its standard.
func family(name string) string {
	switch {
	case strings.HasPrefix(name, "cis-"):
		return "cis"
	case name == compliance.ProfileNIST80053:
		return "nist"
	case name == compliance.ProfileNISTMissionCritical:
		return "stig"
	}
	return name
}
