package secretscan

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/moby/moby/client"

	"github.com/riskmap/riskmap/internal/inventory/extract"
	"github.com/riskmap/riskmap/internal/inventory/filetype"
	"github.com/riskmap/riskmap/internal/inventory/image"
	"github.com/riskmap/riskmap/internal/inventory/rootfs"
	"github.com/riskmap/riskmap/internal/inventory/scanner"
)

// TargetOptions says how to reach a target (the inventory scanner's
// options, for the same targets).
type TargetOptions struct {
	// DockerHost is the engine endpoint for docker: and container:
	// targets ("" = DOCKER_HOST or the default socket).
	DockerHost string
	// Keychain resolves registry credentials (nil: scanner.DefaultKeychain,
	// as the inventory scan).
	Keychain authn.Keychain
	// TempDir is unused by the secret scan (nothing is written), kept
	// for symmetry with the inventory scanner.
	TempDir string
	// Limits bound archives from outside (zero: image.DefaultLimits()).
	Limits image.Limits
}

// ScanTarget finds secrets in a target string as `riskmap scan` takes it:
// dir:, docker-archive:, oci-archive:, oci-dir:, docker:, container:,
// registry:, file: (a tar of a tree, or one file), or a bare path or
// image reference (scanner.ParseTarget). sbom: targets hold no files.
func (s *Scanner) ScanTarget(ctx context.Context, target string, opts TargetOptions) (*Result, error) {
	t, err := scanner.ParseTarget(target)
	if err != nil {
		return nil, fmt.Errorf("secret scan: %w: %w", scanner.ErrTarget, err)
	}
	if opts.Limits == (image.Limits{}) {
		opts.Limits = image.DefaultLimits()
	}
	if opts.Keychain == nil {
		opts.Keychain = scanner.DefaultKeychain()
	}
	var res *Result
	switch t.Kind {
	case scanner.KindDir:
		res, err = s.ScanDir(ctx, t.Ref)
	case scanner.KindDockerArchive, scanner.KindOCIArchive:
		res, err = s.scanArchiveFile(ctx, t.Ref, opts)
	case scanner.KindOCIDir:
		res, err = s.ScanImage(ctx, func(w image.Wanter, io image.Options) (*image.Image, error) {
			return image.ReadOCIDir(ctx, t.Ref, w, io)
		})
	case scanner.KindRegistry:
		res, err = s.scanRegistry(ctx, t.Ref, opts)
	case scanner.KindDocker:
		res, err = s.scanDockerImage(ctx, t.Ref, opts)
	case scanner.KindImageRef:
		res, err = s.scanDockerImage(ctx, t.Ref, opts)
		if err != nil && ctx.Err() == nil {
			var rerr error
			if res, rerr = s.scanRegistry(ctx, t.Ref, opts); rerr != nil {
				err = fmt.Errorf("%w; registry: %w", err, rerr)
			} else {
				err = nil
			}
		}
	case scanner.KindContainer:
		res, err = s.scanContainer(ctx, t.Ref, opts)
	case scanner.KindFile:
		res, err = s.scanFile(ctx, t.Ref, opts)
	case scanner.KindSBOM:
		err = fmt.Errorf("%w: an SBOM lists packages, not files: scan the image or directory it describes", scanner.ErrTarget)
	default:
		err = fmt.Errorf("unknown target kind %q", t.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("secret scan %s: %w", target, err)
	}
	return res, nil
}

// dirsToSkip are not walked at a directory's root (a host's /).
var dirsToSkip = map[string]bool{"proc": true, "sys": true, "dev": true}

// ScanDir finds secrets in a directory tree, read with chroot semantics
// (internal/inventory/rootfs: nothing outside dir is read, links are not
// followed). Regular files only.
func (s *Scanner) ScanDir(ctx context.Context, dir string) (*Result, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", scanner.ErrTarget, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", scanner.ErrTarget, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", scanner.ErrTarget, dir)
	}
	fsys, err := rootfs.Open(abs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", scanner.ErrTarget, err)
	}
	defer fsys.Close()
	r := s.start(ctx)
	walkErr := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			r.fail(p, "", err)
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if dirsToSkip[p] || (p != "." && s.cfg.Allow.AllowsPath("/"+p)) {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := fsys.Lstat(p)
		if err != nil {
			r.fail(p, "", err)
			return nil
		}
		if info.Size() > s.cfg.MaxFileSize {
			if !s.cfg.Allow.AllowsPath("/" + p) {
				r.skip(p, "", fmt.Sprintf("larger than %d bytes", s.cfg.MaxFileSize))
			}
			return nil
		}
		f, err := fsys.Open(p)
		if err != nil {
			r.fail(p, "", err)
			return nil
		}
		r.file(p, "", info.Size(), f)
		f.Close()
		if r.full.Load() {
			return fs.SkipAll
		}
		return nil
	})
	res, err := r.finish()
	if err != nil {
		return nil, err
	}
	if walkErr != nil {
		return nil, fmt.Errorf("secret scan: walk %s: %w", dir, walkErr)
	}
	return res, nil
}

