package filetype

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"os/exec"
	"path"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"

	"github.com/riskmap/riskmap/internal/testenv"
)

func tarOf(t testing.TB, names ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		if strings.HasSuffix(n, "/") {
			tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeDir, Mode: 0o755})
			continue
		}
		body := []byte("{}")
		tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write(body)
	}
	tw.Close()
	return buf.Bytes()
}

func zipOf(t testing.TB, names ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, _ := zw.Create(n)
		w.Write([]byte("x"))
	}
	zw.Close()
	return buf.Bytes()
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func zst(t testing.TB, b []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return zw.EncodeAll(b, nil)
}

// bz2 runs bzip2(1): the standard library only reads the format.
func bz2(t testing.TB, b []byte) []byte {
	t.Helper()
	cmd := exec.Command("bzip2", "-c")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		testenv.Missing(t, "bzip2", "apt-get install bzip2")
	}
	return out
}

func xzOf(t testing.TB, b []byte) []byte {
	t.Helper()
	cmd := exec.Command("xz", "-c")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		testenv.Missing(t, "xz", "apt-get install xz-utils")
	}
	return out
}

// wantsLockfiles stands for the extractor list: it reads these names.
func wantsLockfiles(p string) bool {
	switch path.Base(p) {
	case "Cargo.lock", "package-lock.json", "go.mod", "requirements.txt", "pom.xml":
		return true
	}
	return false
}

