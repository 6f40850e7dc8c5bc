package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"

	"github.com/riskmap/riskmap/internal/inventory/extract"
)

// file is one tar entry of a synthetic layer.
type file struct {
	name, body, link string
	typ              byte
	mode             int64
}

func layerTar(t testing.TB, files []file) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Typeflag: f.typ, Mode: f.mode, Linkname: f.link}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			io.WriteString(tw, f.body)
		}
	}
	tw.Close()
	return buf.Bytes()
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func newWanter(t testing.TB) *extract.Extractor {
	t.Helper()
	ex, err := extract.New(extract.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

const status1 = "Package: base-files\nStatus: install ok installed\nVersion: 12.4\nArchitecture: amd64\n\n"
const status2 = status1 + "Package: curl\nStatus: install ok installed\nVersion: 7.88.1-10\nArchitecture: amd64\n\n"

// layers: base with os-release and dpkg status; a second that adds curl,
// deletes a file, makes etc/app opaque and adds a new file there.
func testLayers(t testing.TB) [][]byte {
	l1 := layerTar(t, []file{
		{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		{name: "usr/lib/os-release", body: "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n"},
		{name: "etc/os-release", typ: tar.TypeSymlink, link: "../usr/lib/os-release"},
		{name: "var/lib/dpkg/status", body: status1},
		{name: "etc/app/old.txt", body: "old"},
		{name: "srv/gone/package.json", body: `{"name":"gone","version":"1.0.0"}`},
		{name: "srv/keep/package.json", body: `{"name":"keep","version":"2.0.0"}`},
		{name: "usr/bin/tool", body: "\x7fELF not go", mode: 0o755},
	})
	l2 := layerTar(t, []file{
		{name: "var/lib/dpkg/status", body: status2},
		{name: "srv/.wh.gone", body: ""},
		{name: "etc/app/.wh..wh..opq", body: ""},
		{name: "etc/app/new.txt", body: "new"},
		{name: "srv/hard/package.json", typ: tar.TypeLink, link: "srv/keep/package.json"},
	})
	return [][]byte{l1, l2}
}

func TestMergeWhiteoutsAndLayers(t *testing.T) {
	ctx := context.Background()
	w := newWanter(t)
	var layers []*Layer
	for i, b := range testLayers(t) {
		l, err := ReadLayer(ctx, bytes.NewReader(gz(t, b)), fmt.Sprintf("sha256:layer%d", i), w, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Errors) > 0 {
			t.Fatalf("layer %d errors: %v", i, l.Errors)
		}
		layers = append(layers, l)
	}
	f := Merge(layers, DefaultOptions().History)
	defer f.Close()
	var got []string
	fs.WalkDir(f, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if !d.IsDir() {
			got = append(got, fmt.Sprintf("%s@%d", p, f.LayerOf(p)))
		}
		return nil
	})
	// Not retained: etc/app/*.txt and usr/bin/tool (no extractor wants it:
	// an executable without Go or Rust markers). srv/gone whited out.
	want := []string{
		"etc/os-release@0",
		"srv/hard/package.json@1",
		"srv/keep/package.json@0",
		"usr/lib/os-release@0",
		"var/lib/dpkg/status@1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("merged files (-want +got):\n%s", diff)
	}
	if _, err := f.Stat("etc/app/old.txt"); err == nil {
		t.Errorf("etc/app/old.txt survived the opaque whiteout")
	}
	if _, err := f.Stat("etc/app/new.txt"); err != nil {
		t.Errorf("etc/app/new.txt (added with the opaque marker) missing: %v", err)
	}
	b, err := fs.ReadFile(f, "srv/hard/package.json")
	if err != nil || !strings.Contains(string(b), `"keep"`) {
		t.Errorf("hard link content = %q, %v", b, err)
	}
	if h := f.History("var/lib/dpkg/status"); len(h) != 2 || h[0].Layer != 0 || h[1].Layer != 1 {
		t.Errorf("status history = %+v, want versions from layers 0 and 1", h)
	}
}

// dockerSave writes a docker save archive of the given layers.
func dockerSave(t testing.TB, layers [][]byte, compress bool) []byte {
	t.Helper()
	var diffIDs, paths []string
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	put := func(name string, b []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))})
		tw.Write(b)
	}
	for i, l := range layers {
		diffIDs = append(diffIDs, fmt.Sprintf("sha256:%x", sha256.Sum256(l)))
		p := fmt.Sprintf("l%d/layer.tar", i)
		paths = append(paths, p)
		if compress {
			l = gz(t, l)
		}
		put(p, l)
	}
	cfg, _ := json.Marshal(map[string]any{"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	cfgName := fmt.Sprintf("%x.json", sha256.Sum256(cfg))
	put(cfgName, cfg)
	man, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{"test:latest"}, "Layers": paths}})
	put("manifest.json", man)
	tw.Close()
	return buf.Bytes()
}

