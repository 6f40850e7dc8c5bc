package vulndb

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/osv-scalibr/semantic"
	"github.com/riskmap/riskmap/internal/vuln/cvss"
	"github.com/riskmap/riskmap/internal/vuln/osv"
)

// Builder collects feed data and writes a knowledge base file.
type Builder struct {
	now      time.Time
	vulns    []Vuln
	byID     map[string]uint32
	seenKey  map[string]map[uint32]bool
	entries  map[string][]Affected
	cves     map[cveKey]*cveRow
	sources  []Source
	Withdraw int // withdrawn records skipped
}

type cveKey struct {
	year uint16
	num  uint32
}

type cveRow struct {
	epss, pct float32
	hasEPSS   bool
	info      CVEInfo
}

// NewBuilder returns an empty builder; now stamps the file.
func NewBuilder(now time.Time) *Builder {
	return &Builder{now: now, byID: map[string]uint32{}, seenKey: map[string]map[uint32]bool{}, entries: map[string][]Affected{}, cves: map[cveKey]*cveRow{}}
}

// AddSource records a feed's metadata in the file header.
func (b *Builder) AddSource(s Source) { b.sources = append(b.sources, s) }

// ParseCVE splits "CVE-2021-44228" into its year and number.
func ParseCVE(id string) (year uint16, num uint32, ok bool) {
	rest, found := strings.CutPrefix(id, "CVE-")
	if !found {
		return 0, 0, false
	}
	y, n, found := strings.Cut(rest, "-")
	if !found {
		return 0, 0, false
	}
	yy, err1 := strconv.ParseUint(y, 10, 16)
	nn, err2 := strconv.ParseUint(n, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uint16(yy), uint32(nn), true
}

func (b *Builder) cve(id string) *cveRow {
	y, n, ok := ParseCVE(id)
	if !ok {
		return nil
	}
	k := cveKey{y, n}
	r := b.cves[k]
	if r == nil {
		r = &cveRow{}
		b.cves[k] = r
	}
	return r
}

// AddKEV records that a CVE is in the CISA KEV catalog.
func (b *Builder) AddKEV(cve string, k KEV) {
	if r := b.cve(cve); r != nil {
		r.info.KEV = &k
	}
}

// AddEPSS adds a CVE's EPSS probability and percentile, both in [0,1].
func (b *Builder) AddEPSS(cve string, epss, percentile float64) {
	if r := b.cve(cve); r != nil {
		r.epss, r.pct, r.hasEPSS = float32(epss), float32(percentile), true
	}
}

// AddCVSS adds a CVSS metric; the best one per CVE is kept (cvss.Better).
func (b *Builder) AddCVSS(m cvss.Metric) {
	if r := b.cve(m.CVE); r != nil {
		if r.info.CVSS == nil || cvss.Better(m, *r.info.CVSS) {
			mm := m
			mm.CVE = ""
			r.info.CVSS = &mm
		}
	}
}

var severityWord = map[string]string{
	"critical": "critical", "important": "high", "high": "high", "moderate": "medium",
	"medium": "medium", "low": "low",
}

func dbSeverity(v *osv.Vulnerability) string {
	if len(v.DatabaseSpecific) > 0 {
		var ds struct {
			Severity any `json:"severity"`
		}
		if json.Unmarshal(v.DatabaseSpecific, &ds) == nil {
			if s, ok := ds.Severity.(string); ok {
				if w, ok := severityWord[strings.ToLower(s)]; ok {
					return w
				}
			}
		}
	}
	// ALSA/RHSA: "Important: kernel security update".
	if w, _, ok := strings.Cut(v.Summary, ":"); ok {
		if s, ok := severityWord[strings.ToLower(strings.TrimSpace(w))]; ok {
			return s
		}
	}
	return ""
}

const maxRefs = 12

// AddOSV adds one record. Withdrawn records are skipped. A record ID seen
// before (the same record in two ecosystem exports) adds only the affected
// packages not yet indexed for it.
func (b *Builder) AddOSV(v *osv.Vulnerability, source string) {
	if v.IsWithdrawn() {
		b.Withdraw++
		return
	}
	idx, ok := b.byID[v.ID]
	if !ok {
		summary := v.Summary
		if summary == "" {
			summary = firstLine(v.Details, 200)
		}
		var refs []string
		for _, r := range v.References {
			if len(refs) == maxRefs {
				break
			}
			refs = append(refs, r.URL)
		}
		related := append(slices.Clone(v.Upstream), v.Related...)
		idx = uint32(len(b.vulns))
		b.vulns = append(b.vulns, Vuln{
			ID: v.ID, Aliases: v.Aliases, Related: related, Summary: summary, Severity: v.Severity,
			DBSeverity: dbSeverity(v), Published: v.Published, Modified: v.Modified, References: refs, Source: source,
		})
		b.byID[v.ID] = idx
	}
	addedNow := map[string]bool{}
	for _, a := range v.Affected {
		if a.Package.Ecosystem == "" || a.Package.Name == "" {
			continue // GIT-only entries: matched by commit, not supported
		}
		key := Key(a.Package.Ecosystem, a.Package.Name)
		seen := b.seenKey[key]
		if seen == nil {
			seen = map[uint32]bool{}
			b.seenKey[key] = seen
		}
		if ok && seen[idx] && !addedNow[key] {
			continue // already indexed from another export of the same record
		}
		seen[idx], addedNow[key] = true, true
		e := Affected{Vuln: idx, Versions: a.Versions}
		eco := BaseEcosystem(a.Package.Ecosystem)
		for _, r := range a.Ranges {
			if r.Type != osv.RangeEcosystem && r.Type != osv.RangeSemver {
				continue
			}
			e.Ranges = append(e.Ranges, sortedRange(r, eco))
		}
		if len(e.Ranges) == 0 && len(e.Versions) == 0 {
			continue
		}
		b.entries[key] = append(b.entries[key], e)
	}
}

func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// sortedRange converts and sorts events by version the way osv-scanner does
// (introduced "0" first), once at build time instead of per match.
func sortedRange(r osv.Range, eco string) Range {
	out := Range{Semver: r.Type == osv.RangeSemver}
	for _, e := range r.Events {
		switch {
		case e.Introduced != "":
			out.Events = append(out.Events, Event{Introduced, e.Introduced})
		case e.Fixed != "":
			out.Events = append(out.Events, Event{Fixed, e.Fixed})
		case e.LastAffected != "":
			out.Events = append(out.Events, Event{LastAffected, e.LastAffected})
		case e.Limit != "":
			out.Events = append(out.Events, Event{Limit, e.Limit})
		}
	}
	sort.SliceStable(out.Events, func(i, j int) bool {
		a, b := out.Events[i], out.Events[j]
		if a.Kind == Introduced && a.Version == "0" {
			return !(b.Kind == Introduced && b.Version == "0")
		}
		if b.Kind == Introduced && b.Version == "0" {
			return false
		}
		pa, err := semantic.Parse(a.Version, eco)
		if err != nil {
			return false
		}
		c, err := pa.CompareStr(b.Version)
		return err == nil && c < 0
	})
	return out
}

// Section ids.
const (
	secMeta = iota + 1
	secVulnIndex
	secVulnBlob
	secKeyIndex
	secKeyBlob
	secAffBlob
	secCVETable
	secCVEInfoIndex
	secCVEInfoBlob
	numSections = secCVEInfoBlob
)

var magic = [8]byte{'R', 'I', 'S', 'K', 'M', 'A', 'P', 'K'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const cveRowSize = 20

// Bytes encodes the knowledge base.
func (b *Builder) Bytes() []byte {
	var sections [numSections + 1][]byte

	// Vulns.
	var vblob bytes.Buffer
	vidx := make([]byte, 4+4*(len(b.vulns)+1))
	binary.LittleEndian.PutUint32(vidx, uint32(len(b.vulns)))
	for i := range b.vulns {
		binary.LittleEndian.PutUint32(vidx[4+4*i:], uint32(vblob.Len()))
		encodeVuln(&vblob, &b.vulns[i])
	}
	binary.LittleEndian.PutUint32(vidx[4+4*len(b.vulns):], uint32(vblob.Len()))
	sections[secVulnIndex], sections[secVulnBlob] = vidx, vblob.Bytes()

	// Package keys → affected lists.
	keys := make([]string, 0, len(b.entries))
	for k := range b.entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	kidx := make([]byte, 4+16*len(keys))
	binary.LittleEndian.PutUint32(kidx, uint32(len(keys)))
	var kblob, ablob bytes.Buffer
	for i, k := range keys {
		row := kidx[4+16*i:]
		binary.LittleEndian.PutUint32(row, uint32(kblob.Len()))
		binary.LittleEndian.PutUint32(row[4:], uint32(len(k)))
		kblob.WriteString(k)
		start := ablob.Len()
		encodeAffected(&ablob, b.entries[k])
		binary.LittleEndian.PutUint32(row[8:], uint32(start))
		binary.LittleEndian.PutUint32(row[12:], uint32(ablob.Len()-start))
	}
	sections[secKeyIndex], sections[secKeyBlob], sections[secAffBlob] = kidx, kblob.Bytes(), ablob.Bytes()

	// CVE table.
	ckeys := make([]cveKey, 0, len(b.cves))
	for k := range b.cves {
		ckeys = append(ckeys, k)
	}
	sort.Slice(ckeys, func(i, j int) bool {
		if ckeys[i].year != ckeys[j].year {
			return ckeys[i].year < ckeys[j].year
		}
		return ckeys[i].num < ckeys[j].num
	})
	ctab := make([]byte, 4+cveRowSize*len(ckeys))
	binary.LittleEndian.PutUint32(ctab, uint32(len(ckeys)))
	var infoIdx []uint32
	var iblob bytes.Buffer
	for i, k := range ckeys {
		r := b.cves[k]
		row := ctab[4+cveRowSize*i:]
		binary.LittleEndian.PutUint16(row, k.year)
		binary.LittleEndian.PutUint32(row[4:], k.num)
		e, p := float32(-1), float32(-1)
		if r.hasEPSS {
			e, p = r.epss, r.pct
		}
		binary.LittleEndian.PutUint32(row[8:], math.Float32bits(e))
		binary.LittleEndian.PutUint32(row[12:], math.Float32bits(p))
		info := int32(-1)
		if r.info.KEV != nil || r.info.CVSS != nil {
			info = int32(len(infoIdx))
			infoIdx = append(infoIdx, uint32(iblob.Len()))
			encodeCVEInfo(&iblob, &r.info)
		}
		binary.LittleEndian.PutUint32(row[16:], uint32(info))
	}
	infoIdx = append(infoIdx, uint32(iblob.Len()))
	ii := make([]byte, 4*len(infoIdx))
	for i, o := range infoIdx {
		binary.LittleEndian.PutUint32(ii[4*i:], o)
	}
	sections[secCVETable], sections[secCVEInfoIndex], sections[secCVEInfoBlob] = ctab, ii, iblob.Bytes()

	meta := Meta{Schema: SchemaVersion, BuiltAt: b.now.UTC(), Sources: b.sources, Vulns: len(b.vulns), Packages: len(keys), CVEs: len(ckeys)}
	sections[secMeta] = mustJSON(meta)

	// Assemble: header, section table, sections, crc32c trailer.
	hdr := 16 + 24*numSections
	size := hdr
	for _, s := range sections[1:] {
		size += len(s)
	}
	out := make([]byte, hdr, size+4)
	copy(out, magic[:])
	binary.LittleEndian.PutUint32(out[8:], SchemaVersion)
	binary.LittleEndian.PutUint32(out[12:], numSections)
	off := uint64(hdr)
	for id := 1; id <= numSections; id++ {
		row := out[16+24*(id-1):]
		binary.LittleEndian.PutUint32(row, uint32(id))
		binary.LittleEndian.PutUint64(row[8:], off)
		binary.LittleEndian.PutUint64(row[16:], uint64(len(sections[id])))
		off += uint64(len(sections[id]))
	}
	for _, s := range sections[1:] {
		out = append(out, s...)
	}
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
}

// WriteFile writes the knowledge base to path atomically: a temporary file
// in the same directory is synced and renamed over path, so concurrent
// readers keep the file they opened and new ones see the complete new file.
func (b *Builder) WriteFile(path string) error {
	data := b.Bytes()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".kb-*.tmp")
	if err != nil {
		return fmt.Errorf("write knowledge base %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write knowledge base %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write knowledge base %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write knowledge base %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write knowledge base %s: %w", path, err)
	}
	return nil
}

func putString(w *bytes.Buffer, s string) {
	w.Write(binary.AppendUvarint(nil, uint64(len(s))))
	w.WriteString(s)
}

func putUvarint(w *bytes.Buffer, n uint64) { w.Write(binary.AppendUvarint(nil, n)) }

func encodeAffected(w *bytes.Buffer, es []Affected) {
	putUvarint(w, uint64(len(es)))
	for _, e := range es {
		putUvarint(w, uint64(e.Vuln))
		putUvarint(w, uint64(len(e.Versions)))
		for _, v := range e.Versions {
			putString(w, v)
		}
		putUvarint(w, uint64(len(e.Ranges)))
		for _, r := range e.Ranges {
			if r.Semver {
				w.WriteByte(1)
			} else {
				w.WriteByte(0)
			}
			putUvarint(w, uint64(len(r.Events)))
			for _, ev := range r.Events {
				w.WriteByte(ev.Kind)
				putString(w, ev.Version)
			}
		}
	}
}
