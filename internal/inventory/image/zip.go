package image

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"io/fs"

	"github.com/riskmap/riskmap/internal/inventory/extract"
)

// maxZipLink bounds the target of a symbolic link stored in a zip.
const maxZipLink = 4 << 10

// ReadZip indexes a zip archive of a directory tree as one layer, as
// ReadLayer does a tar: only the files the extractors want are read (and
// decompressed). opts.Limits are applied to the central directory before
// anything is read: the entry count, the names (zip-slip), and the
// declared sizes, whose sum and ratio to the archive's size give a
// decompression bomb away (overlapping entries included); archive/zip
// refuses an entry that inflates past its declared size.
func ReadZip(ctx context.Context, r io.ReaderAt, size int64, w Wanter, opts Options) (*Layer, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil && zr == nil {
		return nil, fmt.Errorf("read zip: %w", err)
	}
	lim := opts.Limits
	chk := newEntryCheck(opts)
	var total uint64
	for _, f := range zr.File {
		if !chk.check(f.Name, "") {
			return nil, fmt.Errorf("read zip: %w", chk.err)
		}
		total += f.UncompressedSize64
		if lim.MaxBytes > 0 && total > uint64(lim.MaxBytes) {
			return nil, fmt.Errorf("read zip: %w: entries declare more than %d bytes", ErrLimit, lim.MaxBytes)
		}
	}
	if lim.MaxRatio > 0 && size > 0 && total > uint64(lim.RatioFloor) && total/uint64(size) > uint64(lim.MaxRatio) {
		return nil, fmt.Errorf("read zip: %w: decompression bomb: entries declare %d bytes in a %d-byte archive (more than %d times)", ErrLimit, total, size, lim.MaxRatio)
	}
	l := &Layer{}
	keep := newKeepRule(w, opts)
	var scratch []byte
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			l.release()
			return nil, fmt.Errorf("read zip: %w", err)
		}
		p := cleanPath(f.Name)
		if p == "" {
			continue
		}
		if e, ok := whiteout(p); ok {
			l.Entries = append(l.Entries, e)
			continue
		}
		mode := f.Mode()
		e := Entry{Path: p, Mode: mode, Size: int64(f.UncompressedSize64), ModTime: f.Modified}
		switch {
		case mode.IsDir():
			e.Kind = kindDir
		case mode&fs.ModeSymlink != 0:
			e.Kind = kindSymlink
			target, err := readZipLink(f)
			if err != nil {
				l.Errors = append(l.Errors, FileError{Path: p, Err: fmt.Errorf("read zip: %w", err)})
				continue
			}
			e.Link = target
		case mode.IsRegular():
			e.Kind = kindFile
			b, ferr, err := readZipFile(keep, f, p, opts, &scratch)
			if ferr != nil {
				l.Errors = append(l.Errors, *ferr)
			}
			if err != nil {
				l.Errors = append(l.Errors, FileError{Path: p, Err: fmt.Errorf("read zip: %w", err)})
			}
			e.Data = b
		default:
			continue
		}
		l.Entries = append(l.Entries, e)
	}
	return l, nil
}

// readZipFile keeps the content of a zip entry when the extractors want it.
func readZipFile(keep keepRule, f *zip.File, p string, opts Options, scratch *[]byte) (*Blob, *FileError, error) {
	size := int64(f.UncompressedSize64)
	fi := fileInfo{name: f.FileInfo().Name(), size: size, mode: f.Mode(), mtime: f.Modified}
	want, ferr := keep.want(p, &fi, size)
	if want == extract.WantNone {
		return nil, ferr, nil
	}
	rc, err := f.Open()
	if err != nil {
		return nil, ferr, err
	}
	defer rc.Close()
	cr := &countingReader{r: rc, on: opts.OnBytes}
	b, err := readWanted(cr, want, size, opts, scratch)
	return b, ferr, err
}

func readZipLink(f *zip.File) (string, error) {
	if f.UncompressedSize64 > maxZipLink {
		return "", fmt.Errorf("symbolic link %s: target longer than %d bytes", f.Name, maxZipLink)
	}
	rc, err := f.Open()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxZipLink))
	return string(b), err
}
