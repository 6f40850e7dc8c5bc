// Package filetype tells what a file given as a scan target is, from its
// content first and its name second: an image archive (docker save or OCI
// layout, plain or compressed), a tar or zip of a directory tree, a Java or
// Python archive, an executable, an SBOM, a lockfile or manifest (by the
// name the extractors know, or by content when the file was renamed), a
// package file riskmap does not read, or something else, named for the
// error message. It reads at most a few headers and the first MiB of a
// compressed stream; it never unpacks anything.
package filetype

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/bzip2"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Format is what a file holds.
type Format string

// Formats riskmap reads, and those it recognises only to say so.
const (
	Unknown       Format = ""
	DockerArchive Format = "docker-archive" // `docker save`
	OCIArchive    Format = "oci-archive"    // an OCI image layout in a tar
	TreeTar       Format = "tar"            // a tar of a directory tree
	TreeZip       Format = "zip"            // a zip of a directory tree
	JavaArchive   Format = "java-archive"   // jar, war, ear (nested archives inside)
	PythonWheel   Format = "python-wheel"
	PythonEgg     Format = "python-egg"
	Executable    Format = "executable" // ELF, PE, Mach-O, XCOFF, Plan 9, wasm
	SBOM          Format = "sbom"       // CycloneDX or SPDX JSON, or a riskmap inventory
	Lockfile      Format = "lockfile"   // a lockfile or manifest an extractor reads
	GoSum         Format = "go-sum"     // go.sum: read through the go.mod beside it
	// Package files: recognised, not read (the extractors read the
	// databases of installed packages, which give the distribution release
	// that advisories are written for).
	DebPackage Format = "deb"
	RPMPackage Format = "rpm"
	APKPackage Format = "apk"
)

// Compression of a file's outer stream.
type Compression string

// Compressions Detect recognises; Open undoes all but XZ.
const (
	None  Compression = ""
	Gzip  Compression = "gzip"
	Zstd  Compression = "zstd"
	Bzip2 Compression = "bzip2"
	XZ    Compression = "xz"
)

// Type is the verdict on one file.
type Type struct {
	Format      Format
	Compression Compression
	// Name is the file name the extractors know this file by when its own
	// name is not one ("package-lock.json" for a renamed npm lockfile,
	// "app.jar" for a jar without its extension); empty when the file's
	// own name does.
	Name string
	// What describes the file for people: "gzip-compressed docker save
	// archive", "ELF executable", "PNG image".
	What string
}

// Supported reports whether riskmap reads files of t's format.
func (t Type) Supported() bool {
	switch t.Format {
	case Unknown, DebPackage, RPMPackage, APKPackage:
		return false
	}
	return true
}

// Image reports whether t is an image archive.
func (t Type) Image() bool { return t.Format == DockerArchive || t.Format == OCIArchive }

// Options tune Detect.
type Options struct {
	// Wants reports whether an extractor reads a file at this slash path
	// by its name (extract.Extractor.Wants). Nil: names decide nothing.
	Wants func(path string) bool
}

// headSize is how much of a file is read to judge it; innerSize how much
// of a compressed stream is decompressed to look into it.
const (
	headSize  = 8 << 10
	innerSize = 1 << 20
	maxNames  = 32
)

