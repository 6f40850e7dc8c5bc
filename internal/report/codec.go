package report

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	jsoniter "github.com/json-iterator/go"
	"github.com/modern-go/reflect2"

	"github.com/riskmap/riskmap/internal/intake"
)

// Limits bound what Decode accepts and what Marshal produces.
type Limits struct {
	// MaxCompressedBytes bounds the gzip body on the wire.
	MaxCompressedBytes int64
	// MaxJSONBytes bounds the decompressed JSON (gzip bombs).
	MaxJSONBytes int64
	// MaxItems bounds each collection.
	MaxItems int
}

// DefaultLimits are the bounds the sensor keeps to and the console enforces:
// 4 MiB compressed, 64 MiB of JSON, 200,000 items per collection.
func DefaultLimits() Limits {
	return Limits{MaxCompressedBytes: 4 << 20, MaxJSONBytes: 64 << 20, MaxItems: 200_000}
}

// ErrTooLarge is returned (wrapped) when a report exceeds Limits.
var ErrTooLarge = errors.New("report too large")

// Marshal encodes r as gzip-compressed JSON no larger than
// lim.MaxCompressedBytes. When the report does not fit it leaves items out
// (conntrack flows, then socket connections, then loaded-file lists, then
// processes, then images), records how many in r.Truncated and tries again;
// r is modified to what was actually encoded, so a delta tracker can commit
// exactly that.
func Marshal(r *Report, lim Limits) ([]byte, error) {
	for range 12 {
		b, err := encode(r)
		if err != nil {
			return nil, err
		}
		if int64(len(b)) <= lim.MaxCompressedBytes {
			return b, nil
		}
		ratio := float64(lim.MaxCompressedBytes) / float64(len(b)) * 0.85
		if !trim(r, ratio) {
			return nil, fmt.Errorf("marshal report seq %d: %w: %d bytes compressed after trimming, limit %d", r.Seq, ErrTooLarge, len(b), lim.MaxCompressedBytes)
		}
	}
	return nil, fmt.Errorf("marshal report seq %d: %w: could not trim under %d bytes", r.Seq, ErrTooLarge, lim.MaxCompressedBytes)
}

// gzipWriters are reused: a compressor allocates about a megabyte of
// tables, which made most of a load generator's garbage at 200 reports a
// second.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return zw
}}

func encode(r *Report) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	if err := json.NewEncoder(zw).Encode(r); err != nil {
		return nil, fmt.Errorf("encode report seq %d: %w", r.Seq, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress report seq %d: %w", r.Seq, err)
	}
	return buf.Bytes(), nil
}

func (r *Report) truncated(what string, n int) {
	if n <= 0 {
		return
	}
	if r.Truncated == nil {
		r.Truncated = map[string]int{}
	}
	r.Truncated[what] += n
}

// trim cuts the report to about ratio of its size; false when nothing is
// left to cut.
func trim(r *Report, ratio float64) bool {
	keep := func(n int) int { return int(float64(n) * ratio) }
	// Conntrack flows first: they are the most numerous and the least
	// attributable; then non-listening sockets; listeners go last.
	var ct, socks, listen []Connection
	for _, c := range r.Connections {
		switch {
		case c.Source == SourceConntrack:
			ct = append(ct, c)
		case c.State == "LISTEN":
			listen = append(listen, c)
		default:
			socks = append(socks, c)
		}
	}
	switch {
	case len(ct) > 0:
		k := keep(len(ct))
		r.truncated("connections", len(ct)-k)
		r.Connections = append(append(listen, socks...), ct[:k]...)
		return true
	case len(socks) > 0:
		k := keep(len(socks))
		r.truncated("connections", len(socks)-k)
		r.Connections = append(listen, socks[:k]...)
		return true
	}
	loaded := 0
	for i := range r.Processes {
		if len(r.Processes[i].Loaded) > 0 {
			loaded++
			r.Processes[i].Loaded = nil
		}
	}
	if loaded > 0 {
		r.truncated("loaded", loaded)
		return true
	}
	if n := len(r.Processes); n > 0 {
		k := keep(n)
		r.truncated("processes", n-k)
		r.Processes = r.Processes[:k]
		return true
	}
	if n := len(r.Connections); n > 0 {
		k := keep(n)
		r.truncated("connections", n-k)
		r.Connections = r.Connections[:k]
		return true
	}
	if n := len(r.Images); n > 0 {
		k := keep(n)
		r.truncated("images", n-k)
		r.Images = r.Images[:k]
		return true
	}
	return false
}

// Connection sources.
const (
	SourceProc      = "proc"
	SourceConntrack = "conntrack"
)

