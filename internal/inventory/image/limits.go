package image

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"

	"github.com/riskmap/riskmap/internal/inventory/filetype"
)

// ErrLimit marks an archive refused for what reading it would cost or
// where it would write: too many entries, too many bytes, a compression
// ratio only a decompression bomb has, or an entry leaving the archive's
// root (zip-slip).
var ErrLimit = errors.New("archive refused")

// Limits bound the work an archive from outside (a tar or zip given as a
// scan target, a compressed image archive) can cause. The zero value
// checks nothing: image layers from an engine or a registry are not
// limited here.
type Limits struct {
	// MaxEntries is the most entries one tar or zip may have.
	MaxEntries int
	// MaxBytes is the most bytes the archive may decompress to.
	MaxBytes int64
	// MaxRatio is the most decompressed bytes per compressed byte, judged
	// once RatioFloor bytes came out (small files compress well legitimately).
	MaxRatio   int64
	RatioFloor int64
	// RefuseEscapes refuses entries whose names, or hard link targets,
	// are absolute or climb out of the root with "..".
	RefuseEscapes bool
}

// DefaultLimits are the limits on single-file targets: a million entries,
// 32 GiB decompressed, and a ratio of 100 past the first 256 MiB (image
// layers and source trees compress 2-10 times; bombs, 1,000 times and more).
func DefaultLimits() Limits {
	return Limits{MaxEntries: 1 << 20, MaxBytes: 32 << 30, MaxRatio: 100, RatioFloor: 256 << 20, RefuseEscapes: true}
}

// newEntryCheck returns the check of opts.Limits (nil: no limits).
func newEntryCheck(opts Options) *entryCheck {
	if opts.Limits == (Limits{}) {
		return nil
	}
	return &entryCheck{lim: opts.Limits}
}

// entryCheck applies Limits to the entries of one archive.
type entryCheck struct {
	lim Limits
	n   int
	err error
}

// check judges one entry name (and link target of a hard link); it
// returns false, with c.err set, when the archive must be refused.
func (c *entryCheck) check(name, hardlink string) bool {
	if c == nil {
		return true
	}
	c.n++
	if c.lim.MaxEntries > 0 && c.n > c.lim.MaxEntries {
		c.err = fmt.Errorf("%w: more than %d entries", ErrLimit, c.lim.MaxEntries)
		return false
	}
	if c.lim.RefuseEscapes {
		for _, p := range []string{name, hardlink} {
			if p != "" && !LocalName(p) {
				c.err = fmt.Errorf("%w: entry %q leaves the archive's root (zip-slip)", ErrLimit, p)
				return false
			}
		}
	}
	return true
}

// LocalName reports whether an archive entry name stays inside the
// archive's root once unpacked: relative, without ".." elements, drive
// letters, backslashes or NUL.
func LocalName(name string) bool {
	if name == "" || strings.ContainsAny(name, "\\\x00") || path.IsAbs(name) {
		return false
	}
	if len(name) >= 2 && name[1] == ':' { // C:foo
		return false
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return false
		}
	}
	return true
}

// LimitedReader decompresses an archive from outside within Limits.
type LimitedReader struct {
	lim     Limits
	in      *countReader
	out     io.ReadCloser
	n       int64
	mu      sync.Mutex
	refusal error
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// Decompressed opens r (compressed with c, or not) for reading within
// lim. Past a limit, Read fails with an error wrapping ErrLimit, and
// Refusal keeps it for the caller (the tar readers take read errors for
// damage and go on with what they have).
func Decompressed(r io.Reader, c filetype.Compression, lim Limits) (*LimitedReader, error) {
	in := &countReader{r: r}
	out, err := filetype.Open(in, c)
	if err != nil {
		return nil, err
	}
	return &LimitedReader{lim: lim, in: in, out: out}, nil
}

func (l *LimitedReader) Read(b []byte) (int, error) {
	if err := l.Refusal(); err != nil {
		return 0, err
	}
	n, err := l.out.Read(b)
	l.n += int64(n)
	switch {
	case l.lim.MaxBytes > 0 && l.n > l.lim.MaxBytes:
		l.refuse(fmt.Errorf("%w: decompresses to more than %d bytes", ErrLimit, l.lim.MaxBytes))
	case l.lim.MaxRatio > 0 && l.n > l.lim.RatioFloor && l.in.n > 0 && l.n/l.in.n > l.lim.MaxRatio:
		l.refuse(fmt.Errorf("%w: decompression bomb: %d bytes out of %d (more than %d times)", ErrLimit, l.n, l.in.n, l.lim.MaxRatio))
	}
	if err := l.Refusal(); err != nil {
		return 0, err
	}
	return n, err
}

func (l *LimitedReader) refuse(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refusal == nil {
		l.refusal = err
	}
}

// Refusal is the limit the stream passed, nil if none.
func (l *LimitedReader) Refusal() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refusal
}

// Close closes the decompressor.
func (l *LimitedReader) Close() error { return l.out.Close() }
