package vulndb

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// DB is an opened knowledge base. It is immutable and safe for concurrent
// use; it maps the file read-only, and since updates replace the file by
// renaming a new one over it, an open DB keeps seeing the old data.
type DB struct {
	path     string
	data     []byte
	sec      [numSections + 1][]byte
	meta     Meta
	nVulns   int
	nKeys    int
	nCVEs    int
	nInfo    int
	fileSize int64
	unmap    func() error

	// Decoded records and CVE enrichment are cached: a console keeps one
	// DB open and matches many inventories against it.
	vulnCache []atomic.Pointer[Vuln]
	infoOnce  sync.Once
	infoCache []atomic.Pointer[CVEInfo] // KEV/CVSS details by info row, allocated on first use

	ecosOnce sync.Once
	ecos     map[string]bool // Ecosystems, built on first use
}

// ErrSchema is returned for a file of another schema version.
var ErrSchema = errors.New("knowledge base schema version mismatch")

// FileSchema reads the schema version in a knowledge base file's header
// without opening the rest.
func FileSchema(path string) (uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var hdr [12]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil || [8]byte(hdr[:8]) != magic {
		return 0, fmt.Errorf("knowledge base %s: not a riskmap knowledge base", path)
	}
	return binary.LittleEndian.Uint32(hdr[8:]), nil
}

// Open maps and verifies a knowledge base file. Call Close when done (a
// one-shot CLI may leave it to process exit).
func Open(path string) (*DB, error) {
	data, unmap, err := mapFile(path)
	if err != nil {
		return nil, fmt.Errorf("open knowledge base %s: %w", path, err)
	}
	db, err := Decode(data)
	if err != nil {
		unmap()
		return nil, fmt.Errorf("open knowledge base %s: %w", path, err)
	}
	// Unmap exactly once: on Close, or when the DB becomes unreachable (a
	// console swapping in a rebuilt knowledge base need not track readers).
	m := &mapping{unmap: unmap}
	db.path, db.unmap = path, m.release
	runtime.AddCleanup(db, func(m *mapping) { m.release() }, m)
	return db, nil
}

type mapping struct {
	once  sync.Once
	unmap func() error
	err   error
}

func (m *mapping) release() error {
	m.once.Do(func() { m.err = m.unmap() })
	return m.err
}

// Close releases the file mapping. Values already returned (Lookup results,
// Vuln records, CVEInfo) are copies and stay valid; later lookups find
// nothing.
func (db *DB) Close() error {
	if db.unmap == nil {
		return nil
	}
	u := db.unmap
	db.unmap = nil
	db.sec = [numSections + 1][]byte{}
	db.nVulns, db.nKeys, db.nCVEs, db.nInfo = 0, 0, 0, 0
	return u()
}