// nothing is the Wanter of the secret scan: the image reader keeps no
// content, every file goes to Visit.
type nothing struct{}

func (nothing) WantsContent(string, fs.FileInfo) extract.Want { return extract.WantNone }

// ScanImage finds secrets in every layer of the image read: files are
// streamed to the detector as their layer goes by, nothing is unpacked.
// A file deleted (or replaced) by a later layer is still reported, in the
// layer that holds it, with Deleted set: its layer still ships it.
func (s *Scanner) ScanImage(ctx context.Context, read func(image.Wanter, image.Options) (*image.Image, error)) (*Result, error) {
	r := s.start(ctx)
	opts := image.DefaultOptions()
	opts.History = nil
	opts.Visit = func(layer, p string, size int64, fr io.Reader) { r.file(p, layer, size, fr) }
	img, err := read(nothing{}, opts)
	res, ferr := r.finish()
	if err != nil {
		return nil, err
	}
	if ferr != nil {
		return nil, ferr
	}
	placeLayers(res, img)
	return res, nil
}

// placeLayers turns the layer names files were read under into layer
// digests and marks the findings of files no longer in the final image.
func placeLayers(res *Result, img *image.Image) {
	idx := map[string]int{}
	for i, l := range img.Layers {
		idx[l.Name] = i
	}
	digest := func(name string) string {
		if i, ok := idx[name]; ok {
			return img.Layers[i].Digest
		}
		return name
	}
	var fsys *image.FS
	if len(res.Findings) > 0 {
		fsys = image.Merge(img.Layers, nil)
		defer fsys.Close()
	}
	for i := range res.Findings {
		f := &res.Findings[i]
		if li, ok := idx[f.Layer]; ok {
			f.Deleted = fsys.LayerOf(f.Path[1:]) != li
		}
		f.Layer = digest(f.Layer)
	}
	for i := range res.Skipped {
		res.Skipped[i].Layer = digest(res.Skipped[i].Layer)
	}
	for i := range res.Errors {
		res.Errors[i].Layer = digest(res.Errors[i].Layer)
	}
	for _, fe := range img.Errors {
		res.Errors = append(res.Errors, FileError{Path: fe.Path, Error: fe.Err.Error()})
	}
	for _, l := range img.Layers {
		for _, fe := range l.Errors {
			res.Errors = append(res.Errors, FileError{Path: fe.Path, Layer: l.Digest, Error: fe.Err.Error()})
		}
	}
}

