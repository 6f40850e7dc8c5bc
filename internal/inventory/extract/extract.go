// Package extract runs riskmap's explicit list of osv-scalibr extractors over
// one filesystem view (a directory opened by package rootfs, or an image's
// merged layers from package image) and maps what they find to the shared
// inventory model: OSV ecosystems with release, purls, locations, source
// packages, the files OS packages own, and which OS package owns a language
// package. Per-file failures become inventory.FileError; the scan goes on.
package extract

import (
	"bytes"
	"cmp"
	"context"
	"debug/elf"
	"debug/plan9obj"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	pathpkg "path"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/osv-scalibr/extractor/filesystem"
	"github.com/google/osv-scalibr/extractor/filesystem/language/golang/gobinary"
	"github.com/google/osv-scalibr/extractor/filesystem/language/rust/cargoauditable"
	"github.com/google/osv-scalibr/extractor/filesystem/os/osrelease"
	scalibrfs "github.com/google/osv-scalibr/fs"
	scalibrinv "github.com/google/osv-scalibr/inventory"
	"github.com/google/osv-scalibr/plugin"

	"github.com/riskmap/riskmap/internal/inventory"
)

// Config tunes an extraction run.
type Config struct {
	// MaxFileSize is the largest file an extractor reads, in bytes. Bigger
	// files an extractor asks for are reported as FileErrors.
	MaxFileSize int64
	// RPMTimeout bounds reading one rpm database (a corrupt Berkeley DB can
	// otherwise make the reader loop).
	RPMTimeout time.Duration
	// Logger receives debug logs, osv-scalibr's included. Nil: silent.
	Logger *slog.Logger
	// OnFile, when set, is called after each file an extractor has read
	// (for progress displays). It must be cheap and safe for concurrent use.
	OnFile func(path string)
}

// DefaultConfig returns the defaults: files up to 1 GiB, 30 s per rpmdb.
func DefaultConfig() Config {
	return Config{MaxFileSize: 1 << 30, RPMTimeout: 30 * time.Second}
}

// Extractor is a configured set of extractors. It is safe for sequential
// reuse; Run may be called concurrently on different filesystems.
type Extractor struct {
	cfg  Config
	exts []filesystem.Extractor
}

// New instantiates the extractor list with cfg (zero fields take defaults).
func New(cfg Config) (*Extractor, error) {
	def := DefaultConfig()
	if cfg.MaxFileSize <= 0 {
		cfg.MaxFileSize = def.MaxFileSize
	}
	if cfg.RPMTimeout <= 0 {
		cfg.RPMTimeout = def.RPMTimeout
	}
	// Scalibr's own per-extractor size limits skip files silently; we lift
	// them and enforce cfg.MaxFileSize ourselves so every skip is reported.
	pcfg := cfg
	pcfg.MaxFileSize = math.MaxInt64 / 2
	exts, err := newExtractors(pcfg)
	if err != nil {
		return nil, err
	}
	setScalibrLogger(cfg.Logger)
	return &Extractor{cfg: cfg, exts: exts}, nil
}

// Wants reports whether some extractor, or the post-processing (os-release,
// dpkg file lists, apk database), needs the content of the file at path
// (slash-separated, relative to the root). Image layer streaming keeps only
// such files.
func (e *Extractor) Wants(path string, info fs.FileInfo) bool {
	if AuxFile(path) {
		return true
	}
	var api filesystem.FileAPI = &fileAPI{path: path, info: info} // one conversion for all extractors
	for _, x := range e.exts {
		if x.FileRequired(api) {
			return true
		}
	}
	return false
}

// defaultList is the extractor list with the default configuration, for
// ReadsName (made once, and without setting osv-scalibr's logger).
var defaultList = sync.OnceValue(func() *Extractor {
	exts, err := newExtractors(DefaultConfig())
	if err != nil {
		return &Extractor{}
	}
	return &Extractor{cfg: DefaultConfig(), exts: exts}
})

// ReadsName reports whether an extractor of the list reads a small regular
// file at path by its name (a lockfile or manifest), as Wants does for a
// configured Extractor.
func ReadsName(path string) bool { return defaultList().WantsName(path) }

