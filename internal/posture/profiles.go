package posture

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

// Products of the SCAP Security Guide data streams sensors use.
var (
	debian   = []string{"debian11", "debian12"}
	ubuntu   = []string{"ubuntu2004", "ubuntu2204", "ubuntu2404"}
	rhel     = []string{"rhel8", "rhel9", "centos8", "almalinux9", "ol8", "ol9", "fedora"}
	sle      = []string{"sle15", "opensuse"}
	hostCtr  = []string{"host", "container"}
	hostOnly = []string{"host"}
)

func join(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// Catalogue is the profiles the console offers, with the SSG products
// that ship each. The seed's names map to them: Standard System Security
// (standard), CIS (cis_level1_server...), PCI-DSS (pci-dss), HIPAA
// (hipaa), NIST 800-53 / mission critical (ospp, stig), ANSSI (anssi_*),
// NIST Kube Master and Kube Slave (the CIS Kubernetes master and node
// targets).
var Catalogue = []Profile{
	{ID: "standard", Title: "Standard System Security Profile", Family: "standard", Engine: "openscap", Content: join(debian, ubuntu, rhel, sle), Targets: hostCtr},
	{ID: "cis_level1_server", Title: "CIS Benchmark Level 1 - Server", Family: "cis", Engine: "openscap", Content: ubuntu, Targets: hostCtr},
	{ID: "cis_level2_server", Title: "CIS Benchmark Level 2 - Server", Family: "cis", Engine: "openscap", Content: ubuntu, Targets: hostCtr},
	{ID: "cis_server_l1", Title: "CIS Benchmark Level 1 - Server", Family: "cis", Engine: "openscap", Content: join(rhel, sle), Targets: hostCtr},
	{ID: "cis", Title: "CIS Benchmark Level 2 - Server", Family: "cis", Engine: "openscap", Content: join(rhel, sle), Targets: hostCtr},
	{ID: "pci-dss", Title: "PCI-DSS v4 Control Baseline", Family: "pci-dss", Engine: "openscap", Content: join(rhel, sle), Targets: hostCtr},
	{ID: "hipaa", Title: "Health Insurance Portability and Accountability Act (HIPAA)", Family: "hipaa", Engine: "openscap", Content: join(rhel, sle), Targets: hostCtr},
	{ID: "ospp", Title: "Protection Profile for General Purpose Operating Systems (NIST 800-53)", Family: "nist", Engine: "openscap", Content: rhel, Targets: hostCtr},
	{ID: "stig", Title: "DISA STIG (NIST 800-53, mission critical)", Family: "stig", Engine: "openscap", Content: join(rhel, sle, ubuntu), Targets: hostCtr},
	{ID: "anssi_bp28_minimal", Title: "ANSSI-BP-028 (minimal)", Family: "anssi", Engine: "openscap", Content: join(debian, ubuntu, rhel, sle), Targets: hostCtr},
	{ID: "anssi_bp28_intermediary", Title: "ANSSI-BP-028 (intermediary)", Family: "anssi", Engine: "openscap", Content: join(debian, ubuntu, rhel, sle), Targets: hostCtr},
	{ID: "anssi_bp28_enhanced", Title: "ANSSI-BP-028 (enhanced)", Family: "anssi", Engine: "openscap", Content: join(debian, ubuntu, rhel, sle), Targets: hostCtr},
	{ID: "anssi_bp28_high", Title: "ANSSI-BP-028 (high)", Family: "anssi", Engine: "openscap", Content: join(debian, ubuntu, rhel, sle), Targets: hostCtr},
	{ID: "master", Title: "CIS Kubernetes Benchmark - control plane (master)", Family: "cis-kubernetes", Engine: "kube-bench", Targets: hostOnly},
	{ID: "node", Title: "CIS Kubernetes Benchmark - worker node", Family: "cis-kubernetes", Engine: "kube-bench", Targets: hostOnly},
	{ID: "cis-docker", Title: "CIS Docker Benchmark", Family: "cis-docker", Engine: "docker", Targets: hostOnly},
}
