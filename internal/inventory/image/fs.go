package image

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/inventory/rootfs"
)

type node struct {
	name     string
	kind     int // kindDir, kindFile, kindSymlink
	mode     fs.FileMode
	size     int64
	link     string
	mtime    time.Time
	layer    int
	data     *Blob
	children map[string]*node
}

// Version is the content of a tracked path as one layer left it.
type Version struct {
	Layer int
	Data  []byte // nil: the layer deleted the file
}

// FS is the merged view of an image's layers. It implements osv-scalibr's
// fs.FS (fs.FS, fs.ReadDirFS, fs.StatFS). Only directories, symbolic links
// and files whose content was retained are visible, so a walk only meets
// files an extractor can read.
type FS struct {
	root    *node
	layers  []string
	history map[string][]Version
	blobs   []*Blob
}

// Merge applies layers bottom to top with OCI whiteout semantics: a
// whiteout or opaque marker hides what lower layers put there, never what
// its own layer adds.
func Merge(layers []*Layer, historyPaths []string) *FS {
	f := &FS{root: &node{name: ".", kind: kindDir, mode: fs.ModeDir | 0o755, children: map[string]*node{}}, history: map[string][]Version{}}
	tracked := map[string]bool{}
	for _, p := range historyPaths {
		tracked[p] = true
	}
	for li, l := range layers {
		f.layers = append(f.layers, l.Digest)
		for _, e := range l.Entries {
			switch e.Kind {
			case kindOpaque:
				if n := f.lookup(e.Path); n != nil && n.kind == kindDir {
					n.children = map[string]*node{}
				}
			case kindWhiteout:
				f.remove(e.Path)
				if tracked[e.Path] {
					f.history[e.Path] = append(f.history[e.Path], Version{Layer: li})
				}
			}
		}
		nodes := make([]node, len(l.Entries)) // one allocation for the layer's nodes
		for i, e := range l.Entries {
			switch e.Kind {
			case kindOpaque, kindWhiteout:
				continue
			}
			n := &nodes[i]
			*n = node{kind: e.Kind, mode: e.Mode, size: e.Size, link: e.Link, mtime: e.ModTime, layer: li, data: e.Data}
			if e.Kind == kindHardlink {
				n.kind, n.link = kindFile, ""
				if n.data == nil {
					// The link target came from a lower layer: share its content.
					if t := f.lookup(e.Link); t != nil && t.kind == kindFile {
						n.data, n.size, n.mode = t.data, t.size, t.mode
					}
				}
			}
			if n.data != nil {
				f.blobs = append(f.blobs, n.data)
			}
			if tracked[e.Path] && n.data != nil {
				if b, err := n.data.Bytes(); err == nil {
					f.history[e.Path] = append(f.history[e.Path], Version{Layer: li, Data: b})
				}
			}
			f.put(e.Path, n)
		}
	}
	return f
}

func (f *FS) lookup(p string) *node {
	if p == "." || p == "" {
		return f.root
	}
	n := f.root
	for rest, more := p, true; more; {
		var c string
		c, rest, more = strings.Cut(rest, "/")
		if n.kind != kindDir {
			return nil
		}
		n = n.children[c]
		if n == nil {
			return nil
		}
	}
	return n
}

func (f *FS) remove(p string) {
	dir, base := path.Split(p)
	if d := f.lookup(strings.TrimSuffix(dir, "/")); d != nil && d.kind == kindDir {
		delete(d.children, base)
	}
}

func (f *FS) put(p string, n *node) {
	d := f.root
	for {
		c, rest, more := strings.Cut(p, "/")
		if !more {
			break
		}
		next := d.children[c]
		if next == nil || next.kind != kindDir {
			next = &node{name: c, kind: kindDir, mode: fs.ModeDir | 0o755, layer: n.layer, children: map[string]*node{}}
			d.children[c] = next
		}
		d, p = next, rest
	}
	n.name = p
	if old := d.children[n.name]; old != nil && old.kind == kindDir && n.kind == kindDir {
		// A directory entry in an upper layer keeps the lower contents.
		n.children = old.children
	}
	if n.kind == kindDir && n.children == nil {
		n.children = map[string]*node{}
	}
	d.children[n.name] = n
}

// Layers returns the layer digests, bottom first.
func (f *FS) Layers() []string { return f.layers }