// WantsName is Wants for a small regular file at path known by its name
// only: whether the file is a lockfile or manifest e reads.
func (e *Extractor) WantsName(path string) bool {
	return e.Wants(path, nameInfo(pathpkg.Base(path)))
}

// nameInfo is the FileInfo of a small regular file known by name only.
type nameInfo string

func (i nameInfo) Name() string       { return string(i) }
func (i nameInfo) Size() int64        { return 1 }
func (i nameInfo) Mode() fs.FileMode  { return 0o644 }
func (i nameInfo) ModTime() time.Time { return time.Time{} }
func (i nameInfo) IsDir() bool        { return false }
func (i nameInfo) Sys() any           { return nil }

// Want says whether a file's content must be kept for extraction.
type Want int

// Want values.
const (
	// WantNone: no extractor reads the file.
	WantNone Want = iota
	// WantContent: keep the content.
	WantContent
	// WantIfBinary: only binary extractors (Go build info, Rust
	// cargo-auditable) asked, because the file is executable; keep it only
	// if HasBinaryMarker finds their marker in the content.
	WantIfBinary
)

// WantsContent is Wants with the distinction image streaming needs to avoid
// keeping every executable of an image.
func (e *Extractor) WantsContent(path string, info fs.FileInfo) Want {
	if AuxFile(path) {
		return WantContent
	}
	var api filesystem.FileAPI = &fileAPI{path: path, info: info} // one conversion for all extractors
	w := WantNone
	for _, x := range e.exts {
		if !x.FileRequired(api) {
			continue
		}
		if !binaryExtractors[x.Name()] {
			return WantContent
		}
		w = WantIfBinary
	}
	return w
}

var binaryExtractors = map[string]bool{gobinary.Name: true, cargoauditable.Name: true}

var (
	goBuildInfoMagic = []byte("\xff Go buildinf:")
	rustAuditSection = []byte(".dep-v0")
	// rustAuditLegacy is the section name of cargo-auditable before 0.5.
	rustAuditLegacy = []byte(".rust-deps-v0")
)

// HasBinaryMarker reports whether b contains Go build information or a
// cargo-auditable dependency section.
func HasBinaryMarker(b []byte) bool {
	return bytes.Contains(b, goBuildInfoMagic) || bytes.Contains(b, rustAuditSection) || bytes.Contains(b, rustAuditLegacy)
}

type fileAPI struct {
	path string
	info fs.FileInfo
}

func (f fileAPI) Path() string               { return f.path }
func (f fileAPI) Stat() (fs.FileInfo, error) { return f.info, nil }

// AuxFile reports whether path is read by riskmap's own post-processing
// rather than by an extractor: os-release, dpkg file lists, the apk database.
func AuxFile(path string) bool {
	switch path {
	case "etc/os-release", "usr/lib/os-release", "lib/apk/db/installed":
		return true
	}
	return strings.HasPrefix(path, "var/lib/dpkg/info/") && strings.HasSuffix(path, ".list")
}

// Result is what one extraction run found.
type Result struct {
	Distro   *inventory.Distro
	Packages []inventory.Package
	Errors   []inventory.FileError
}

// Run walks fsys (without following symbolic links; the FS itself decides
// how links resolve) and extracts every package. The error is fatal only for
// a cancelled context or an unusable filesystem; per-file failures are in
// Result.Errors.
func (e *Extractor) Run(ctx context.Context, fsys scalibrfs.FS) (*Result, error) {
	sink := &errSink{}
	guarded := e.guarded(sink)
	pkgs, err := walk(ctx, fsys, guarded, sink)
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	res := &Result{Distro: distro(fsys)}
	res.Packages = convert(scalibrinv.Inventory{Packages: pkgs})
	if err := addOwnedFiles(ctx, fsys, res.Packages, sink, e.cfg.RPMTimeout); err != nil {
		return nil, err
	}
	setOwnedBy(res.Packages)
	res.Errors = sink.sorted()
	return res, nil
}

