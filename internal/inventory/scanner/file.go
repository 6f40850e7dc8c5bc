package scanner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/inventory/extract"
	"github.com/riskmap/riskmap/internal/inventory/filetype"
	"github.com/riskmap/riskmap/internal/inventory/image"
)

// scanFile inventories one file (file:, or a bare path that is not an
// image archive or SBOM), dispatching on what filetype finds it to be:
//
//   - a lockfile, manifest, executable, Java or Python archive: the
//     extractors that read a file of that name run on it alone
//     (extract.RunFile), its own path in the locations;
//   - a tar (plain or compressed) or zip of a directory tree: streamed as
//     one layer, as dir: of its contents, within opts.Limits;
//   - an image archive (plain or compressed) or an SBOM: as
//     docker-archive:, oci-archive:, sbom:.
//
// A new single-file kind is a Format in package filetype (detection, with
// its fuzz seed) and a case here.
func scanFile(ctx context.Context, ex *extract.Extractor, p string, typ *filetype.Type, opts Options, target string) (*inventory.Inventory, error) {
	if typ == nil {
		t, err := detectFile(p, ex.WantsName)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTarget, err)
		}
		typ = &t
	}
	opts.Logger.Debug("file target", "path", p, "what", typ.What)
	switch typ.Format {
	case filetype.DockerArchive, filetype.OCIArchive:
		return scanArchiveFile(ctx, ex, p, opts, target)
	case filetype.SBOM:
		return scanSBOM(p)
	case filetype.TreeTar:
		return scanTreeTar(ctx, ex, p, typ.Compression, opts, target)
	case filetype.TreeZip:
		return scanTreeZip(ctx, ex, p, opts, target)
	case filetype.GoSum:
		// go.sum lists the checksums of every module version the build
		// ever considered, not the versions it selected: matching it
		// would report versions the program does not use.
		mod := filepath.Join(filepath.Dir(p), "go.mod")
		if _, err := os.Stat(mod); err != nil {
			return nil, fmt.Errorf("%w: %s is a go.sum, which lists every module version the build considered, not the ones it uses; "+
				"scan the go.mod beside it, or the built binary", ErrTarget, p)
		}
		opts.Logger.Warn("go.sum lists every module version the build considered; reading the go.mod beside it", "go.mod", mod)
		return scanOneFile(ctx, ex, mod, filetype.Type{Format: filetype.Lockfile}, opts)
	case filetype.Lockfile, filetype.Executable, filetype.JavaArchive, filetype.PythonWheel, filetype.PythonEgg:
		return scanOneFile(ctx, ex, p, *typ, opts)
	}
	return nil, fmt.Errorf("%w: %s is %w", ErrTarget, p, unsupported(*typ))
}

// scanOneFile runs the extractors that read the file at p on it alone.
func scanOneFile(ctx context.Context, ex *extract.Extractor, p string, typ filetype.Type, opts Options) (*inventory.Inventory, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTarget, err)
	}
	fsys, err := openFileFS(abs, virtualPath(abs, typ.Name), typ.Format == filetype.Executable)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTarget, err)
	}
	defer fsys.Close()
	res, wanted, err := ex.RunFile(ctx, fsys, fsys.vpath)
	if err != nil {
		return nil, err
	}
	if !wanted {
		return nil, fmt.Errorf("%w: %s is %s that no extractor reads by its name; it reads %s",
			ErrTarget, p, filetype.A(typ.What), supported)
	}
	display := filepath.ToSlash(filepath.Clean(p))
	for i := range res.Packages {
		for j, l := range res.Packages[i].Locations {
			res.Packages[i].Locations[j] = relocate(l, fsys.vpath, display)
		}
	}
	for i := range res.Errors {
		res.Errors[i].Path = relocate(res.Errors[i].Path, fsys.vpath, display)
	}
	if len(res.Packages) == 0 && len(res.Errors) == 0 {
		switch typ.Format {
		case filetype.Executable:
			opts.Logger.Warn("no packages: the executable carries neither Go build information nor a cargo-auditable section", "path", p, "what", typ.What)
		default:
			opts.Logger.Warn("no packages in the file", "path", p, "what", typ.What)
		}
	}
	return &inventory.Inventory{Target: inventory.Target{Kind: KindFile}, Packages: res.Packages, Errors: res.Errors}, nil
}

// virtualPath is where the extractors see a file: its absolute path
// without the leading slash (so the directories above it, which some
// extractors look at, "x.dist-info/METADATA", are there), under name
// when it is known by another name ("" keeps its own).
func virtualPath(p, name string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		abs = p
	}
	v := strings.TrimLeft(filepath.ToSlash(abs), "/")
	if name != "" {
		v = path.Join(path.Dir(v), name)
	}
	return v
}

// relocate turns a location the extractors gave under the virtual path
// into one under the path the user gave; nested archive members
// ("app.war/WEB-INF/lib/x.jar", "app.jar:BOOT-INF/...") keep their tail.
func relocate(loc, vpath, display string) string {
	switch {
	case loc == vpath:
		return display
	case strings.HasPrefix(loc, vpath+"/"), strings.HasPrefix(loc, vpath+":"):
		return display + loc[len(vpath):]
	}
	if dir := path.Dir(vpath); strings.HasPrefix(loc, dir+"/") {
		// A file beside it (go.mod's go.sum).
		return path.Join(path.Dir(display), loc[len(dir)+1:])
	}
	return loc
}