// Decode verifies and indexes an encoded knowledge base.
func Decode(data []byte) (*DB, error) {
	if len(data) < 16+24*numSections+4 || [8]byte(data[:8]) != magic {
		return nil, errors.New("not a riskmap knowledge base (bad magic or too short)")
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != SchemaVersion {
		return nil, fmt.Errorf("%w: file has %d, this riskmap reads %d (run riskmap feeds import or update to rebuild)", ErrSchema, v, SchemaVersion)
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return nil, errors.New("checksum mismatch: file is damaged or partially written")
	}
	if n := binary.LittleEndian.Uint32(data[12:]); n != numSections {
		return nil, fmt.Errorf("%d sections, want %d", n, numSections)
	}
	db := &DB{data: data, fileSize: int64(len(data))}
	for id := 1; id <= numSections; id++ {
		row := data[16+24*(id-1):]
		off, n := binary.LittleEndian.Uint64(row[8:]), binary.LittleEndian.Uint64(row[16:])
		if binary.LittleEndian.Uint32(row) != uint32(id) || off > uint64(len(body)) || n > uint64(len(body))-off {
			return nil, fmt.Errorf("section %d out of bounds", id)
		}
		db.sec[id] = body[off : off+n]
	}
	if err := json.Unmarshal(db.sec[secMeta], &db.meta); err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	var err error
	if db.nVulns, err = count(db.sec[secVulnIndex], 4, 4); err != nil {
		return nil, fmt.Errorf("vuln index: %w", err)
	}
	if db.nKeys, err = count(db.sec[secKeyIndex], 16, 0); err != nil {
		return nil, fmt.Errorf("key index: %w", err)
	}
	if db.nCVEs, err = count(db.sec[secCVETable], cveRowSize, 0); err != nil {
		return nil, fmt.Errorf("CVE table: %w", err)
	}
	db.nInfo = len(db.sec[secCVEInfoIndex])/4 - 1
	db.vulnCache = make([]atomic.Pointer[Vuln], db.nVulns)
	return db, nil
}

func count(sec []byte, row, extra int) (int, error) {
	if len(sec) < 4 {
		return 0, errors.New("truncated")
	}
	n := int(binary.LittleEndian.Uint32(sec))
	if n < 0 || 4+n*row+extra != len(sec) {
		return 0, fmt.Errorf("%d rows do not fit %d bytes", n, len(sec))
	}
	return n, nil
}

// Meta returns the file header.
func (db *DB) Meta() Meta { return db.meta }

// Size is the file size in bytes.
func (db *DB) Size() int64 { return db.fileSize }

// Path is where the file was opened from.
func (db *DB) Path() string { return db.path }

func (db *DB) key(i int) string { return string(db.keyBytes(i)) }

func (db *DB) keyBytes(i int) []byte {
	row := db.sec[secKeyIndex][4+16*i:]
	off, n := binary.LittleEndian.Uint32(row), binary.LittleEndian.Uint32(row[4:])
	return db.sec[secKeyBlob][off : off+n]
}

// Lookup returns the affected entries indexed under an ecosystem and package
// name (both normalized with Key).
func (db *DB) Lookup(eco, name string) ([]Affected, error) {
	k := Key(eco, name)
	// string(bytes) in a comparison does not allocate.
	i := sort.Search(db.nKeys, func(i int) bool { return string(db.keyBytes(i)) >= k })
	if i == db.nKeys || string(db.keyBytes(i)) != k {
		return nil, nil
	}
	row := db.sec[secKeyIndex][4+16*i:]
	off, n := binary.LittleEndian.Uint32(row[8:]), binary.LittleEndian.Uint32(row[12:])
	blob := db.sec[secAffBlob]
	if uint64(off)+uint64(n) > uint64(len(blob)) {
		return nil, fmt.Errorf("lookup %q: entry out of bounds", k)
	}
	es, err := decodeAffected(blob[off : off+n])
	if err != nil {
		return nil, fmt.Errorf("lookup %q: %w", k, err)
	}
	for _, e := range es {
		if int(e.Vuln) >= db.nVulns {
			return nil, fmt.Errorf("lookup %q: vuln index %d out of range", k, e.Vuln)
		}
	}
	return es, nil
}

// Vuln returns the record at index i. The result is shared: callers must
// not modify it.
func (db *DB) Vuln(i uint32) (*Vuln, error) {
	if int(i) >= db.nVulns {
		return nil, fmt.Errorf("vuln %d out of range", i)
	}
	if v := db.vulnCache[i].Load(); v != nil {
		return v, nil
	}
	idx := db.sec[secVulnIndex][4:]
	a, b := binary.LittleEndian.Uint32(idx[4*i:]), binary.LittleEndian.Uint32(idx[4*i+4:])
	blob := db.sec[secVulnBlob]
	if a > b || int(b) > len(blob) {
		return nil, fmt.Errorf("vuln %d out of bounds", i)
	}
	v, err := decodeVuln(blob[a:b])
	if err != nil {
		return nil, fmt.Errorf("vuln %d: %w", i, err)
	}
	db.vulnCache[i].Store(v)
	return v, nil
}

// Keys calls fn with the ecosystem and package name of every indexed
// package, in key order, until fn returns false.
func (db *DB) Keys(fn func(eco, name string) bool) {
	for i := 0; i < db.nKeys; i++ {
		eco, name, _ := strings.Cut(db.key(i), "\x00")
		if !fn(eco, name) {
			return
		}
	}
}

// Covers reports whether the knowledge base indexes any package of an
// ecosystem (normalised: "Debian:12", "PyPI"): when it does not, a package
// of it finds nothing because nothing is known, not because it is clean.
func (db *DB) Covers(eco string) bool {
	db.ecosOnce.Do(func() {
		db.ecos = map[string]bool{}
		last := ""
		db.Keys(func(e, _ string) bool {
			if e != last {
				db.ecos[e], last = true, e
			}
			return true
		})
	})
	return db.ecos[NormalizeEcosystem(eco)]
}

// NumVulns is the number of records.
func (db *DB) NumVulns() int { return db.nVulns }

// CVE returns the enrichment known for a CVE id; ok is false when nothing
// is known. The result is shared: callers must not modify what its
// pointers point to.
func (db *DB) CVE(id string) (CVEInfo, bool) {
	i, ok := db.cveRow(id)
	if !ok {
		return CVEInfo{}, false
	}
	return db.cveAt(i), true
}

// cveRow finds a CVE's row in the table.
func (db *DB) cveRow(id string) (int, bool) {
	y, num, ok := ParseCVE(id)
	if !ok || db.nCVEs == 0 {
		return 0, false
	}
	tab := db.sec[secCVETable][4:]
	lo, hi := 0, db.nCVEs
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		r := tab[cveRowSize*h:]
		ry, rn := binary.LittleEndian.Uint16(r), binary.LittleEndian.Uint32(r[4:])
		if ry < y || (ry == y && rn < num) {
			lo = h + 1
		} else {
			hi = h
		}
	}
	if lo == db.nCVEs {
		return 0, false
	}
	r := tab[cveRowSize*lo:]
	if binary.LittleEndian.Uint16(r) != y || binary.LittleEndian.Uint32(r[4:]) != num {
		return 0, false
	}
	return lo, true
}

