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

// statFiles is a no-op: Stat resolves each path.
func (f *FS) statFiles(*os.File, string, []fs.DirEntry) {}
