package scanner

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/riskmap/riskmap/internal/inventory/extract"
	"github.com/riskmap/riskmap/internal/inventory/filetype"
)

// Target kinds, as written before the colon of a target string.
const (
	KindDir           = "dir"
	KindDockerArchive = "docker-archive"
	KindOCIArchive    = "oci-archive"
	KindOCIDir        = "oci-dir"
	KindDocker        = "docker"
	KindContainer     = "container"
	KindRegistry      = "registry"
	KindSBOM          = "sbom"
	// KindFile is one file: a lockfile or manifest, a binary, a Java or
	// Python archive, a tar or zip of a directory tree, or any of the
	// archive and SBOM kinds above, told apart by content (package
	// filetype).
	KindFile = "file"
	// KindImageRef is a bare image reference: the local engine is tried
	// first (docker:), then its registry (registry:). Scan reports which
	// one answered.
	KindImageRef = "image"
)

var kinds = []string{KindDir, KindDockerArchive, KindOCIArchive, KindOCIDir, KindDocker, KindContainer, KindRegistry, KindSBOM, KindFile}

// Target is a parsed target string.
type Target struct {
	Kind string
	Ref  string
	// typ is what a file target was found to be (a bare path).
	typ *filetype.Type
}

func (t Target) String() string { return t.Kind + ":" + t.Ref }

// ParseTarget splits "KIND:REF". Without a known prefix it guesses: an
// existing directory is dir: (an OCI layout directory is oci-dir:), an
// existing file is told by its content (an image archive, plain or
// compressed, an SBOM, or file: for a lockfile, binary or other archive;
// a file riskmap does not read is an error naming what it is), anything
// else is an image reference looked up in the local engine first (docker:)
// and then in its registry (registry:), see Scan.
func ParseTarget(s string) (Target, error) {
	if s == "" {
		return Target{}, fmt.Errorf("parse target: empty")
	}
	if k, ref, ok := strings.Cut(s, ":"); ok {
		for _, kk := range kinds {
			if k == kk {
				if ref == "" {
					return Target{}, fmt.Errorf("parse target %q: nothing after %q", s, k+":")
				}
				return Target{Kind: k, Ref: ref}, nil
			}
		}
	}
	fi, err := os.Stat(s)
	switch {
	case err == nil && fi.IsDir():
		if _, err := os.Stat(filepath.Join(s, "oci-layout")); err == nil {
			return Target{Kind: KindOCIDir, Ref: s}, nil
		}
		return Target{Kind: KindDir, Ref: s}, nil
	case err == nil:
		t, err := detectFile(s, extract.ReadsName)
		if err != nil {
			return Target{}, fmt.Errorf("parse target %q: %w", s, err)
		}
		if !t.Supported() {
			return Target{}, fmt.Errorf("%s is %w", s, unsupported(t))
		}
		k := KindFile
		switch {
		case t.Format == filetype.SBOM:
			k = KindSBOM
		case t.Image() && t.Compression == filetype.None && !isOCIArchive(s):
			k = KindDockerArchive // docker save (a newer one has an OCI layout beside manifest.json)
		case t.Image():
			k = string(t.Format)
		}
		return Target{Kind: k, Ref: s, typ: &t}, nil
	case strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../"):
		return Target{}, fmt.Errorf("parse target %q: %w", s, err)
	}
	return Target{Kind: KindImageRef, Ref: s}, nil
}

// detectFile tells what the file at p is (filetype.Detect), with wants
// saying whether an extractor reads it by name.
func detectFile(p string, wants func(string) bool) (filetype.Type, error) {
	f, err := os.Open(p)
	if err != nil {
		return filetype.Type{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return filetype.Type{}, err
	}
	if fi.IsDir() {
		return filetype.Type{}, fmt.Errorf("%s is a directory (use dir:)", p)
	}
	return filetype.Detect(f, fi.Size(), virtualPath(p, ""), filetype.Options{Wants: wants})
}

// supported is what the error for an unreadable file lists.
const supported = "lockfiles and manifests (Cargo.lock, package-lock.json, yarn.lock, pnpm-lock.yaml, requirements.txt, " +
	"poetry.lock, Pipfile.lock, uv.lock, go.mod, Gemfile.lock, composer.lock, pom.xml, gradle.lockfile, packages.lock.json, " +
	"*.deps.json), Go and Rust (cargo-auditable) binaries, Java archives (jar, war, ear), Python wheels and eggs, " +
	"CycloneDX and SPDX JSON SBOMs, docker save and OCI image archives (plain or gzip, zstd or bzip2 compressed), " +
	"and tar or zip archives of a directory tree"

// unsupported is the error for a file riskmap does not read: what it is,
// and what riskmap reads.
func unsupported(t filetype.Type) error {
	switch t.Format {
	case filetype.DebPackage, filetype.RPMPackage, filetype.APKPackage:
		return fmt.Errorf("%s: riskmap reads the package databases of installed systems, not package files "+
			"(advisories are written for a distribution release, which a package file does not name); "+
			"scan the image or root filesystem it is installed in (dir:, docker:, docker-archive:)", filetype.A(t.What))
	}
	return fmt.Errorf("%s, which riskmap does not read; it reads directories, %s", filetype.A(t.What), supported)
}
