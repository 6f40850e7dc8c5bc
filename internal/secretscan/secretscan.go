// Package secretscan finds secrets (keys, tokens, passwords, private keys
// left in files) in host directories, container filesystems and images,
// with the gitleaks detector and its default rule set. It reads targets
// through the inventory's readers (internal/inventory/rootfs for
// directories, internal/inventory/image for images: layers streamed, never
// unpacked) and owns what a secret finding is: rule, file, line, layer,
// entropy, a fingerprint and a redacted excerpt. The secret itself is never
// kept: it is hashed into the fingerprint and cut to a few characters for
// the excerpt as soon as the detector returns it, and dropped.
package secretscan

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"
	"github.com/zricethezav/gitleaks/v8/config"
	"github.com/zricethezav/gitleaks/v8/detect"
	gllog "github.com/zricethezav/gitleaks/v8/logging"

	"github.com/riskmap/riskmap/internal/inventory/filetype"
)

// Name is the scanner's name in --scanners.
const Name = "secret"

// Config tunes a scan. DefaultConfig gives the defaults; zero fields take them.
type Config struct {
	// MaxFileSize: files bigger than this are not read (recorded in
	// Result.Skipped). Bytes.
	MaxFileSize int64
	// MaxTotalBytes: the scan stops reading content once it has read this
	// many bytes (Result.Truncated). Bytes.
	MaxTotalBytes int64
	// ChunkSize: a file is handed to the detector in pieces of about this
	// many bytes, cut at a line end and never inside a PEM block (another
	// secret spanning a cut may be missed, as with gitleaks). Bytes.
	// Memory is bounded by (Workers+2) buffers of ChunkSize+64 KiB.
	// Smaller pieces are cheaper: a rule's keyword anywhere in a piece
	// runs its regexp over the whole piece (16 KiB pieces scan the apt
	// lists of a Debian tree about twice as fast as gitleaks' 100 kB
	// ones, and 1 MiB pieces found 290 false positives where 100 kB
	// found 11: the decoder joins longer runs of hex).
	ChunkSize int
	// MaxFindings: findings past this many are counted, not kept
	// (Result.Dropped).
	MaxFindings int
	// Workers run the detector (default GOMAXPROCS).
	Workers int
	// DecodeDepth is how many rounds of base64/hex/percent decoding the
	// detector tries on encoded text (gitleaks' --max-decode-depth); 0
	// takes the default, negative decodes nothing.
	DecodeDepth int
	// Allow suppresses findings (paths, rules, fingerprints).
	Allow Allow
	// Logger receives per-file warnings; nil is silent. No secret is
	// ever logged.
	Logger *slog.Logger
}

// DefaultConfig: files up to 32 MiB, 8 GiB in all, 16 KiB chunks and
// gitleaks' default decoding depth (5).
func DefaultConfig() Config {
	return Config{
		MaxFileSize:   32 << 20,
		MaxTotalBytes: 8 << 30,
		ChunkSize:     16 << 10,
		MaxFindings:   10_000,
		Workers:       runtime.GOMAXPROCS(0),
		DecodeDepth:   5,
	}
}

