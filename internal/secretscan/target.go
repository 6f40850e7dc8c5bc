package secretscan

import (
	"context"
	"fmt"
	"io"
	"io/fs"

	"github.com/riskmap/riskmap/internal/inventory/filetarget"
	"github.com/riskmap/riskmap/internal/inventory/image"
)

// TargetOptions says how to reach a target (the inventory scanner's
// options, for the same targets).
type TargetOptions = filetarget.Options

// targets is the secret scan plugged into filetarget.
func (s *Scanner) targets() filetarget.Scan[*Result] {
	return filetarget.Scan[*Result]{
		Name:  "secret scan",
		Start: func(ctx context.Context) filetarget.Run[*Result] { return s.start(ctx) },
		Place: placeLayers,
	}
}

// ScanTarget finds secrets in a target string as `riskmap scan` takes it:
// dir:, docker-archive:, oci-archive:, oci-dir:, docker:, container:,
// registry:, file: (a tar of a tree, or one file), or a bare path or
// image reference (scanner.ParseTarget). sbom: targets hold no files.
func (s *Scanner) ScanTarget(ctx context.Context, target string, opts TargetOptions) (*Result, error) {
	return s.targets().Target(ctx, target, opts)
}

// ScanDir finds secrets in a directory tree, read with chroot semantics
// (internal/inventory/rootfs: nothing outside dir is read, links are not
// followed). Regular files only.
func (s *Scanner) ScanDir(ctx context.Context, dir string) (*Result, error) {
	return s.targets().Dir(ctx, dir)
}

// ScanImage finds secrets in every layer of the image read: files are
// streamed to the detector as their layer goes by, nothing is unpacked.
// A file deleted (or replaced) by a later layer is still reported, in the
// layer that holds it, with Deleted set: its layer still ships it.
func (s *Scanner) ScanImage(ctx context.Context, read func(image.Wanter, image.Options) (*image.Image, error)) (*Result, error) {
	return s.targets().Image(ctx, read)
}

// SkipDir leaves out the directories the allow-list names.
func (r *run) SkipDir(p string) bool { return r.s.cfg.Allow.AllowsPath("/" + p) }

// Walked reads a file of a directory walk unless it is over the size
// limit (listed as skipped, unless allowed).
func (r *run) Walked(p string, size int64, open func() (fs.File, error)) bool {
	if size > r.s.cfg.MaxFileSize {
		if !r.s.cfg.Allow.AllowsPath("/" + p) {
			r.skip(p, "", fmt.Sprintf("larger than %d bytes", r.s.cfg.MaxFileSize))
		}
		return false
	}
	f, err := open()
	if err != nil {
		r.fail(p, "", err)
		return false
	}
	r.file(p, "", size, f)
	f.Close()
	return r.full.Load()
}

// Stream reads a file of a layer or a tree.
func (r *run) Stream(p, layer string, size int64, fr io.Reader) { r.file(p, layer, size, fr) }

// Fail records a file that could not be read.
func (r *run) Fail(p, layer string, err error) { r.fail(p, layer, err) }

// Finish waits for the detectors and returns the result.
func (r *run) Finish() (*Result, error) { return r.finish() }

// placeLayers names each finding's layer by its digest and marks the
// findings of files no longer in the final image.
func placeLayers(res *Result, l *filetarget.Layout) {
	for i := range res.Findings {
		f := &res.Findings[i]
		f.Layer, f.Deleted = l.Locate(f.Layer, f.Path)
	}
	for i := range res.Skipped {
		res.Skipped[i].Layer = l.Digest(res.Skipped[i].Layer)
	}
	for i := range res.Errors {
		res.Errors[i].Layer = l.Digest(res.Errors[i].Layer)
	}
	l.Errors(func(p, layer, err string) {
		res.Errors = append(res.Errors, FileError{Path: p, Layer: layer, Error: err})
	})
}
