package image

import (
	"archive/tar"
	"bytes"
	"io"
	"path"
	"strings"
	"testing"
	"time"
)

// formatsTar is a layer with every header shape the walker meets: ustar
// (with a split long name), GNU, PAX and GNU long names, a PAX header in
// the middle of plain ones, links (to a kept file, and a link to a link),
// directories, a fifo, odd sizes.
func formatsTar(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	long := strings.Repeat("d/", 60) + "file"
	mt := time.Unix(1700000000, 0)
	hs := []struct {
		h    tar.Header
		body string
	}{
		{tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt, Format: tar.FormatUSTAR}, ""},
		{tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mt, Format: tar.FormatUSTAR}, "root:x:0:0\n"},
		{tar.Header{Name: strings.Repeat("p/", 60) + "split", Typeflag: tar.TypeReg, Mode: 0o600, ModTime: mt, Format: tar.FormatUSTAR}, "split into prefix and name"},
		{tar.Header{Name: "usr/bin/tool", Typeflag: tar.TypeReg, Mode: 0o4755, Uid: 1000, Gid: 1000, ModTime: mt, Format: tar.FormatGNU}, strings.Repeat("x", 513)},
		{tar.Header{Name: "usr/bin/link", Typeflag: tar.TypeSymlink, Linkname: "tool", Mode: 0o777, ModTime: mt, Format: tar.FormatGNU}, ""},
		{tar.Header{Name: "usr/bin/hard", Typeflag: tar.TypeLink, Linkname: "usr/bin/tool", ModTime: mt, Format: tar.FormatGNU}, ""},
		{tar.Header{Name: "run/fifo", Typeflag: tar.TypeFifo, Mode: 0o644, ModTime: mt, Format: tar.FormatGNU}, ""},
		{tar.Header{Name: "empty", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mt, Format: tar.FormatGNU}, ""},
		{tar.Header{Name: "var/lib/dpkg/status", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mt, Format: tar.FormatGNU}, status1},
		{tar.Header{Name: "var/lib/dpkg/status-old", Typeflag: tar.TypeLink, Linkname: "var/lib/dpkg/status", ModTime: mt, Format: tar.FormatGNU}, ""},
		{tar.Header{Name: "var/lib/dpkg/status-older", Typeflag: tar.TypeLink, Linkname: "var/lib/dpkg/status-old", ModTime: mt, Format: tar.FormatGNU}, ""},
		{tar.Header{Name: long, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mt, Format: tar.FormatGNU}, "gnu long name"},
		{tar.Header{Name: "pax/" + long, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mt, Format: tar.FormatPAX}, "pax long name"},
		{tar.Header{Name: "after/pax", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mt, Format: tar.FormatUSTAR}, "plain again"},
	}
	for _, x := range hs {
		h := x.h
		h.Size = int64(len(x.body))
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, x.body)
	}
	tw.Close()
	return buf.Bytes()
}

// walkStep is what a header reader gives for one entry: the header fields
// the layer readers use and the offset of the content.
type walkStep struct {
	Typeflag       byte
	Name, Linkname string
	Size, Mode     int64
	Uid, Gid       int
	ModTime        time.Time
	ContentAt      int64
	Err            string
	Content        string
}

// walkTar lists the entries of b read by archive/tar alone.
func walkTar(b []byte) []walkStep {
	br := bytes.NewReader(b)
	return walkSteps(tar.NewReader(br), func() int64 { return int64(len(b) - br.Len()) }, b)
}

// walkHeaders lists the entries of b read by headerWalk over a seekBuffer
// of buf bytes.
func walkHeaders(b []byte, buf int) []walkStep {
	w := newHeaderWalk(&seekBuffer{ra: bytes.NewReader(b), size: int64(len(b)), buf: make([]byte, buf)})
	return walkSteps(w, func() int64 { return w.sb.pos }, b)
}

// walkSteps reads r to its end or first error; at tells where the
// current entry's content starts.
func walkSteps(r headerReader, at func() int64, b []byte) []walkStep {
	var out []walkStep
	for {
		h, err := r.Next()
		if err != nil {
			if err != io.EOF {
				out = append(out, walkStep{Err: err.Error()})
			}
			return out
		}
		out = append(out, stepOf(h, at(), b))
	}
}

func stepOf(h *tar.Header, at int64, b []byte) walkStep {
	s := walkStep{Typeflag: h.Typeflag, Name: h.Name, Linkname: h.Linkname, Size: h.Size, Mode: h.Mode, Uid: h.Uid, Gid: h.Gid, ModTime: h.ModTime, ContentAt: at}
	if h.Typeflag == tar.TypeReg && at+h.Size <= int64(len(b)) {
		s.Content = string(b[at : at+h.Size])
	}
	return s
}

// walkBuffers: read-ahead buffers smaller than a header, of a header, and
// of many.
var walkBuffers = []int{100, 512, 4096}

func TestHeaderWalkEqualsArchiveTar(t *testing.T) {
	b := formatsTar(t)
	want := walkTar(b)
	if len(want) != 14 {
		t.Fatalf("archive/tar read %d entries of the test layer, want 14", len(want))
	}
	for _, buf := range walkBuffers {
		if got := walkHeaders(b, buf); !equalSteps(got, want) {
			t.Errorf("buffer %d:\n got %+v\nwant %+v", buf, got, want)
		}
		// Cut anywhere: the same entries, then the same error.
		for _, n := range []int{0, 100, 512, 1000, 1536, 2048, len(b) / 2, len(b) - 1024, len(b) - 1} {
			if got, want := walkHeaders(b[:n], buf), walkTar(b[:n]); !equalSteps(got, want) {
				t.Errorf("buffer %d, cut at %d:\n got %+v\nwant %+v", buf, n, got, want)
			}
		}
	}
	// The fast path is what read the plain headers: the walker handed over
	// to archive/tar only at the GNU long name.
	w := newHeaderWalk(&seekBuffer{ra: bytes.NewReader(b), size: int64(len(b)), buf: make([]byte, 4096)})
	for i := 0; i < 11; i++ {
		if _, err := w.Next(); err != nil || w.tr != nil {
			t.Fatalf("entry %d: err %v, archive/tar used %v", i, err, w.tr != nil)
		}
	}
	if _, err := w.Next(); err != nil || w.tr == nil {
		t.Fatalf("GNU long name: err %v, archive/tar used %v", err, w.tr != nil)
	}
}

func equalSteps(a, b []walkStep) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if !x.ModTime.Equal(y.ModTime) {
			return false
		}
		x.ModTime, y.ModTime = time.Time{}, time.Time{}
		if x != y {
			return false
		}
	}
	return true
}

func FuzzHeaderWalk(f *testing.F) {
	f.Add(formatsTar(f))
	for _, l := range testLayers(f) {
		f.Add(l)
	}
	for _, l := range sparseLayers(f) {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := walkTar(b)
		for _, buf := range walkBuffers {
			if got := walkHeaders(b, buf); !equalSteps(got, want) {
				t.Fatalf("buffer %d:\n got %+v\nwant %+v", buf, got, want)
			}
		}
	})
}

// cleanPath's allocation-free path gives what path.Clean gives.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"", "/", "./", ".", "..", "./etc/", "etc/passwd", "a//b", "a/./b", "a/../b", "/abs/x", "./a/", "a/b/", "...", "a/..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		want := strings.TrimPrefix(path.Clean("/"+name), "/")
		if got := cleanPath(name); got != want {
			t.Fatalf("cleanPath(%q) = %q, want %q", name, got, want)
		}
	})
}