func TestReadArchive(t *testing.T) {
	ctx := context.Background()
	w := newWanter(t)
	layers := testLayers(t)
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip_%v", compress), func(t *testing.T) {
			img, err := ReadArchive(ctx, bytes.NewReader(dockerSave(t, layers, compress)), w, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if len(img.Layers) != 2 || len(img.Errors) != 0 {
				t.Fatalf("layers=%d errors=%v", len(img.Layers), img.Errors)
			}
			want := fmt.Sprintf("sha256:%x", sha256.Sum256(layers[1]))
			if img.Layers[1].Digest != want {
				t.Errorf("layer 1 digest = %s, want diff id %s", img.Layers[1].Digest, want)
			}
			if !strings.HasPrefix(img.Digest, "sha256:") || img.Tags[0] != "test:latest" {
				t.Errorf("digest %q tags %v", img.Digest, img.Tags)
			}
		})
	}
}

func TestReadArchiveTruncated(t *testing.T) {
	ctx := context.Background()
	w := newWanter(t)
	full := dockerSave(t, testLayers(t), false)
	// Cut inside the second layer: the manifest (at the end) is lost too.
	cut := full[:len(full)*2/3]
	img, err := ReadArchive(ctx, bytes.NewReader(cut), w, DefaultOptions())
	if err == nil {
		t.Fatalf("truncated archive without manifest: no error, %d layers", len(img.Layers))
	}
	if !strings.Contains(err.Error(), "manifest.json") {
		t.Errorf("error %q does not say what is missing", err)
	}
	if len(img.Errors) == 0 {
		t.Errorf("truncation not recorded")
	}
}

