//go:build !linux

package rootfs

import (
	"io/fs"
	"os"
)

// openIn opens p (already resolved, relative) below the root through os.Root.
func (f *FS) openIn(p string, _ bool) (*os.File, error) { return f.root.Open(p) }

// openInRoot is unavailable: callers resolve links in user space.
func (f *FS) openInRoot(string, bool) (*os.File, error, bool) { return nil, nil, false }

// Stat returns the FileInfo of the entry name of d through the FS.
func (d *Dir) Stat(name string) (fs.FileInfo, error) { return d.fsys.Stat(d.path(name)) }

// Open opens the entry name of d through the FS.
func (d *Dir) Open(name string) (fs.File, error) { return d.fsys.Open(d.path(name)) }
