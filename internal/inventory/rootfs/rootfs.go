// Package rootfs gives extractors a read-only view of a directory that never
// leaves it: symbolic links are resolved as if the directory were the root of
// the filesystem (chroot semantics, absolute targets are re-rooted), loops are
// cut after a fixed number of hops, and every open goes through os.Root, so a
// link swapped underneath the scan still cannot reach the host.
package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// MaxSymlinkHops bounds the symbolic links followed while resolving one path
// (Linux uses 40 too); more means a loop.
const MaxSymlinkHops = 40

// ErrLoop is returned when resolving a path meets more than MaxSymlinkHops links.
var ErrLoop = errors.New("too many levels of symbolic links")

// FS is a directory tree opened read-only with chroot semantics. It
// implements fs.FS, fs.ReadDirFS and fs.StatFS (osv-scalibr's fs.FS).
type FS struct {
	root    *os.Root
	rootDir *os.File // the root directory, for openat2
	dir     string

	mu   sync.Mutex
	dirs sync.Map // resolved paths known to be real directories
	// OnError, when set, receives directory read errors that a walk would
	// otherwise skip silently (unreadable directories and the like).
	OnError func(path string, err error)
}

// Open opens dir for scanning.
func Open(dir string) (*FS, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("rootfs.Open(%q): %w", dir, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("rootfs.Open(%q): %w", dir, err)
	}
	return &FS{root: r, rootDir: d, dir: dir}, nil
}

// Close releases the root directory handles.
func (f *FS) Close() error {
	f.rootDir.Close()
	return f.root.Close()
}

// Dir returns the directory the FS was opened on.
func (f *FS) Dir() string { return f.dir }

// Resolve returns name with every symbolic link resolved inside the root,
// relative to it ("." for the root itself). When followLast is false a final
// symbolic link is kept (lstat semantics).
func (f *FS) Resolve(name string, followLast bool) (string, error) {
	p, _, err := f.resolveInfo(name, followLast)
	return p, err
}

// resolveInfo is Resolve that also returns the lstat information of the
// resolved path when it has it at hand (nil otherwise). Directories known to
// be real (not links) are cached, so resolving a file costs one lstat.
func (f *FS) resolveInfo(name string, followLast bool) (string, fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return "", nil, &fs.PathError{Op: "resolve", Path: name, Err: fs.ErrInvalid}
	}
	var lastPath string
	var lastInfo fs.FileInfo
	p, err := ResolveWith(name, followLast, func(p string) (string, bool, error) {
		if _, ok := f.dirs.Load(p); ok {
			return "", false, nil
		}
		// p has no symbolic link in its parents (they were resolved), so
		// a plain lstat of the joined path stays inside the root.
		fi, err := os.Lstat(filepath.Join(f.dir, filepath.FromSlash(p)))
		if err != nil {
			return "", false, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if fi.IsDir() {
				f.dirs.Store(p, struct{}{})
			}
			lastPath, lastInfo = p, fi
			return "", false, nil
		}
		target, err := os.Readlink(filepath.Join(f.dir, filepath.FromSlash(p)))
		if err != nil {
			return "", false, err
		}
		return target, true, nil
	})
	if err != nil {
		return "", nil, err
	}
	if p != lastPath {
		lastInfo = nil
	}
	return p, lastInfo, nil
}

// LinkReader reports whether p (clean, relative, symlink-free parent) is a
// symbolic link and, if so, its target.
type LinkReader func(p string) (target string, isLink bool, err error)

// ResolveWith walks name component by component with chroot semantics,
// asking readlink about each prefix. It is shared with the in-memory image
// filesystem, so both views resolve links identically.
func ResolveWith(name string, followLast bool, readlink LinkReader) (string, error) {
	var cur string // resolved, symlink-free components joined by "/"
	var ends []int // the end of each component in cur
	todo := splitPath(name)
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if n := len(ends); n > 1 {
				ends, cur = ends[:n-1], cur[:ends[n-2]]
			} else {
				ends, cur = ends[:0], ""
			}
			continue
		}
		next := join(name, cur, c)
		if len(todo) == 0 && !followLast {
			cur, ends = next, append(ends, len(next))
			break
		}
		target, isLink, err := readlink(next)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				return "", &fs.PathError{Op: "resolve", Path: name, Err: fs.ErrNotExist}
			}
			return "", &fs.PathError{Op: "resolve", Path: name, Err: err}
		}
		if !isLink {
			cur, ends = next, append(ends, len(next))
			continue
		}
		hops++
		if hops > MaxSymlinkHops {
			return "", &fs.PathError{Op: "resolve", Path: name, Err: ErrLoop}
		}
		if strings.HasPrefix(target, "/") {
			cur, ends = "", ends[:0] // re-rooted at the scanned root, never the host's
		}
		todo = append(splitPath(target), todo...)
	}
	if cur == "" {
		return ".", nil
	}
	return cur, nil
}

