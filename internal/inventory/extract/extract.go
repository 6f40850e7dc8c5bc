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
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
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
	"github.com/google/osv-scalibr/stats"

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
	api := fileAPI{path: path, info: info}
	for _, x := range e.exts {
		if x.FileRequired(api) {
			return true
		}
	}
	return false
}

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
	api := fileAPI{path: path, info: info}
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
)

// HasBinaryMarker reports whether b contains Go build information or a
// cargo-auditable dependency section.
func HasBinaryMarker(b []byte) bool {
	return bytes.Contains(b, goBuildInfoMagic) || bytes.Contains(b, rustAuditSection)
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
	sniff := &elfSniffer{seen: map[string]bool{}}
	guarded := make([]filesystem.Extractor, len(e.exts))
	for i, x := range e.exts {
		g := &guard{inner: x, max: e.cfg.MaxFileSize, sink: sink, onFile: e.cfg.OnFile}
		if binaryExtractors[x.Name()] {
			g.sniff = sniff
		}
		guarded[i] = g
	}
	sinv, status, err := filesystem.Run(ctx, &filesystem.Config{
		Extractors: guarded,
		// A virtual root (empty Path): extractors that need a real file
		// (rpm's SQLite) get a temporary copy instead of reopening a host
		// path, which could go through a symbolic link out of the root.
		ScanRoots: []*scalibrfs.ScanRoot{{FS: fsys, Path: ""}},
		// Kernel and device pseudo-filesystems of a live root ("dir:/" on
		// a host or a mounted container) hold no packages and can hang a walk.
		DirsToSkip: []string{"proc", "sys", "dev"},
		Stats:      stats.NoopCollector{},
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("extract: %w", ctx.Err())
		}
		return nil, fmt.Errorf("extract: walk: %w", err)
	}
	for _, st := range status {
		if st.Status == nil {
			continue
		}
		for _, fe := range st.Status.FileErrors {
			sink.add(fe.FilePath, st.Name, errors.New(fe.ErrorMessage))
		}
	}
	res := &Result{Distro: distro(fsys)}
	res.Packages = convert(sinv)
	if err := addOwnedFiles(ctx, fsys, res.Packages, sink, e.cfg.RPMTimeout); err != nil {
		return nil, err
	}
	setOwnedBy(res.Packages)
	res.Errors = sink.sorted()
	return res, nil
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
	if !g.inner.FileRequired(api) {
		return false
	}
	info, err := api.Stat()
	if err != nil {
		g.sink.add(api.Path(), g.Name(), fmt.Errorf("stat: %w", err))
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

// elfSniffer parses an executable's ELF section table once for both binary
// extractors (Go build info, cargo-auditable) and lets them run only when
// their section is there. Most executables of a root filesystem are neither,
// and each extractor would otherwise parse the ELF headers itself.
type elfSniffer struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (s *elfSniffer) mayHaveBuildInfo(in *filesystem.ScanInput) bool {
	s.mu.Lock()
	v, ok := s.seen[in.Path]
	s.mu.Unlock()
	if ok {
		return v
	}
	v = true // not ELF (PE, Mach-O) or unreadable: let the extractor decide
	if ra, ok := in.Reader.(io.ReaderAt); ok {
		if ef, err := elf.NewFile(ra); err == nil {
			v = ef.Section(".go.buildinfo") != nil || ef.Section(".dep-v0") != nil
		}
	}
	s.mu.Lock()
	s.seen[in.Path] = v
	s.mu.Unlock()
	return v
}
