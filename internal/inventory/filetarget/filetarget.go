// Package filetarget reads the files of a scan target for the scans that
// look at file contents rather than package databases (secrets,
// malware): it resolves a target string as `riskmap scan` takes it
// (scanner.ParseTarget) and hands every regular file to a Run, whether it
// lies in a directory tree (read with chroot semantics), streams by in an
// image's layers, in a container's export or a tar, or is a single file.
// Nothing is unpacked. The Run owns what it does with a file and builds
// the scan's result; Place then tells it which layer each file came from.
package filetarget

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

// Options says how to reach a target (the inventory scanner's options,
// for the same targets).
type Options struct {
	// DockerHost is the engine endpoint for docker: and container:
	// targets ("" = DOCKER_HOST or the default socket).
	DockerHost string
	// Keychain resolves registry credentials (nil: scanner.DefaultKeychain,
	// as the inventory scan).
	Keychain authn.Keychain
	// Limits bound archives from outside (zero: image.DefaultLimits()).
	Limits image.Limits
}

// Run is one scan in progress, receiving the files of one target. Paths
// are clean relative slash paths; layer is the name the image reader
// gives the layer ("" outside images).
type Run[R any] interface {
	// SkipDir says whether a directory of a tree walk is left out.
	SkipDir(p string) bool
	// Walked takes a regular file of a directory tree (or a single-file
	// target): open opens it, and the Run closes what it opens. It
	// returns true to stop the walk.
	Walked(p string, size int64, open func() (fs.File, error)) (stop bool)
	// Stream takes a file read from a stream: an image layer, a
	// container's export, a tar. It may be called from several
	// goroutines at once.
	Stream(p, layer string, size int64, r io.Reader)
	// Fail records a file that could not be read.
	Fail(p, layer string, err error)
	// Finish ends the scan and returns its result.
	Finish() (R, error)
}

// Scan is what a content scan plugs in: Start begins a Run, Place (may be
// nil) puts a finished image or tree result's files in their layers.
type Scan[R any] struct {
	// Name prefixes errors: "secret scan".
	Name  string
	Start func(ctx context.Context) Run[R]
	Place func(R, *Layout)
}

// Target scans a target string: dir:, docker-archive:, oci-archive:,
// oci-dir:, docker:, container:, registry:, file: (a tar of a tree, or one
// file), or a bare path or image reference. sbom: targets hold no files.
func (s Scan[R]) Target(ctx context.Context, target string, opts Options) (R, error) {
	var res R
	t, err := scanner.ParseTarget(target)
	if err != nil {
		return res, fmt.Errorf("%s: %w: %w", s.Name, scanner.ErrTarget, err)
	}
	if opts.Limits == (image.Limits{}) {
		opts.Limits = image.DefaultLimits()
	}
	if opts.Keychain == nil {
		opts.Keychain = scanner.DefaultKeychain()
	}
	switch t.Kind {
	case scanner.KindDir:
		res, err = s.Dir(ctx, t.Ref)
	case scanner.KindDockerArchive, scanner.KindOCIArchive:
		res, err = s.archiveFile(ctx, t.Ref, opts)
	case scanner.KindOCIDir:
		res, err = s.Image(ctx, func(w image.Wanter, io image.Options) (*image.Image, error) {
			return image.ReadOCIDir(ctx, t.Ref, w, io)
		})
	case scanner.KindRegistry:
		res, err = s.registry(ctx, t.Ref, opts)
	case scanner.KindDocker:
		res, err = s.dockerImage(ctx, t.Ref, opts)
	case scanner.KindImageRef:
		res, err = s.dockerImage(ctx, t.Ref, opts)
		if err != nil && ctx.Err() == nil {
			var rerr error
			if res, rerr = s.registry(ctx, t.Ref, opts); rerr != nil {
				err = fmt.Errorf("%w; registry: %w", err, rerr)
			} else {
				err = nil
			}
		}
	case scanner.KindContainer:
		res, err = s.container(ctx, t.Ref, opts)
	case scanner.KindFile:
		res, err = s.file(ctx, t.Ref, opts)
	case scanner.KindSBOM:
		err = fmt.Errorf("%w: an SBOM lists packages, not files: scan the image or directory it describes", scanner.ErrTarget)
	default:
		err = fmt.Errorf("unknown target kind %q", t.Kind)
	}
	if err != nil {
		var zero R
		return zero, fmt.Errorf("%s %s: %w", s.Name, target, err)
	}
	return res, nil
}

// dirsToSkip are not walked at a directory's root (a host's /).
var dirsToSkip = map[string]bool{"proc": true, "sys": true, "dev": true}

