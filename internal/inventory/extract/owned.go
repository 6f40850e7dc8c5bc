package extract

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	scalibrfs "github.com/google/osv-scalibr/fs"

	"github.com/riskmap/riskmap/internal/inventory"
)

// maxListFile bounds one dpkg .list file or the apk database (the largest
// real ones are a few MiB).
const maxListFile = 64 << 20

// addOwnedFiles fills Files of dpkg packages from var/lib/dpkg/info/*.list,
// of apk packages from lib/apk/db/installed and of rpm packages from the
// rpm database's file lists.
func addOwnedFiles(ctx context.Context, fsys scalibrfs.FS, pkgs []inventory.Package, sink *errSink, rpmTimeout time.Duration) error {
	var apkFiles map[string][]string
	rpmDBs := map[string]map[string][]string{}
	var debs []int
	for i := range pkgs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("owned files: %w", err)
		}
		p := &pkgs[i]
		switch {
		case strings.HasPrefix(p.PURL, "pkg:deb/"):
			debs = append(debs, i)
		case strings.HasPrefix(p.PURL, "pkg:rpm/") && len(p.Locations) > 0:
			db := p.Locations[0]
			if _, ok := rpmDBs[db]; !ok {
				files, err := rpmFiles(ctx, fsys, db, rpmTimeout)
				if err != nil {
					sink.add(db, "rpm-files", err)
				}
				rpmDBs[db] = files
			}
			p.Files = rpmDBs[db][rpmKey(p.Name, p.Version)]
		case strings.HasPrefix(p.PURL, "pkg:apk/"):
			if apkFiles == nil {
				apkFiles = map[string][]string{}
				const path = "lib/apk/db/installed"
				b, err := readSmall(fsys, path)
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					sink.add(path, "apk-files", err)
				}
				if err == nil {
					apkFiles = ParseAPKFiles(b)
				}
			}
			p.Files = apkFiles[p.Name]
		}
	}
	// One dpkg .list file per package, then the canonical paths of every
	// package's files: independent reads, done by a few workers.
	canon := newCanonicalizer(fsys)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) + 1 {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(pkgs) || ctx.Err() != nil {
					return
				}
				if _, ok := slices.BinarySearch(debs, k); ok {
					pkgs[k].Files = dpkgFiles(fsys, &pkgs[k], sink)
				}
				pkgs[k].Files = canon.withCanonical(pkgs[k].Files)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("owned files: %w", err)
	}
	return nil
}

// dpkgFiles reads the files a dpkg package owns from its .list file
// (multi-arch packages name it "name:arch.list").
func dpkgFiles(fsys scalibrfs.FS, p *inventory.Package, sink *errSink) []string {
	names := []string{p.Name + ".list"}
	if arch := purlQualifier(p.PURL, "arch"); arch != "" {
		names = []string{p.Name + ":" + arch + ".list", p.Name + ".list"}
	}
	for _, n := range names {
		path := "var/lib/dpkg/info/" + n
		b, err := readSmall(fsys, path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			sink.add(path, "dpkg-files", err)
			return nil
		}
		return ParseDpkgList(b)
	}
	return nil
}

func readSmall(fsys scalibrfs.FS, path string) ([]byte, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if fi, err := f.Stat(); err == nil && fi.Size() >= 0 && fi.Size() <= maxListFile {
		buf.Grow(int(fi.Size()) + bytes.MinRead) // read whole without regrowing
	}
	if _, err := buf.ReadFrom(io.LimitReader(f, maxListFile+1)); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	b := buf.Bytes()
	if len(b) > maxListFile {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, maxListFile)
	}
	return b, nil
}