// join is cur + "/" + c (c alone when cur is empty), as a slice of name
// when name starts with it: resolving a path without links allocates
// nothing.
func join(name, cur, c string) string {
	if cur == "" {
		return c
	}
	n := len(cur) + 1 + len(c)
	if len(name) >= n && name[len(cur)] == '/' && name[:len(cur)] == cur && name[len(cur)+1:n] == c {
		return name[:n]
	}
	return cur + "/" + c
}

func splitPath(p string) []string {
	return strings.FieldsFunc(p, func(r rune) bool { return r == '/' })
}

// Open opens the named file, following symbolic links inside the root.
func (f *FS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if file, err, ok := f.openInRoot(name, false); ok {
		// The kernel resolved every link inside the root in one call.
		return file, err
	}
	p, err := f.Resolve(name, true)
	if err != nil {
		return nil, err
	}
	file, err := f.openIn(p, false)
	if err != nil {
		return nil, err
	}
	return file, nil
}

// Stat returns the FileInfo of the named file, following symbolic links.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	p, fi, err := f.resolveInfo(name, true)
	if err != nil {
		return nil, err
	}
	if fi != nil {
		return fi, nil
	}
	return f.root.Stat(p)
}

// Lstat returns the FileInfo of the named file without following a final link.
func (f *FS) Lstat(name string) (fs.FileInfo, error) {
	p, err := f.Resolve(name, false)
	if err != nil {
		return nil, err
	}
	return f.root.Lstat(p)
}

// ReadDir lists the named directory sorted by name. Entries describe the
// links themselves, so a walk never descends through a symbolic link.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := f.readDir(name)
	if err != nil {
		f.reportError(name, err)
	}
	return ents, err
}

func (f *FS) readDir(name string) ([]fs.DirEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrInvalid}
	}
	d, err, ok := f.openInRoot(name, true)
	if !ok {
		var p string
		if p, err = f.Resolve(name, true); err != nil {
			return nil, err
		}
		d, err = f.openIn(p, true)
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	ents, err := d.ReadDir(-1)
	f.noteDirs(name, ents)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	if err != nil {
		return ents, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return ents, nil
}

// ReadFile reads the named file, following symbolic links inside the root.
func (f *FS) ReadFile(name string) ([]byte, error) {
	p, err := f.Resolve(name, true)
	if err != nil {
		return nil, err
	}
	return f.root.ReadFile(p)
}

// noteDirs records the subdirectories listed in dir as real directories
// when dir itself is one (the root, or a directory already known): a walk
// that never follows links then makes later resolutions of these paths
// (the canonical paths of owned files) free of lstat calls.
func (f *FS) noteDirs(dir string, ents []fs.DirEntry) {
	if dir != "." {
		if _, ok := f.dirs.Load(dir); !ok {
			return
		}
	}
	for _, e := range ents {
		if e.IsDir() {
			p := e.Name()
			if dir != "." {
				p = dir + "/" + p
			}
			f.dirs.Store(p, struct{}{})
		}
	}
}

// Dir is a directory of an FS held open, so its entries can be stat-ed and
// opened relative to it without resolving their paths again.
type Dir struct {
	fsys *FS
	name string
	d    *os.File
}

// OpenDir lists the named directory (sorted by name, like ReadDir) and
// keeps it open; the caller closes it. Read errors go to OnError too.
func (f *FS) OpenDir(name string) (*Dir, []fs.DirEntry, error) {
	if !fs.ValidPath(name) {
		return nil, nil, &fs.PathError{Op: "opendir", Path: name, Err: fs.ErrInvalid}
	}
	d, err, ok := f.openInRoot(name, true)
	if !ok {
		var p string
		if p, err = f.Resolve(name, true); err == nil {
			d, err = f.openIn(p, true)
		}
	}
	if err != nil {
		f.reportError(name, err)
		return nil, nil, err
	}
	ents, err := d.ReadDir(-1)
	f.noteDirs(name, ents)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	if err != nil {
		err = &fs.PathError{Op: "readdir", Path: name, Err: err}
		f.reportError(name, err)
	}
	return &Dir{fsys: f, name: name, d: d}, ents, err
}

func (f *FS) reportError(name string, err error) {
	if f.OnError != nil {
		f.mu.Lock()
		f.OnError(name, err)
		f.mu.Unlock()
	}
}

// Close closes the directory.
func (d *Dir) Close() error { return d.d.Close() }

func (d *Dir) path(name string) string {
	if d.name == "." {
		return name
	}
	return d.name + "/" + name
}
