package image

import (
	"archive/tar"
	"io"
	"io/fs"
	"strings"
	"time"
)

// headerWalk reads the tar headers of an uncompressed layer in place,
// positioning its seekBuffer at each entry's content as archive/tar does.
// The plain ustar and GNU headers of ordinary entries, which make up
// nearly every layer, are parsed here without archive/tar's per-entry
// allocations (a Header, user and group names, a reader per entry); from
// the first header that is anything else (PAX or GNU long-name headers,
// sparse files, base-256 numbers, a bad checksum, the end of the archive,
// damage) the rest of the layer is read by archive/tar itself, so the
// result is always what archive/tar would give. FuzzHeaderWalk checks
// that.
type headerWalk struct {
	sb   *seekBuffer
	next int64       // offset of the next header
	tr   *tar.Reader // set once archive/tar reads the rest
	blk  [512]byte
	hdr  tar.Header // the last header parsed here, valid until Next
}

func newHeaderWalk(sb *seekBuffer) *headerWalk { return &headerWalk{sb: sb, next: sb.pos} }

// Next returns the next entry's header, the buffer then positioned at its
// content, like tar.Reader.Next.
func (w *headerWalk) Next() (*tar.Header, error) {
	if w.tr != nil {
		return w.tr.Next()
	}
	if w.next+blockSize <= w.sb.size {
		if _, err := w.sb.Seek(w.next, io.SeekStart); err == nil {
			if _, err := io.ReadFull(w.sb, w.blk[:]); err == nil {
				if data, ok := w.parse(); ok && w.next+blockSize+padded(data) <= w.sb.size {
					w.next += blockSize + padded(data)
					return &w.hdr, nil
				}
			}
		}
	}
	// Hand over to archive/tar at this header.
	if _, err := w.sb.Seek(w.next, io.SeekStart); err != nil {
		return nil, err
	}
	w.tr = tar.NewReader(w.sb)
	return w.tr.Next()
}

// content reads the current entry's content when archive/tar read its
// header (always so for sparse files, which the fast path leaves to it).
func (w *headerWalk) content() io.Reader {
	if w.tr == nil {
		return strings.NewReader("") // never: reads fail as truncated
	}
	return w.tr
}

const blockSize = 512

func padded(n int64) int64 { return (n + blockSize - 1) &^ (blockSize - 1) }

// parse fills w.hdr from w.blk when it is a header archive/tar reads the
// same way with no header before it: checksum right, ustar or GNU magic,
// an ordinary type, octal numbers. data is the size of the content that
// follows the header (0 for links, directories, devices and fifos).
func (w *headerWalk) parse() (data int64, ok bool) {
	b := &w.blk
	sum, ok := octal(b[148:156])
	if !ok {
		return 0, false
	}
	var unsigned, signed int64
	for i, c := range b {
		if 148 <= i && i < 156 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	if sum != unsigned && sum != signed {
		return 0, false
	}
	gnu := false
	switch {
	case string(b[257:263]) == "ustar\x00" && string(b[508:512]) != "tar\x00":
	case string(b[257:263]) == "ustar " && string(b[263:265]) == " \x00":
		gnu = true
		if b[345] != 0 || b[357] != 0 {
			return 0, false // access or change time set: archive/tar's own rules
		}
	default:
		return 0, false // V7 or star
	}
	typ := b[156]
	if typ < tar.TypeReg || typ > tar.TypeFifo {
		return 0, false // meta headers, sparse and contiguous files, old regular type
	}
	var n [7]int64
	for i, f := range [7][2]int{{100, 108}, {108, 116}, {116, 124}, {124, 136}, {136, 148}, {329, 337}, {337, 345}} {
		if n[i], ok = octal(b[f[0]:f[1]]); !ok {
			return 0, false
		}
	}
	name := cString(b[0:100])
	if !gnu {
		if prefix := cString(b[345:500]); prefix != "" {
			name = prefix + "/" + name
		}
	}
	w.hdr = tar.Header{
		Typeflag: typ,
		Name:     name,
		Linkname: cString(b[157:257]),
		Mode:     n[0],
		Uid:      int(n[1]),
		Gid:      int(n[2]),
		Size:     n[3],
		ModTime:  time.Unix(n[4], 0),
		Devmajor: n[5],
		Devminor: n[6],
	}
	if typ == tar.TypeReg {
		return n[3], true
	}
	return 0, true // header-only types
}

// octal parses a tar number field written in octal, as archive/tar does;
// ok is false for anything else (base-256 numbers, junk).
func octal(b []byte) (int64, bool) {
	if len(b) > 0 && b[0]&0x80 != 0 {
		return 0, false
	}
	i, j := 0, len(b)
	for i < j && (b[i] == ' ' || b[i] == 0) {
		i++
	}
	for j > i && (b[j-1] == ' ' || b[j-1] == 0) {
		j--
	}
	var x int64
	for _, c := range b[i:j] {
		if c < '0' || c > '7' || x > (1<<60) {
			return 0, false
		}
		x = x<<3 | int64(c-'0')
	}
	return x, true
}

// cString is a NUL-terminated field as a string.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// fileInfo describes a regular file of a layer to the extractors' filters:
// what tar.Header.FileInfo gives, without keeping the header.
type fileInfo struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
}

func fileInfoFor(h *tar.Header) fileInfo {
	fi := h.FileInfo()
	return fileInfo{name: fi.Name(), size: h.Size, mode: fi.Mode(), mtime: h.ModTime}
}

func (i *fileInfo) Name() string       { return i.name }
func (i *fileInfo) Size() int64        { return i.size }
func (i *fileInfo) Mode() fs.FileMode  { return i.mode }
func (i *fileInfo) ModTime() time.Time { return i.mtime }
func (i *fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i *fileInfo) Sys() any           { return nil }