func purlQualifier(purl, key string) string {
	_, q, ok := strings.Cut(purl, "?")
	if !ok {
		return ""
	}
	q, _, _ = strings.Cut(q, "#")
	for _, kv := range strings.Split(q, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// ParseDpkgList returns the files of a dpkg .list file, without the
// directories: dpkg lists a directory right before its contents, so an
// entry that prefixes the next one is a directory.
func ParseDpkgList(b []byte) []string {
	// One string for the file; the paths are slices of it.
	rest := string(b)
	var lines []string
	for rest != "" {
		l, r, _ := strings.Cut(rest, "\n")
		rest = r
		l = strings.TrimRight(l, "\r")
		if l == "" || l == "/." || l[0] != '/' {
			continue
		}
		lines = append(lines, l)
	}
	if lines == nil {
		return []string{}
	}
	out := lines[:0] // in place: each kept line is at or before its index
	for i, l := range lines {
		if i+1 < len(lines) && isUnder(lines[i+1], l) {
			continue
		}
		out = append(out, l)
	}
	return slices.Clip(out)
}

// isUnder reports whether path p is inside directory dir.
func isUnder(p, dir string) bool {
	return len(p) > len(dir) && p[len(dir)] == '/' && strings.HasPrefix(p, dir)
}

// ParseAPKFiles maps each package of an apk "installed" database to the
// absolute paths of its files (F: directory, R: file lines).
func ParseAPKFiles(b []byte) map[string][]string {
	out := map[string][]string{}
	var pkg, dir string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if len(l) < 2 || l[1] != ':' {
			if l == "" {
				pkg, dir = "", ""
			}
			continue
		}
		v := l[2:]
		switch l[0] {
		case 'P':
			pkg, dir = v, ""
		case 'F':
			dir = strings.Trim(v, "/")
		case 'R':
			if pkg == "" || v == "" {
				continue
			}
			p := "/" + v
			if dir != "" {
				p = "/" + dir + "/" + v
			}
			out[pkg] = append(out[pkg], p)
		}
	}
	return out
}

// setOwnedBy marks language packages found in files an OS package owns
// (the last package listing a file owns it). Only the language packages'
// locations are looked up, so no map of every owned file is built.
func setOwnedBy(pkgs []inventory.Package) {
	owner := map[string]string{} // a language package's location -> owner
	for _, p := range pkgs {
		if len(p.Files) > 0 || isOSPurl(p.PURL) {
			continue
		}
		for _, l := range p.Locations {
			owner[ownedKey(l)] = ""
		}
	}
	if len(owner) == 0 {
		return
	}
	for _, p := range pkgs {
		for _, f := range p.Files {
			if _, ok := owner[f]; ok {
				owner[f] = p.PURL
			}
		}
	}
	for i := range pkgs {
		p := &pkgs[i]
		if len(p.Files) > 0 || isOSPurl(p.PURL) {
			continue
		}
		for _, l := range p.Locations {
			if o := owner[ownedKey(l)]; o != "" {
				p.OwnedBy = o
				break
			}
		}
	}
}

// ownedKey is a location as an OS package lists its files.
func ownedKey(location string) string { return "/" + strings.TrimPrefix(location, "/") }

func isOSPurl(purl string) bool {
	for _, t := range []string{"pkg:deb/", "pkg:apk/", "pkg:rpm/", "pkg:opkg/"} {
		if strings.HasPrefix(purl, t) {
			return true
		}
	}
	return false
}

// resolver is implemented by filesystems that can resolve symbolic links
// inside the scanned root (rootfs.FS, image.FS).
type resolver interface {
	Resolve(name string, followLast bool) (string, error)
}

// canonicalizer adds, next to each owned file recorded under a directory
// that is a symbolic link in the target (merged /usr: /lib ->
// usr/lib), the path the file really has, which is what a running process
// shows in /proc/PID/maps.
type canonicalizer struct {
	r    resolver
	mu   sync.Mutex
	dirs map[string]string // directory -> resolved directory ("" unknown)
}

func newCanonicalizer(fsys scalibrfs.FS) *canonicalizer {
	r, _ := fsys.(resolver)
	return &canonicalizer{r: r, dirs: map[string]string{}}
}

func (c *canonicalizer) withCanonical(files []string) []string {
	if c.r == nil || len(files) == 0 {
		return files
	}
	var extra []string
	for _, f := range files {
		i := strings.LastIndexByte(f, '/')
		if i <= 0 {
			continue
		}
		dir := f[:i]
		c.mu.Lock()
		res, ok := c.dirs[dir]
		c.mu.Unlock()
		if !ok {
			p, err := c.r.Resolve(strings.TrimPrefix(dir, "/"), true)
			if err == nil {
				res = "/" + p
			}
			c.mu.Lock()
			c.dirs[dir] = res
			c.mu.Unlock()
		}
		if res != "" && res != dir {
			extra = append(extra, res+f[i:])
		}
	}
	if len(extra) == 0 {
		return files
	}
	seen := make(map[string]bool, len(files)+len(extra))
	for _, f := range files {
		seen[f] = true
	}
	for _, alt := range extra {
		if !seen[alt] {
			seen[alt] = true
			files = append(files, alt)
		}
	}
	return files
}
