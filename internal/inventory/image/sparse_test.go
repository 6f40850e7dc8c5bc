package image

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A sparse file's content is not contiguous in the layer: read in place, a
// kept sparse file still has the content archive/tar gives (and an old GNU
// sparse entry is a file, not skipped). The layers were written by GNU tar
// 1.34 from a 256 KiB dpkg status file that is a hole but for one entry:
//
//	truncate -s 256K var/lib/dpkg/status
//	printf 'Package: sparse\n...' | dd of=var/lib/dpkg/status bs=1 seek=200000 conv=notrunc
//	tar --sparse --format=gnu (or posix) --owner=0 --group=0 --mtime=@1700000000 --sort=name -cf L.tar var etc
func TestReadLayerSparseFiles(t *testing.T) {
	ctx := context.Background()
	w := newWanter(t)
	for name, b := range sparseLayers(t) {
		inPlace, err := ReadLayer(ctx, bytes.NewReader(b), "sha256:l", w, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		streamed, err := ReadLayer(ctx, struct{ io.Reader }{bytes.NewReader(b)}, "sha256:l", w, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		got, want := entryContents(t, inPlace), entryContents(t, streamed)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s in place vs streamed (-streamed +in place):\n%s", name, diff)
		}
		if !strings.Contains(strings.Join(want, "\n"), "Package: sparse") {
			t.Errorf("%s: the sparse status file was not kept: %q", name, want)
		}
	}
}

// sparseLayers are the GNU tar layers with a sparse file, by name.
func sparseLayers(t testing.TB) map[string][]byte {
	out := map[string][]byte{}
	for _, name := range []string{"testdata/gnu-sparse.tar", "testdata/pax-sparse.tar"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	return out
}