// cveAt decodes a CVE table row: EPSS from the fixed-width row, KEV and
// CVSS details from the info blob, decoded once per DB and shared.
func (db *DB) cveAt(i int) CVEInfo {
	r := db.sec[secCVETable][4+cveRowSize*i:]
	var info CVEInfo
	if ix := int32(binary.LittleEndian.Uint32(r[16:])); ix >= 0 && int(ix) < db.nInfo {
		db.infoOnce.Do(func() { db.infoCache = make([]atomic.Pointer[CVEInfo], db.nInfo) })
		if c := db.infoCache[ix].Load(); c != nil {
			info = *c
		} else {
			ii := db.sec[secCVEInfoIndex]
			a, b := binary.LittleEndian.Uint32(ii[4*ix:]), binary.LittleEndian.Uint32(ii[4*ix+4:])
			if a <= b && int(b) <= len(db.sec[secCVEInfoBlob]) {
				_ = decodeCVEInfo(db.sec[secCVEInfoBlob][a:b], &info)
			}
			c := info
			db.infoCache[ix].Store(&c)
		}
	}
	if e := math.Float32frombits(binary.LittleEndian.Uint32(r[8:])); e >= 0 {
		info.HasEPSS = true
		info.EPSS = round5(e)
		info.Percentile = round5(math.Float32frombits(binary.LittleEndian.Uint32(r[12:])))
	}
	return info
}

func round5(f float32) float64 { return math.Round(float64(f)*1e5) / 1e5 }

func decodeAffected(b []byte) ([]Affected, error) {
	r := &strReader{s: string(b)}
	n := r.count()
	out := make([]Affected, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		e := Affected{Vuln: uint32(r.uvarint())}
		e.Versions = r.strings()
		if nr := r.count(); nr > 0 && r.err == nil {
			e.Ranges = make([]Range, nr)
			for j := 0; j < nr && r.err == nil; j++ {
				rg := Range{Semver: r.byte() == 1}
				if ne := r.count(); ne > 0 && r.err == nil {
					rg.Events = make([]Event, ne)
					for k := 0; k < ne && r.err == nil; k++ {
						rg.Events[k] = Event{Kind: r.byte(), Version: r.string()}
					}
				}
				e.Ranges[j] = rg
			}
		}
		out = append(out, e)
	}
	return out, r.err
}