// Decode reads a gzip-compressed report (the console's ingest path) within
// lim and validates it. Errors name what was wrong; ErrTooLarge is wrapped
// when a bound was hit. The report is decoded as it is decompressed,
// collection by collection and item by item (DecodeJSON), so a bound is
// met before what passes it is held.
func Decode(body io.Reader, lim Limits) (*Report, error) {
	lr := &io.LimitedReader{R: body, N: lim.MaxCompressedBytes + 1}
	// The decompressor reads through a buffer of ours (a pooled one: it
	// would make a new one per report).
	br := byteReaders.Get().(*bufio.Reader)
	br.Reset(lr)
	defer func() {
		br.Reset(nil)
		byteReaders.Put(br)
	}()
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(br)
	} else {
		err = zr.Reset(br)
	}
	if err != nil {
		if lr.N <= 0 {
			return nil, fmt.Errorf("decode report: %w: more than %d compressed bytes", ErrTooLarge, lim.MaxCompressedBytes)
		}
		return nil, fmt.Errorf("decode report: not gzip: %w", err)
	}
	defer gzipReaders.Put(zr)
	packed := func() int64 { return lim.MaxCompressedBytes + 1 - lr.N }
	r, err := decodeBody(gzipErrors{zr}, lim, packed, true)
	if lr.N <= 0 {
		return nil, fmt.Errorf("decode report: %w: more than %d compressed bytes", ErrTooLarge, lim.MaxCompressedBytes)
	}
	return r, err
}

// decodeBody decodes a decompressed report. A small one (most are: a
// delta is about a kilobyte of JSON), which no limit but the nesting can
// refuse (intake.Limits.Holds), is read whole into a pooled buffer and
// decoded in one pass, strictly; the Report type bounds the nesting
// itself. Anything else, and any small report that pass refuses (unknown
// members of a newer minor version are allowed; errors are named by the
// streaming decoder), goes through the streaming decoder, which reads it
// collection by collection within the limits.
func decodeBody(src io.Reader, lim Limits, packed func() int64, fast bool) (*Report, error) {
	rl := readLimits(lim, packed)
	if !fast || !rl.Holds(1) {
		return decodeStream(src, lim, packed)
	}
	buf := smallBufs.Get().(*bytes.Buffer)
	defer smallBufs.Put(buf)
	buf.Reset()
	// The largest report read whole: at most the size under which the
	// decompression ratio is not checked.
	small := rl.RatioFree
	for small > 1 && !rl.Holds(small) {
		small /= 2
	}
	if _, err := buf.ReadFrom(io.LimitReader(src, small+1)); err != nil {
		// What was read, then the error, as the streaming decoder would
		// have met them.
		return decodeStream(io.MultiReader(bytes.NewReader(buf.Bytes()), failing{err}), lim, packed)
	}
	if int64(buf.Len()) > small {
		return decodeStream(io.MultiReader(bytes.NewReader(buf.Bytes()), src), lim, packed)
	}
	if r := decodeWhole(buf.Bytes()); r != nil {
		if err := r.Validate(lim); err != nil {
			return nil, fmt.Errorf("decode report: %w", err)
		}
		return r, nil
	}
	return decodeStream(bytes.NewReader(buf.Bytes()), lim, packed)
}

type failing struct{ err error }

func (f failing) Read([]byte) (int, error) { return 0, f.err }

var smallBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// decodeWhole decodes one JSON report strictly (no unknown members,
// nothing after it but whitespace); nil when it cannot. It uses
// json-iterator, three to four times faster than encoding/json here
// (BenchmarkDecodeSmall) and, for valid UTF-8, decoding a Report the same
// (FuzzDecodeWhole compares the two).
func decodeWhole(b []byte) *Report {
	if !utf8.Valid(b) {
		return nil // encoding/json replaces invalid bytes; jsoniter keeps them
	}
	it := strictJSON.BorrowIterator(b)
	defer strictJSON.ReturnIterator(it)
	var r Report
	it.ReadVal(&r)
	if it.Error != nil {
		return nil
	}
	if it.WhatIsNext() != jsoniter.InvalidValue || it.Error != io.EOF {
		return nil
	}
	return &r
}

var strictJSON = func() jsoniter.API {
	api := jsoniter.Config{EscapeHTML: true, SortMapKeys: true, ValidateJsonRawMessage: true, DisallowUnknownFields: true}.Froze()
	api.RegisterExtension(&freshSlices{})
	return api
}()

// freshSlices makes json-iterator decode an array into a new slice, as
// encoding/json does, instead of into the elements a member given twice
// left behind.
type freshSlices struct{ jsoniter.DummyExtension }