func (c *Config) defaults() {
	d := DefaultConfig()
	if c.MaxFileSize <= 0 {
		c.MaxFileSize = d.MaxFileSize
	}
	if c.MaxTotalBytes <= 0 {
		c.MaxTotalBytes = d.MaxTotalBytes
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = d.ChunkSize
	}
	if c.Workers <= 0 {
		c.Workers = d.Workers
	}
	if c.MaxFindings <= 0 {
		c.MaxFindings = d.MaxFindings
	}
	switch {
	case c.DecodeDepth == 0:
		c.DecodeDepth = d.DecodeDepth
	case c.DecodeDepth < 0:
		c.DecodeDepth = 0
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Finding is one secret found. It never holds the secret.
type Finding struct {
	// RuleID and Description are the gitleaks rule's.
	RuleID      string `json:"ruleId"`
	Description string `json:"description"`
	// Severity: critical (private keys, cloud provider keys), medium
	// (the generic rules), high (every other rule).
	Severity string `json:"severity"`
	// Path is the file's path in the target, slash-separated, from its
	// root ("/etc/app/config.yaml").
	Path string `json:"path"`
	// Line is the 1-based line the match starts on.
	Line int `json:"line"`
	// Layer is the digest (diff ID) of the image layer holding the file;
	// empty for directories and containers.
	Layer string `json:"layer,omitempty"`
	// Deleted: the file is not in the image's final filesystem (deleted
	// or replaced by a later layer), but its layer still holds it.
	Deleted bool `json:"deleted,omitempty"`
	// Entropy is the Shannon entropy of the secret, bits per character.
	Entropy float64 `json:"entropy"`
	// Fingerprint is hex SHA-256 of rule, path and secret: stable across
	// scans and targets, the key of an allow-list entry.
	Fingerprint string `json:"fingerprint"`
	// Redacted is the secret's first characters (at most 4, at most a
	// quarter of it) followed by "****".
	Redacted string `json:"redacted"`
}

// Skipped is a file not read, and why.
type Skipped struct {
	Path   string `json:"path"`
	Layer  string `json:"layer,omitempty"`
	Reason string `json:"reason"`
}

// FileError is a per-file failure; the scan goes on.
type FileError struct {
	Path  string `json:"path"`
	Layer string `json:"layer,omitempty"`
	Error string `json:"error"`
}

// Result is a scan's outcome.
type Result struct {
	Findings []Finding `json:"findings"`
	// Allowed counts findings suppressed by the allow-list.
	Allowed int `json:"allowed"`
	// Files and Bytes count what the detector read.
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
	// Binary counts files skipped as binary.
	Binary int64 `json:"binary"`
	// Skipped lists files over the size limit (at most maxSkipped).
	Skipped []Skipped `json:"skipped,omitempty"`
	// Truncated: MaxTotalBytes was reached; files after it were not read.
	Truncated bool `json:"truncated,omitempty"`
	// Dropped counts findings past MaxFindings, not kept.
	Dropped int         `json:"dropped,omitempty"`
	Errors  []FileError `json:"errors,omitempty"`
}

const maxSkipped = 1000

// Scanner runs the detector over files. Safe for one scan at a time.
type Scanner struct {
	cfg      Config
	det      *detect.Detector
	pathOnly bool // the rule set has rules that judge a file by its path alone
}

var (
	defaultOnce sync.Once
	defaultCfg  config.Config
	defaultErr  error
)

// defaultRules loads gitleaks' default rule set once (its loader goes
// through viper's global state) and silences gitleaks' global logger,
// whose debug and trace lines carry secrets.
func defaultRules() (config.Config, error) {
	defaultOnce.Do(func() {
		gllog.Logger = zerolog.Nop()
		d, err := detect.NewDetectorDefaultConfig()
		if err != nil {
			defaultErr = fmt.Errorf("load gitleaks default rules: %w", err)
			return
		}
		defaultCfg, defaultErr = withOwnRules(d.Config)
	})
	return defaultCfg, defaultErr
}

// New makes a scanner with gitleaks' default rules.
func New(cfg Config) (*Scanner, error) {
	cfg.defaults()
	rules, err := defaultRules()
	if err != nil {
		return nil, err
	}
	d := detect.NewDetector(rules)
	d.MaxDecodeDepth = cfg.DecodeDepth
	d.IgnoreGitleaksAllow = false
	s := &Scanner{cfg: cfg, det: d}
	for _, r := range rules.Rules {
		if r.Regex == nil && r.Path != nil {
			s.pathOnly = true
		}
	}
	return s, nil
}

// Rules counts the rules of the scanner's rule set.
func (s *Scanner) Rules() int { return len(s.det.Config.Rules) }

// chunk is a piece of a file for a worker.
type chunk struct {
	path, layer string
	startLine   int // line number of the chunk's first line, 1-based
	buf         *[]byte
	n           int
	pathOnly    bool // judge the path alone (a binary file)
}

// run is one scan in progress: a producer hands chunks of files to the
// workers through a bounded set of buffers.
type run struct {
	s       *Scanner
	ctx     context.Context
	jobs    chan chunk
	free    chan *[]byte
	wg      sync.WaitGroup
	mu      sync.Mutex
	res     Result
	bytes   atomic.Int64
	full    atomic.Bool
	onFound func(*Finding) // adjusts layer fields (images)
}

func (s *Scanner) start(ctx context.Context) *run {
	r := &run{s: s, ctx: ctx, jobs: make(chan chunk, s.cfg.Workers), free: make(chan *[]byte, s.cfg.Workers+2)}
	for range s.cfg.Workers + 2 {
		b := make([]byte, s.cfg.ChunkSize+maxLineExtension)
		r.free <- &b
	}
	for range s.cfg.Workers {
		r.wg.Add(1)
		go r.work()
	}
	return r
}

// maxLineExtension is how far past ChunkSize a chunk extends to end at a
// line end.
const maxLineExtension = 64 << 10

// finish waits for the workers and returns the result sorted.
func (r *run) finish() (*Result, error) {
	close(r.jobs)
	r.wg.Wait()
	res := r.res
	res.Bytes = r.bytes.Load()
	res.Truncated = r.full.Load()
	if res.Findings == nil {
		res.Findings = []Finding{}
	}
	slices.SortFunc(res.Findings, func(a, b Finding) int {
		return cmpFindings(a, b)
	})
	res.Findings = slices.CompactFunc(res.Findings, func(a, b Finding) bool { return a == b })
	if err := r.ctx.Err(); err != nil {
		return nil, fmt.Errorf("secret scan: %w", err)
	}
	return &res, nil
}

func cmpFindings(a, b Finding) int {
	if c := strings.Compare(a.Path, b.Path); c != 0 {
		return c
	}
	if a.Line != b.Line {
		return a.Line - b.Line
	}
	if c := strings.Compare(a.Layer, b.Layer); c != 0 {
		return c
	}
	return strings.Compare(a.RuleID, b.RuleID)
}

func (r *run) work() {
	defer r.wg.Done()
	for c := range r.jobs {
		if r.ctx.Err() == nil {
			r.detect(c)
		}
		if c.buf != nil {
			r.free <- c.buf
		}
	}
}

// detect runs the rules over one chunk and keeps redacted findings.
func (r *run) detect(c chunk) {
	frag := detect.Fragment{FilePath: c.path, StartLine: c.startLine}
	if !c.pathOnly {
		frag.Raw = string((*c.buf)[:c.n])
	}
	found := r.s.det.DetectContext(r.ctx, frag)
	if len(found) == 0 {
		return
	}
	out := make([]Finding, 0, len(found))
	allowed := 0
	for i := range found {
		g := &found[i]
		f := Finding{
			RuleID:      g.RuleID,
			Description: g.Description,
			Severity:    severity(g.RuleID),
			Path:        "/" + c.path,
			Line:        max(g.StartLine, 1),
			Layer:       c.layer,
			Entropy:     math.Round(float64(g.Entropy)*1000) / 1000,
			Fingerprint: Fingerprint(g.RuleID, "/"+c.path, g.Secret),
			Redacted:    redact(g.Secret),
		}
		// Drop every copy of the secret the detector returned.
		g.Secret, g.Match, g.Line, g.Fragment = "", "", "", nil
		if r.onFound != nil {
			r.onFound(&f)
		}
		if r.s.cfg.Allow.Allows(&f) {
			allowed++
			continue
		}
		out = append(out, f)
	}
	r.mu.Lock()
	if room := r.s.cfg.MaxFindings - len(r.res.Findings); len(out) > room {
		r.res.Dropped += len(out) - max(room, 0)
		out = out[:max(room, 0)]
	}
	r.res.Findings = append(r.res.Findings, out...)
	r.res.Allowed += allowed
	r.mu.Unlock()
}

// Fingerprint is the hex SHA-256 of rule, path and secret, NUL-separated.
func Fingerprint(rule, path, secret string) string {
	h := sha256.New()
	io.WriteString(h, rule)
	h.Write([]byte{0})
	io.WriteString(h, path)
	h.Write([]byte{0})
	io.WriteString(h, secret)
	return hex.EncodeToString(h.Sum(nil))
}

// redact keeps at most 4 characters of s, and at most a quarter of it.
func redact(s string) string {
	rs := []rune(strings.TrimSpace(s))
	n := min(4, len(rs)/4)
	if len(rs) < 8 {
		n = 0
	}
	return string(rs[:n]) + "****"
}

// severity ranks a rule: private keys and cloud provider keys are
// critical, the generic rules medium, the rest high.
func severity(rule string) string {
	switch {
	case strings.HasPrefix(rule, "generic"):
		return "medium"
	case rule == "private-key", strings.HasPrefix(rule, "aws-"), strings.HasPrefix(rule, "gcp-"),
		strings.HasPrefix(rule, "azure-"), strings.HasPrefix(rule, "alibaba-"):
		return "critical"
	}
	return "high"
}

// file reads one file of size bytes from fr and queues it in chunks.
// p is its clean relative slash path. A read error is recorded; only a
// cancelled context stops the scan.
func (r *run) file(p, layer string, size int64, fr io.Reader) {
	if r.ctx.Err() != nil {
		return
	}
	if r.s.cfg.Allow.AllowsPath("/" + p) {
		return
	}
	if size > r.s.cfg.MaxFileSize {
		r.skip(p, layer, fmt.Sprintf("larger than %d bytes", r.s.cfg.MaxFileSize))
		return
	}
	if size == 0 {
		return
	}
	if r.bytes.Load() >= r.s.cfg.MaxTotalBytes {
		r.full.Store(true)
		return
	}
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(fr)
	defer func() { br.Reset(nil); readerPool.Put(br) }()
	fr = br
	line := 1
	first := true
	var carry []byte // the tail after the last line end of the previous read
	for {
		var buf *[]byte
		select {
		case buf = <-r.free:
		case <-r.ctx.Done():
			return
		}
		b := *buf
		n := copy(b, carry)
		m, err := io.ReadFull(fr, b[n:r.s.cfg.ChunkSize])
		n += m
		eof := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !eof {
			r.free <- buf
			r.fail(p, layer, err)
			return
		}
		if first {
			first = false
			if !filetype.IsText(b[:min(n, 8<<10)]) {
				r.free <- buf
				r.mu.Lock()
				r.res.Binary++
				r.mu.Unlock()
				if r.s.pathOnly {
					r.jobs <- chunk{path: p, layer: layer, pathOnly: true}
				}
				return
			}
			r.mu.Lock()
			r.res.Files++
			r.mu.Unlock()
		}
		carry = carry[:0]
		if !eof {
			// End the chunk at a line end: read on up to maxLineExtension.
			ext := b[n : n+maxLineExtension]
			k, rerr := readUntilNewline(br, ext)
			n += k
			eof = rerr == io.EOF
			if rerr != nil && !eof {
				r.free <- buf
				r.fail(p, layer, rerr)
				return
			}
			// Keep a PEM block (a private key) whole: read on past
			// its END line, within the buffer.
			if i := bytes.LastIndex(b[:n], pemBegin); i >= 0 && !bytes.Contains(b[i:n], pemEnd) {
				for !eof && n < len(b) {
					k, rerr := readUntilNewline(br, b[n:])
					end := bytes.Contains(b[n:n+k], pemEnd)
					n += k
					eof = rerr == io.EOF
					if rerr != nil && !eof {
						r.free <- buf
						r.fail(p, layer, rerr)
						return
					}
					if end {
						break
					}
				}
			}
		}
		r.bytes.Add(int64(n))
		c := chunk{path: p, layer: layer, startLine: line, buf: buf, n: n}
		line += bytes.Count(b[:n], []byte{'\n'})
		select {
		case r.jobs <- c:
		case <-r.ctx.Done():
			r.free <- buf
			return
		}
		if eof {
			return
		}
		if r.bytes.Load() >= r.s.cfg.MaxTotalBytes {
			r.full.Store(true)
			return
		}
	}
}

var pemBegin, pemEnd = []byte("-----BEGIN "), []byte("-----END ")

// readerPool holds the buffered readers files are read through.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}

// readUntilNewline reads from r into b until a newline (included) or b
// is full.
func readUntilNewline(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		c, err := r.ReadByte()
		if err != nil {
			return n, err
		}
		b[n] = c
		n++
		if c == '\n' {
			return n, nil
		}
	}
	return n, nil
}

func (r *run) skip(p, layer, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.res.Skipped) < maxSkipped {
		r.res.Skipped = append(r.res.Skipped, Skipped{Path: "/" + p, Layer: layer, Reason: why})
	}
}

func (r *run) fail(p, layer string, err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	r.s.cfg.Logger.Warn("secret scan: could not read a file", "path", "/"+p, "layer", layer, "err", err)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Errors = append(r.res.Errors, FileError{Path: "/" + p, Layer: layer, Error: err.Error()})
}
