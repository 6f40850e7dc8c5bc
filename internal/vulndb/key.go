package vulndb

import (
	"regexp"
	"strings"
)

var pypiNorm = regexp.MustCompile(`[-_.]+`)

// NormalizeEcosystem maps an OSV or inventory ecosystem to the form the
// knowledge base is keyed by: RPM families by major release ("AlmaLinux:9.3"
// → "AlmaLinux:9"), Alpine by branch ("Alpine:3.19.1" → "Alpine:v3.19",
// pre-releases → "Alpine:edge"), Ubuntu without the ":LTS" suffix. Other
// ecosystems are kept as they are.
func NormalizeEcosystem(eco string) string {
	base, rel, ok := strings.Cut(eco, ":")
	if !ok {
		return eco
	}
	switch base {
	case "AlmaLinux", "Rocky Linux", "Oracle", "openEuler":
		maj, _, _ := strings.Cut(rel, ".")
		return base + ":" + maj
	case "Alpine":
		if rel == "edge" || strings.Contains(rel, "_alpha") || strings.Contains(rel, "edge") {
			return "Alpine:edge"
		}
		rel = strings.TrimPrefix(rel, "v")
		parts := strings.SplitN(rel, ".", 3)
		if len(parts) >= 2 {
			return "Alpine:v" + parts[0] + "." + parts[1]
		}
		return "Alpine:v" + rel
	case "Ubuntu":
		rel = strings.TrimSuffix(rel, ":LTS")
		return "Ubuntu:" + rel
	case "Debian":
		maj, _, _ := strings.Cut(rel, ".")
		return "Debian:" + maj
	}
	return eco
}

// NormalizeName maps a package name to the knowledge base's form: PyPI names
// per PEP 503, Go's toolchain module "go" to "stdlib".
func NormalizeName(eco, name string) string {
	base, _, _ := strings.Cut(eco, ":")
	switch base {
	case "PyPI":
		return strings.ToLower(pypiNorm.ReplaceAllLiteralString(name, "-"))
	case "Go":
		if name == "go" {
			return "stdlib"
		}
	}
	return name
}

// Key is the index key of a package.
func Key(eco, name string) string {
	eco = NormalizeEcosystem(eco)
	return eco + "\x00" + NormalizeName(eco, name)
}

// BaseEcosystem returns the ecosystem without its release ("Debian:12" → "Debian").
func BaseEcosystem(eco string) string {
	base, _, _ := strings.Cut(eco, ":")
	return base
}