func (*freshSlices) DecorateDecoder(typ reflect2.Type, dec jsoniter.ValDecoder) jsoniter.ValDecoder {
	st, ok := typ.(*reflect2.UnsafeSliceType)
	if typ.Kind() != reflect.Slice || !ok {
		return dec
	}
	return &freshSlice{ValDecoder: dec, typ: st, zero: st.Elem().UnsafeNew()}
}

// freshSlice decodes an array into a new slice of exactly its length:
// json-iterator grows a slice one element at a time, doubling from one
// (127 elements allocated for 46 connections, each copied on the way), so
// the elements are decoded into a pooled scratch slice and copied once.
type freshSlice struct {
	jsoniter.ValDecoder
	typ     *reflect2.UnsafeSliceType
	zero    unsafe.Pointer // a zero element
	scratch sync.Pool      // *sliceHeader of a slice of typ, length 0
}

// sliceHeader is the layout of every slice.
type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

// scratchCap is the capacity of a new scratch slice; one that grew past
// maxScratch elements is not kept.
const scratchCap, maxScratch = 64, 4096

func (d *freshSlice) Decode(ptr unsafe.Pointer, it *jsoniter.Iterator) {
	sc, _ := d.scratch.Get().(*sliceHeader)
	if sc == nil {
		sc = (*sliceHeader)(d.typ.UnsafeNew())
		*sc = *(*sliceHeader)(d.typ.UnsafeMakeSlice(0, scratchCap))
	}
	// Decoded into the scratch slice; a JSON null or [] leaves it nil or
	// empty, as before.
	dst := (*sliceHeader)(ptr)
	*dst = *sc
	d.ValDecoder.Decode(ptr, it)
	out := *dst
	if out.data == sc.data || out.len > 0 {
		// The elements are in the scratch slice (or in one json-iterator
		// grew from it): copied into a slice of their number, then zeroed
		// for the next array (a struct element decodes over what is there).
		n := out.len
		exact := d.typ.UnsafeMakeSlice(n, n)
		for i := range n {
			d.typ.UnsafeSetIndex(exact, i, d.typ.UnsafeGetIndex(ptr, i))
			d.typ.UnsafeSetIndex(ptr, i, d.zero)
		}
		*dst = *(*sliceHeader)(exact)
		if out.data != sc.data {
			// It grew: the larger one (now zeroed) is kept unless too
			// large; the one it grew from holds copies and is dropped.
			if out.cap > maxScratch {
				return
			}
			sc.data, sc.cap = out.data, out.cap
		}
	}
	d.scratch.Put(sc)
}

// gzipErrors names the decompressor's errors.
type gzipErrors struct{ r io.Reader }

func (g gzipErrors) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("gzip: %w", err)
	}
	return n, err
}

var byteReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// gzipReaders reuses the decompressors' state (tens of KB each) across
// reports.
var gzipReaders sync.Pool

// readLimits are the JSON limits of a report: lim.MaxJSONBytes of JSON
// (whitespace included), lim.MaxItems elements in any array, one item at
// most 4 MiB; beyond 256 KiB, at most 100 times its compressed size
// (packed, when known; whitespace aside), so that a bomb of small items is
// refused long before MaxItems of them are held.
func readLimits(lim Limits, packed func() int64) intake.Limits {
	return intake.Limits{MaxInput: lim.MaxJSONBytes, MaxBytes: lim.MaxJSONBytes, MaxDepth: 16, MaxString: 1 << 20,
		MaxItems: int64(lim.MaxItems), MaxElement: 4 << 20, MaxRatio: 100, RatioFree: 256 << 10, Packed: packed}
}

// DecodeJSON decodes and validates an uncompressed report. Unknown fields
// are rejected unless the report's minor version is newer than ours (newer
// minors only add optional fields); the version is known in time when it
// comes first, as our encoder writes it.
func DecodeJSON(raw []byte, lim Limits) (*Report, error) {
	return decodeStream(bytes.NewReader(raw), lim, nil)
}

func decodeStream(src io.Reader, lim Limits, packed func() int64) (*Report, error) {
	d := intake.NewDecoder(src, readLimits(lim, packed))
	r, err := decodeReport(d)
	if err == nil {
		err = d.End()
	}
	d.Release()
	if err != nil {
		var le *intake.LimitError
		switch {
		case errors.As(err, &le) && (le.Limit == "MaxInput" || le.Limit == "MaxBytes"):
			return nil, fmt.Errorf("decode report: %w: more than %d bytes of JSON", ErrTooLarge, lim.MaxJSONBytes)
		case errors.Is(err, intake.ErrLimit):
			return nil, fmt.Errorf("decode report: %w: %w", ErrTooLarge, err)
		}
		return nil, fmt.Errorf("decode report: %w", err)
	}
	if err := r.Validate(lim); err != nil {
		return nil, fmt.Errorf("decode report: %w", err)
	}
	return r, nil
}