// RunFile runs the extractors that read the file at path (slash-separated,
// relative to fsys's root) on that file alone: a lockfile, manifest,
// binary or archive given as a scan target. Extractors may open other
// files through fsys (go.mod reads the go.sum beside it). wanted is false
// when no extractor reads a file of that name and kind; per-file failures
// are in Result.Errors as with Run.
func (e *Extractor) RunFile(ctx context.Context, fsys scalibrfs.FS, path string) (res *Result, wanted bool, err error) {
	info, err := fsys.Stat(path)
	if err != nil {
		return nil, false, fmt.Errorf("extract %s: %w", path, err)
	}
	if !e.Wants(path, info) {
		return &Result{}, false, nil
	}
	sink := &errSink{}
	guarded := e.guarded(sink)
	pkgs, err := walkFile(ctx, fsys, path, guarded, sink)
	if err != nil {
		return nil, true, fmt.Errorf("extract %s: %w", path, err)
	}
	res = &Result{Packages: convert(scalibrinv.Inventory{Packages: pkgs})}
	setOwnedBy(res.Packages)
	res.Errors = sink.sorted()
	return res, true, nil
}

// guarded wraps every extractor of the list in a guard reporting to sink.
func (e *Extractor) guarded(sink *errSink) []filesystem.Extractor {
	sniff := &elfSniffer{seen: map[string]bool{}}
	out := make([]filesystem.Extractor, len(e.exts))
	for i, x := range e.exts {
		g := &guard{inner: x, max: e.cfg.MaxFileSize, sink: sink, onFile: e.cfg.OnFile}
		if binaryExtractors[x.Name()] {
			g.sniff = sniff
		}
		out[i] = g
	}
	return out
}

// distro reads os-release; nil when the tree is not an OS root.
func distro(fsys scalibrfs.FS) *inventory.Distro {
	m, err := osrelease.GetOSRelease(fsys)
	if err != nil || m["ID"] == "" {
		return nil
	}
	return &inventory.Distro{ID: m["ID"], VersionID: m["VERSION_ID"], Codename: m["VERSION_CODENAME"], Name: m["PRETTY_NAME"]}
}

// guard wraps one extractor: it reports files over the size limit instead
// of skipping them silently, and turns a panic in a parser into a FileError.
type guard struct {
	inner  filesystem.Extractor
	max    int64
	sink   *errSink
	onFile func(string)
	sniff  *elfSniffer // set for the binary extractors
}

func (g *guard) Name() string                       { return g.inner.Name() }
func (g *guard) Version() int                       { return g.inner.Version() }
func (g *guard) Requirements() *plugin.Capabilities { return g.inner.Requirements() }

func (g *guard) FileRequired(api filesystem.FileAPI) bool {
	if g.sniff != nil && !filesystem.IsInterestingExecutable(api) {
		// What both binary extractors require first, decided from the
		// extension when it can be (cargo-auditable stats every file
		// before looking at it).
		return false
	}
	if !g.inner.FileRequired(api) {
		return false
	}
	info, err := api.Stat()
	if err != nil {
		g.sink.add(api.Path(), g.Name(), fmt.Errorf("stat: %w", err))
		return false
	}
	if g.sniff != nil && g.sniff.known(api.Path()) == knownNo {
		// The other binary extractor already opened this file and found
		// neither marker: don't open it again.
		return false
	}
	if info.Size() > g.max {
		g.sink.add(api.Path(), g.Name(), fmt.Errorf("file too large: %d bytes, limit %d", info.Size(), g.max))
		return false
	}
	return true
}

func (g *guard) Extract(ctx context.Context, in *filesystem.ScanInput) (inv scalibrinv.Inventory, err error) {
	defer func() {
		if r := recover(); r != nil {
			inv = scalibrinv.Inventory{}
			err = fmt.Errorf("extractor %s panicked on %s: %v\n%s", g.Name(), in.Path, r, debug.Stack())
		}
	}()
	if g.onFile != nil {
		defer g.onFile(in.Path)
	}
	if g.sniff != nil && !g.sniff.mayHaveBuildInfo(in) {
		return scalibrinv.Inventory{}, nil
	}
	return g.inner.Extract(ctx, in)
}

