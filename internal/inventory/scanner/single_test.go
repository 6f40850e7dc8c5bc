package scanner

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/inventory/image"
	"github.com/riskmap/riskmap/internal/testenv"
)

// byLocation groups the idents of a dir: scan by the file they were
// found in.
func byLocation(inv *inventory.Inventory) map[string][]string {
	out := map[string][]string{}
	for _, p := range inv.Packages {
		for _, l := range p.Locations {
			out[l] = append(out[l], p.Ecosystem+" "+p.Name+"@"+p.Version)
		}
	}
	for k, v := range out {
		slices.Sort(v)
		out[k] = slices.Compact(v)
	}
	return out
}

// TestScanSingleLockfiles scans every lockfile and manifest of the
// polyglot and maven fixtures on its own, bare and as file:, and expects
// what dir: of the fixture finds in that file, located at the path given.
func TestScanSingleLockfiles(t *testing.T) {
	for _, dir := range []string{"testdata/polyglot", "testdata/maven", "testdata/npm_old"} {
		want := byLocation(scan(t, "dir:"+dir, Options{}))
		if len(want) < 2 {
			t.Fatalf("dir:%s: %d files with packages", dir, len(want))
		}
		for rel, pkgs := range want {
			p := filepath.Join(dir, rel)
			for _, target := range []string{p, "file:" + p} {
				t.Run(strings.NewReplacer("/", "_", ".", "_", ":", "_").Replace(target), func(t *testing.T) {
					inv := scan(t, target, Options{})
					if inv.Target.Kind != KindFile || inv.Target.Ref != p {
						t.Errorf("target = %+v, want file %s", inv.Target, p)
					}
					if diff := cmp.Diff(pkgs, idents(inv, nil)); diff != "" {
						t.Errorf("packages (-dir: +file):\n%s", diff)
					}
					for _, pkg := range inv.Packages {
						if !slices.Contains(pkg.Locations, p) || pkg.PURL == "" {
							t.Errorf("%s: locations %v, purl %q; want %s among the locations", pkg.Name, pkg.Locations, pkg.PURL, p)
						}
					}
					if len(inv.Errors) != 0 {
						t.Errorf("errors: %v", inv.Errors)
					}
				})
			}
		}
	}
}

