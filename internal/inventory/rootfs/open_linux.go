package rootfs

import (
	"errors"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// noOpenat2 is set once the kernel refuses openat2 (before Linux 5.6).
var noOpenat2 atomic.Bool

// openIn opens p (already resolved, relative) below the root with one
// openat2(RESOLVE_IN_ROOT) call: the kernel itself keeps every lookup inside
// the root, even if the tree changes during the scan. Older kernels fall
// back to os.Root.
func (f *FS) openIn(p string, dir bool) (*os.File, error) {
	if !noOpenat2.Load() && f.rootDir != nil {
		flags := uint64(unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW)
		if dir {
			flags |= unix.O_DIRECTORY
		}
		fd, err := unix.Openat2(int(f.rootDir.Fd()), p, &unix.OpenHow{
			Flags:   flags,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
		})
		switch {
		case err == nil:
			return os.NewFile(uintptr(fd), p), nil
		case errors.Is(err, unix.ENOSYS):
			noOpenat2.Store(true)
		case errors.Is(err, unix.EXDEV):
			// RESOLVE_NO_XDEV: a mount point inside the tree; os.Root
			// still keeps the open inside the root.
		default:
			return nil, &os.PathError{Op: "open", Path: p, Err: err}
		}
	}
	return f.root.Open(p)
}
