// Package bombs makes decompression bombs for the tests and benchmarks of
// bounded request bodies: gzip members and zip archives of a few hundred
// kilobytes to megabytes that inflate to a prefix, a pattern repeated a
// great many times, and a suffix (whitespace in a JSON document, nested
// arrays, endless small objects). They are made without compressing what
// they inflate to, so a half-gigabyte bomb costs milliseconds.
package bombs

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"strings"
)

// Shape is what a bomb inflates to: Prefix, Pattern repeated, Suffix.
type Shape struct{ Prefix, Pattern, Suffix string }

// Deflate is a raw deflate stream of about size compressed bytes that
// inflates to s, with the CRC-32 and the length of what it inflates to.
func Deflate(s Shape, size int) ([]byte, uint32, int64) {
	unit := []byte(strings.Repeat(s.Pattern, (1<<20)/len(s.Pattern)))
	one, _, _ := repeat(nil, unit, 1, nil)
	return repeat([]byte(s.Prefix), unit, size/len(one), []byte(s.Suffix))
}

// Gzip is a gzip member of about size bytes that inflates to s.
func Gzip(s Shape, size int) []byte {
	raw, crc, n := Deflate(s, size)
	var b bytes.Buffer
	b.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	b.Write(raw)
	binary.Write(&b, binary.LittleEndian, crc)
	binary.Write(&b, binary.LittleEndian, uint32(n))
	return b.Bytes()
}

// Zip is an archive of a member valid.json holding valid, and a member
// bomb.json of about size compressed bytes that inflates to s while the
// directory claims 60 MiB (under the 64 MiB a member may have, not the
// hundreds of megabytes it inflates to).
func Zip(valid string, s Shape, size int) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create("valid.json")
	w.Write([]byte(valid))
	raw, crc, _ := Deflate(s, size)
	w, _ = zw.CreateRaw(&zip.FileHeader{Name: "bomb.json", Method: zip.Deflate, CRC32: crc,
		CompressedSize64: uint64(len(raw)), UncompressedSize64: 60 << 20})
	w.Write(raw)
	zw.Close()
	return b.Bytes()
}

// repeat is a raw deflate stream of prefix, unit n times, then suffix,
// made without compressing the whole: unit is compressed once into a
// self-contained, byte-aligned block that is repeated (each copy refers
// back only into itself).
func repeat(prefix, unit []byte, n int, suffix []byte) ([]byte, uint32, int64) {
	block := func(b []byte, final bool) []byte {
		var buf bytes.Buffer
		w, _ := flate.NewWriter(&buf, flate.BestCompression)
		w.Write(b)
		if final {
			w.Close()
		} else {
			w.Flush()
		}
		return buf.Bytes()
	}
	var out bytes.Buffer
	out.Write(block(prefix, false))
	u := block(unit, false)
	crc := crc32.Update(0, crc32.IEEETable, prefix)
	for range n {
		out.Write(u)
		crc = crc32.Update(crc, crc32.IEEETable, unit)
	}
	out.Write(block(suffix, true))
	crc = crc32.Update(crc, crc32.IEEETable, suffix)
	return out.Bytes(), crc, int64(len(prefix)) + int64(n)*int64(len(unit)) + int64(len(suffix))
}