// TestScanRenamedLockfiles: a lockfile under another name is recognised
// by its content and reported under its own name.
func TestScanRenamedLockfiles(t *testing.T) {
	tests := []struct{ src, as string }{
		{"testdata/polyglot/rust/Cargo.lock", "deps.lock"},
		{"testdata/npm_old/package-lock.json", "npm-deps.json"},
		{"testdata/polyglot/php/composer.lock", "composer.json.lock"},
		{"testdata/polyglot/pipenv/Pipfile.lock", "pipenv.json"},
		{"testdata/polyglot/pip/requirements.txt", "deps.txt"},
		{"testdata/polyglot/yarn/yarn.lock", "yarn-v1.lock"},
		{"testdata/polyglot/pnpm/pnpm-lock.yaml", "lock.yaml"},
		{"testdata/polyglot/poetry/poetry.lock", "py.lock"},
		{"testdata/polyglot/uv/uv.lock", "uv.toml"},
		{"testdata/polyglot/ruby/Gemfile.lock", "Gemfile.ci"},
		{"testdata/polyglot/gomod/go.mod", "go.mod.orig"},
		{"testdata/polyglot/dotnet/packages.lock.json", "nuget.json"},
		{"testdata/polyglot/dotnet/app.deps.json", "app.json"},
		{"testdata/maven/pom.xml", "build.xml"},
		{"testdata/maven/gradle.lockfile", "gradle.lock"},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(strings.ReplaceAll(tc.as, ".", "_"), func(t *testing.T) {
			want := idents(scan(t, tc.src, Options{}), nil)
			p := filepath.Join(dir, tc.as)
			b, err := os.ReadFile(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			write(t, p, string(b))
			inv := scan(t, p, Options{})
			if diff := cmp.Diff(want, idents(inv, nil)); diff != "" {
				t.Errorf("packages (-by name +renamed):\n%s", diff)
			}
			for _, pkg := range inv.Packages {
				if !slices.Contains(pkg.Locations, p) {
					t.Errorf("%s: locations %v, want %s", pkg.Name, pkg.Locations, p)
				}
			}
		})
	}
}

// TestScanSingleBinariesAndArchives: a Go binary the test builds (also
// without its executable bit), the war of javaFixture and a jar built
// here (also without its extension), and a wheel, each against dir: of
// the same file.
func TestScanSingleBinariesAndArchives(t *testing.T) {
	goDir := goOldBinary(t)
	goBin := filepath.Join(goDir, "usr/local/bin/goold")
	noExec := filepath.Join(t.TempDir(), "goold.bin")
	copyFile(t, goBin, noExec, 0o644)

	javaDir := javaFixture(t)
	war := filepath.Join(javaDir, "opt/app/app.war")
	jarDir := t.TempDir()
	jar := filepath.Join(jarDir, "lib/commons-text-1.9.jar")
	os.MkdirAll(filepath.Dir(jar), 0o755)
	os.WriteFile(jar, zipOf(t, map[string]string{
		"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\r\nImplementation-Title: Apache Commons Text\r\nImplementation-Version: 1.9\r\n\r\n",
		"META-INF/maven/org.apache.commons/commons-text/pom.properties": "groupId=org.apache.commons\nartifactId=commons-text\nversion=1.9\n",
		"org/apache/commons/text/StringSubstitutor.class":               "\xca\xfe\xba\xbe\x00\x00\x00\x34",
	}), 0o644)
	noExt := filepath.Join(t.TempDir(), "commons-text")
	copyFile(t, jar, noExt, 0o644)

	wheelDir := t.TempDir()
	wheel := filepath.Join(wheelDir, "urllib3-1.24.1-py2.py3-none-any.whl")
	os.WriteFile(wheel, zipOf(t, map[string]string{
		"urllib3/__init__.py":                    "",
		"urllib3-1.24.1.dist-info/METADATA":      "Metadata-Version: 2.1\nName: urllib3\nVersion: 1.24.1\n",
		"urllib3-1.24.1.dist-info/WHEEL":         "Wheel-Version: 1.0\n",
		"urllib3-1.24.1.dist-info/top_level.txt": "urllib3\n",
	}), 0o644)

	tests := []struct {
		name, target, dir string
	}{
		{"go_binary", goBin, goDir},
		{"go_binary_not_executable", noExec, goDir},
		{"war_with_nested_jar", war, javaDir},
		{"jar", jar, jarDir},
		{"jar_without_extension", noExt, jarDir},
		{"wheel", wheel, wheelDir},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := idents(scan(t, "dir:"+tc.dir, Options{}), nil)
			inv := scan(t, tc.target, Options{})
			if len(want) == 0 {
				t.Fatal("dir: found nothing")
			}
			if diff := cmp.Diff(want, idents(inv, nil)); diff != "" {
				t.Errorf("packages (-dir: +file):\n%s", diff)
			}
			for _, p := range inv.Packages {
				if len(p.Locations) == 0 || !strings.HasPrefix(p.Locations[0], tc.target) {
					t.Errorf("%s: locations %v, want them under %s", p.Name, p.Locations, tc.target)
				}
			}
		})
	}
}