// errSink collects per-file errors, one per (path, extractor).
type errSink struct {
	mu   sync.Mutex
	errs map[[2]string]string
	n    atomic.Int64
}

func (s *errSink) add(path, extractor string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.errs == nil {
		s.errs = map[[2]string]string{}
	}
	k := [2]string{path, extractor}
	if _, dup := s.errs[k]; !dup {
		s.errs[k] = err.Error()
		s.n.Add(1)
	}
}

func (s *errSink) sorted() []inventory.FileError {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]inventory.FileError, 0, len(s.errs))
	for k, v := range s.errs {
		out = append(out, inventory.FileError{Path: k[0], Extractor: k[1], Error: v})
	}
	slices.SortFunc(out, func(a, b inventory.FileError) int {
		return cmp.Or(strings.Compare(a.Path, b.Path), strings.Compare(a.Extractor, b.Extractor))
	})
	return out
}

// elfSniffer looks at an executable once for both binary extractors (Go
// build info, cargo-auditable) and lets them run only when their marker can
// be there. Most executables of a root filesystem are scripts or ELF files
// with neither section, and each extractor would otherwise open and parse
// them itself.
type elfSniffer struct {
	mu   sync.Mutex
	seen map[string]bool
}

type sniffState int

const (
	knownNot   sniffState = iota // not looked at yet
	knownNo                      // looked at: neither marker can be there
	knownMaybe                   // looked at: an extractor must read it
)

func (s *elfSniffer) known(path string) sniffState {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.seen[path]
	switch {
	case !ok:
		return knownNot
	case v:
		return knownMaybe
	}
	return knownNo
}

func (s *elfSniffer) mayHaveBuildInfo(in *filesystem.ScanInput) bool {
	switch s.known(in.Path) {
	case knownNo:
		return false
	case knownMaybe:
		return true
	}
	v := true // unreadable as a ReaderAt: let the extractor decide
	if ra, ok := in.Reader.(io.ReaderAt); ok {
		v = BinaryMayHaveMarker(ra)
	}
	s.mu.Lock()
	s.seen[in.Path] = v
	s.mu.Unlock()
	return v
}

// BinaryMayHaveMarker reports whether the executable in ra can hold Go build
// information or a cargo-auditable section: an ELF file only if it has the
// section; formats debug/buildinfo reads (PE, Mach-O, XCOFF, Plan 9, wasm)
// always (the extractor decides); anything else (scripts, data) never.
func BinaryMayHaveMarker(ra io.ReaderAt) bool {
	var hdr [64]byte
	n, _ := ra.ReadAt(hdr[:], 0)
	if n < 4 {
		return false
	}
	if string(hdr[:4]) == elf.ELFMAG {
		win := windows.Get().(*[]byte)
		defer windows.Put(win)
		names, ok := elfSectionNames(ra, hdr[:n], win)
		if !ok {
			return true // malformed or unusual headers: the extractor decides
		}
		return bytes.Contains(names, []byte(".go.buildinfo\x00")) || bytes.Contains(names, []byte(".dep-v0\x00")) ||
			bytes.Contains(names, []byte(".rust-deps-v0\x00"))
	}
	return otherExecutableMagic([4]byte(hdr[:4]))
}

// ExecutableMagic reports whether a file starting with m is in an
// executable format the binary extractors read (ELF, PE, Mach-O, XCOFF,
// Plan 9, wasm): anything else (a script) cannot hold their markers.
func ExecutableMagic(m [4]byte) bool {
	return string(m[:]) == elf.ELFMAG || otherExecutableMagic(m)
}

// maxSectionNames bounds the ELF section name table read (real ones are a
// few hundred bytes).
const maxSectionNames = 1 << 16

// windows are reused read buffers of elfSectionNames (one per executable
// checked adds up in an image).
var windows = sync.Pool{New: func() any { return new([]byte) }}

