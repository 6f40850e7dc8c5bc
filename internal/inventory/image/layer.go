// Package image reads container image layers as streams, keeps only what the
// extractors need, and merges the layers into a read-only in-memory
// filesystem with OCI whiteout semantics. Every node remembers the layer
// that last wrote it, so packages can be attributed to the layer that
// introduced them. Nothing is unpacked to disk except retained files larger
// than a threshold, which go to private temporary files.
package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/inventory/extract"
	"github.com/riskmap/riskmap/internal/inventory/filetype"
)

// Wanter decides which files' content to keep (extract.Extractor).
type Wanter interface {
	WantsContent(path string, info fs.FileInfo) extract.Want
}

// Options tunes layer reading.
type Options struct {
	// MemLimit: retained files up to this size stay in memory; bigger ones
	// go to a temporary file in TempDir.
	MemLimit int64
	// MaxFile: retained files bigger than this are dropped with an error.
	MaxFile int64
	// TempDir for large retained files ("" = os.TempDir()).
	TempDir string
	// History lists paths whose content is kept from every layer (package
	// databases), so the introducing layer of a package can be found.
	History []string
	// OnBytes is called with the number of uncompressed bytes read.
	OnBytes func(n int64)
	// Limits refuse archives from outside (tar or zip targets) that
	// would cost too much or name paths outside their root. Zero: none.
	Limits Limits
	// Visit, when set, is called with the content of every regular file
	// of every layer as the layer streams by (hard links, whose content
	// is their target's, are not visited again): layer is the name the
	// layer was read under (Layer.Name), r reads the file's size bytes and
	// is valid only during the call. Used with a Wanter that wants
	// nothing (the secret scan); a file a Wanter keeps is not visited.
	// Layers of one image may be read concurrently: Visit must be safe
	// for concurrent use.
	Visit func(layer, path string, size int64, r io.Reader)
}

// DefaultOptions keeps files up to 16 MiB in memory and drops files over 1 GiB.
func DefaultOptions() Options {
	return Options{
		MemLimit: 16 << 20,
		MaxFile:  1 << 30,
		History:  []string{"var/lib/dpkg/status", "lib/apk/db/installed"},
	}
}

// entry kinds.
const (
	kindDir = iota
	kindFile
	kindSymlink
	kindHardlink
	kindWhiteout
	kindOpaque
)

// Entry is one retained tar header of a layer.
type Entry struct {
	Path    string // clean, relative, slash-separated
	Kind    int
	Mode    fs.FileMode
	Size    int64
	Link    string // symlink target, or hardlink target path
	ModTime time.Time
	Data    *Blob // retained content; nil when not needed
}

// FileError is a per-file (or per-layer) failure while reading a layer.
type FileError struct {
	Path string
	Err  error
}

// Layer is the index of one layer.
type Layer struct {
	Digest string
	// Name is the name the layer was read under (its blob's path in an
	// archive), which Visit was given; Digest may be changed after.
	Name    string
	Entries []Entry
	Errors  []FileError
	// Bytes is the uncompressed size read.
	Bytes int64
}

// Decompress returns an uncompressed reader for a layer blob, sniffing gzip
// and zstd (and the bzip2 and xz that old Docker versions wrote); anything
// else is taken as a plain tar.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(10)
	c := filetype.CompressionOf(magic)
	if c == filetype.None {
		return io.NopCloser(br), nil
	}
	return filetype.Open(br, c)
}