// History returns the versions of a tracked path, bottom layer first.
func (f *FS) History(p string) []Version { return f.history[p] }

// LayerOf returns the index of the layer that last wrote the file at p
// (following links), or -1.
func (f *FS) LayerOf(p string) int {
	n, err := f.resolve(p, true)
	if err != nil {
		return -1
	}
	return n.layer
}

// Resolve returns name with symbolic links resolved inside the image.
func (f *FS) Resolve(name string, followLast bool) (string, error) {
	return rootfs.ResolveWith(name, followLast, func(p string) (string, bool, error) {
		n := f.lookup(p)
		if n == nil {
			return "", false, fs.ErrNotExist
		}
		if n.kind == kindSymlink {
			return n.link, true, nil
		}
		return "", false, nil
	})
}

// Close removes the temporary files of large retained content.
func (f *FS) Close() error {
	for _, b := range f.blobs {
		b.release()
	}
	return nil
}

func (f *FS) resolve(name string, followLast bool) (*node, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	p, err := rootfs.ResolveWith(name, followLast, func(p string) (string, bool, error) {
		n := f.lookup(p)
		if n == nil {
			return "", false, fs.ErrNotExist
		}
		if n.kind == kindSymlink {
			return n.link, true, nil
		}
		return "", false, nil
	})
	if err != nil {
		return nil, err
	}
	n := f.lookup(p)
	if n == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return n, nil
}

// visible reports whether a walk should see the node.
func (n *node) visible() bool { return n.kind != kindFile || n.data != nil }

// Open opens the named file; content exists only for retained files.
func (f *FS) Open(name string) (fs.File, error) {
	n, err := f.resolve(name, true)
	if err != nil {
		return nil, err
	}
	switch {
	case n.kind == kindDir:
		return &dirFile{n: n, fsys: f}, nil
	case n.data == nil:
		return nil, &fs.PathError{Op: "open", Path: name, Err: errNotRetained}
	case n.data.file != "":
		osf, err := os.Open(n.data.file)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &tmpFile{File: osf, n: n}, nil
	}
	return &memFile{Reader: bytes.NewReader(n.data.mem), n: n}, nil
}

// Stat follows links.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	n, err := f.resolve(name, true)
	if err != nil {
		return nil, err
	}
	return info{n}, nil
}

// ReadDir lists a directory sorted by name; entries describe links
// themselves.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := f.resolve(name, true)
	if err != nil {
		return nil, err
	}
	if n.kind != kindDir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrInvalid}
	}
	return n.entries(), nil
}

func (n *node) entries() []fs.DirEntry {
	out := make([]fs.DirEntry, 0, len(n.children))
	for _, c := range n.children {
		if c.visible() {
			out = append(out, info{c})
		}
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

type info struct{ n *node }

func (i info) Name() string { return i.n.name }
func (i info) Size() int64  { return i.n.size }
func (i info) Mode() fs.FileMode {
	switch i.n.kind {
	case kindDir:
		return fs.ModeDir | i.n.mode.Perm()
	case kindSymlink:
		return fs.ModeSymlink | 0o777
	}
	return i.n.mode
}
func (i info) ModTime() time.Time         { return i.n.mtime }
func (i info) IsDir() bool                { return i.n.kind == kindDir }
func (i info) Sys() any                   { return nil }
func (i info) Type() fs.FileMode          { return i.Mode().Type() }
func (i info) Info() (fs.FileInfo, error) { return i, nil }

type memFile struct {
	*bytes.Reader
	n *node
}

func (m *memFile) Stat() (fs.FileInfo, error) { return info{m.n}, nil }
func (m *memFile) Close() error               { return nil }

type tmpFile struct {
	*os.File
	n *node
}

func (t *tmpFile) Stat() (fs.FileInfo, error) { return info{t.n}, nil }

type dirFile struct {
	n    *node
	fsys *FS
	pos  int
	ents []fs.DirEntry
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return info{d.n}, nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.n.name, Err: fs.ErrInvalid}
}
func (d *dirFile) Close() error { return nil }
func (d *dirFile) ReadDir(count int) ([]fs.DirEntry, error) {
	if d.ents == nil {
		d.ents = d.n.entries()
	}
	rest := d.ents[d.pos:]
	if count <= 0 {
		d.pos = len(d.ents)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if count > len(rest) {
		count = len(rest)
	}
	d.pos += count
	return rest[:count], nil
}
