package sensor

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/inventory/extract"
	"github.com/riskmap/riskmap/internal/inventory/rootfs"
	"github.com/riskmap/riskmap/internal/inventory/scanner"
	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

// Directories never inventoried in a live root filesystem: kernel and
// runtime pseudo-filesystems, and the container runtimes' stores (their
// packages belong to containers and images, scanned as such).
var (
	hostSkip = []string{"proc", "sys", "dev", "run", "var/run", "tmp", "var/tmp",
		"var/lib/docker", "var/lib/containerd", "var/lib/containers", "var/lib/kubelet/pods",
		"run/containerd", "var/log"}
	containerSkip = []string{"proc", "sys", "dev"}
)

// Scan builds the inventory of a scan command's target on this node, with
// the same extraction code as `riskmap scan`:
//   - host: the host's root filesystem (HostRoot), without pseudo
//     filesystems and runtime stores;
//   - container: a running container's live root filesystem through
//     /proc/PID/root (any runtime: Docker, containerd, CRI-O); a stopped
//     Docker container through the engine's export;
//   - image: an image in the local Docker engine;
//   - registry: an image in a registry by digest, pulled layer by layer
//     (streamed, never unpacked) with this node's own registry
//     credentials (the Docker config, or RISKMAP_REGISTRY_USERNAME and
//     RISKMAP_REGISTRY_PASSWORD); the console's registry accounts route
//     such scans to a sensor that reaches a private registry.
//
// progress is called with a fraction in [0,1]; a cancelled ctx stops the
// scan promptly.
func (s *Sensor) Scan(ctx context.Context, target sensorproto.CommandTarget, progress func(float64)) (*inventory.Inventory, error) {
	var files atomic.Int64
	onFile := func(string) {
		n := files.Add(1)
		if n%256 == 0 {
			// Files seen so far, on a scale where 100,000 files is 90%.
			progress(0.9 * float64(n) / float64(n+10_000))
		}
	}
	var inv *inventory.Inventory
	var err error
	switch target.Kind {
	case "host":
		inv, err = s.scanRoot(ctx, s.cfg.HostRoot, hostSkip, onFile)
		if inv != nil {
			name, _ := os.ReadFile(filepath.Join(s.cfg.ProcRoot, "sys/kernel/hostname"))
			inv.Target = inventory.Target{Kind: "host", Ref: strings.TrimSpace(string(name))}
		}
	case "container":
		c, ok := s.container(target.Ref)
		switch {
		case ok && c.PID > 0 && (c.State == "running" || c.State == "paused"):
			inv, err = s.scanRoot(ctx, filepath.Join(s.cfg.ProcRoot, strconv.Itoa(c.PID), "root"), containerSkip, onFile)
			if inv != nil {
				inv.Target = inventory.Target{Kind: "container", Ref: c.ID, Digest: c.ImageID}
			}
		case ok && c.Runtime == "docker" || !ok && s.cfg.DockerHost != "off":
			ref := target.Ref
			if ok {
				ref = c.ID
			}
			inv, err = scanner.Scan(ctx, "container:"+ref, s.scanOptions(onFile))
			if inv != nil {
				inv.Target.Ref = ref
			}
		default:
			err = fmt.Errorf("container %q: not running and not a Docker container (only running containers of other runtimes can be scanned)", target.Ref)
		}
	case "image":
		if s.cfg.DockerHost == "off" {
			return nil, fmt.Errorf("image %q: image scans on the sensor need the Docker engine; to scan an image from its registry instead, add the registry in the console (Registries: an account, then Sync and Scan)", target.Ref)
		}
		inv, err = scanner.Scan(ctx, "docker:"+target.Ref, s.scanOptions(onFile))
		if inv != nil {
			inv.Target.Ref = target.Ref
		}
	case sensorproto.TargetRegistry:
		inv, err = scanner.Scan(ctx, "registry:"+target.Ref, s.scanOptions(onFile))
	default:
		return nil, fmt.Errorf("scan target kind %q: want host, container, image or registry", target.Kind)
	}
	if err != nil {
		return nil, err
	}
	inv.SchemaVersion = inventory.SchemaVersion
	inv.CreatedAt = s.cfg.Now().UTC()
	progress(1)
	return inv, nil
}

func (s *Sensor) scanOptions(onFile func(string)) scanner.Options {
	return scanner.Options{Logger: s.cfg.Logger, DockerHost: s.cfg.DockerHost, Now: s.cfg.Now,
		Progress: func(e scanner.Event) {
			if e.Stage == scanner.StageExtract {
				onFile(e.Message)
			}
		}}
}

// scanRoot inventories a live root filesystem, hiding the skipped
// directories.
func (s *Sensor) scanRoot(ctx context.Context, dir string, skip []string, onFile func(string)) (*inventory.Inventory, error) {
	ex, err := extract.New(extract.Config{MaxFileSize: extract.DefaultConfig().MaxFileSize, Logger: s.cfg.Logger, OnFile: onFile})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", dir, err)
	}
	root, err := rootfs.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", dir, err)
	}
	defer root.Close()
	var walkErrs []inventory.FileError
	root.OnError = func(p string, err error) {
		walkErrs = append(walkErrs, inventory.FileError{Path: p, Extractor: "walk", Error: err.Error()})
	}
	res, err := ex.Run(ctx, &skipFS{FS: root, skip: skip})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", dir, err)
	}
	return &inventory.Inventory{Distro: res.Distro, Packages: res.Packages, Errors: append(res.Errors, walkErrs...)}, nil
}

// skipFS hides directories of a root filesystem from a scan.
type skipFS struct {
	*rootfs.FS
	skip []string
}

func (f *skipFS) skipped(name string) bool {
	name = path.Clean(name)
	for _, p := range f.skip {
		if name == p || strings.HasPrefix(name, p+"/") {
			return true
		}
	}
	return false
}

func (f *skipFS) Open(name string) (fs.File, error) {
	if f.skipped(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return f.FS.Open(name)
}

func (f *skipFS) Stat(name string) (fs.FileInfo, error) {
	if f.skipped(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return f.FS.Stat(name)
}

func (f *skipFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if f.skipped(name) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	ents, err := f.FS.ReadDir(name)
	out := ents[:0]
	for _, e := range ents {
		if !f.skipped(path.Join(name, e.Name())) {
			out = append(out, e)
		}
	}
	return out, err
}

// container finds a container seen by the last pass by id, id prefix (at
// least 12 characters) or name.
func (s *Sensor) container(ref string) (report.Container, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []report.Container
	for _, c := range s.containers {
		if c.ID == ref || c.Name == ref || (len(ref) >= 12 && strings.HasPrefix(c.ID, ref)) {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		return report.Container{}, false
	}
	return found[0], true
}