// decodeReport reads the report object: the version first when it comes
// first (it decides whether unknown members are refused), then the rest
// member by member.
func decodeReport(d *intake.Decoder) (*Report, error) {
	var r Report
	strict := true
	first := true
	err := d.Object(func(key string) error {
		if first && strings.EqualFold(key, "version") {
			first = false
			if err := d.Decode(&r.Version); err != nil {
				return err
			}
			newer, err := checkVersion(r.Version)
			if err != nil {
				return err
			}
			strict = !newer
			if strict {
				d.DisallowUnknownFields()
			}
			return nil
		}
		if first {
			first = false
			d.DisallowUnknownFields()
		}
		return d.DecodeMember(&r, key, strict)
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// checkVersion accepts "MAJOR.MINOR" with our major; newer reports a newer
// minor.
func checkVersion(v string) (newer bool, err error) {
	major, minor, ok := strings.Cut(v, ".")
	if !ok || major == "" || minor == "" {
		return false, fmt.Errorf("version %q: want MAJOR.MINOR", v)
	}
	if major != MajorVersion {
		return false, fmt.Errorf("version %q: unsupported major version (this side speaks %s)", v, Version)
	}
	theirs, err := strconv.Atoi(minor)
	if err != nil || theirs < 0 {
		return false, fmt.Errorf("version %q: bad minor version", v)
	}
	_, ourMinor, _ := strings.Cut(Version, ".")
	ours, _ := strconv.Atoi(ourMinor)
	return theirs > ours, nil
}

// Validate checks a decoded report's invariants.
func (r *Report) Validate(lim Limits) error {
	if _, err := checkVersion(r.Version); err != nil {
		return err
	}
	if r.SensorID == "" || len(r.SensorID) > 256 {
		return fmt.Errorf("sensorId %q: want 1 to 256 characters", trunc(r.SensorID))
	}
	if r.RunID == "" || len(r.RunID) > 256 {
		return fmt.Errorf("runId %q: want 1 to 256 characters", trunc(r.RunID))
	}
	if r.Seq == 0 {
		return errors.New("seq: must be at least 1")
	}
	switch r.Kind {
	case KindFull:
		if r.BaseSeq != 0 || r.Removed != nil {
			return errors.New("full report: baseSeq and removed must be absent")
		}
	case KindDelta:
		if r.BaseSeq == 0 || r.BaseSeq >= r.Seq {
			return fmt.Errorf("delta seq %d: baseSeq %d must be in [1, seq)", r.Seq, r.BaseSeq)
		}
	default:
		return fmt.Errorf("kind %q: want full or delta", r.Kind)
	}
	if r.Time.IsZero() {
		return errors.New("time: missing")
	}
	n := map[string]int{"processes": len(r.Processes), "connections": len(r.Connections),
		"containers": len(r.Containers), "images": len(r.Images)}
	if k := r.Kubernetes; k != nil {
		n["pods"], n["namespaces"], n["services"], n["nodes"] = len(k.Pods), len(k.Namespaces), len(k.Services), len(k.Nodes)
	}
	for what, c := range n {
		if c > lim.MaxItems {
			return fmt.Errorf("%s: %w: %d items, limit %d", what, ErrTooLarge, c, lim.MaxItems)
		}
	}
	for i := range r.Processes {
		p := &r.Processes[i]
		if p.PID <= 0 {
			return fmt.Errorf("processes[%d]: pid %d: must be positive", i, p.PID)
		}
		if len(p.Loaded) > MaxLoaded {
			return fmt.Errorf("processes[%d] (pid %d): %d loaded files, limit %d", i, p.PID, len(p.Loaded), MaxLoaded)
		}
	}
	for i := range r.Connections {
		c := &r.Connections[i]
		if c.Source != SourceProc && c.Source != SourceConntrack {
			return fmt.Errorf("connections[%d]: source %q: want proc or conntrack", i, trunc(c.Source))
		}
	}
	for i := range r.Containers {
		if r.Containers[i].ID == "" {
			return fmt.Errorf("containers[%d]: missing id", i)
		}
	}
	for i := range r.Images {
		if r.Images[i].ID == "" {
			return fmt.Errorf("images[%d]: missing id", i)
		}
	}
	if k := r.Kubernetes; k != nil {
		for i := range k.Pods {
			if k.Pods[i].UID == "" {
				return fmt.Errorf("kubernetes.pods[%d] (%s/%s): missing uid", i, trunc(k.Pods[i].Namespace), trunc(k.Pods[i].Name))
			}
		}
	}
	return nil
}

func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func itoa(i int) string    { return strconv.Itoa(i) }
func utoa(u uint64) string { return strconv.FormatUint(u, 10) }
