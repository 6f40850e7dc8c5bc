package rootfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
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

// Stat returns the FileInfo of the entry name of d, following a symbolic
// link inside the root. A plain entry costs one fstatat on the directory.
func (d *Dir) Stat(name string) (fs.FileInfo, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(int(d.d.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: d.path(name), Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return d.fsys.Stat(d.path(name))
	}
	return &fileInfo{name: name, st: st}, nil
}

// Open opens the entry name of d for reading, following a symbolic link
// inside the root. A plain entry costs one openat on the directory
// (O_NOFOLLOW: a link swapped in meanwhile is resolved through the root).
func (d *Dir) Open(name string) (fs.File, error) {
	fd, err := unix.Openat(int(d.d.Fd()), name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if errors.Is(err, unix.ELOOP) {
		return d.fsys.Open(d.path(name))
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: d.path(name), Err: err}
	}
	return &fdFile{fd: fd, name: name}, nil
}

// fdFile is a read-only file on a raw descriptor: the walk opens thousands
// of files briefly, and os.File costs an fcntl and poller bookkeeping per
// open. It is not safe for concurrent Read/Seek (like any fs.File);
// ReadAt is.
type fdFile struct {
	fd   int
	name string
	off  int64
}

func (f *fdFile) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, err := ignoringEINTR(func() (int, error) { return unix.Pread(f.fd, b, f.off) })
	if err != nil {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: err}
	}
	if n == 0 {
		return 0, io.EOF
	}
	f.off += int64(n)
	return n, nil
}

func (f *fdFile) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &fs.PathError{Op: "readat", Path: f.name, Err: fs.ErrInvalid}
	}
	read := 0
	for read < len(b) {
		n, err := ignoringEINTR(func() (int, error) { return unix.Pread(f.fd, b[read:], off+int64(read)) })
		if err != nil {
			return read, &fs.PathError{Op: "readat", Path: f.name, Err: err}
		}
		if n == 0 {
			return read, io.EOF
		}
		read += n
	}
	return read, nil
}

func (f *fdFile) Seek(offset int64, whence int) (int64, error) {
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = f.off
	case io.SeekEnd:
		var st unix.Stat_t
		if err := unix.Fstat(f.fd, &st); err != nil {
			return 0, &fs.PathError{Op: "seek", Path: f.name, Err: err}
		}
		base = st.Size
	default:
		return 0, &fs.PathError{Op: "seek", Path: f.name, Err: fs.ErrInvalid}
	}
	if base+offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: f.name, Err: fs.ErrInvalid}
	}
	f.off = base + offset
	return f.off, nil
}

func (f *fdFile) Stat() (fs.FileInfo, error) {
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: f.name, Err: err}
	}
	return &fileInfo{name: f.name, st: st}, nil
}

func (f *fdFile) Close() error {
	if f.fd < 0 {
		return fs.ErrClosed
	}
	err := unix.Close(f.fd)
	f.fd = -1
	return err
}

func ignoringEINTR(fn func() (int, error)) (int, error) {
	for {
		n, err := fn()
		if !errors.Is(err, unix.EINTR) {
			return n, err
		}
	}
}

// fileInfo is the fs.FileInfo of stat data.
type fileInfo struct {
	name string
	st   unix.Stat_t
}

func (i *fileInfo) Name() string { return i.name }
func (i *fileInfo) Size() int64  { return i.st.Size }
func (i *fileInfo) Mode() fs.FileMode {
	m := fs.FileMode(i.st.Mode & 0o777)
	switch i.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	}
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
func (i *fileInfo) IsDir() bool        { return i.st.Mode&unix.S_IFMT == unix.S_IFDIR }
func (i *fileInfo) Sys() any           { return &i.st }
