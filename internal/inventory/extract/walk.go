package extract

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/google/osv-scalibr/extractor"
	"github.com/google/osv-scalibr/extractor/filesystem"
	scalibrfs "github.com/google/osv-scalibr/fs"
	scalibrinv "github.com/google/osv-scalibr/inventory"

	"github.com/riskmap/riskmap/internal/inventory/rootfs"
)

// dirsToSkip are top-level directories of a live root ("dir:/" on a host or
// a mounted container) that hold kernel and device pseudo-filesystems: no
// packages, and reading them can hang a walk.
var dirsToSkip = map[string]bool{"proc": true, "sys": true, "dev": true}

// walker drives the extractors over a filesystem: the job of osv-scalibr's
// filesystem.Run (which lists every directory one entry at a time and
// stats every file by path, on one core), done by a few workers sharing a
// stack of directories. Every regular file is
// offered to each extractor's FileRequired with one shared Stat (which
// rootfs answers from the directory listing), and a file several
// extractors want is opened once.
type walker struct {
	ctx  context.Context
	fsys scalibrfs.FS
	exts []filesystem.Extractor
	sink *errSink

	mu    sync.Mutex
	cond  *sync.Cond
	dirs  []string // directories waiting to be listed (a stack: depth first)
	busy  int      // workers handling a directory
	idle  int      // workers waiting for a directory
	found []found
}

// found is what one extractor returned for one file.
type found struct {
	path string
	ext  int // index in walker.exts: the list order breaks ties
	inv  scalibrinv.Inventory
}

// walk runs exts over every regular file of fsys (links are not followed,
// dirsToSkip are skipped) and returns the packages in path order. Read
// and parse failures are recorded in sink.
func walk(ctx context.Context, fsys scalibrfs.FS, exts []filesystem.Extractor, sink *errSink) ([]*extractor.Package, error) {
	w := &walker{ctx: ctx, fsys: fsys, sink: sink, dirs: []string{"."}}
	for _, x := range exts {
		if !x.Requirements().ExtractFromDirs { // none of riskmap's list extracts from directories
			w.exts = append(w.exts, x)
		}
	}
	w.cond = sync.NewCond(&w.mu)
	// Listing directories and stat-ing files waits on the kernel: one
	// worker more than there are CPUs keeps them busy.
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) + 1 {
		wg.Go(w.work)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return w.packages(), nil
}

// walkFile runs exts over the one file at p of fsys, without a walk.
func walkFile(ctx context.Context, fsys scalibrfs.FS, p string, exts []filesystem.Extractor, sink *errSink) ([]*extractor.Package, error) {
	w := &walker{ctx: ctx, fsys: fsys, sink: sink}
	for _, x := range exts {
		if !x.Requirements().ExtractFromDirs {
			w.exts = append(w.exts, x)
		}
	}
	w.file(pathFS{fsys}, p, p)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return w.packages(), nil
}

// packages returns what the extractors found, in path order.
func (w *walker) packages() []*extractor.Package {
	slices.SortFunc(w.found, func(a, b found) int {
		return cmp.Or(strings.Compare(a.path, b.path), cmp.Compare(a.ext, b.ext))
	})
	var pkgs []*extractor.Package
	for _, f := range w.found {
		for _, p := range f.inv.Packages {
			p.Plugins = append(p.Plugins, w.exts[f.ext].Name())
		}
		pkgs = append(pkgs, f.inv.Packages...)
	}
	return pkgs
}

// work takes directories off the stack until every directory is done.
func (w *walker) work() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		for len(w.dirs) == 0 && w.busy > 0 {
			w.idle++
			w.cond.Wait()
			w.idle--
		}
		if len(w.dirs) == 0 {
			w.cond.Broadcast() // everything is done: wake the others to leave
			return
		}
		d := w.dirs[len(w.dirs)-1]
		w.dirs = w.dirs[:len(w.dirs)-1]
		w.busy++
		w.mu.Unlock()
		sub := w.dir(d)
		w.mu.Lock()
		w.busy--
		w.dirs = append(w.dirs, sub...)
		if len(w.dirs) == 0 && w.busy == 0 {
			w.cond.Broadcast()
			continue
		}
		// Wake only as many idle workers as there is new work for.
		for range min(len(sub), w.idle) {
			w.cond.Signal()
		}
	}
}

