//go:build !linux

package rootfs

import "os"

// openIn opens p (already resolved, relative) below the root through os.Root.
func (f *FS) openIn(p string, _ bool) (*os.File, error) { return f.root.Open(p) }
