package image

import (
	"archive/zip"
	"bytes"
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func zipTree(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o644)
		if strings.HasPrefix(body, "->") {
			h.SetMode(fs.ModeSymlink | 0o777)
			body = strings.TrimPrefix(body, "->")
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadZip(t *testing.T) {
	b := zipTree(t, map[string]string{
		"app/package-lock.json": `{"lockfileVersion":3,"packages":{"node_modules/x":{"version":"1.0.0"}}}`,
		"app/README.md":         "not wanted",
		"etc/os-release":        "ID=debian\nVERSION_ID=12\n",
		"usr/lib/os-release":    "->../../etc/os-release",
	})
	l, err := ReadZip(context.Background(), bytes.NewReader(b), int64(len(b)), newWanter(t), Options{MemLimit: 1 << 20, MaxFile: 1 << 20, Limits: DefaultLimits()})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range l.Entries {
		switch {
		case e.Data != nil:
			c, _ := e.Data.Bytes()
			got[e.Path] = string(c)
		case e.Link != "":
			got[e.Path] = "-> " + e.Link
		default:
			got[e.Path] = "(not kept)"
		}
	}
	want := map[string]string{
		"app/package-lock.json": `{"lockfileVersion":3,"packages":{"node_modules/x":{"version":"1.0.0"}}}`,
		"app/README.md":         "(not kept)",
		"etc/os-release":        "ID=debian\nVERSION_ID=12\n",
		"usr/lib/os-release":    "-> ../../etc/os-release",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

func TestLocalName(t *testing.T) {
	for name, want := range map[string]bool{
		"a/b": true, "./a": true, "a/./b": true, "a..b/c": true,
		"": false, "/etc/passwd": false, "../x": false, "a/../../x": false, `a\..\x`: false, "C:x": false, "a\x00b": false,
	} {
		if got := LocalName(name); got != want {
			t.Errorf("LocalName(%q) = %v, want %v", name, got, want)
		}
	}
}

// FuzzReadZip: any bytes as a zip target, within the default limits: no
// panic, and a refusal is ErrLimit.
func FuzzReadZip(f *testing.F) {
	f.Add(zipTree(f, map[string]string{"a/Cargo.lock": "[[package]]\n", "b": "->a"}))
	f.Add(zipTree(f, map[string]string{"../x": "y"}))
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	w := newWanter(f)
	opts := Options{MemLimit: 1 << 20, MaxFile: 1 << 20, Limits: DefaultLimits()}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ReadZip(context.Background(), bytes.NewReader(b), int64(len(b)), w, opts)
		if err != nil {
			if l != nil {
				t.Fatal("a layer with an error")
			}
			return // a damaged zip or a refusal (ErrLimit)
		}
		fsys := Merge([]*Layer{l}, nil)
		fs.WalkDir(fsys, ".", func(string, fs.DirEntry, error) error { return nil })
		fsys.Close()
	})
}