func TestDetect(t *testing.T) {
	legacy := strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		file    string
		content func(t *testing.T) []byte
		want    Type
	}{
		{"docker_save_legacy", "img.tar", func(t *testing.T) []byte { return tarOf(t, legacy+"/", legacy+"/VERSION", "manifest.json") },
			Type{Format: DockerArchive, What: "docker save archive"}},
		{"docker_save_gzip", "img.tar.gz", func(t *testing.T) []byte { return gz(tarOf(t, legacy+"/", legacy+"/layer.tar")) },
			Type{Format: DockerArchive, Compression: Gzip, What: "gzip-compressed docker save archive"}},
		{"docker_save_zstd", "img", func(t *testing.T) []byte { return zst(t, tarOf(t, "blobs/", "blobs/sha256/"+legacy, "manifest.json")) },
			Type{Format: OCIArchive, Compression: Zstd, What: "zstd-compressed OCI image archive"}},
		{"oci_archive_bzip2", "img.tar.bz2", func(t *testing.T) []byte { return bz2(t, tarOf(t, "oci-layout", "index.json")) },
			Type{Format: OCIArchive, Compression: Bzip2, What: "bzip2-compressed OCI image archive"}},
		{"xz_not_read", "src.tar.xz", func(t *testing.T) []byte { return xzOf(t, tarOf(t, "app/", "app/go.mod")) },
			Type{Compression: XZ, What: "xz-compressed file (riskmap reads gzip, zstd and bzip2: recompress it)"}},
		{"tree_tar", "src.tar", func(t *testing.T) []byte { return tarOf(t, "./", "./app/", "./app/package-lock.json") },
			Type{Format: TreeTar, What: "tar archive of a directory tree"}},
		{"tree_tar_gzip", "src.tgz", func(t *testing.T) []byte { return gz(tarOf(t, "app/", "app/go.mod")) },
			Type{Format: TreeTar, Compression: Gzip, What: "gzip-compressed tar archive of a directory tree"}},
		{"tree_zip", "src.zip", func(t *testing.T) []byte { return zipOf(t, "app/Cargo.lock", "app/src/main.rs") },
			Type{Format: TreeZip, What: "zip archive of a directory tree"}},
		{"tree_zip_with_a_jar_inside", "dist.zip", func(t *testing.T) []byte {
			return zipOf(t, "app/lib/x.jar", "app/classes/A.class", "app/META-INF/MANIFEST.MF", "app/package-lock.json")
		},
			Type{Format: TreeZip, What: "zip archive of a directory tree"}},
		{"jar", "app.jar", func(t *testing.T) []byte { return zipOf(t, "META-INF/MANIFEST.MF") },
			Type{Format: JavaArchive, What: "Java archive"}},
		{"jar_without_extension", "app", func(t *testing.T) []byte { return zipOf(t, "META-INF/MANIFEST.MF", "a/B.class") },
			Type{Format: JavaArchive, Name: "app.jar", What: "Java archive"}},
		{"war_as_zip", "app.zip", func(t *testing.T) []byte { return zipOf(t, "WEB-INF/web.xml", "META-INF/maven/g/a/pom.properties") },
			Type{Format: JavaArchive, Name: "app.zip.jar", What: "Java archive"}},
		{"wheel", "dl", func(t *testing.T) []byte {
			return zipOf(t, "pkg/__init__.py", "pkg-1.0.dist-info/METADATA", "pkg-1.0.dist-info/WHEEL")
		},
			Type{Format: PythonWheel, Name: "dl.whl", What: "Python wheel"}},
		{"egg", "x.egg", func(t *testing.T) []byte { return zipOf(t, "EGG-INFO/PKG-INFO") },
			Type{Format: PythonEgg, What: "Python egg"}},
		{"elf", "app", func(t *testing.T) []byte { return append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 64)...) },
			Type{Format: Executable, What: "ELF executable"}},
		{"pe", "app.exe", func(t *testing.T) []byte { return append([]byte("MZ\x90\x00"), make([]byte, 64)...) },
			Type{Format: Executable, What: "PE (Windows) executable"}},
		{"java_class_not_macho", "A.class", func(t *testing.T) []byte { return []byte("\xca\xfe\xba\xbe\x00\x00\x00\x34rest") },
			Type{What: "Java class file (scan the jar it belongs to)"}},
		{"lockfile_by_name", "Cargo.lock", func(t *testing.T) []byte { return []byte("# anything\n") },
			Type{Format: Lockfile, What: "lockfile or manifest Cargo.lock"}},
		{"cyclonedx", "bom.json", func(t *testing.T) []byte { return []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6"}`) },
			Type{Format: SBOM, What: "CycloneDX JSON SBOM"}},
		{"spdx", "doc.spdx.json", func(t *testing.T) []byte { return []byte("\xef\xbb\xbf {\"spdxVersion\":\"SPDX-2.3\"}") },
			Type{Format: SBOM, What: "SPDX JSON SBOM"}},
		{"renamed_package_lock", "npm.json", func(t *testing.T) []byte { return []byte(`{"name":"x","lockfileVersion":3,"packages":{}}`) },
			Type{Format: Lockfile, Name: "package-lock.json", What: "npm lockfile (package-lock.json)"}},
		{"renamed_cargo_lock", "deps.lock", func(t *testing.T) []byte {
			return []byte("# This file is automatically @generated by Cargo.\nversion = 3\n\n[[package]]\nname = \"a\"\n")
		}, Type{Format: Lockfile, Name: "Cargo.lock", What: "Cargo lockfile (Cargo.lock)"}},
		{"renamed_requirements", "deps.txt", func(t *testing.T) []byte {
			return []byte("# pinned\nDjango==2.2.0\nurllib3[socks]>=1.24 ; python_version>'3'\n-r other.txt\n")
		},
			Type{Format: Lockfile, Name: "requirements.txt", What: "pip requirements file"}},
		{"renamed_go_mod", "go.mod.orig", func(t *testing.T) []byte {
			return []byte("module example.com/x\n\ngo 1.22\n\nrequire golang.org/x/text v0.3.0\n")
		},
			Type{Format: Lockfile, Name: "go.mod", What: "Go module file (go.mod)"}},
		{"renamed_pom", "build.xml", func(t *testing.T) []byte {
			return []byte(`<?xml version="1.0"?><project xmlns="http://maven.apache.org/POM/4.0.0"></project>`)
		}, Type{Format: Lockfile, Name: "pom.xml", What: "Maven project (pom.xml)"}},
		{"renamed_gemfile_lock", "Gemfile.old", func(t *testing.T) []byte {
			return []byte("GEM\n  remote: https://rubygems.org/\n  specs:\n    rack (2.0.1)\n")
		},
			Type{Format: Lockfile, Name: "Gemfile.lock", What: "Bundler lockfile (Gemfile.lock)"}},
		{"go_sum", "go.sum", func(t *testing.T) []byte {
			return []byte("golang.org/x/text v0.3.0 h1:g61tztE5qeGQ89tm6NTjjM9VPIm088od1l6aSorWRWg=\n")
		},
			Type{Format: GoSum, What: "go.sum (checksums of every module version the build considered)"}},
		{"deb", "x.deb", func(t *testing.T) []byte {
			return []byte("!<arch>\ndebian-binary   1342943816  0     0     100644  4         `\n2.0\n")
		},
			Type{Format: DebPackage, What: "Debian package file (.deb)"}},
		{"rpm", "x.rpm", func(t *testing.T) []byte { return append([]byte("\xed\xab\xee\xdb\x03\x00"), make([]byte, 90)...) },
			Type{Format: RPMPackage, What: "RPM package file (.rpm)"}},
		{"apk", "x.apk", func(t *testing.T) []byte { return gz(tarOf(t, ".SIGN.RSA.alpine-devel.rsa.pub")) },
			Type{Format: APKPackage, Compression: Gzip, What: "Alpine package file (.apk)"}},
		{"png", "logo.png", func(t *testing.T) []byte { return []byte("\x89PNG\r\n\x1a\n\x00\x00") },
			Type{What: "PNG image"}},
		{"gzip_of_text", "notes.gz", func(t *testing.T) []byte { return gz([]byte("hello\n")) },
			Type{Compression: Gzip, What: "gzip-compressed text file"}},
		{"text", "README", func(t *testing.T) []byte { return []byte("# Title\nSome words.\n") },
			Type{What: "text file"}},
		{"json", "data.json", func(t *testing.T) []byte { return []byte(`{"a":1}`) },
			Type{What: "JSON document (not an SBOM, an inventory or a lockfile riskmap reads)"}},
		{"cyclonedx_xml", "bom.xml", func(t *testing.T) []byte {
			return []byte(`<?xml version="1.0"?><bom xmlns="http://cyclonedx.org/schema/bom/1.5">`)
		},
			Type{What: "CycloneDX XML SBOM (riskmap reads the JSON form: convert it, or scan the target it describes)"}},
		{"empty", "x", func(t *testing.T) []byte { return nil }, Type{What: "empty file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.content(t)
			got, err := Detect(bytes.NewReader(b), int64(len(b)), "dir/"+tc.file, Options{Wants: wantsLockfiles})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Detect (-want +got):\n%s", diff)
			}
		})
	}
}