// ReadLayer indexes one layer stream (compressed or not). A damaged stream
// is not fatal: the entries read before the damage are kept and the damage
// is recorded in Layer.Errors. Only a cancelled context is returned as error.
//
// An uncompressed layer given as an io.ReaderAt that can seek (a section of
// a docker save archive file) is read in place (readPlainLayer): content no
// extractor wants is skipped, not read, and executables are checked for a
// Go or cargo-auditable section by reading their ELF headers first.
func ReadLayer(ctx context.Context, r io.Reader, digest string, w Wanter, opts Options) (*Layer, error) {
	if ra, ok := r.(readSeekerAt); ok {
		if sb, ok := plainTarAt(ra, opts.OnBytes); ok {
			return readPlainLayer(ctx, sb, digest, w, opts)
		}
	}
	rc, err := Decompress(r)
	if err != nil {
		l := &Layer{Digest: digest}
		l.Errors = append(l.Errors, FileError{Path: digest, Err: fmt.Errorf("read layer: %w", err)})
		return l, nil
	}
	defer rc.Close()
	cr := &countingReader{r: rc, on: opts.OnBytes}
	return readLayer(ctx, tar.NewReader(cr), cr, digest, w, opts)
}

// readSeekerAt is a layer blob with random access.
type readSeekerAt interface {
	io.Reader
	io.ReaderAt
	io.Seeker
}

// counter tells how many uncompressed bytes of a layer were consumed.
type counter interface{ count() int64 }

// keepRule decides which regular files' content a layer reader keeps:
// what the extractors want, and every version of the History files.
type keepRule struct {
	w       Wanter
	hist    map[string]bool
	maxFile int64
}

func newKeepRule(w Wanter, opts Options) keepRule {
	k := keepRule{w: w, hist: map[string]bool{}, maxFile: opts.MaxFile}
	for _, h := range opts.History {
		k.hist[h] = true
	}
	return k
}

// want decides for the file at p. A wanted file over the size limit is
// not kept: want is WantNone and ferr says why.
func (k keepRule) want(p string, info fs.FileInfo, size int64) (want extract.Want, ferr *FileError) {
	want = k.w.WantsContent(p, info)
	if k.hist[p] {
		want = extract.WantContent
	}
	if want != extract.WantNone && size > k.maxFile {
		return extract.WantNone, &FileError{Path: p, Err: fmt.Errorf("file too large: %d bytes, limit %d", size, k.maxFile)}
	}
	return want, nil
}

// read reads the content of the file at p from r, a tar reader at the
// file's content, when the extractors want it. ferr: the file is over the
// size limit (not kept, not fatal); err: reading failed.
func (k keepRule) read(r io.Reader, h *tar.Header, p string, opts Options, scratch *[]byte) (b *Blob, ferr *FileError, err error) {
	fi := fileInfoFor(h)
	want, ferr := k.want(p, &fi, h.Size)
	b, err = readWanted(r, want, h.Size, opts, scratch)
	return b, ferr, err
}

// readWanted reads a file of size bytes from r as want says: all of it, or
// an executable only if it may carry a marker (readBinary), or nothing.
func readWanted(r io.Reader, want extract.Want, size int64, opts Options, scratch *[]byte) (*Blob, error) {
	switch want {
	case extract.WantNone:
		return nil, nil
	case extract.WantContent:
		return readBlob(r, size, opts)
	default:
		return readBinary(r, size, opts, scratch)
	}
}

// isSparse reports whether h is a sparse file (old GNU or PAX sparse
// format), whose content is not stored contiguously.
func isSparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

func readLayer(ctx context.Context, tr *tar.Reader, src counter, digest string, w Wanter, opts Options) (*Layer, error) {
	l := &Layer{Digest: digest, Name: digest}
	keep := newKeepRule(w, opts)
	chk := newEntryCheck(opts)
	var links []int    // hard link entries, resolved at the end
	var scratch []byte // reused to look for markers in streamed executables
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read layer %s: %w", digest, err)
		}
		h, e, done := nextEntry(tr, l, digest, chk)
		if done {
			break
		}
		p := e.Path
		switch e.Kind {
		case kindHardlink:
			links = append(links, len(l.Entries))
		case kindFile:
			b, ferr, err := keep.read(tr, h, p, opts, &scratch)
			if ferr != nil {
				l.Errors = append(l.Errors, *ferr)
			}
			if err != nil {
				l.Errors = append(l.Errors, FileError{Path: p, Err: fmt.Errorf("read layer %s: %w", digest, err)})
				l.Entries = append(l.Entries, e)
				resolveLinks(l.Entries, links)
				l.Bytes = src.count()
				return l, nil
			}
			e.Data = b
			if b == nil && ferr == nil && opts.Visit != nil {
				opts.Visit(digest, p, h.Size, tr)
			}
		}
		l.Entries = append(l.Entries, e)
	}
	if chk != nil && chk.err != nil {
		l.release()
		return nil, fmt.Errorf("read %s: %w", cmpOr(digest, "archive"), chk.err)
	}
	resolveLinks(l.Entries, links)
	l.Bytes = src.count()
	return l, nil
}

