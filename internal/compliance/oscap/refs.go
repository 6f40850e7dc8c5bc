package oscap

import "strings"

// Reference systems: the catalogue a rule's ident or reference names.
// sensorproto.Reference.System carries these; a reference of no known
// catalogue keeps its href.
const (
	SysCCE        = "cce"
	SysNIST80053  = "nist-800-53"
	SysNIST800171 = "nist-800-171"
	SysNISTCSF    = "nist-csf"
	SysPCIDSS     = "pcidss"
	SysPCIDSS4    = "pcidss4"
	SysCIS        = "cis"
	SysCISCSC     = "cis-csc"
	SysHIPAA      = "hipaa"
	SysANSSI      = "anssi"
	SysOSPP       = "ospp"
	SysSTIG       = "stig"
	SysSRG        = "srg"
	SysCCI        = "cci"
	SysISO27001   = "iso-27001"
	SysISA62443   = "isa-62443"
	SysCOBIT      = "cobit5"
	SysNERCCIP    = "nerc-cip"
	SysCJIS       = "cjis"
	SysCUI        = "cui"
	SysOther      = "other"
)

// identSystem names the catalogue of an ident's system URI.
func identSystem(system string) string {
	s := strings.ToLower(system)
	switch {
	case strings.Contains(s, "/cce"):
		return SysCCE
	case strings.Contains(s, "cve"):
		return "cve"
	case s == "":
		return SysOther
	}
	return cut(system, maxID)
}

// referenceSystem names the catalogue of a reference's href, as the SCAP
// Security Guide writes them (shared/references in its sources); an
// empty href is named from the id (SRG-OS-...).
func referenceSystem(href, id string) string {
	h := strings.ToLower(href)
	switch {
	case h == "":
		switch {
		case strings.HasPrefix(id, "SRG-"):
			return SysSRG
		case strings.HasPrefix(id, "CCI-"):
			return SysCCI
		}
		return SysOther
	case strings.Contains(h, "sp.800-53"):
		return SysNIST80053
	case strings.Contains(h, "sp.800-171"):
		return SysNIST800171
	case strings.Contains(h, "nist.cswp"):
		return SysNISTCSF
	case strings.Contains(h, "pcisecuritystandards.org") && strings.Contains(h, "v4"):
		return SysPCIDSS4
	case strings.Contains(h, "pcisecuritystandards.org"):
		return SysPCIDSS
	case strings.Contains(h, "cisecurity.org/controls"):
		return SysCISCSC
	case strings.Contains(h, "cisecurity.org"):
		return SysCIS
	case strings.Contains(h, "cfr-2007-title45"), strings.Contains(h, "hipaa"):
		return SysHIPAA
	case strings.Contains(h, "ssi.gouv.fr"):
		return SysANSSI
	case strings.Contains(h, "niap-ccevs.org"):
		return SysOSPP
	case strings.Contains(h, "public.cyber.mil/stigs/cci"):
		return SysCCI
	case strings.Contains(h, "srg-stig-tools"), strings.Contains(h, "general-purpose-os"):
		// The operating system SRG's ids (SRG-OS-...).
		return SysSRG
	case strings.Contains(h, "public.cyber.mil/stigs"):
		return SysSTIG
	case strings.Contains(h, "iso.org/standard/54534"):
		return SysISO27001
	case strings.Contains(h, "isa.org") && strings.Contains(h, "62443"):
		return SysISA62443
	case strings.Contains(h, "isaca.org"):
		return SysCOBIT
	case strings.Contains(h, "nerc.com"):
		return SysNERCCIP
	case strings.Contains(h, "cjis"):
		return SysCJIS
	}
	return cut(href, maxID)
}
