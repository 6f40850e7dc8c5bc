package scanner

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/testenv"
)

var fixedNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func scan(t testing.TB, target string, opts Options) *inventory.Inventory {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return fixedNow }
	}
	inv, err := Scan(context.Background(), target, opts)
	if err != nil {
		t.Fatalf("Scan(%s): %v", target, err)
	}
	return inv
}

// idents lists "ecosystem name@version" of the packages selected by keep.
func idents(inv *inventory.Inventory, keep func(inventory.Package) bool) []string {
	var out []string
	for _, p := range inv.Packages {
		if keep == nil || keep(p) {
			out = append(out, p.Ecosystem+" "+p.Name+"@"+p.Version)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func isOS(p inventory.Package) bool {
	return strings.HasPrefix(p.PURL, "pkg:deb/") || strings.HasPrefix(p.PURL, "pkg:apk/") || strings.HasPrefix(p.PURL, "pkg:rpm/")
}

// dpkgQuery lists the installed packages of a root filesystem with the
// host's dpkg-query, an oracle independent of the scanner.
func dpkgQuery(t testing.TB, root string) []string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		testenv.Missing(t, "dpkg-query", "apt-get install dpkg")
	}
	out, err := exec.Command("dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W",
		"-f", "${db:Status-Status}\t${Package}\t${Version}\n").Output()
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	var pkgs []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "\t")
		if len(f) == 3 && f[0] == "installed" {
			pkgs = append(pkgs, "Debian:12 "+f[1]+"@"+f[2])
		}
	}
	slices.Sort(pkgs)
	return pkgs
}

// ociLayout converts the docker save archive of variant into an OCI image
// layout directory (cached) and an OCI archive of it.
func ociLayout(t testing.TB, variant string) (dir, archive string) {
	t.Helper()
	src := testenv.DockerArchive(t, variant)
	dir = filepath.Join(testenv.CacheDir(t), "oci", variant)
	archive = dir + ".oci.tar"
	if _, err := os.Stat(archive); err == nil {
		return dir, archive
	}
	os.RemoveAll(dir)
	img, err := tarball.ImageFromPath(src, nil)
	if err != nil {
		t.Fatalf("read %s: %v", src, err)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatalf("write OCI layout: %v", err)
	}
	if err := tarDir(dir, archive+".tmp"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(archive+".tmp", archive); err != nil {
		t.Fatal(err)
	}
	return dir, archive
}

func tarDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if err := tw.WriteHeader(&tar.Header{Name: rel, Mode: 0o644, Size: fi.Size(), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// pushToRegistry starts an in-process OCI registry on loopback and pushes
// the variant image (from its OCI layout, so layers are not recompressed).
func pushToRegistry(t testing.TB, variant string) string {
	t.Helper()
	dir, _ := ociLayout(t, variant)
	srv := httptest.NewServer(registry.New(registry.Logger(nopLogger())))
	t.Cleanup(srv.Close)
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	ref := fmt.Sprintf("%s/riskmap-test/%s:latest", strings.TrimPrefix(srv.URL, "http://"), variant)
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return ref
}

// runningContainer starts a container of the variant image and returns its id.
func runningContainer(t testing.TB, variant string) string {
	t.Helper()
	img := testenv.DockerImage(t, variant)
	out, err := exec.Command("docker", "run", "-d", "--network", "none", img, "sleep", "infinity").Output()
	if err != nil {
		t.Fatalf("docker run %s: %v", img, err)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
	return id
}

// goOldBinary builds testdata/goold (old golang.org/x/text and
// gorilla/websocket) through the module proxy, cached by go.sum content.
func goOldBinary(t testing.TB) string {
	t.Helper()
	src, err := filepath.Abs("testdata/goold")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(testenv.CacheDir(t), "goold")
	bin := filepath.Join(dir, "usr/local/bin/goold")
	if _, err := os.Stat(bin); err == nil {
		return dir
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.Missing(t, "go toolchain", "needed to build the Go binary fixture")
	}
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", bin+".tmp", ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build goold: %v\n%s", err, out)
	}
	if err := os.Rename(bin+".tmp", bin); err != nil {
		t.Fatal(err)
	}
	return dir
}
