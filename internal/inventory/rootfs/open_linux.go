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

// openInRoot opens name (unresolved) with openat2(RESOLVE_IN_ROOT): the
// kernel resolves links with the same chroot semantics as Resolve. ok is
// false when openat2 is unavailable (or a mount point is crossed) and the
// caller must resolve in user space.
func (f *FS) openInRoot(name string, dir bool) (file *os.File, err error, ok bool) {
	if noOpenat2.Load() || f.rootDir == nil {
		return nil, nil, false
	}
	flags := uint64(unix.O_RDONLY | unix.O_CLOEXEC)
	if dir {
		flags |= unix.O_DIRECTORY
	}
	fd, err := unix.Openat2(int(f.rootDir.Fd()), name, &unix.OpenHow{
		Flags:   flags,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	switch {
	case err == nil:
		return os.NewFile(uintptr(fd), name), nil, true
	case errors.Is(err, unix.ENOSYS):
		noOpenat2.Store(true)
		return nil, nil, false
	case errors.Is(err, unix.EXDEV), errors.Is(err, unix.EAGAIN):
		return nil, nil, false
	case errors.Is(err, unix.ELOOP):
		return nil, &os.PathError{Op: "open", Path: name, Err: ErrLoop}, true
	}
	return nil, &os.PathError{Op: "open", Path: name, Err: err}, true
}
