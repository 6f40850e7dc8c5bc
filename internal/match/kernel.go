package match

import (
	"strings"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/vulndb"
)

// isKernelPackage reports whether p is built from a kernel source package.
func isKernelPackage(p *inventory.Package) bool {
	src := p.SourceName
	if src == "" {
		src = p.Name
	}
	switch vulndb.BaseEcosystem(p.Ecosystem) {
	case "Debian", "Ubuntu":
		return src == "linux" || strings.HasPrefix(src, "linux-signed") || strings.HasPrefix(p.Name, "linux-image-") || strings.HasPrefix(p.Name, "linux-modules-")
	case "Alpine":
		return src == "linux-lts" || src == "linux-virt" || src == "linux-edge" || src == "linux-rpi"
	case "AlmaLinux", "Rocky Linux", "Red Hat", "Oracle":
		return p.Name == "kernel" || strings.HasPrefix(p.Name, "kernel-core") || strings.HasPrefix(p.Name, "kernel-modules")
	}
	return false
}

// isRunningKernel reports whether p belongs to the kernel `uname -r` names.
func isRunningKernel(p *inventory.Package, release string) bool {
	switch vulndb.BaseEcosystem(p.Ecosystem) {
	case "Debian", "Ubuntu":
		// linux-image-6.1.0-18-amd64, linux-modules-6.5.0-14-generic.
		return strings.HasSuffix(p.Name, "-"+release) || strings.HasSuffix(p.Name, "-"+release+"-unsigned")
	case "Alpine":
		// linux-lts 6.6.31-r0 runs as 6.6.31-0-lts.
		up, _, _ := strings.Cut(p.Version, "-r")
		return strings.HasPrefix(release, up+"-")
	default:
		// kernel-core 5.14.0-362.8.1.el9_3 runs as 5.14.0-362.8.1.el9_3.x86_64.
		v := p.Version
		if _, after, ok := strings.Cut(v, ":"); ok {
			v = after
		}
		return release == v || strings.HasPrefix(release, v+".")
	}
}
