package cli

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/inventory/scanner"
)

// loadTarget builds the inventory of a scan target through the same
// inventory scanner as `riskmap sbom`; `inventory:FILE` reads a riskmap
// inventory JSON instead (what `riskmap sbom --format json` writes).
func loadTarget(ctx context.Context, target string, o *scanOpts, stderr io.Writer) (*inventory.Inventory, error) {
	if path, ok := strings.CutPrefix(target, "inventory:"); ok {
		return readInventoryFile(path)
	}
	level := slog.LevelWarn
	if o.quiet {
		level = slog.LevelError
	}
	prog := newProgress(stderr, !o.quiet)
	inv, err := scanner.Scan(ctx, target, scanner.Options{
		Logger:     slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		Progress:   prog.event,
		DockerHost: o.dockerHost,
	})
	prog.finish()
	return inv, err
}

func targetHelp() string {
	return `  dir:PATH               a project directory or a mounted root filesystem
  docker-archive:FILE    a 'docker save' archive
  oci-archive:FILE       an OCI image layout in a tar archive
  oci-dir:PATH           an OCI image layout directory
  docker:IMAGE           an image in the local Docker engine
  container:ID           the live filesystem of a container (through the engine)
  registry:REF           an image pulled from a registry
  sbom:FILE              a CycloneDX or SPDX JSON document
  file:FILE              one file, told by its content: a lockfile or manifest
                         (Cargo.lock, package-lock.json, requirements.txt, go.mod,
                         pom.xml...), a Go or Rust binary, a jar/war/ear, a wheel,
                         a tar, tar.gz or zip of a directory tree, a docker save or
                         OCI archive (plain, gzip, zstd or bzip2), an SBOM
`
}
