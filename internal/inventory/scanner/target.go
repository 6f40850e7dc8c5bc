package scanner

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	// KindImageRef is a bare image reference: the local engine is tried
	// first (docker:), then its registry (registry:). Scan reports which
	// one answered.
	KindImageRef = "image"
)

var kinds = []string{KindDir, KindDockerArchive, KindOCIArchive, KindOCIDir, KindDocker, KindContainer, KindRegistry, KindSBOM}

// Target is a parsed target string.
type Target struct {
	Kind string
	Ref  string
}

func (t Target) String() string { return t.Kind + ":" + t.Ref }

// ParseTarget splits "KIND:REF". Without a known prefix it guesses: an
// existing directory is dir: (an OCI layout directory is oci-dir:), an
// existing file is an archive or an SBOM by its content, anything else is an
// image reference looked up in the local engine first (docker:) and then in
// its registry (registry:), see Scan.
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
		k, err := sniffFile(s)
		if err != nil {
			return Target{}, fmt.Errorf("parse target %q: %w", s, err)
		}
		return Target{Kind: k, Ref: s}, nil
	case strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../"):
		return Target{}, fmt.Errorf("parse target %q: %w", s, err)
	}
	return Target{Kind: KindImageRef, Ref: s}, nil
}

// sniffFile tells a docker-save archive, an OCI archive and an SBOM apart.
func sniffFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, 512)
	n, _ := f.Read(buf)
	buf = buf[:n]
	trim := strings.TrimSpace(string(buf))
	if strings.HasPrefix(trim, "{") || strings.HasPrefix(trim, "<") {
		return KindSBOM, nil
	}
	if n >= 262 && string(buf[257:262]) == "ustar" || n >= 2 && buf[0] == 0x1f && buf[1] == 0x8b {
		if isOCIArchive(path) {
			return KindOCIArchive, nil
		}
		return KindDockerArchive, nil
	}
	return "", fmt.Errorf("not a directory, image archive or SBOM document")
}
