// Package scanner is the one entry point that turns a target string (dir:,
// docker-archive:, oci-archive:, oci-dir:, docker:, container:, registry:,
// sbom:, file:, or a bare path or image reference) into an inventory. The CLI, the
// sensor and the console all call Scan, so every surface finds the same
// packages.
package scanner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/inventory/extract"
	"github.com/riskmap/riskmap/internal/inventory/image"
	"github.com/riskmap/riskmap/internal/inventory/rootfs"
	"github.com/riskmap/riskmap/internal/inventory/sbom"
)

// Stage names a phase of a scan in progress events.
type Stage string

// Stages, in order.
const (
	StageResolve Stage = "resolve" // finding the target (engine, registry, file)
	StageRead    Stage = "read"    // streaming image layers; Done/Total in bytes
	StageExtract Stage = "extract" // running extractors; Done counts files
	StageDone    Stage = "done"
)

// Event is a typed progress report; the CLI renders it on a terminal.
type Event struct {
	Stage   Stage
	Target  string
	Message string
	// Done and Total count bytes (read) or files (extract); Total is 0
	// when unknown.
	Done, Total int64
}

// Options configures a scan. The zero value works.
type Options struct {
	// Logger receives debug and warning logs; nil is silent.
	Logger *slog.Logger
	// Progress receives events; it is called from the scanning goroutines
	// and must be quick. Nil: no events.
	Progress func(Event)
	// DockerHost overrides the engine endpoint ("unix:///run/docker.sock",
	// "/run/docker.sock", "tcp://127.0.0.1:2375"); empty uses DOCKER_HOST or
	// the default socket.
	DockerHost string
	// Keychain resolves registry credentials; nil uses the Docker config and
	// the RISKMAP_REGISTRY_USERNAME/RISKMAP_REGISTRY_PASSWORD environment.
	Keychain authn.Keychain
	// RegistryTransport overrides the HTTP transport for registry: targets.
	RegistryTransport http.RoundTripper
	// MaxFileSize is the largest file read (default 1 GiB); bigger ones
	// are reported as per-file errors.
	MaxFileSize int64
	// TempDir holds temporary copies of large retained image files.
	TempDir string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Limits bound what a tar or zip target and the decompression of a
	// compressed image archive may cost (entries, bytes, ratio, paths
	// out of the root). Zero: image.DefaultLimits().
	Limits image.Limits
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = func(Event) {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Limits == (image.Limits{}) {
		o.Limits = image.DefaultLimits()
	}
	if o.Keychain == nil {
		o.Keychain = DefaultKeychain()
	}
}

// ErrTarget marks errors about the target itself (missing, unreadable,
// unknown reference), as opposed to per-file failures inside it.
var ErrTarget = errors.New("target")

// Scan inventories target. Per-file failures are in Inventory.Errors and do
// not fail the scan; the error is for an unusable target or a cancelled ctx.
func Scan(ctx context.Context, target string, opts Options) (*inventory.Inventory, error) {
	opts.defaults()
	t, err := ParseTarget(target)
	if err != nil {
		return nil, fmt.Errorf("scan: %w: %w", ErrTarget, err)
	}
	opts.Progress(Event{Stage: StageResolve, Target: target})
	var files atomic.Int64
	ex, err := extract.New(extract.Config{
		MaxFileSize: opts.MaxFileSize,
		Logger:      opts.Logger,
		OnFile: func(p string) {
			opts.Progress(Event{Stage: StageExtract, Target: target, Message: p, Done: files.Add(1)})
		},
	})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", target, err)
	}
	var inv *inventory.Inventory
	switch t.Kind {
	case KindDir:
		inv, err = scanDir(ctx, ex, t.Ref)
	case KindDockerArchive, KindOCIArchive:
		inv, err = scanArchiveFile(ctx, ex, t.Ref, opts, target)
	case KindOCIDir:
		inv, err = scanImage(ctx, ex, opts, target, func(w image.Wanter, io image.Options) (*image.Image, error) {
			return image.ReadOCIDir(ctx, t.Ref, w, io)
		})
	case KindRegistry:
		inv, err = scanRegistry(ctx, ex, t.Ref, opts, target)
	case KindDocker:
		inv, err = scanDockerImage(ctx, ex, t.Ref, opts, target)
	case KindContainer:
		inv, err = scanContainer(ctx, ex, t.Ref, opts, target)
	case KindSBOM:
		inv, err = scanSBOM(t.Ref)
	case KindFile:
		inv, err = scanFile(ctx, ex, t.Ref, t.typ, opts, target)
	case KindImageRef:
		// A bare image reference: the local engine first, then its registry.
		t.Kind = KindDocker
		inv, err = scanDockerImage(ctx, ex, t.Ref, opts, target)
		if err != nil && ctx.Err() == nil {
			t.Kind = KindRegistry
			opts.Logger.Debug("image not in the local engine, trying its registry", "ref", t.Ref, "err", err)
			var rerr error
			inv, rerr = scanRegistry(ctx, ex, t.Ref, opts, target)
			if rerr != nil {
				err = fmt.Errorf("%w; registry: %w", err, rerr)
			} else {
				err = nil
			}
		}
	default:
		err = fmt.Errorf("unknown target kind %q", t.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", target, err)
	}
	if inv.Target.Kind == "" {
		inv.Target.Kind = t.Kind
	}
	inv.Target.Ref = t.Ref
	inv.SchemaVersion = inventory.SchemaVersion
	if inv.CreatedAt.IsZero() {
		inv.CreatedAt = opts.Now().UTC()
	}
	if inv.Packages == nil {
		inv.Packages = []inventory.Package{}
	}
	for _, fe := range inv.Errors {
		opts.Logger.Warn("could not read a file of the target", "path", fe.Path, "extractor", fe.Extractor, "err", fe.Error)
	}
	opts.Progress(Event{Stage: StageDone, Target: target, Done: int64(len(inv.Packages))})
	return inv, nil
}

func scanDir(ctx context.Context, ex *extract.Extractor, dir string) (*inventory.Inventory, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTarget, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTarget, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrTarget, dir)
	}
	fsys, err := rootfs.Open(abs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTarget, err)
	}
	defer fsys.Close()
	var walkErrs []inventory.FileError
	fsys.OnError = func(p string, err error) {
		walkErrs = append(walkErrs, inventory.FileError{Path: p, Extractor: "walk", Error: err.Error()})
	}
	res, err := ex.Run(ctx, fsys)
	if err != nil {
		return nil, err
	}
	return &inventory.Inventory{
		Target:   inventory.Target{Kind: KindDir},
		Distro:   res.Distro,
		Packages: res.Packages,
		Errors:   append(res.Errors, walkErrs...),
	}, nil
}

// scanSBOM reads a CycloneDX or SPDX JSON document.
func scanSBOM(path string) (*inventory.Inventory, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTarget, err)
	}
	defer f.Close()
	inv, err := sbom.Read(f)
	if err != nil {
		return nil, fmt.Errorf("read SBOM %s: %w", path, err)
	}
	inv.Target.Kind = KindSBOM
	return inv, nil
}

// DefaultKeychain is the registry credentials of a scan without its own:
// RISKMAP_REGISTRY_USERNAME/RISKMAP_REGISTRY_PASSWORD, then the Docker
// config and its credential helpers.
func DefaultKeychain() authn.Keychain {
	return authn.NewMultiKeychain(envKeychain{}, authn.DefaultKeychain)
}

// envKeychain provides one set of registry credentials from the
// environment, for CI jobs without a Docker config.
type envKeychain struct{}

func (envKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	u, p := os.Getenv("RISKMAP_REGISTRY_USERNAME"), os.Getenv("RISKMAP_REGISTRY_PASSWORD")
	if u == "" && p == "" {
		return authn.Anonymous, nil
	}
	return &authn.Basic{Username: u, Password: p}, nil
}
