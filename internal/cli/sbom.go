package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/riskmap/riskmap/internal/inventory/sbom"
	"github.com/riskmap/riskmap/internal/inventory/scanner"
)

const sbomUsage = `Usage: riskmap sbom [flags] TARGET

List the packages installed in TARGET:
  dir:PATH               a project directory or a mounted root filesystem
  docker-archive:FILE    a 'docker save' archive
  oci-archive:FILE       an OCI image layout in a tar archive
  oci-dir:PATH           an OCI image layout directory
  docker:IMAGE           an image in the local Docker engine
  container:ID           the live filesystem of a container (through the engine)
  registry:REF           an image pulled from a registry (Docker config or
                         RISKMAP_REGISTRY_USERNAME/RISKMAP_REGISTRY_PASSWORD)
  sbom:FILE              a CycloneDX or SPDX JSON document
  file:FILE              one file, told by its content: a lockfile or manifest
                         (Cargo.lock, package-lock.json, requirements.txt, go.mod,
                         pom.xml...), a Go or Rust binary, a jar/war/ear, a wheel,
                         a tar, tar.gz or zip of a directory tree, a docker save or
                         OCI archive (plain, gzip, zstd or bzip2), an SBOM
A bare path or image reference is recognised without the prefix.

Flags:
`

func runSBOM(ctx context.Context, args []string, stdio IO) error {
	fs := flag.NewFlagSet("sbom", flag.ContinueOnError)
	fs.SetOutput(stdio.Stderr)
	format := fs.String("format", "json", "output format: json (riskmap), cyclonedx-json, spdx-json, table")
	fs.StringVar(format, "o", "json", "shorthand for --format")
	output := fs.String("output", "", "write to FILE instead of standard output")
	dockerHost := fs.String("docker-host", "", "Docker engine endpoint (default: DOCKER_HOST or /var/run/docker.sock)")
	quiet := fs.Bool("quiet", false, "no progress display and no per-file warnings on stderr")
	verbose := fs.Bool("verbose", false, "debug logs on stderr")
	fs.Usage = func() {
		io.WriteString(stdio.Stderr, sbomUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &ExitError{Code: 2, Err: err}
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return &ExitError{Code: 2, Err: errors.New("sbom: exactly one TARGET is required")}
	}
	if _, ok := sbom.Formats[strings.ToLower(*format)]; !ok {
		return &ExitError{Code: 2, Err: fmt.Errorf("sbom: unknown --format %q (json, cyclonedx-json, spdx-json, table)", *format)}
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	if *quiet {
		level = slog.LevelError
	}
	logger := slog.New(slog.NewTextHandler(stdio.Stderr, &slog.HandlerOptions{Level: level}))
	prog := newProgress(stdio.Stderr, !*quiet)
	inv, err := scanner.Scan(ctx, fs.Arg(0), scanner.Options{
		Logger:     logger,
		Progress:   prog.event,
		DockerHost: *dockerHost,
	})
	prog.finish()
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	tool := sbom.Tool{Name: "riskmap", Version: Version}
	if *output == "" {
		err = sbom.Write(stdio.Stdout, inv, *format, tool)
	} else {
		err = writeOutput(*output, func(w io.Writer) error { return sbom.Write(w, inv, *format, tool) })
	}
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("sbom: %w", err)}
	}
	return nil
}

// progress renders scanner events on a terminal: one line rewritten in place.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	on      bool
	last    time.Time
	printed bool
}

func newProgress(w io.Writer, enabled bool) *progress {
	return &progress{w: w, on: enabled && isTerminal(w)}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (p *progress) event(e scanner.Event) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Stage != scanner.StageDone && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	var msg string
	switch e.Stage {
	case scanner.StageResolve:
		msg = "resolving " + e.Target
	case scanner.StageRead:
		if e.Total > 0 {
			msg = fmt.Sprintf("reading layers %d/%d MiB", e.Done>>20, e.Total>>20)
		} else {
			msg = fmt.Sprintf("reading layers %d MiB", e.Done>>20)
		}
	case scanner.StageExtract:
		msg = fmt.Sprintf("extracting: %d files read, %s", e.Done, e.Message)
	case scanner.StageDone:
		msg = fmt.Sprintf("done: %d packages", e.Done)
	}
	if len(msg) > 100 {
		msg = msg[:97] + "..."
	}
	fmt.Fprintf(p.w, "\r\x1b[2K%s", msg)
	p.printed = true
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.printed {
		fmt.Fprint(p.w, "\r\x1b[2K")
	}
}