func (s *Scanner) scanArchiveFile(ctx context.Context, p string, opts TargetOptions) (*Result, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", scanner.ErrTarget, err)
	}
	defer f.Close()
	var rd io.Reader = f // read in place: layers as sections of the file
	head := make([]byte, 16)
	n, _ := f.ReadAt(head, 0)
	var lr *image.LimitedReader
	if c := filetype.CompressionOf(head[:n]); c != filetype.None {
		// A compressed archive: stream its decompressed bytes.
		if lr, err = image.Decompressed(f, c, opts.Limits); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", scanner.ErrTarget, p, err)
		}
		defer lr.Close()
		rd = lr
	}
	res, err := s.ScanImage(ctx, func(w image.Wanter, io image.Options) (*image.Image, error) {
		return image.ReadArchive(ctx, rd, w, io)
	})
	if lr != nil {
		if rerr := lr.Refusal(); rerr != nil {
			return nil, fmt.Errorf("%w: %s: %w", scanner.ErrTarget, p, rerr)
		}
	}
	return res, err
}

func (s *Scanner) scanRegistry(ctx context.Context, ref string, opts TargetOptions) (*Result, error) {
	return s.ScanImage(ctx, func(w image.Wanter, io image.Options) (*image.Image, error) {
		return image.ReadRemote(ctx, ref, image.RemoteOptions{Keychain: opts.Keychain}, w, io)
	})
}

// scanDockerImage streams `docker save` of the image from the engine.
func (s *Scanner) scanDockerImage(ctx context.Context, ref string, opts TargetOptions) (*Result, error) {
	c, err := scanner.Engine(ctx, opts.DockerHost)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ii, err := c.ImageInspect(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("%w: image %s: %w", scanner.ErrTarget, ref, err)
	}
	rc, err := c.ImageSave(ctx, []string{ii.ID})
	if err != nil {
		return nil, fmt.Errorf("docker save %s: %w", ref, err)
	}
	defer rc.Close()
	return s.ScanImage(ctx, func(w image.Wanter, io image.Options) (*image.Image, error) {
		return image.ReadArchive(ctx, rc, w, io)
	})
}

// scanContainer streams the container's filesystem (`docker export`) as
// one layer: its findings name no layer.
func (s *Scanner) scanContainer(ctx context.Context, id string, opts TargetOptions) (*Result, error) {
	c, err := scanner.Engine(ctx, opts.DockerHost)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ci, err := c.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: container %s: %w", scanner.ErrTarget, id, err)
	}
	rc, err := c.ContainerExport(ctx, ci.Container.ID, client.ContainerExportOptions{})
	if err != nil {
		return nil, fmt.Errorf("docker export %s: %w", id, err)
	}
	defer rc.Close()
	return s.scanTree(ctx, rc, opts)
}

// scanTree reads a tar stream of a tree (compressed or not) as one layer.
func (s *Scanner) scanTree(ctx context.Context, rd io.Reader, opts TargetOptions) (*Result, error) {
	res, err := s.ScanImage(ctx, func(w image.Wanter, io image.Options) (*image.Image, error) {
		io.Limits = opts.Limits
		l, err := image.ReadLayer(ctx, rd, "", w, io)
		if err != nil {
			return nil, err
		}
		return &image.Image{Layers: []*image.Layer{l}}, nil
	})
	if err != nil {
		return nil, err
	}
	for i := range res.Findings {
		res.Findings[i].Layer, res.Findings[i].Deleted = "", false
	}
	return res, nil
}

// scanFile reads a file target: a tar of a tree (plain or compressed) as
// one layer, an image archive as an image, anything else as one file.
func (s *Scanner) scanFile(ctx context.Context, p string, opts TargetOptions) (*Result, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", scanner.ErrTarget, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", scanner.ErrTarget, err)
	}
	head := make([]byte, 512)
	n, _ := f.ReadAt(head, 0)
	if filetype.CompressionOf(head[:n]) != filetype.None || (n >= 262 && string(head[257:262]) == "ustar") {
		return s.scanTree(ctx, f, opts)
	}
	r := s.start(ctx)
	name := path.Base(filepath.ToSlash(p))
	if fi.Size() > s.cfg.MaxFileSize {
		r.skip(name, "", fmt.Sprintf("larger than %d bytes", s.cfg.MaxFileSize))
	} else {
		r.file(name, "", fi.Size(), f)
	}
	return r.finish()
}