// Dir scans a directory tree read with chroot semantics
// (internal/inventory/rootfs: nothing outside dir is opened, links are
// not followed). Regular files only.
func (s Scan[R]) Dir(ctx context.Context, dir string) (R, error) {
	var zero R
	abs, err := filepath.Abs(dir)
	if err != nil {
		return zero, fmt.Errorf("%w: %w", scanner.ErrTarget, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return zero, fmt.Errorf("%w: %w", scanner.ErrTarget, err)
	}
	if !fi.IsDir() {
		return zero, fmt.Errorf("%w: %s is not a directory", scanner.ErrTarget, dir)
	}
	fsys, err := rootfs.Open(abs)
	if err != nil {
		return zero, fmt.Errorf("%w: %w", scanner.ErrTarget, err)
	}
	defer fsys.Close()
	r := s.Start(ctx)
	walkErr := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			r.Fail(p, "", err)
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if dirsToSkip[p] || (p != "." && r.SkipDir(p)) {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil // links, devices, sockets, pipes
		}
		info, err := fsys.Lstat(p)
		if err != nil {
			r.Fail(p, "", err)
			return nil
		}
		if r.Walked(p, info.Size(), func() (fs.File, error) { return fsys.Open(p) }) {
			return fs.SkipAll
		}
		return nil
	})
	res, err := r.Finish()
	if err != nil {
		return zero, err
	}
	if walkErr != nil {
		return zero, fmt.Errorf("%s: walk %s: %w", s.Name, dir, walkErr)
	}
	return res, nil
}

// nothing is the Wanter of a content scan: the image reader keeps no
// content, every file goes to Visit.
type nothing struct{}

func (nothing) WantsContent(string, fs.FileInfo) extract.Want { return extract.WantNone }

// Image scans every layer of the image read: each file streams to the Run
// as its layer goes by, nothing is unpacked. A file deleted (or replaced)
// by a later layer is still seen, in the layer that holds it: Place marks
// it deleted.
func (s Scan[R]) Image(ctx context.Context, read func(image.Wanter, image.Options) (*image.Image, error)) (R, error) {
	return s.image(ctx, false, read)
}

func (s Scan[R]) image(ctx context.Context, tree bool, read func(image.Wanter, image.Options) (*image.Image, error)) (R, error) {
	var zero R
	r := s.Start(ctx)
	opts := image.DefaultOptions()
	opts.History = nil
	opts.Visit = func(layer, p string, size int64, fr io.Reader) { r.Stream(p, layer, size, fr) }
	img, err := read(nothing{}, opts)
	res, ferr := r.Finish()
	if err != nil {
		return zero, err
	}
	if ferr != nil {
		return zero, ferr
	}
	if s.Place != nil {
		l := newLayout(img, tree)
		defer l.close()
		s.Place(res, l)
	}
	return res, nil
}

func (s Scan[R]) archiveFile(ctx context.Context, p string, opts Options) (R, error) {
	var zero R
	f, err := os.Open(p)
	if err != nil {
		return zero, fmt.Errorf("%w: %w", scanner.ErrTarget, err)
	}
	defer f.Close()
	var rd io.Reader = f // read in place: layers as sections of the file
	head := make([]byte, 16)
	n, _ := f.ReadAt(head, 0)
	var lr *image.LimitedReader
	if c := filetype.CompressionOf(head[:n]); c != filetype.None {
		// A compressed archive: stream its decompressed bytes.
		if lr, err = image.Decompressed(f, c, opts.Limits); err != nil {
			return zero, fmt.Errorf("%w: %s: %w", scanner.ErrTarget, p, err)
		}
		defer lr.Close()
		rd = lr
	}
	res, err := s.Image(ctx, func(w image.Wanter, io image.Options) (*image.Image, error) {
		return image.ReadArchive(ctx, rd, w, io)
	})
	if lr != nil {
		if rerr := lr.Refusal(); rerr != nil {
			return zero, fmt.Errorf("%w: %s: %w", scanner.ErrTarget, p, rerr)
		}
	}
	return res, err
}

func (s Scan[R]) registry(ctx context.Context, ref string, opts Options) (R, error) {
	return s.Image(ctx, func(w image.Wanter, io image.Options) (*image.Image, error) {
		return image.ReadRemote(ctx, ref, image.RemoteOptions{Keychain: opts.Keychain}, w, io)
	})
}

// dockerImage streams `docker save` of the image from the engine.
func (s Scan[R]) dockerImage(ctx context.Context, ref string, opts Options) (R, error) {
	var zero R
	c, err := scanner.Engine(ctx, opts.DockerHost)
	if err != nil {
		return zero, err
	}
	defer c.Close()
	ii, err := c.ImageInspect(ctx, ref)
	if err != nil {
		return zero, fmt.Errorf("%w: image %s: %w", scanner.ErrTarget, ref, err)
	}
	rc, err := c.ImageSave(ctx, []string{ii.ID})
	if err != nil {
		return zero, fmt.Errorf("docker save %s: %w", ref, err)
	}
	defer rc.Close()
	return s.Image(ctx, func(w image.Wanter, io image.Options) (*image.Image, error) {
		return image.ReadArchive(ctx, rc, w, io)
	})
}

