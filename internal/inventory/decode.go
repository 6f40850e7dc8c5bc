package inventory

import (
	"errors"
	"fmt"
	"strings"

	"github.com/riskmap/riskmap/internal/intake"
)

// ReadLimits are the limits of an inventory read from outside (the
// console's inventory upload and match routes), maxJSON bytes of JSON at
// most, whitespace included. packed, when not nil, counts the compressed
// bytes read: beyond 1 MiB, an inventory may not be more than 100 times
// its compressed size (whitespace aside).
func ReadLimits(maxJSON int64, packed func() int64) intake.Limits {
	return intake.Limits{MaxInput: maxJSON, MaxBytes: maxJSON, MaxDepth: 16, MaxString: 64 << 10,
		MaxValues: 50_000_000, MaxElement: 1 << 20, MaxRatio: 100, RatioFree: 1 << 20, Packed: packed}
}

// MaxList bounds the locations and licenses of one package read from
// outside (Decoding.MaxList), MaxFiles its files.
const (
	MaxList  = 10_000
	MaxFiles = 200_000
)

// Decoding tells Decode what to do with the parts of an inventory that may
// be long.
type Decoding struct {
	// Package gets each package as soon as it is decoded; it may keep it.
	// An error stops the decoding and is returned.
	Package func(*Package) error
	// FileError gets each per-file error; nil: they are read and dropped.
	FileError func(FileError) error
	// MaxList bounds the locations and licenses of one package, MaxFiles
	// its files (0: no bound); more is ErrListTooLong.
	MaxList, MaxFiles int
	// DropFiles reads the packages' file lists without keeping them.
	DropFiles bool
}

// ErrListTooLong is a package with more list entries than Decoding.MaxList.
var ErrListTooLong = errors.New("package list too long")

// Decode reads an inventory document from d member by member, so that no
// more than one package is held at a time: the packages go to
// dec.Package as they come (the Inventory returned has none), the file
// errors to dec.FileError. As with encoding/json and DisallowUnknownFields,
// member names match case-insensitively and unknown members are refused;
// unlike it, a second "packages" member is refused too (its packages could
// not be taken back).
func Decode(d *intake.Decoder, dec Decoding) (*Inventory, error) {
	d.DisallowUnknownFields()
	var inv Inventory
	packages := false
	err := d.Object(func(key string) error {
		switch {
		case strings.EqualFold(key, "schemaVersion"):
			return d.Decode(&inv.SchemaVersion)
		case strings.EqualFold(key, "target"):
			return d.Decode(&inv.Target)
		case strings.EqualFold(key, "distro"):
			return d.Decode(&inv.Distro)
		case strings.EqualFold(key, "createdAt"):
			return d.Decode(&inv.CreatedAt)
		case strings.EqualFold(key, "packages"):
			if packages {
				return errors.New(`"packages" given twice`)
			}
			packages = true
			return d.Array(func() error {
				var p Package
				if err := decodePackage(d, &p, dec); err != nil {
					return err
				}
				if dec.Package == nil {
					return nil
				}
				return dec.Package(&p)
			})
		case strings.EqualFold(key, "errors"):
			return d.Array(func() error {
				var fe FileError
				if err := d.Decode(&fe); err != nil {
					return err
				}
				if dec.FileError == nil {
					return nil
				}
				return dec.FileError(fe)
			})
		}
		return fmt.Errorf("json: unknown field %q", key)
	})
	if err != nil {
		return nil, err
	}
	return &inv, nil
}

// decodePackage reads one package, its lists one entry at a time.
func decodePackage(d *intake.Decoder, p *Package, dec Decoding) error {
	list := func(what string, dst *[]string, keep bool, limit int) error {
		*dst = (*dst)[:0] // as encoding/json does with a member given twice
		n := 0
		return d.Array(func() error {
			if n++; limit > 0 && n > limit {
				return fmt.Errorf("%w: more than %d %s", ErrListTooLong, limit, what)
			}
			at := d.Offset()
			t, err := d.Token()
			if err != nil {
				return err
			}
			s, ok := t.(string)
			if !ok && t != nil { // null is "", as encoding/json has it
				return &intake.TypeError{Want: "a string", Found: fmt.Sprintf("%T", t), Offset: at}
			}
			if keep {
				*dst = append(*dst, s)
			}
			return nil
		})
	}
	return d.Object(func(key string) error {
		for _, f := range []struct {
			name string
			dst  *string
		}{
			{"name", &p.Name}, {"version", &p.Version}, {"ecosystem", &p.Ecosystem}, {"purl", &p.PURL},
			{"sourceName", &p.SourceName}, {"sourceVersion", &p.SourceVersion}, {"layer", &p.Layer},
			{"ownedBy", &p.OwnedBy}, {"extractor", &p.Extractor},
		} {
			if strings.EqualFold(key, f.name) {
				return d.Decode(f.dst)
			}
		}
		switch {
		case strings.EqualFold(key, "locations"):
			return list("locations", &p.Locations, true, dec.MaxList)
		case strings.EqualFold(key, "files"):
			return list("files", &p.Files, !dec.DropFiles, dec.MaxFiles)
		case strings.EqualFold(key, "licenses"):
			return list("licenses", &p.Licenses, true, dec.MaxList)
		}
		return fmt.Errorf("json: unknown field %q", key)
	})
}