// dir handles the files of one directory and returns its subdirectories.
func (w *walker) dir(name string) []string {
	if w.ctx.Err() != nil {
		return nil
	}
	// A directory read error is reported by rootfs through its OnError
	// (the image FS has none); the entries read before it are used.
	var ents []fs.DirEntry
	var at entryFS = pathFS{w.fsys}
	if r, ok := w.fsys.(*rootfs.FS); ok {
		// Stat and open each entry relative to the open directory. (Only
		// for the plain type: a wrapper, like the sensor's, may hide paths.)
		d, des, err := r.OpenDir(name)
		if err != nil && d == nil {
			return nil
		}
		defer d.Close()
		ents, at = des, d
	} else {
		ents, _ = w.fsys.ReadDir(name)
	}
	var sub []string
	for _, e := range ents {
		p := e.Name()
		if name != "." {
			p = name + "/" + p
		}
		switch {
		case e.IsDir():
			if name != "." || !dirsToSkip[p] {
				sub = append(sub, p)
			}
		case e.Type().IsRegular():
			w.file(at, e.Name(), p)
		}
	}
	return sub
}

// entryFS stats and opens the entries of one directory by name.
type entryFS interface {
	Stat(name string) (fs.FileInfo, error)
	Open(name string) (fs.File, error)
}

// pathFS is the entryFS of any filesystem: entries by their full path.
type pathFS struct{ fsys scalibrfs.FS }

func (p pathFS) Stat(name string) (fs.FileInfo, error) { return p.fsys.Stat(name) }
func (p pathFS) Open(name string) (fs.File, error)     { return p.fsys.Open(name) }

// walkFileAPI is the FileAPI of one walked file; it is stat-ed once.
type walkFileAPI struct {
	at      entryFS
	name    string // as at knows it
	path    string
	info    fs.FileInfo
	err     error
	statted bool
}

func (a *walkFileAPI) Path() string { return a.path }
func (a *walkFileAPI) Stat() (fs.FileInfo, error) {
	if !a.statted {
		a.statted = true
		a.info, a.err = a.at.Stat(a.name)
	}
	return a.info, a.err
}

// file offers the file at p (entry name of the directory at) to every
// extractor and runs those that want it on one open handle, rewound
// between extractors.
func (w *walker) file(at entryFS, name, p string) {
	if _, ok := at.(pathFS); ok {
		name = p
	}
	api := &walkFileAPI{at: at, name: name, path: p}
	var f fs.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for i, x := range w.exts {
		if !x.FileRequired(api) {
			continue
		}
		if f != nil {
			if err := rewind(f); err != nil {
				f.Close()
				f = nil
			}
		}
		if f == nil {
			var err error
			if f, err = at.Open(name); err != nil {
				w.sink.add(p, x.Name(), fmt.Errorf("open: %w", err))
				f = nil
				continue
			}
		}
		info, err := api.Stat()
		if err != nil {
			if info, err = f.Stat(); err != nil {
				w.sink.add(p, x.Name(), fmt.Errorf("stat: %w", err))
				continue
			}
		}
		inv, err := x.Extract(w.ctx, &filesystem.ScanInput{FS: w.fsys, Path: p, Info: info, Reader: f})
		if err != nil {
			w.sink.add(p, x.Name(), err)
		}
		if !inv.IsEmpty() {
			w.mu.Lock()
			w.found = append(w.found, found{path: p, ext: i, inv: inv})
			w.mu.Unlock()
		}
	}
}

// rewind seeks f back to its start for the next extractor.
func rewind(f fs.File) error {
	s, ok := f.(io.Seeker)
	if !ok {
		return fmt.Errorf("%T cannot seek", f)
	}
	_, err := s.Seek(0, io.SeekStart)
	return err
}