// release removes the temporary files of the layer's retained content.
func (l *Layer) release() {
	for _, e := range l.Entries {
		e.Data.release()
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// headerReader is a tar.Reader or a headerWalk.
type headerReader interface {
	Next() (*tar.Header, error)
}

// nextEntry reads a layer's next tar header as an entry (its content not
// read), with its kind, link and metadata. Whiteouts are appended to l and
// devices and fifos skipped on the way; damage is recorded in l. done: the
// layer has no more entries.
func nextEntry(tr headerReader, l *Layer, digest string, chk *entryCheck) (h *tar.Header, e Entry, done bool) {
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, Entry{}, true
		}
		if err != nil {
			l.Errors = append(l.Errors, FileError{Path: digest, Err: fmt.Errorf("read layer (truncated or corrupt after %d entries): %w", len(l.Entries), err)})
			return nil, Entry{}, true
		}
		link := ""
		if h.Typeflag == tar.TypeLink {
			link = h.Linkname
		}
		if !chk.check(h.Name, link) {
			return nil, Entry{}, true
		}
		p := cleanPath(h.Name)
		if p == "" {
			continue
		}
		if w, ok := whiteout(p); ok {
			l.Entries = append(l.Entries, w)
			continue
		}
		e := Entry{Path: p, Mode: h.FileInfo().Mode(), Size: h.Size, ModTime: h.ModTime}
		switch h.Typeflag {
		case tar.TypeDir:
			e.Kind = kindDir
		case tar.TypeSymlink:
			e.Kind, e.Link = kindSymlink, h.Linkname
		case tar.TypeLink:
			e.Kind, e.Link = kindHardlink, cleanPath(h.Linkname)
		case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
			e.Kind = kindFile
		default:
			continue // devices, fifos: nothing to extract
		}
		return h, e, false
	}
}

// contentJob is a regular file of a plain layer whose content may be kept;
// off is relative to the seeking buffer's window.
type contentJob struct {
	idx       int // in Layer.Entries
	path      string
	info      fileInfo
	off, size int64
}

type contentResult struct {
	idx  int
	data *Blob
	err  *FileError
}