// container streams the container's filesystem (`docker export`) as one
// layer: its files are in no layer.
func (s Scan[R]) container(ctx context.Context, id string, opts Options) (R, error) {
	var zero R
	c, err := scanner.Engine(ctx, opts.DockerHost)
	if err != nil {
		return zero, err
	}
	defer c.Close()
	ci, err := c.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return zero, fmt.Errorf("%w: container %s: %w", scanner.ErrTarget, id, err)
	}
	rc, err := c.ContainerExport(ctx, ci.Container.ID, client.ContainerExportOptions{})
	if err != nil {
		return zero, fmt.Errorf("docker export %s: %w", id, err)
	}
	defer rc.Close()
	return s.Tree(ctx, rc, opts)
}

// Tree scans a tar stream of a tree (compressed or not) as one layer: its
// files are in no layer.
func (s Scan[R]) Tree(ctx context.Context, rd io.Reader, opts Options) (R, error) {
	if opts.Limits == (image.Limits{}) {
		opts.Limits = image.DefaultLimits()
	}
	return s.image(ctx, true, func(w image.Wanter, io image.Options) (*image.Image, error) {
		io.Limits = opts.Limits
		l, err := image.ReadLayer(ctx, rd, "", w, io)
		if err != nil {
			return nil, err
		}
		return &image.Image{Layers: []*image.Layer{l}}, nil
	})
}

// file reads a file target: a tar of a tree (plain or compressed) as one
// layer, anything else as one file.
func (s Scan[R]) file(ctx context.Context, p string, opts Options) (R, error) {
	var zero R
	f, err := os.Open(p)
	if err != nil {
		return zero, fmt.Errorf("%w: %w", scanner.ErrTarget, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return zero, fmt.Errorf("%w: %w", scanner.ErrTarget, err)
	}
	if !fi.Mode().IsRegular() {
		return zero, fmt.Errorf("%w: %s is not a regular file", scanner.ErrTarget, p)
	}
	head := make([]byte, 512)
	n, _ := f.ReadAt(head, 0)
	if filetype.CompressionOf(head[:n]) != filetype.None || (n >= 262 && string(head[257:262]) == "ustar") {
		return s.Tree(ctx, f, opts)
	}
	r := s.Start(ctx)
	r.Walked(path.Base(filepath.ToSlash(p)), fi.Size(), func() (fs.File, error) { return os.Open(p) })
	return r.Finish()
}

// Layout says where the files of an image or a tree were: Place uses it to
// turn the layer names files were read under into layer digests and to
// mark the files no longer in the final image.
type Layout struct {
	img  *image.Image
	tree bool
	idx  map[string]int
	fsys *image.FS
}

func newLayout(img *image.Image, tree bool) *Layout {
	l := &Layout{img: img, tree: tree, idx: map[string]int{}}
	if img != nil {
		for i, ly := range img.Layers {
			l.idx[ly.Name] = i
		}
	}
	return l
}

func (l *Layout) close() {
	if l.fsys != nil {
		l.fsys.Close()
	}
}

// Digest is the digest of the layer read as name ("" in a tree, name
// itself when unknown).
func (l *Layout) Digest(name string) string {
	if l.tree {
		return ""
	}
	if i, ok := l.idx[name]; ok {
		return l.img.Layers[i].Digest
	}
	return name
}

// Locate is where the file at p (an absolute slash path) read in layer
// name is: the layer's digest, and whether a later layer deleted or
// replaced it.
func (l *Layout) Locate(name, p string) (digest string, deleted bool) {
	if l.tree {
		return "", false
	}
	if li, ok := l.idx[name]; ok {
		if l.fsys == nil {
			l.fsys = image.Merge(l.img.Layers, nil)
		}
		deleted = l.fsys.LayerOf(p[1:]) != li
	}
	return l.Digest(name), deleted
}

// Errors calls add for each file the image reader could not read (layer
// is a digest, "" for the image's own).
func (l *Layout) Errors(add func(p, layer, err string)) {
	if l.img == nil {
		return
	}
	for _, fe := range l.img.Errors {
		add(fe.Path, "", fe.Err.Error())
	}
	for _, ly := range l.img.Layers {
		for _, fe := range ly.Errors {
			add(fe.Path, l.Digest(ly.Name), fe.Err.Error())
		}
	}
}