// Detect judges the file of size bytes in r, whose path is name (slash or
// OS separators; only the last elements matter). The error is for a read
// failure only: a file riskmap does not read is a Type that is not
// Supported, with What saying what it is.
func Detect(r io.ReaderAt, size int64, name string, opts Options) (Type, error) {
	head := make([]byte, min(size, headSize))
	if n, err := r.ReadAt(head, 0); n < len(head) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Type{}, fmt.Errorf("detect %s: %w", name, err)
	}
	name = strings.ReplaceAll(name, `\`, "/")
	if c := compression(head); c != None {
		return detectCompressed(r, size, c)
	}
	switch {
	case isTar(head):
		names, _ := tarNames(io.NewSectionReader(r, 0, size))
		return tarType(names, None), nil
	case bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return zipType(r, size, name), nil
	case bytes.HasPrefix(head, []byte("!<arch>\n")):
		if bytes.HasPrefix(head[8:], []byte("debian-binary")) {
			return Type{Format: DebPackage, What: "Debian package file (.deb)"}, nil
		}
		return Type{What: "ar archive (a static library?)"}, nil
	case bytes.HasPrefix(head, []byte("\xed\xab\xee\xdb")):
		return Type{Format: RPMPackage, What: "RPM package file (.rpm)"}, nil
	}
	if w := executable(head); w != "" {
		t := Type{Format: Executable, What: w}
		return t, nil
	}
	if opts.Wants != nil && opts.Wants(name) {
		return Type{Format: Lockfile, What: "lockfile or manifest " + path.Base(name)}, nil
	}
	if t, ok := textType(head, name); ok {
		return t, nil
	}
	return Type{What: other(head)}, nil
}

// compression recognises a compressed stream by its magic number.
func compression(b []byte) Compression {
	switch {
	case len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b:
		return Gzip
	case bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return Zstd
	case len(b) >= 10 && string(b[:3]) == "BZh" && b[3] >= '1' && b[3] <= '9' && string(b[4:10]) == "1AY&SY":
		return Bzip2
	case bytes.HasPrefix(b, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return XZ
	}
	return None
}

// CompressionOf tells the compression of a stream from its first bytes.
func CompressionOf(head []byte) Compression { return compression(head) }

// Open returns the decompressed stream of r compressed with c (r itself
// for None).
func Open(r io.Reader, c Compression) (io.ReadCloser, error) {
	switch c {
	case None:
		return io.NopCloser(r), nil
	case Gzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	case Zstd:
		// A window is memory the stream's header asks for: 128 MiB is 16
		// times what docker and buildkit use (level 3, 8 MiB).
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), nil
	case Bzip2:
		return io.NopCloser(bzip2.NewReader(r)), nil
	case XZ:
		// The xz reader allocates the dictionary a stream's header asks
		// for, up to gigabytes from a few bytes of input: not read.
		return nil, errors.New("xz is not read: recompress with gzip, zstd or bzip2")
	}
	return nil, fmt.Errorf("unknown compression %q", c)
}

// detectCompressed looks at the first MiB of a compressed file's content.
func detectCompressed(r io.ReaderAt, size int64, c Compression) (Type, error) {
	if c == XZ {
		return Type{Compression: c, What: "xz-compressed file (riskmap reads gzip, zstd and bzip2: recompress it)"}, nil
	}
	zr, err := Open(io.NewSectionReader(r, 0, size), c)
	if err != nil {
		return Type{Compression: c, What: string(c) + "-compressed data that does not decompress (" + err.Error() + ")"}, nil
	}
	defer zr.Close()
	inner := make([]byte, innerSize)
	n, _ := io.ReadFull(zr, inner)
	inner = inner[:n]
	if !isTar(inner) {
		return Type{Compression: c, What: string(c) + "-compressed " + other(inner)}, nil
	}
	names, _ := tarNames(bytes.NewReader(inner))
	return tarType(names, c), nil
}

// isTar recognises POSIX and GNU tar headers (the "ustar" magic).
func isTar(b []byte) bool {
	return len(b) >= 262 && string(b[257:262]) == "ustar"
}

// tarNames lists the first entry names of a tar, cleaned, without the
// root; a damaged or cut tar gives the names read before the damage.
func tarNames(r io.Reader) ([]string, error) {
	tr := tar.NewReader(r)
	var out []string
	for len(out) < maxNames {
		h, err := tr.Next()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return out, err
		}
		if n := strings.Trim(path.Clean("/"+h.Name), "/"); n != "" {
			out = append(out, n)
		}
	}
	return out, nil
}

var legacyLayerDir = regexp.MustCompile(`^[0-9a-f]{64}(/|/layer\.tar|/json|/VERSION|\.json)?$`)

// tarType judges a tar by its first entry names: an image archive starts
// with its blobs, layout or manifest files; an Alpine package with its
// signature or .PKGINFO; anything else is a directory tree.
func tarType(names []string, c Compression) Type {
	prefix := ""
	if c != None {
		prefix = string(c) + "-compressed "
	}
	for _, n := range names {
		switch {
		case n == "manifest.json" || n == "repositories" || legacyLayerDir.MatchString(n):
			return Type{Format: DockerArchive, Compression: c, What: prefix + "docker save archive"}
		case n == "oci-layout" || n == "index.json" || n == "blobs" || strings.HasPrefix(n, "blobs/sha256/") || strings.HasPrefix(n, "blobs/sha512/"):
			return Type{Format: OCIArchive, Compression: c, What: prefix + "OCI image archive"}
		case n == ".PKGINFO" || strings.HasPrefix(n, ".SIGN."):
			return Type{Format: APKPackage, Compression: c, What: "Alpine package file (.apk)"}
		}
	}
	return Type{Format: TreeTar, Compression: c, What: prefix + "tar archive of a directory tree"}
}

// javaExts are the extensions of Java archives (those osv-scalibr's
// archive extractor reads).
var javaExts = []string{".jar", ".war", ".ear", ".jmod", ".par", ".sar", ".jpi", ".hpi", ".lpkg", ".nar"}

// zipType tells a Java archive, a wheel or an egg from a zip of a
// directory tree, by the entries of its central directory.
func zipType(r io.ReaderAt, size int64, name string) Type {
	ext := strings.ToLower(path.Ext(name))
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return Type{What: "damaged zip archive (" + err.Error() + ")"}
	}
	var java, wheel, egg bool
	for i, f := range zr.File {
		if i >= 1<<16 {
			break
		}
		n := f.Name
		switch {
		case n == "META-INF/MANIFEST.MF" || strings.HasPrefix(n, "META-INF/maven/") || n == "WEB-INF/web.xml":
			// At the root only: a zip of a project tree may hold classes
			// and jars below it, and is read as a tree (its jars too).
			java = true
		case strings.HasSuffix(n, ".dist-info/WHEEL") && strings.Count(n, "/") == 1:
			wheel = true
		case n == "EGG-INFO/PKG-INFO":
			egg = true
		}
	}
	switch {
	case wheel || ext == ".whl":
		return Type{Format: PythonWheel, Name: renamed(name, ".whl"), What: "Python wheel"}
	case egg || ext == ".egg":
		return Type{Format: PythonEgg, Name: renamed(name, ".egg"), What: "Python egg"}
	case java || containsString(javaExts, ext):
		return Type{Format: JavaArchive, Name: renamed(name, ".jar"), What: "Java archive"}
	}
	return Type{Format: TreeZip, What: "zip archive of a directory tree"}
}

// renamed is the name an extractor knows a file by: its own when it has
// one of the extensions the extractor reads, else base+ext.
func renamed(name, ext string) string {
	base := path.Base(name)
	e := strings.ToLower(path.Ext(base))
	if e == ext || (ext == ".jar" && containsString(javaExts, e)) {
		return ""
	}
	return base + ext
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// executable names an executable format riskmap's binary extractors read
// (Go build information, cargo-auditable), or "".
func executable(b []byte) string {
	if len(b) < 4 {
		return ""
	}
	m := b[:4]
	switch {
	case string(m) == "\x7fELF":
		return "ELF executable"
	case m[0] == 'M' && m[1] == 'Z':
		return "PE (Windows) executable"
	case string(m[:3]) == "\xfe\xed\xfa" || string(m[1:]) == "\xfa\xed\xfe":
		return "Mach-O executable"
	case string(m) == "\xca\xfe\xba\xbe" && len(b) >= 8 && binary.BigEndian.Uint32(b[4:8]) < 45:
		// A fat Mach-O counts its architectures here; a Java class file
		// (same magic) has its minor and major version, 45 or more.
		return "Mach-O universal executable"
	case m[0] == 0x01 && (m[1] == 0xdf || m[1] == 0xf7):
		return "XCOFF executable"
	case string(m) == "\x00asm":
		return "WebAssembly module"
	}
	switch binary.BigEndian.Uint32(m) {
	case 0x01eb, 0x8a97, 0x0647: // Plan 9: 386, amd64, arm
		return "Plan 9 executable"
	}
	return ""
}

// otherMagic names common files riskmap does not read, for the error.
var otherMagic = []struct {
	magic, what string
}{
	{"\x89PNG\r\n\x1a\n", "PNG image"},
	{"\xff\xd8\xff", "JPEG image"},
	{"GIF8", "GIF image"},
	{"%PDF-", "PDF document"},
	{"7z\xbc\xaf\x27\x1c", "7-Zip archive (not read: use tar or zip)"},
	{"Rar!\x1a\x07", "RAR archive (not read: use tar or zip)"},
	{"SQLite format 3\x00", "SQLite database"},
	{"\xca\xfe\xba\xbe", "Java class file (scan the jar it belongs to)"},
	{"#!", "script"},
	{"\x04\"M\x18", "LZ4-compressed data (not read: use gzip, zstd, bzip2 or xz)"},
}

// other names content riskmap does not read.
func other(b []byte) string {
	for _, m := range otherMagic {
		if bytes.HasPrefix(b, []byte(m.magic)) {
			return m.what
		}
	}
	if len(b) == 0 {
		return "empty file"
	}
	if isText(b) {
		return "text file"
	}
	return "binary data"
}

// isText reports whether b looks like text: no NUL, and mostly printable.
// IsText reports whether b, the first bytes of a file, look like text: no
// NUL byte and at most 1% control characters other than whitespace.
// Executables, compressed streams, images and other binary formats fail.
func IsText(b []byte) bool { return isText(b) }

func isText(b []byte) bool {
	if bytes.IndexByte(b, 0) >= 0 {
		return false
	}
	bad := 0
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' {
			bad++
		}
	}
	return bad*100 <= len(b)
}

// A prefixes what with its indefinite article: "a PNG image", "an ELF
// executable", "an SPDX ... SBOM" (acronyms by their first letter's sound).
func A(what string) string {
	word, _, _ := strings.Cut(what, " ")
	if word == "" {
		return what
	}
	upper := func(c byte) bool { return c >= 'A' && c <= 'Z' }
	acronym := len(word) >= 2 && upper(word[0]) && upper(word[1]) // ELF, SQLite, OCI
	switch {
	case acronym && strings.ContainsAny(word[:1], "AEFHILMNORSX"):
		return "an " + what
	case !acronym && strings.ContainsAny(strings.ToLower(word[:1]), "aeiou"):
		return "an " + what
	}
	return "a " + what
}