// readPlainLayer is readLayer for an uncompressed layer with random access,
// on two goroutines: this one walks the tar headers (seeking past content),
// a second one decides which files to keep and reads them at their offsets.
// The extractors' file filters and the reads then overlap the header walk.
func readPlainLayer(ctx context.Context, sb *seekBuffer, digest string, w Wanter, opts Options) (*Layer, error) {
	tr := newHeaderWalk(sb)
	l := &Layer{Digest: digest, Name: digest}
	keep := newKeepRule(w, opts)
	chk := newEntryCheck(opts)
	if lim := opts.Limits.MaxBytes; lim > 0 && sb.size > lim {
		return nil, fmt.Errorf("read %s: %w: more than %d bytes", cmpOr(digest, "archive"), ErrLimit, lim)
	}
	const batch = 256
	jobs := make(chan []contentJob, 4)
	results := make(chan []contentResult, 1)
	go func() {
		var out []contentResult
		var scratch []byte
		for js := range jobs {
			for i := range js {
				if r, ok := readContent(keep, sb, &js[i], digest, opts, &scratch); ok {
					out = append(out, r)
				} else if opts.Visit != nil {
					opts.Visit(digest, js[i].path, js[i].size, io.NewSectionReader(sb.ra, sb.base+js[i].off, js[i].size))
				}
			}
		}
		results <- out
	}()
	var links []int    // hard link entries, resolved after the walk
	var scratch []byte // for sparse executables, read on this goroutine
	pending := make([]contentJob, 0, batch)
	// Room for the entries of a typical layer (one per ~24 KiB), so the
	// slice rarely grows.
	l.Entries = make([]Entry, 0, min(max(sb.size/(24<<10), 64), 1<<16))
	var err error
	for {
		if err = ctx.Err(); err != nil {
			break
		}
		h, e, done := nextEntry(tr, l, digest, chk)
		if done {
			break
		}
		switch e.Kind {
		case kindHardlink:
			links = append(links, len(l.Entries))
		case kindFile:
			if isSparse(h) {
				// Its content is not contiguous in the layer: read it
				// through archive/tar, which reads the rest of the layer.
				b, ferr, rerr := keep.read(tr.content(), h, e.Path, opts, &scratch)
				if ferr != nil {
					l.Errors = append(l.Errors, *ferr)
				}
				if rerr != nil {
					l.Errors = append(l.Errors, FileError{Path: e.Path, Err: fmt.Errorf("read layer %s: %w", digest, rerr)})
				}
				e.Data = b
				if b == nil && ferr == nil && rerr == nil && opts.Visit != nil {
					opts.Visit(digest, e.Path, h.Size, tr.content())
				}
				break
			}
			pending = append(pending, contentJob{idx: len(l.Entries), path: e.Path, info: fileInfoFor(h), off: sb.pos, size: max(0, min(h.Size, sb.size-sb.pos))})
			if len(pending) == batch {
				jobs <- pending
				pending = make([]contentJob, 0, batch)
			}
		}
		l.Entries = append(l.Entries, e)
	}
	if len(pending) > 0 {
		jobs <- pending
	}
	close(jobs)
	for _, r := range <-results {
		if r.err != nil {
			l.Errors = append(l.Errors, *r.err)
			continue
		}
		l.Entries[r.idx].Data = r.data
	}
	if err == nil && chk != nil && chk.err != nil {
		err = chk.err
	}
	if err != nil {
		l.release()
		return nil, fmt.Errorf("read layer %s: %w", digest, err)
	}
	resolveLinks(l.Entries, links)
	l.Bytes = sb.count()
	return l, nil
}

// readContent keeps what the extractors want of the file of job j (ok false:
// nothing to keep and nothing wrong).
func readContent(keep keepRule, sb *seekBuffer, j *contentJob, digest string, opts Options, scratch *[]byte) (r contentResult, ok bool) {
	want, ferr := keep.want(j.path, &j.info, j.size)
	if ferr != nil {
		return contentResult{idx: j.idx, err: ferr}, true
	}
	if want == extract.WantNone {
		return contentResult{}, false
	}
	sec := io.NewSectionReader(sb.ra, sb.base+j.off, j.size)
	if want == extract.WantIfBinary && !extract.BinaryMayHaveMarker(sec) {
		return contentResult{}, false // judged by its ELF headers, not read
	}
	b, err := readWanted(sec, want, j.size, opts, scratch)
	if err != nil {
		return contentResult{idx: j.idx, err: &FileError{Path: j.path, Err: fmt.Errorf("read layer %s: %w", digest, err)}}, true
	}
	return contentResult{idx: j.idx, data: b}, b != nil
}

// resolveLinks gives each hard link (at the indexes links, in order) the
// size, mode and content of the last entry before it at its target path.
// Whiteouts are not targets.
func resolveLinks(entries []Entry, links []int) {
	if len(links) == 0 {
		return
	}
	last := map[string]int{}
	for _, i := range links {
		last[entries[i].Link] = -1
	}
	k := 0
	for i := range entries {
		if k < len(links) && links[k] == i {
			if j := last[entries[i].Link]; j >= 0 {
				t := entries[j]
				entries[i].Size, entries[i].Mode, entries[i].Data = t.Size, t.Mode, t.Data
			}
			k++
		}
		e := &entries[i]
		if _, ok := last[e.Path]; ok && e.Kind != kindWhiteout && e.Kind != kindOpaque {
			last[e.Path] = i
		}
	}
}