func copyFile(t *testing.T, src, dst string, mode fs.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

// treeArchive writes the files under dir as a tar or zip archive.
func treeArchive(t *testing.T, dir, out, format string) {
	t.Helper()
	var buf bytes.Buffer
	var tw *tar.Writer
	var zw *zip.Writer
	if format == "zip" {
		zw = zip.NewWriter(&buf)
	} else {
		tw = tar.NewWriter(&buf)
	}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if fi.IsDir() {
			if tw != nil {
				return tw.WriteHeader(&tar.Header{Name: "./" + rel + "/", Typeflag: tar.TypeDir, Mode: 0o755})
			}
			_, err := zw.Create(rel + "/")
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if tw != nil {
			if err := tw.WriteHeader(&tar.Header{Name: "./" + rel, Typeflag: tar.TypeReg, Mode: int64(fi.Mode().Perm()), Size: int64(len(b))}); err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		h := &zip.FileHeader{Name: rel, Method: zip.Deflate}
		h.SetMode(fi.Mode())
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if tw != nil {
		tw.Close()
	} else {
		zw.Close()
	}
	b := buf.Bytes()
	switch format {
	case "tar.gz":
		b = gzipBytes(t, b)
	case "tar.zst":
		b = zstdBytes(t, b)
	case "tar.bz2":
		cmd := exec.Command("bzip2", "-c")
		cmd.Stdin = bytes.NewReader(b)
		if b, err = cmd.Output(); err != nil {
			testenv.Missing(t, "bzip2", "apt-get install bzip2")
		}
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func gzipBytes(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func zstdBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return zw.EncodeAll(b, nil)
}

// TestScanTreeArchives: tar (plain and compressed) and zip archives of the
// fixture trees give what dir: of the trees gives, locations included.
func TestScanTreeArchives(t *testing.T) {
	trees := map[string]string{
		"polyglot": "testdata/polyglot",
		"owned":    "testdata/owned",
		"java":     javaFixture(t),
		"go":       goOldBinary(t),
	}
	type id struct{ Eco, Name, Version, PURL, OwnedBy, Locations string }
	ids := func(inv *inventory.Inventory) []id {
		var out []id
		for _, p := range inv.Packages {
			out = append(out, id{p.Ecosystem, p.Name, p.Version, p.PURL, p.OwnedBy, strings.Join(p.Locations, ",")})
		}
		return out
	}
	out := t.TempDir()
	for name, dir := range trees {
		want := scan(t, "dir:"+dir, Options{})
		for _, format := range []string{"tar", "tar.gz", "tar.zst", "tar.bz2", "zip"} {
			t.Run(name+"_"+strings.ReplaceAll(format, ".", "_"), func(t *testing.T) {
				p := filepath.Join(out, name+"."+format)
				treeArchive(t, dir, p, format)
				inv := scan(t, p, Options{})
				if inv.Target.Kind != KindFile {
					t.Errorf("kind %q, want file", inv.Target.Kind)
				}
				if diff := cmp.Diff(ids(want), ids(inv)); diff != "" {
					t.Errorf("packages (-dir: +archive):\n%s", diff)
				}
				if diff := cmp.Diff(want.Distro, inv.Distro); diff != "" {
					t.Errorf("distro (-dir: +archive):\n%s", diff)
				}
				if len(inv.Errors) != 0 {
					t.Errorf("errors: %v", inv.Errors)
				}
			})
		}
	}
}

// hostile archives: each must be refused with an error naming the limit.
func TestRefusedArchives(t *testing.T) {
	dir := t.TempDir()
	tarWith := func(hs ...*tar.Header) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range hs {
			if h.Typeflag == 0 {
				h.Typeflag = tar.TypeReg
			}
			tw.WriteHeader(h)
			if h.Size > 0 {
				io.CopyN(tw, zeros{}, h.Size)
			}
		}
		tw.Close()
		return buf.Bytes()
	}
	zipWith := func(names ...string) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, n := range names {
			w, _ := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Deflate})
			w.Write([]byte("lockfileVersion"))
		}
		zw.Close()
		return buf.Bytes()
	}
	zipBomb := func(size int64) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: "app/package-lock.json", Method: zip.Deflate})
		io.CopyN(w, zeros{}, size)
		zw.Close()
		return buf.Bytes()
	}
	many := make([]*tar.Header, 40)
	for i := range many {
		many[i] = &tar.Header{Name: "d/f" + strings.Repeat("x", i), Mode: 0o644}
	}
	small := image.Limits{MaxEntries: 32, MaxBytes: 64 << 20, MaxRatio: 50, RatioFloor: 1 << 20, RefuseEscapes: true}
	noRatio := small
	noRatio.MaxRatio = 0
	tests := []struct {
		name, file string
		content    []byte
		want       string
		lim        *image.Limits
	}{
		{"tar_slip", "slip.tar", tarWith(&tar.Header{Name: "app/", Typeflag: tar.TypeDir}, &tar.Header{Name: "../../etc/cron.d/x", Mode: 0o644}), `"../../etc/cron.d/x" leaves the archive's root (zip-slip)`, nil},
		{"tar_absolute", "abs.tar", tarWith(&tar.Header{Name: "app/", Typeflag: tar.TypeDir}, &tar.Header{Name: "/etc/passwd", Mode: 0o644}), `"/etc/passwd" leaves the archive's root`, nil},
		{"tar_hardlink_out", "link.tar", tarWith(&tar.Header{Name: "app/", Typeflag: tar.TypeDir}, &tar.Header{Name: "app/x", Typeflag: tar.TypeLink, Linkname: "../../../etc/shadow"}), `"../../../etc/shadow" leaves`, nil},
		{"tar_gz_slip", "slip.tgz", gzipBytes(t, tarWith(&tar.Header{Name: "a/", Typeflag: tar.TypeDir}, &tar.Header{Name: "a/../../x", Mode: 0o644})), "zip-slip", nil},
		{"zip_slip", "slip.zip", zipWith("app/ok.txt", "../evil/package-lock.json"), `"../evil/package-lock.json" leaves the archive's root (zip-slip)`, nil},
		{"zip_backslash", "win.zip", zipWith("app/ok.txt", `..\..\evil.txt`), "leaves the archive's root", nil},
		{"too_many_entries", "many.tar", tarWith(many...), "more than 32 entries", nil},
		{"gzip_bomb", "bomb.tar.gz", gzipBytes(t, tarWith(&tar.Header{Name: "a/", Typeflag: tar.TypeDir}, &tar.Header{Name: "a/big", Mode: 0o644, Size: 60 << 20})), "decompression bomb", nil},
		{"too_many_bytes", "big.tar.gz", gzipBytes(t, tarWith(&tar.Header{Name: "a/", Typeflag: tar.TypeDir}, &tar.Header{Name: "a/big", Mode: 0o644, Size: 80 << 20})), "decompresses to more than", &noRatio},
		{"plain_tar_too_big", "big.tar", tarWith(&tar.Header{Name: "a/", Typeflag: tar.TypeDir}, &tar.Header{Name: "a/big", Mode: 0o644, Size: 70 << 20}), "more than 67108864 bytes", nil},
		{"zip_bomb", "bomb.zip", zipBomb(40 << 20), "decompression bomb", nil},
		{"gzip_bomb_docker_save", "img.tar.gz", gzipBytes(t, tarWith(&tar.Header{Name: strings.Repeat("ab", 32) + "/layer.tar", Mode: 0o644, Size: 60 << 20})), "decompression bomb", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.file)
			if err := os.WriteFile(p, tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			lim := small
			if tc.lim != nil {
				lim = *tc.lim
			}
			_, err := Scan(context.Background(), p, Options{Limits: lim})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Scan = %v, want an error containing %q", err, tc.want)
			}
			if !errors.Is(err, image.ErrLimit) || !errors.Is(err, ErrTarget) {
				t.Errorf("error %v is not ErrLimit and ErrTarget", err)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

// TestUnreadableFiles: files riskmap does not read are refused with an
// error saying what they are and what riskmap reads.
func TestUnreadableFiles(t *testing.T) {
	dir := t.TempDir()
	apk := func() []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		b := []byte("pkgname = musl\npkgver = 1.2.4-r2\n")
		tw.WriteHeader(&tar.Header{Name: ".PKGINFO", Mode: 0o644, Size: int64(len(b))})
		tw.Write(b)
		tw.Close()
		return gzipBytes(t, buf.Bytes())
	}
	tests := []struct {
		file, content, want string
	}{
		{"logo.png", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is a PNG image, which riskmap does not read; it reads directories, lockfiles"},
		{"notes.txt", "just some notes\n", "a text file, which riskmap does not read"},
		{"libc6_2.36-9_amd64.deb", "!<arch>\ndebian-binary   1342943816  0     0     100644  4         `\n2.0\n", "a Debian package file (.deb): riskmap reads the package databases of installed systems"},
		{"bash-5.1-6.el9.x86_64.rpm", "\xed\xab\xee\xdb\x03\x00\x00\x00\x00\x01bash", "an RPM package file (.rpm)"},
		{"musl-1.2.4-r2.apk", string(apk()), "an Alpine package file (.apk)"},
		{"data.json", `{"a": 1}`, "a JSON document (not an SBOM"},
		{"empty", "", "an empty file"},
	}
	for _, tc := range tests {
		t.Run(strings.ReplaceAll(tc.file, ".", "_"), func(t *testing.T) {
			p := filepath.Join(dir, tc.file)
			write(t, p, tc.content)
			for _, target := range []string{p, "file:" + p} {
				_, err := Scan(context.Background(), target, Options{})
				if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrTarget) {
					t.Errorf("Scan(%s) = %v, want a target error containing %q", target, err, tc.want)
				}
			}
		})
	}
}

// TestGoSum: go.sum lists every version the build considered; riskmap
// reads the go.mod beside it, or says why not.
func TestGoSum(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, "testdata/goold/go.mod", filepath.Join(dir, "go.mod"), 0o644)
	copyFile(t, "testdata/goold/go.sum", filepath.Join(dir, "go.sum"), 0o644)
	want := idents(scan(t, filepath.Join(dir, "go.mod"), Options{}), nil)
	got := idents(scan(t, filepath.Join(dir, "go.sum"), Options{}), nil)
	if len(want) == 0 || !slices.Equal(want, got) {
		t.Errorf("go.sum scan = %v, want the go.mod's %v", got, want)
	}
	alone := filepath.Join(t.TempDir(), "go.sum")
	copyFile(t, "testdata/goold/go.sum", alone, 0o644)
	if _, err := Scan(context.Background(), alone, Options{}); err == nil || !strings.Contains(err.Error(), "scan the go.mod beside it, or the built binary") {
		t.Errorf("lone go.sum: %v", err)
	}
}