// fileFS is the filesystem the extractors see for one file: the file at
// vpath, and the files of its directory (read through an os.Root, so
// nothing outside it) for extractors that read a companion (go.mod's
// go.sum). It lists no directory: RunFile does not walk.
type fileFS struct {
	vpath string
	file  string
	dir   *os.Root
	exec  bool // an executable format: report it executable even without x bits
}

func openFileFS(abs, vpath string, exec bool) (*fileFS, error) {
	if _, err := os.Stat(abs); err != nil {
		return nil, err
	}
	dir, err := os.OpenRoot(filepath.Dir(abs))
	if err != nil {
		return nil, err
	}
	return &fileFS{vpath: vpath, file: abs, dir: dir, exec: exec}, nil
}

func (f *fileFS) Close() error { return f.dir.Close() }

// sibling maps a path beside vpath to its name in the directory.
func (f *fileFS) sibling(name string) (string, bool) {
	if path.Dir(name) != path.Dir(f.vpath) {
		return "", false
	}
	return path.Base(name), true
}

func (f *fileFS) Open(name string) (fs.File, error) {
	if name == f.vpath {
		return os.Open(f.file)
	}
	if s, ok := f.sibling(name); ok {
		return f.dir.Open(s)
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func (f *fileFS) Stat(name string) (fs.FileInfo, error) {
	if name == f.vpath {
		fi, err := os.Stat(f.file)
		if err != nil {
			return nil, err
		}
		return namedInfo{FileInfo: fi, name: path.Base(f.vpath), exec: f.exec}, nil
	}
	if s, ok := f.sibling(name); ok {
		return f.dir.Stat(s)
	}
	return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

func (f *fileFS) ReadDir(name string) ([]fs.DirEntry, error) {
	return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
}

// namedInfo is a file's FileInfo under the name the extractors see,
// executable when its format is.
type namedInfo struct {
	fs.FileInfo
	name string
	exec bool
}

func (i namedInfo) Name() string { return i.name }
func (i namedInfo) Mode() fs.FileMode {
	if i.exec {
		return i.FileInfo.Mode() | 0o111
	}
	return i.FileInfo.Mode()
}
func (i namedInfo) ModTime() time.Time { return i.FileInfo.ModTime() }

// scanTreeTar scans a tar of a directory tree, plain (read in place) or
// compressed (streamed through the limited decompressor).
func scanTreeTar(ctx context.Context, ex *extract.Extractor, p string, c filetype.Compression, opts Options, target string) (*inventory.Inventory, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTarget, err)
	}
	defer f.Close()
	var size int64
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	iopts := imageOptions(opts, target, size)
	iopts.Limits = opts.Limits
	var r io.Reader = f
	var lr *image.LimitedReader
	if c != filetype.None {
		if lr, err = image.Decompressed(f, c, opts.Limits); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrTarget, p, err)
		}
		defer lr.Close()
		r = lr
	}
	l, err := image.ReadLayer(ctx, r, "", ex, iopts)
	if err == nil && lr != nil {
		err = lr.Refusal()
	}
	if err != nil {
		return nil, refusal(p, err)
	}
	return treeInventory(ctx, ex, l)
}

// scanTreeZip scans a zip of a directory tree.
func scanTreeZip(ctx context.Context, ex *extract.Extractor, p string, opts Options, target string) (*inventory.Inventory, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTarget, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTarget, err)
	}
	iopts := imageOptions(opts, target, fi.Size())
	iopts.Limits = opts.Limits
	l, err := image.ReadZip(ctx, f, fi.Size(), ex, iopts)
	if err != nil {
		return nil, refusal(p, err)
	}
	return treeInventory(ctx, ex, l)
}

// refusal marks an archive refused by its limits as a target error.
func refusal(p string, err error) error {
	if errors.Is(err, image.ErrLimit) {
		return fmt.Errorf("%w: %s: %w", ErrTarget, p, err)
	}
	return err
}

// treeInventory extracts from the one layer of a tree archive, as dir:
// does from a directory (an archive has no layers to attribute).
func treeInventory(ctx context.Context, ex *extract.Extractor, l *image.Layer) (*inventory.Inventory, error) {
	inv, err := inventoryFromImage(ctx, ex, &image.Image{Layers: []*image.Layer{l}})
	if err != nil {
		return nil, err
	}
	inv.Target = inventory.Target{Kind: KindFile}
	for i := range inv.Packages {
		inv.Packages[i].Layer = ""
	}
	for i, e := range inv.Errors {
		if e.Extractor == "layer " { // "layer " + the digest a tree has not
			inv.Errors[i].Extractor = "archive"
		}
	}
	return inv, nil
}

// openArchive opens an image archive file, decompressing it when it is
// compressed (then within opts.Limits); the reader of a plain archive is
// the file itself, which ReadArchive reads in place.
func openArchive(p string, opts Options) (r io.Reader, size int64, done func() error, err error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("%w: %w", ErrTarget, err)
	}
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	head := make([]byte, 16)
	n, _ := f.ReadAt(head, 0)
	c := filetype.CompressionOf(head[:n])
	if c == filetype.None {
		return f, size, f.Close, nil
	}
	lr, err := image.Decompressed(f, c, opts.Limits)
	if err != nil {
		f.Close()
		return nil, 0, nil, fmt.Errorf("%w: %s: %w", ErrTarget, p, err)
	}
	return lr, 0, func() error {
		lr.Close()
		err := f.Close()
		if rerr := lr.Refusal(); rerr != nil {
			return rerr
		}
		return err
	}, nil
}