func TestA(t *testing.T) {
	for in, want := range map[string]string{
		"ELF executable":     "an ELF executable",
		"PNG image":          "a PNG image",
		"RPM package file":   "an RPM package file",
		"SQLite database":    "an SQLite database",
		"Alpine package":     "an Alpine package",
		"gzip-compressed x":  "a gzip-compressed x",
		"Java archive":       "a Java archive",
		"XML document":       "an XML document",
		"empty file":         "an empty file",
		"Debian package":     "a Debian package",
		"OCI image archive":  "an OCI image archive",
		"zip archive of a x": "a zip archive of a x",
	} {
		if got := A(in); got != want {
			t.Errorf("A(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzDetect feeds Detect any content: it must not panic, must judge
// without an error when all bytes are there, and what it says must be
// said (a Type always describes the file).
func FuzzDetect(f *testing.F) {
	f.Add([]byte("\x1f\x8b\x08\x00"), "x.tar.gz")
	f.Add(gz(tarOf(f, "manifest.json")), "img.tgz")
	f.Add(tarOf(f, "oci-layout"), "img.tar")
	f.Add(zipOf(f, "META-INF/MANIFEST.MF"), "app")
	f.Add(zipOf(f, "a-1.dist-info/WHEEL"), "a.whl")
	f.Add([]byte(`{"lockfileVersion":2}`), "x.json")
	f.Add([]byte("Django==2.2\n"), "r.txt")
	f.Add([]byte("\x7fELF\x02\x01"), "app")
	f.Add([]byte("BZh91AY&SY"), "x.bz2")
	f.Add([]byte{0xfd, '7', 'z', 'X', 'Z', 0}, "x.xz")
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd}, "x.zst")
	f.Fuzz(func(t *testing.T, b []byte, name string) {
		got, err := Detect(bytes.NewReader(b), int64(len(b)), name, Options{Wants: wantsLockfiles})
		if err != nil {
			t.Fatalf("Detect: %v", err)
		}
		if got.What == "" {
			t.Fatalf("Detect = %+v: no description", got)
		}
		if got.Supported() && got.Format == Unknown {
			t.Fatalf("Detect = %+v: supported without a format", got)
		}
	})
}