// whiteout returns the entry for an overlay whiteout file (ok false for
// any other path).
func whiteout(p string) (Entry, bool) {
	dir, base := path.Split(p)
	if !strings.HasPrefix(base, ".wh.") {
		return Entry{}, false
	}
	dir = strings.TrimSuffix(dir, "/")
	if base == ".wh..wh..opq" {
		return Entry{Path: cleanOr(dir), Kind: kindOpaque}, true
	}
	return Entry{Path: path.Join(dir, strings.TrimPrefix(base, ".wh.")), Kind: kindWhiteout}, true
}

// readBinary keeps an executable only if it may carry Go build information
// or a cargo-auditable section: its first bytes must be an executable
// format's magic (scripts stop there), and its content must hold a marker.
// Files up to MemLimit are read into the reused scratch buffer and copied
// out only when kept.
func readBinary(r io.Reader, size int64, opts Options, scratch *[]byte) (*Blob, error) {
	var magic [4]byte
	if size < int64(len(magic)) {
		return nil, nil
	}
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, err
	}
	if !extract.ExecutableMagic(magic) {
		return nil, nil
	}
	rest := io.MultiReader(bytes.NewReader(magic[:]), r)
	if size > opts.MemLimit {
		b, err := readBlob(rest, size, opts)
		if err != nil {
			return nil, err
		}
		if !b.hasBinaryMarker() {
			b.release()
			return nil, nil
		}
		return b, nil
	}
	if int64(cap(*scratch)) < size {
		*scratch = make([]byte, size)
	}
	buf := (*scratch)[:size]
	if _, err := io.ReadFull(rest, buf); err != nil {
		return nil, err
	}
	if !extract.HasBinaryMarker(buf) {
		return nil, nil
	}
	return &Blob{mem: bytes.Clone(buf), size: size}, nil
}

func cleanOr(p string) string {
	if p == "" {
		return "."
	}
	return p
}

// cleanPath turns a tar name into a clean relative path ("" for the root).
func cleanPath(name string) string {
	if n := strings.TrimPrefix(strings.TrimSuffix(name, "/"), "./"); isCleanRel(n) {
		return n // the common case, without allocating
	}
	p := path.Clean("/" + name)
	return strings.TrimPrefix(p, "/")
}

// isCleanRel reports whether p is a non-empty relative slash path that
// path.Clean leaves as is.
func isCleanRel(p string) bool {
	if p == "" || p[0] == '/' {
		return false
	}
	start := 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		if el := p[start:i]; el == "" || el == "." || el == ".." {
			return false
		}
		start = i + 1
	}
	return true
}

type countingReader struct {
	r  io.Reader
	n  int64
	on func(int64)
}

func (c *countingReader) count() int64 { return c.n }

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	if c.on != nil && n > 0 {
		c.on(int64(n))
	}
	return n, err
}

// Blob is retained file content, in memory or in a temporary file.
type Blob struct {
	mem  []byte
	file string
	size int64
}