// compressFile writes src compressed with format (gz or zst) to dst, as
// `docker save img | gzip > img.tar.gz` would.
func compressFile(t testing.TB, src, dst, format string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var w io.WriteCloser
	switch format {
	case "gz":
		w = gzip.NewWriter(out)
	case "zst":
		if w, err = zstd.NewWriter(out); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := io.Copy(w, in); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestScanCompressedImageArchives: a real `docker save` of the minbase
// image and its OCI archive, compressed by the test with gzip and zstd,
// give exactly what the uncompressed archives give (packages, locations,
// layers, digest), bare and with the archive prefixes.
func TestScanCompressedImageArchives(t *testing.T) {
	variant := testenv.RootfsMinbase
	docker := testenv.DockerArchive(t, variant)
	_, oci := ociLayout(t, variant)
	type id struct{ Eco, Name, Version, Layer, Locations string }
	ids := func(inv *inventory.Inventory) []id {
		var out []id
		for _, p := range inv.Packages {
			out = append(out, id{p.Ecosystem, p.Name, p.Version, p.Layer, strings.Join(p.Locations, ",")})
		}
		return out
	}
	dir := t.TempDir()
	for _, src := range []struct{ name, path, kind string }{
		{"docker_save", docker, KindDockerArchive},
		{"oci_archive", oci, KindOCIArchive},
	} {
		want := scan(t, src.path, Options{})
		if len(want.Packages) < 80 || want.Target.Kind != src.kind {
			t.Fatalf("%s: %d packages, kind %s", src.path, len(want.Packages), want.Target.Kind)
		}
		for _, format := range []string{"gz", "zst"} {
			p := filepath.Join(dir, src.name+".tar."+format)
			compressFile(t, src.path, p, format)
			for _, target := range []string{p, src.kind + ":" + p, "file:" + p} {
				t.Run(src.name+"_"+format+"_"+strings.SplitN(target, ":", 2)[0][:3], func(t *testing.T) {
					inv := scan(t, target, Options{})
					if inv.Target.Kind != src.kind || inv.Target.Digest != want.Target.Digest {
						t.Errorf("target %+v, want kind %s digest %s", inv.Target, src.kind, want.Target.Digest)
					}
					if diff := cmp.Diff(ids(want), ids(inv)); diff != "" {
						t.Errorf("packages (-uncompressed +compressed):\n%s", diff)
					}
					if diff := cmp.Diff(want.Distro, inv.Distro); diff != "" {
						t.Errorf("distro (-uncompressed +compressed):\n%s", diff)
					}
					if len(inv.Errors) != 0 {
						t.Errorf("errors: %v", inv.Errors)
					}
				})
			}
		}
	}
}