// elfSectionNames returns the section name string table (.shstrtab) of the
// ELF file whose first bytes are hdr, reading only the one section header
// that locates it: three small reads instead of parsing every header. The
// reads go to *buf (grown as needed), which the result may share.
func elfSectionNames(ra io.ReaderAt, hdr []byte, buf *[]byte) ([]byte, bool) {
	if len(hdr) < 52 {
		return nil, false
	}
	var bo binary.ByteOrder
	switch elf.Data(hdr[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		bo = binary.LittleEndian
	case elf.ELFDATA2MSB:
		bo = binary.BigEndian
	default:
		return nil, false
	}
	var shoff, off, size uint64
	var shentsize, shstrndx uint16
	var sh []byte
	switch elf.Class(hdr[elf.EI_CLASS]) {
	case elf.ELFCLASS64:
		if len(hdr) < 64 {
			return nil, false
		}
		shoff = bo.Uint64(hdr[40:])
		shentsize, shstrndx = bo.Uint16(hdr[58:]), bo.Uint16(hdr[62:])
		if shentsize < 64 {
			return nil, false
		}
		sh = make([]byte, 64)
	case elf.ELFCLASS32:
		shoff = uint64(bo.Uint32(hdr[32:]))
		shentsize, shstrndx = bo.Uint16(hdr[46:]), bo.Uint16(hdr[50:])
		if shentsize < 40 {
			return nil, false
		}
		sh = make([]byte, 40)
	default:
		return nil, false
	}
	if shoff == 0 || shstrndx == uint16(elf.SHN_UNDEF) || shstrndx >= uint16(elf.SHN_LORESERVE) {
		return nil, false // no section table, or an extended index: let the extractor read it
	}
	// Linkers put the name table right before the section header table:
	// one read of the bytes before the header of the name table usually
	// holds both.
	shAt := int64(shoff) + int64(shstrndx)*int64(shentsize)
	if shoff > math.MaxInt64/2 || shAt < 0 {
		return nil, false
	}
	winStart := max(0, shAt-namesWindow)
	win := grow(buf, shAt+int64(len(sh))-winStart)
	if _, err := ra.ReadAt(win, winStart); err != nil {
		return nil, false
	}
	copy(sh, win[shAt-winStart:])
	if len(sh) == 64 {
		off, size = bo.Uint64(sh[24:]), bo.Uint64(sh[32:])
	} else {
		off, size = uint64(bo.Uint32(sh[16:])), uint64(bo.Uint32(sh[20:]))
	}
	if size == 0 || size > maxSectionNames || off > math.MaxInt64-size {
		return nil, false
	}
	if int64(off) >= winStart && int64(off+size) <= shAt {
		return win[int64(off)-winStart : int64(off+size)-winStart], true
	}
	names := grow(buf, int64(size))
	if _, err := ra.ReadAt(names, int64(off)); err != nil {
		return nil, false
	}
	return names, true
}

// grow returns (*buf)[:n], reallocating *buf when it is too small.
func grow(buf *[]byte, n int64) []byte {
	if int64(cap(*buf)) < n {
		*buf = make([]byte, n)
	}
	return (*buf)[:n]
}

// namesWindow is how much is read before the name table's section header
// in the hope of catching the table itself (typically a few hundred bytes
// plus the other section headers).
const namesWindow = 4 << 10

// otherExecutableMagic recognises the non-ELF executable formats the
// binary extractors read (those of Go's debug/buildinfo, and wasm).
func otherExecutableMagic(m [4]byte) bool {
	switch {
	case m[0] == 'M' && m[1] == 'Z': // PE
		return true
	case string(m[:3]) == "\xfe\xed\xfa" || string(m[1:]) == "\xfa\xed\xfe": // Mach-O
		return true
	case string(m[:]) == "\xca\xfe\xba\xbe" || string(m[:]) == "\xca\xfe\xba\xbf": // Mach-O fat
		return true
	case m[0] == 0x01 && (m[1] == 0xdf || m[1] == 0xf7): // XCOFF
		return true
	case string(m[:]) == "\x00asm": // wasm
		return true
	}
	switch binary.BigEndian.Uint32(m[:]) {
	case plan9obj.Magic386, plan9obj.MagicAMD64, plan9obj.MagicARM:
		return true
	}
	return false
}