func readBlob(r io.Reader, size int64, opts Options) (*Blob, error) {
	if size <= opts.MemLimit {
		b := make([]byte, size)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		return &Blob{mem: b, size: size}, nil
	}
	f, err := os.CreateTemp(opts.TempDir, "riskmap-layer-*")
	if err != nil {
		return nil, err
	}
	n, err := io.Copy(f, io.LimitReader(r, size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	return &Blob{file: f.Name(), size: size}, nil
}

func (b *Blob) hasBinaryMarker() bool {
	if b.mem != nil {
		return extract.HasBinaryMarker(b.mem)
	}
	f, err := os.Open(b.file)
	if err != nil {
		return false
	}
	defer f.Close()
	// Scan in overlapping windows so a marker across a boundary is found.
	const win, overlap = 4 << 20, 64
	buf := make([]byte, win+overlap)
	keep := 0
	for {
		n, err := io.ReadFull(f, buf[keep:])
		if extract.HasBinaryMarker(buf[:keep+n]) {
			return true
		}
		if err != nil {
			return false
		}
		copy(buf, buf[keep+n-overlap:keep+n])
		keep = overlap
	}
}

func (b *Blob) release() {
	if b != nil && b.file != "" {
		os.Remove(b.file)
	}
}

// Bytes returns the content (reading the temporary file if needed).
func (b *Blob) Bytes() ([]byte, error) {
	if b.file == "" {
		return b.mem, nil
	}
	return os.ReadFile(b.file)
}

var errNotRetained = errors.New("content not retained (no extractor needs this file)")

// plainTarAt returns a seeking buffer over ra from its current offset to
// its end when that is an uncompressed tar (ok false otherwise, with ra
// where it was).
func plainTarAt(ra readSeekerAt, on func(int64)) (*seekBuffer, bool) {
	start, err := ra.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, false
	}
	end, err := ra.Seek(0, io.SeekEnd)
	if _, serr := ra.Seek(start, io.SeekStart); err != nil || serr != nil {
		return nil, false
	}
	head := make([]byte, 512)
	n, _ := ra.ReadAt(head, start)
	if n < len(head) || string(head[257:262]) != "ustar" { // ustar, POSIX and GNU headers
		return nil, false
	}
	return &seekBuffer{ra: ra, base: start, size: end - start, buf: make([]byte, min(128<<10, max(end-start, 512))), on: on}, true
}

// seekBuffer reads a window of an io.ReaderAt sequentially through a buffer
// and seeks without reading, so archive/tar skips unwanted content. It
// reports every byte consumed or skipped to on.
type seekBuffer struct {
	ra         io.ReaderAt
	base, size int64 // the window in ra
	pos        int64 // relative to base
	buf        []byte
	bufOff     int64 // relative offset of buf[0]
	n          int   // valid bytes in buf
	ahead      int   // bytes the next refill reads
	on         func(int64)
	reported   int64 // bytes reported to on: each once, however often seeked over
}

// minAhead is the read-ahead after a skip: a tar header and a small file.
const minAhead = 8 << 10

func (s *seekBuffer) count() int64 { return s.pos }

func (s *seekBuffer) Read(p []byte) (int, error) {
	if s.pos >= s.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if s.pos < s.bufOff || s.pos >= s.bufOff+int64(s.n) {
		// Read ahead little right after a skip (the next entry is often
		// skipped too), more while reading goes on sequentially.
		if s.pos == s.bufOff+int64(s.n) {
			s.ahead = min(max(2*s.ahead, minAhead), len(s.buf))
		} else {
			s.ahead = min(minAhead, len(s.buf))
		}
		want := min(int64(s.ahead), s.size-s.pos)
		if len(p) >= len(s.buf) { // a large read bypasses the buffer
			want = min(int64(len(p)), s.size-s.pos)
			n, err := s.ra.ReadAt(p[:want], s.base+s.pos)
			return s.advance(n, err)
		}
		n, err := s.ra.ReadAt(s.buf[:want], s.base+s.pos)
		s.bufOff, s.n = s.pos, n
		if n == 0 {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF // the window promised more
			}
			return 0, err
		}
	}
	n := copy(p, s.buf[s.pos-s.bufOff:s.n])
	return s.advance(n, nil)
}

func (s *seekBuffer) advance(n int, err error) (int, error) {
	s.pos += int64(n)
	s.report()
	if n > 0 && err == io.EOF {
		err = nil
	}
	return n, err
}

func (s *seekBuffer) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = s.pos + offset
	case io.SeekEnd:
		abs = s.size + offset
	default:
		return 0, errors.New("seek: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("seek: negative position")
	}
	s.pos = abs
	s.report()
	return abs, nil
}

func (s *seekBuffer) report() {
	if s.on != nil && s.pos > s.reported {
		s.on(s.pos - s.reported)
		s.reported = s.pos
	}
}