// An uncompressed layer with random access is read on two goroutines
// (headers, and the content kept); it must keep exactly what the streamed
// reading keeps, hard links included.
func TestReadLayerInPlaceEqualsStreamed(t *testing.T) {
	ctx := context.Background()
	w := newWanter(t)
	small := DefaultOptions()
	small.MaxFile = 16 // every kept file of the test layers is larger
	for _, opts := range []Options{DefaultOptions(), small} {
		tooLarge := 0
		for i, b := range append(testLayers(t), formatsTar(t)) {
			inPlace, err := ReadLayer(ctx, bytes.NewReader(b), "sha256:l", w, opts)
			if err != nil {
				t.Fatal(err)
			}
			streamed, err := ReadLayer(ctx, struct{ io.Reader }{bytes.NewReader(b)}, "sha256:l", w, opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(entryContents(t, streamed), entryContents(t, inPlace)); diff != "" {
				t.Errorf("MaxFile %d, layer %d in place vs streamed (-streamed +in place):\n%s", opts.MaxFile, i, diff)
			}
			if inPlace.Bytes != int64(len(b)) {
				t.Errorf("layer %d: %d bytes counted, want %d", i, inPlace.Bytes, len(b))
			}
			// A link to a link to the kept dpkg status shares its content.
			for _, e := range streamed.Entries {
				if e.Path != "var/lib/dpkg/status-older" || opts.MaxFile < int64(len(status1)) {
					continue
				}
				if e.Data == nil {
					t.Errorf("hard link %s: no content, want the status file's", e.Path)
					continue
				}
				if got, err := e.Data.Bytes(); err != nil || string(got) != status1 {
					t.Errorf("hard link %s: content %q (err %v), want the status file's", e.Path, got, err)
				}
			}
			for _, e := range inPlace.Errors {
				if strings.Contains(e.Err.Error(), "file too large") {
					tooLarge++
				}
			}
		}
		if small := opts.MaxFile == 16; small != (tooLarge > 0) {
			t.Errorf("MaxFile %d: %d \"file too large\" errors", opts.MaxFile, tooLarge)
		}
	}
}

// entryContents describes each entry with its kept content.
func entryContents(t *testing.T, l *Layer) []string {
	var out []string
	for _, e := range l.Entries {
		s := fmt.Sprintf("%d %s %o %d %q", e.Kind, e.Path, e.Mode, e.Size, e.Link)
		if e.Data != nil {
			b, err := e.Data.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			s += " data=" + string(b)
		}
		out = append(out, s)
	}
	for _, e := range l.Errors {
		out = append(out, "error "+e.Path+": "+e.Err.Error())
	}
	return out
}

func TestReadLayerTruncated(t *testing.T) {
	ctx := context.Background()
	b := gz(t, testLayers(t)[0])
	l, err := ReadLayer(ctx, bytes.NewReader(b[:len(b)/2]), "sha256:cut", newWanter(t), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Errors) != 1 || !strings.Contains(l.Errors[0].Err.Error(), "truncated") {
		t.Errorf("errors = %v, want one truncation error", l.Errors)
	}
}

func FuzzReadLayer(f *testing.F) {
	for _, l := range testLayers(f) {
		f.Add(l)
		f.Add(gz(f, l))
	}
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	for _, l := range sparseLayers(f) {
		f.Add(l)
	}
	w := newWanter(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ReadLayer(context.Background(), bytes.NewReader(b), "fuzz", w, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		// Read in place (a ReaderAt that seeks) or streamed, a layer has
		// the same entries.
		streamed, err := ReadLayer(context.Background(), struct{ io.Reader }{bytes.NewReader(b)}, "fuzz", w, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(entryKinds(streamed), entryKinds(l)); diff != "" {
			t.Errorf("in place vs streamed entries (-streamed +in place):\n%s", diff)
		}
		// As a tree archive target: refused (ErrLimit) or read the same.
		lim := DefaultLimits()
		lim.MaxEntries = 64
		limited, err := ReadLayer(context.Background(), bytes.NewReader(b), "", w, Options{MemLimit: 1 << 20, MaxFile: 1 << 20, Limits: lim})
		switch {
		case err != nil && !errors.Is(err, ErrLimit):
			t.Fatalf("limited: %v", err)
		case err == nil && len(limited.Entries) != len(l.Entries):
			t.Errorf("limited: %d entries, unlimited %d", len(limited.Entries), len(l.Entries))
		}
		fsys := Merge([]*Layer{l}, DefaultOptions().History)
		fs.WalkDir(fsys, ".", func(string, fs.DirEntry, error) error { return nil })
		fsys.Close()
	})
}

func FuzzReadArchive(f *testing.F) {
	f.Add(dockerSave(f, testLayers(f), false))
	f.Add([]byte(`{}`))
	w := newWanter(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := ReadArchive(context.Background(), bytes.NewReader(b), w, DefaultOptions())
		if err == nil && img == nil {
			t.Fatal("nil image without error")
		}
	})
}

// entryKinds lists "kind path" of a layer's entries.
func entryKinds(l *Layer) []string {
	var out []string
	for _, e := range l.Entries {
		out = append(out, fmt.Sprintf("%d %s", e.Kind, e.Path))
	}
	return out
}
