package vulndb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/riskmap/riskmap/internal/vuln/cvss"
	"github.com/riskmap/riskmap/internal/vuln/osv"
)

// Records (Vuln) and CVE enrichment (CVEInfo) are stored in a compact binary
// form (schema 2; schema 1 used JSON): uvarint-length strings, uvarint
// counts, zigzag-varint Unix nanoseconds. Decoding copies a record's bytes
// into one string once and slices every field from it, so a record costs a
// handful of allocations however many strings it holds.

func putStrings(w *bytes.Buffer, ss []string) {
	putUvarint(w, uint64(len(ss)))
	for _, s := range ss {
		putString(w, s)
	}
}

func putTime(w *bytes.Buffer, t time.Time) {
	if t.IsZero() {
		w.WriteByte(0)
		return
	}
	w.WriteByte(1)
	w.Write(binary.AppendVarint(nil, t.UnixNano()))
}

func encodeVuln(w *bytes.Buffer, v *Vuln) {
	putString(w, v.ID)
	putStrings(w, v.Aliases)
	putStrings(w, v.Related)
	putString(w, v.Summary)
	putUvarint(w, uint64(len(v.Severity)))
	for _, s := range v.Severity {
		putString(w, s.Type)
		putString(w, s.Score)
	}
	putString(w, v.DBSeverity)
	putTime(w, v.Published)
	putTime(w, v.Modified)
	putStrings(w, v.References)
	putString(w, v.Source)
}

// strReader reads the binary form from a string holding a copy of the
// record, so decoded strings share its memory.
type strReader struct {
	s   string
	err error
}

func (r *strReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	var v uint64
	var shift uint
	for i := 0; i < len(r.s) && i < binary.MaxVarintLen64; i++ {
		c := r.s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break
			}
			r.s = r.s[i+1:]
			return v | uint64(c)<<shift
		}
		v |= uint64(c&0x7f) << shift
		shift += 7
	}
	r.err = errors.New("bad varint")
	return 0
}

func (r *strReader) varint() int64 {
	u := r.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (r *strReader) byte() byte {
	if r.err != nil || len(r.s) == 0 {
		r.err = errors.New("truncated")
		return 0
	}
	c := r.s[0]
	r.s = r.s[1:]
	return c
}

func (r *strReader) string() string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.s)) {
		r.err = errors.New("truncated string")
		return ""
	}
	s := r.s[:n]
	r.s = r.s[n:]
	return s
}

func (r *strReader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.s)) { // every element takes at least one byte
		r.err = errors.New("bad count")
		return 0
	}
	return int(n)
}

func (r *strReader) strings() []string {
	n := r.count()
	if n == 0 || r.err != nil {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.string()
	}
	return out
}

func (r *strReader) time() time.Time {
	if r.byte() == 0 || r.err != nil {
		return time.Time{}
	}
	return time.Unix(0, r.varint()).UTC()
}

func decodeVuln(b []byte) (*Vuln, error) {
	r := &strReader{s: string(b)}
	v := &Vuln{}
	v.ID = r.string()
	v.Aliases = r.strings()
	v.Related = r.strings()
	v.Summary = r.string()
	if n := r.count(); n > 0 && r.err == nil {
		v.Severity = make([]osv.Severity, n)
		for i := range v.Severity {
			v.Severity[i] = osv.Severity{Type: r.string(), Score: r.string()}
		}
	}
	v.DBSeverity = r.string()
	v.Published = r.time()
	v.Modified = r.time()
	v.References = r.strings()
	v.Source = r.string()
	if r.err == nil && len(r.s) != 0 {
		r.err = errors.New("trailing bytes")
	}
	if r.err != nil {
		return nil, r.err
	}
	return v, nil
}

// CVE info flags.
const (
	infoKEV = 1 << iota
	infoRansomware
	infoCVSS
)

func encodeCVEInfo(w *bytes.Buffer, info *CVEInfo) {
	var flags byte
	if info.KEV != nil {
		flags |= infoKEV
		if info.KEV.Ransomware {
			flags |= infoRansomware
		}
	}
	if info.CVSS != nil {
		flags |= infoCVSS
	}
	w.WriteByte(flags)
	if k := info.KEV; k != nil {
		putString(w, k.DateAdded)
		putString(w, k.DueDate)
		putString(w, k.Name)
	}
	if m := info.CVSS; m != nil {
		putString(w, m.Source)
		putString(w, m.Version)
		putString(w, m.Vector)
		w.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(m.BaseScore)))
		putString(w, m.Severity)
	}
}

func decodeCVEInfo(b []byte, info *CVEInfo) error {
	r := &strReader{s: string(b)}
	flags := r.byte()
	if flags&infoKEV != 0 {
		info.KEV = &KEV{DateAdded: r.string(), DueDate: r.string(), Name: r.string(), Ransomware: flags&infoRansomware != 0}
	}
	if flags&infoCVSS != 0 {
		m := &cvss.Metric{Source: r.string(), Version: r.string(), Vector: r.string()}
		if r.err == nil && len(r.s) < 8 {
			r.err = errors.New("truncated score")
		}
		if r.err == nil {
			m.BaseScore = math.Float64frombits(binary.LittleEndian.Uint64([]byte(r.s[:8])))
			r.s = r.s[8:]
		}
		m.Severity = r.string()
		info.CVSS = m
	}
	if r.err == nil && len(r.s) != 0 {
		r.err = errors.New("trailing bytes")
	}
	return r.err
}
