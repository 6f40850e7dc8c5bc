package scanner

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/inventory/extract"
	"github.com/riskmap/riskmap/internal/inventory/image"
)

// historyPaths are the package databases whose every layer version is kept
// to find the layer that introduced each OS package.
var historyPaths = []string{"var/lib/dpkg/status", "lib/apk/db/installed"}

func imageOptions(opts Options, target string, total int64) image.Options {
	io := image.DefaultOptions()
	io.History = historyPaths
	io.TempDir = opts.TempDir
	if opts.MaxFileSize > 0 {
		io.MaxFile = opts.MaxFileSize
	}
	var done atomic.Int64
	var last atomic.Int64
	io.OnBytes = func(n int64) {
		d := done.Add(n)
		// Report every 4 MiB, not every read.
		if d-last.Load() >= 4<<20 {
			last.Store(d)
			opts.Progress(Event{Stage: StageRead, Target: target, Done: d, Total: total})
		}
	}
	return io
}

// scanImage reads an image with read, merges its layers and extracts.
func scanImage(ctx context.Context, ex *extract.Extractor, opts Options, target string, read func(image.Wanter, image.Options) (*image.Image, error)) (*inventory.Inventory, error) {
	img, err := read(ex, imageOptions(opts, target, 0))
	if err != nil {
		return nil, err
	}
	return inventoryFromImage(ctx, ex, img)
}

func inventoryFromImage(ctx context.Context, ex *extract.Extractor, img *image.Image) (*inventory.Inventory, error) {
	fsys := image.Merge(img.Layers, historyPaths)
	defer fsys.Close()
	res, err := ex.Run(ctx, fsys)
	if err != nil {
		return nil, err
	}
	inv := &inventory.Inventory{
		Target:   inventory.Target{Digest: img.Digest},
		Distro:   res.Distro,
		Packages: res.Packages,
		Errors:   res.Errors,
	}
	for _, fe := range img.Errors {
		inv.Errors = append(inv.Errors, inventory.FileError{Path: fe.Path, Extractor: "image", Error: fe.Err.Error()})
	}
	for _, l := range img.Layers {
		for _, fe := range l.Errors {
			inv.Errors = append(inv.Errors, inventory.FileError{Path: fe.Path, Extractor: "layer " + l.Digest, Error: fe.Err.Error()})
		}
	}
	attributeLayers(inv.Packages, fsys)
	return inv, nil
}

// attributeLayers sets Package.Layer. An OS package was introduced by the
// lowest layer from which every later version of its database still lists
// it (so an upgrade in a later layer is attributed to that layer); other
// packages by the layer that last wrote their first location.
func attributeLayers(pkgs []inventory.Package, fsys *image.FS) {
	layers := fsys.Layers()
	if len(layers) == 0 {
		return
	}
	type dbKey struct{ db, name, version string }
	listed := map[string][]map[string]bool{} // db -> per version: "name\x00version"
	for _, db := range historyPaths {
		for _, v := range fsys.History(db) {
			listed[db] = append(listed[db], dbEntries(db, v.Data))
		}
	}
	for i := range pkgs {
		p := &pkgs[i]
		idx := -1
		db := ""
		switch {
		case strings.HasPrefix(p.PURL, "pkg:deb/"):
			db = "var/lib/dpkg/status"
		case strings.HasPrefix(p.PURL, "pkg:apk/"):
			db = "lib/apk/db/installed"
		}
		if hist := fsys.History(db); db != "" && len(hist) > 0 && containsLoc(p.Locations, db) {
			k := p.Name + "\x00" + p.Version
			for j := len(hist) - 1; j >= 0 && listed[db][j][k]; j-- {
				idx = hist[j].Layer
			}
		}
		if idx < 0 && len(p.Locations) > 0 {
			loc := p.Locations[0]
			if k := strings.Index(loc, ":"); k > 0 && !strings.HasPrefix(loc, "/") {
				loc = loc[:k] // "app.jar:BOOT-INF/lib/x.jar" style nested paths
			}
			idx = fsys.LayerOf(strings.TrimPrefix(loc, "/"))
		}
		if idx >= 0 && idx < len(layers) {
			p.Layer = layers[idx]
		}
	}
}

func containsLoc(locs []string, p string) bool {
	for _, l := range locs {
		if l == p {
			return true
		}
	}
	return false
}

// dbEntries lists "name\x00version" of a dpkg status or apk installed file.
// dpkg entries that are not installed are still listed: the extractor has
// already decided which packages are installed in the final version.
func dbEntries(db string, b []byte) map[string]bool {
	out := map[string]bool{}
	nameKey, verKey := "Package:", "Version:"
	if strings.HasPrefix(db, "lib/apk") {
		nameKey, verKey = "P:", "V:"
	}
	var name, ver string
	flush := func() {
		if name != "" && ver != "" {
			out[name+"\x00"+ver] = true
		}
		name, ver = "", ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case l == "":
			flush()
		case strings.HasPrefix(l, nameKey):
			name = strings.TrimSpace(l[len(nameKey):])
		case strings.HasPrefix(l, verKey):
			ver = strings.TrimSpace(l[len(verKey):])
		}
	}
	flush()
	return out
}

func scanArchiveFile(ctx context.Context, ex *extract.Extractor, path string, opts Options, target string) (*inventory.Inventory, error) {
	r, size, done, err := openArchive(path, opts)
	if err != nil {
		return nil, err
	}
	inv, err := scanArchiveStream(ctx, ex, r, opts, target, size)
	if derr := done(); derr != nil && errors.Is(derr, image.ErrLimit) {
		return nil, fmt.Errorf("%w: %s: %w", ErrTarget, path, derr)
	}
	return inv, err
}

// scanArchiveStream reads a docker save or OCI archive stream; the
// inventory's kind says which it was.
func scanArchiveStream(ctx context.Context, ex *extract.Extractor, r io.Reader, opts Options, target string, size int64) (*inventory.Inventory, error) {
	img, err := image.ReadArchive(ctx, r, ex, imageOptions(opts, target, size))
	if err != nil {
		return nil, err
	}
	inv, err := inventoryFromImage(ctx, ex, img)
	if err != nil {
		return nil, err
	}
	inv.Target.Kind = KindDockerArchive
	if img.Format == image.FormatOCI {
		inv.Target.Kind = KindOCIArchive
	}
	return inv, nil
}

func scanRegistry(ctx context.Context, ex *extract.Extractor, ref string, opts Options, target string) (*inventory.Inventory, error) {
	return scanImage(ctx, ex, opts, target, func(w image.Wanter, io image.Options) (*image.Image, error) {
		return image.ReadRemote(ctx, ref, image.RemoteOptions{Keychain: opts.Keychain, Transport: opts.RegistryTransport}, w, io)
	})
}

// isOCIArchive reports whether an archive holds an OCI layout without a
// docker save manifest.json (both formats are read by the same code; this
// only names the target kind).
func isOCIArchive(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := tarNames(f, 1<<20)
	return names["oci-layout"] && !names["manifest.json"]
}
