// Package inventory owns the package inventory (SBOM) model shared by the CLI
// scanner, the sensor and the console: what a target contains, where each
// package was found, and which files OS packages own. Extraction from
// directories, images and containers lives in sub-packages.
package inventory

import "time"

// SchemaVersion is the version of the JSON form of Inventory. Bump it on any
// change and check the new schema into schema/ (1.1.0 added the target
// kind "file"; readers accept every 1.x).
const SchemaVersion = "1.1.0"

// Inventory is everything found in one target.
type Inventory struct {
	SchemaVersion string    `json:"schemaVersion"`
	Target        Target    `json:"target"`
	Distro        *Distro   `json:"distro,omitempty"`
	Packages      []Package `json:"packages"`
	// Errors are per-file failures: the rest of the inventory is still valid.
	Errors    []FileError `json:"errors,omitempty"`
	CreatedAt time.Time   `json:"createdAt"`
}

// Target names what was scanned.
type Target struct {
	// Kind is one of dir, docker-archive, oci-archive, oci-dir, docker,
	// container, registry, sbom, file, host.
	Kind string `json:"kind"`
	// Ref is the path, image reference or container id as given.
	Ref string `json:"ref"`
	// Digest is the image (manifest or config) digest when known.
	Digest string `json:"digest,omitempty"`
}

// Distro is the operating system release, from /etc/os-release.
type Distro struct {
	ID        string `json:"id"`                 // debian, ubuntu, alpine, almalinux, rhel, ...
	VersionID string `json:"versionId"`          // 12, 3.19.1, 9.3
	Codename  string `json:"codename,omitempty"` // bookworm
	Name      string `json:"name,omitempty"`     // PRETTY_NAME
}

// Package is one installed or declared package.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Ecosystem uses OSV ecosystem names, with the release for OS packages:
	// "Debian:12", "Alpine:v3.19", "AlmaLinux:9", "Go", "PyPI", "npm",
	// "crates.io", "Maven", "RubyGems", "Packagist", "NuGet".
	Ecosystem string `json:"ecosystem"`
	PURL      string `json:"purl"`
	// SourceName and SourceVersion are the source package (Debian), origin
	// (Alpine) or source RPM of an OS package; advisories apply to them.
	SourceName    string `json:"sourceName,omitempty"`
	SourceVersion string `json:"sourceVersion,omitempty"`
	// Locations are paths, relative to the target root, where it was found.
	Locations []string `json:"locations,omitempty"`
	// Layer is the digest of the image layer that introduced the package.
	Layer string `json:"layer,omitempty"`
	// Files lists the files an OS package owns (absolute paths in the
	// target), so loaded files can be mapped back to packages.
	Files []string `json:"files,omitempty"`
	// OwnedBy is the PURL of the OS package whose files include this
	// language package's files (Debian's python3-urllib3, say): such a
	// package is judged by the distribution's feed.
	OwnedBy   string   `json:"ownedBy,omitempty"`
	Extractor string   `json:"extractor,omitempty"`
	Licenses  []string `json:"licenses,omitempty"`
}

// FileError is a per-file extraction failure.
type FileError struct {
	Path      string `json:"path"`
	Extractor string `json:"extractor,omitempty"`
	Error     string `json:"error"`
}
