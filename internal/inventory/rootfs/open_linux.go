package rootfs

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"sync/atomic"
	"time"

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

// statFiles lstats the regular files of the directory d (listed as dir)
// relative to its handle, and keeps the results for Stat: a walk stats every
// file, and fstatat on the open directory costs no path lookup.
func (f *FS) statFiles(d *os.File, dir string, ents []fs.DirEntry) {
	fd := int(d.Fd())
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, e.Name(), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue // Stat resolves it (and reports the error) when asked
		}
		f.stats.Store(path.Join(dir, e.Name()), &fileInfo{name: e.Name(), st: st})
	}
}

// fileInfo is the fs.FileInfo of a regular file from its stat data.
type fileInfo struct {
	name string
	st   unix.Stat_t
}

func (i *fileInfo) Name() string { return i.name }
func (i *fileInfo) Size() int64  { return i.st.Size }
func (i *fileInfo) Mode() fs.FileMode {
	m := fs.FileMode(i.st.Mode & 0o777)
	if i.st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if i.st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if i.st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
func (i *fileInfo) ModTime() time.Time { return time.Unix(i.st.Mtim.Unix()) }
func (i *fileInfo) IsDir() bool        { return false }
func (i *fileInfo) Sys() any           { return &i.st }
