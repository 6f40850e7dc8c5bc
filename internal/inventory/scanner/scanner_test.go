package scanner

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/inventory/sbom"
	"github.com/riskmap/riskmap/internal/testenv"
)

func TestScanRootfsDir(t *testing.T) {
	for _, variant := range []string{testenv.RootfsMinbase, testenv.RootfsFull} {
		t.Run(strings.ReplaceAll(variant, "-", "_"), func(t *testing.T) {
			root := testenv.BookwormRootfs(t, variant)
			inv := scan(t, "dir:"+root, Options{})
			if diff := cmp.Diff(dpkgQuery(t, root), idents(inv, isOS)); diff != "" {
				t.Errorf("OS packages differ from dpkg-query (-dpkg +riskmap):\n%s", diff)
			}
			want := &inventory.Distro{ID: "debian", VersionID: "12", Codename: "bookworm", Name: "Debian GNU/Linux 12 (bookworm)"}
			if diff := cmp.Diff(want, inv.Distro); diff != "" {
				t.Errorf("distro (-want +got):\n%s", diff)
			}
			if len(inv.Errors) != 0 {
				t.Errorf("unexpected file errors: %v", inv.Errors)
			}
			libc := find(inv, "libc6")
			if libc == nil {
				t.Fatal("libc6 not found")
			}
			if libc.SourceName != "glibc" || !strings.HasPrefix(libc.PURL, "pkg:deb/debian/libc6@") || libc.Ecosystem != "Debian:12" {
				t.Errorf("libc6 = %+v, want source glibc, a deb purl and ecosystem Debian:12", libc)
			}
			// Paths as dpkg records them: bookworm packages still ship /lib
			// paths that merged-/usr symlinks redirect.
			// paths that merged-/usr symlinks redirect; the real path is
			// added, as a process's /proc/PID/maps shows it.
			for _, f := range []string{"/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6"} {
				if !slices.Contains(libc.Files, f) {
					t.Errorf("libc6 owned files lack %s", f)
				}
			}
			if slices.Contains(libc.Files, "/lib") || slices.Contains(libc.Files, "/lib/x86_64-linux-gnu") {
				t.Errorf("libc6 owned files include directories")
			}
			for _, p := range inv.Packages {
				if isOS(p) && (len(p.Files) == 0 || len(p.Locations) == 0) {
					t.Errorf("%s: files=%d locations=%v", p.Name, len(p.Files), p.Locations)
				}
			}
		})
	}
}

func find(inv *inventory.Inventory, name string) *inventory.Package {
	for i := range inv.Packages {
		if inv.Packages[i].Name == name {
			return &inv.Packages[i]
		}
	}
	return nil
}

// TestScanImageTargets scans the minbase image through every image path and
// expects exactly the packages of the root filesystem it was made from.
func TestScanImageTargets(t *testing.T) {
	variant := testenv.RootfsMinbase
	root := testenv.BookwormRootfs(t, variant)
	want := dpkgQuery(t, root)
	tests := []struct {
		name      string
		target    func(t *testing.T) string
		kind      string
		wantLayer bool
	}{
		{name: "docker_archive", kind: KindDockerArchive, wantLayer: true, target: func(t *testing.T) string {
			return "docker-archive:" + testenv.DockerArchive(t, variant)
		}},
		{name: "bare_archive_path", kind: KindDockerArchive, wantLayer: true, target: func(t *testing.T) string {
			return testenv.DockerArchive(t, variant)
		}},
		{name: "oci_dir", kind: KindOCIDir, wantLayer: true, target: func(t *testing.T) string {
			d, _ := ociLayout(t, variant)
			return "oci-dir:" + d
		}},
		{name: "oci_archive", kind: KindOCIArchive, wantLayer: true, target: func(t *testing.T) string {
			_, a := ociLayout(t, variant)
			return a // bare: recognised as an OCI archive
		}},
		{name: "docker_engine", kind: KindDocker, wantLayer: true, target: func(t *testing.T) string {
			return "docker:" + testenv.DockerImage(t, variant)
		}},
		{name: "bare_image_ref", kind: KindDocker, wantLayer: true, target: func(t *testing.T) string {
			return testenv.DockerImage(t, variant)
		}},
		{name: "running_container", kind: KindContainer, target: func(t *testing.T) string {
			return "container:" + runningContainer(t, variant)
		}},
		{name: "registry", kind: KindRegistry, wantLayer: true, target: func(t *testing.T) string {
			return "registry:" + pushToRegistry(t, variant)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.target(t)
			inv := scan(t, target, Options{})
			if inv.Target.Kind != tc.kind {
				t.Errorf("target kind = %q, want %q", inv.Target.Kind, tc.kind)
			}
			if diff := cmp.Diff(want, idents(inv, isOS)); diff != "" {
				t.Errorf("OS packages differ from the rootfs (-want +got):\n%s", diff)
			}
			if len(inv.Errors) != 0 {
				t.Errorf("unexpected errors: %v", inv.Errors)
			}
			libc := find(inv, "libc6")
			if libc == nil || !slices.Contains(libc.Files, "/lib/x86_64-linux-gnu/libc.so.6") || !slices.Contains(libc.Files, "/usr/lib/x86_64-linux-gnu/libc.so.6") {
				t.Fatalf("libc6 or its owned files missing: %+v", libc)
			}
			if tc.wantLayer && !strings.HasPrefix(libc.Layer, "sha256:") {
				t.Errorf("libc6 layer = %q, want the digest of the image's layer", libc.Layer)
			}
			if !tc.wantLayer && libc.Layer != "" {
				t.Errorf("libc6 layer = %q, want none for a container export", libc.Layer)
			}
		})
	}
}

func TestScanLanguageFixtures(t *testing.T) {
	tests := []struct {
		name   string
		target func(t *testing.T) string
		want   []string
	}{
		{
			name:   "go_binary_old_modules",
			target: func(t *testing.T) string { return "dir:" + goOldBinary(t) },
			want: []string{
				"Go example.com/riskmap/goold@(devel)",
				"Go github.com/gorilla/websocket@1.4.0",
				"Go golang.org/x/text@0.3.0",
				"Go stdlib@" + goVersion(t), // OSV's name for the Go standard library
			},
		},
		{
			name:   "npm_lockfile_old_versions",
			target: func(t *testing.T) string { return "dir:testdata/npm_old" },
			// The project itself (the lockfile's root entry) is listed too.
			want: []string{"npm lodash@4.17.4", "npm minimist@0.0.8", "npm qs@6.0.0", "npm riskmap-npm-old-fixture@1.0.0"},
		},
		{
			name:   "python_dist_info",
			target: func(t *testing.T) string { return "testdata/python_distinfo" },
			want:   []string{"PyPI Jinja2@2.10", "PyPI requests@2.19.0", "PyPI urllib3@1.23"},
		},
		{
			name:   "polyglot_lockfiles",
			target: func(t *testing.T) string { return "dir:testdata/polyglot" },
			want: []string{
				"Go golang.org/x/net@0.0.0-20190620200207-3b0461eec859",
				"NuGet Newtonsoft.Json@12.0.1",
				"NuGet System.Text.Encodings.Web@4.5.0",
				"NuGet app@1.0.0",
				"Packagist guzzlehttp/guzzle@6.3.0",
				"Packagist phpunit/phpunit@7.0.0",
				"PyPI django@2.2.0",
				"PyPI flask@0.12.2",
				"PyPI pillow@6.2.0",
				"PyPI pyyaml@5.3",
				"PyPI urllib3@1.24.1",
				"RubyGems mini_portile2@2.4.0",
				"RubyGems nokogiri@1.10.3",
				"RubyGems rack@2.0.1", // an installed gemspec
				"crates.io app@0.1.0",
				"crates.io smallvec@0.6.9",
				"npm handlebars@4.0.5",
				"npm minimist@0.0.8",
			},
		},
		{
			name:   "maven_and_gradle_manifests",
			target: func(t *testing.T) string { return "dir:testdata/maven" },
			// pom.xml with a version from its properties; gradle.lockfile.
			want: []string{
				"Maven com.fasterxml.jackson.core:jackson-databind@2.9.8",
				"Maven com.google.guava:guava@27.0-jre",
				"Maven org.apache.logging.log4j:log4j-core@2.14.1",
				"Maven org.yaml:snakeyaml@1.23",
			},
		},
		{
			name:   "java_nested_archives",
			target: func(t *testing.T) string { return "dir:" + javaFixture(t) },
			want: []string{
				"Maven com.example:app@1.0.0",
				"Maven org.apache.logging.log4j:log4j-core@2.14.1",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := scan(t, tc.target(t), Options{})
			if diff := cmp.Diff(tc.want, idents(inv, nil)); diff != "" {
				t.Errorf("packages (-want +got):\n%s", diff)
			}
			for _, p := range inv.Packages {
				if p.PURL == "" || len(p.Locations) == 0 {
					t.Errorf("%s: purl %q locations %v", p.Name, p.PURL, p.Locations)
				}
			}
		})
	}
}

func goVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goOldBinary(t), "usr/local/bin/goold"))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("go1."))
	if i < 0 {
		t.Fatal("no Go version in the binary")
	}
	j := i
	for j < len(b) && (b[j] == '.' || b[j] >= '0' && b[j] <= '9' || b[j] == 'g' || b[j] == 'o') {
		j++
	}
	return strings.TrimPrefix(string(b[i:j]), "go")
}

func TestOwnedBy(t *testing.T) {
	inv := scan(t, "dir:testdata/owned", Options{})
	got := map[string]string{}
	for _, p := range inv.Packages {
		got[p.Ecosystem+" "+p.Name+"@"+p.Version] = p.OwnedBy
	}
	want := map[string]string{
		"Debian:12 python3-urllib3@1.26.12-1": "",
		"PyPI urllib3@1.26.12":                "pkg:deb/debian/python3-urllib3@1.26.12-1?arch=all&distro=bookworm&source=python-urllib3",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("owned by (-want +got):\n%s", diff)
	}
	deb := find(inv, "python3-urllib3")
	wantFiles := []string{"/usr/lib/python3/dist-packages/urllib3-1.26.12.dist-info/METADATA", "/usr/lib/python3/dist-packages/urllib3/__init__.py"}
	if diff := cmp.Diff(wantFiles, deb.Files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if deb.SourceName != "python-urllib3" || deb.SourceVersion != "1.26.12-1" {
		t.Errorf("source = %s %s", deb.SourceName, deb.SourceVersion)
	}
}

func TestBadInput(t *testing.T) {
	owned, err := filepath.Abs("testdata/owned")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		setup      func(t *testing.T, root string)
		opts       Options
		wantPkgs   []string // still found
		wantErrFor string   // path with a FileError ("" = none expected)
	}{
		{
			name: "symlink_out_of_root",
			setup: func(t *testing.T, root string) {
				// The host is a Debian system: following this link would
				// report the host's packages.
				link(t, "/var/lib/dpkg/status", filepath.Join(root, "var/lib/dpkg/status"))
				copyTree(t, filepath.Join(owned, "etc"), filepath.Join(root, "etc"))
			},
			wantPkgs: nil,
		},
		{
			name: "relative_symlink_out_of_root",
			setup: func(t *testing.T, root string) {
				link(t, "../../../../../../../../../var/lib/dpkg/status", filepath.Join(root, "var/lib/dpkg/status"))
			},
			wantPkgs: nil,
		},
		{
			name: "symlink_loop",
			setup: func(t *testing.T, root string) {
				copyTree(t, owned, root)
				link(t, "b", filepath.Join(root, "srv/a"))
				link(t, "a", filepath.Join(root, "srv/b"))
				link(t, ".", filepath.Join(root, "srv/self"))
				link(t, "a", filepath.Join(root, "srv/package-lock.json"))
			},
			wantPkgs: []string{"Debian:12 python3-urllib3@1.26.12-1", "PyPI urllib3@1.26.12"},
		},
		{
			name: "corrupt_rpmdb",
			setup: func(t *testing.T, root string) {
				copyTree(t, owned, root)
				write(t, filepath.Join(root, "var/lib/rpm/rpmdb.sqlite"), "SQLite format 3\x00 but then garbage")
				write(t, filepath.Join(root, "var/lib/rpm/Packages"), strings.Repeat("\x00bdb?", 100))
			},
			wantPkgs:   []string{"Debian:12 python3-urllib3@1.26.12-1", "PyPI urllib3@1.26.12"},
			wantErrFor: "var/lib/rpm/rpmdb.sqlite",
		},
		{
			name: "corrupt_dpkg_status",
			setup: func(t *testing.T, root string) {
				copyTree(t, owned, root)
				write(t, filepath.Join(root, "var/lib/dpkg/status"), "Package: x\nStatus: broken\nVersion: 1\n\n")
			},
			wantPkgs:   []string{"PyPI urllib3@1.26.12"},
			wantErrFor: "var/lib/dpkg/status",
		},
		{
			name: "huge_file",
			setup: func(t *testing.T, root string) {
				copyTree(t, owned, root)
				write(t, filepath.Join(root, "app/package-lock.json"), `{"lockfileVersion":3,"packages":{"node_modules/x":{"version":"1.0.0"}}}`+strings.Repeat(" ", 8192))
			},
			opts:       Options{MaxFileSize: 4096},
			wantPkgs:   []string{"Debian:12 python3-urllib3@1.26.12-1", "PyPI urllib3@1.26.12"},
			wantErrFor: "app/package-lock.json",
		},
		{
			name: "pseudo_filesystems_skipped",
			setup: func(t *testing.T, root string) {
				copyTree(t, owned, root)
				for _, d := range []string{"proc/1/root", "sys/fs", "dev/shm"} {
					write(t, filepath.Join(root, d, "package-lock.json"), `{"lockfileVersion":3,"packages":{"node_modules/x":{"version":"1.0.0"}}}`)
				}
			},
			wantPkgs: []string{"Debian:12 python3-urllib3@1.26.12-1", "PyPI urllib3@1.26.12"},
		},
		{
			name: "malformed_lockfile",
			setup: func(t *testing.T, root string) {
				copyTree(t, owned, root)
				write(t, filepath.Join(root, "app/package-lock.json"), `{"lockfileVersion":3,"packages":{`)
			},
			wantPkgs:   []string{"Debian:12 python3-urllib3@1.26.12-1", "PyPI urllib3@1.26.12"},
			wantErrFor: "app/package-lock.json",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			os.MkdirAll(filepath.Join(root, "var/lib/dpkg"), 0o755)
			os.MkdirAll(filepath.Join(root, "srv"), 0o755)
			tc.setup(t, root)
			inv := scan(t, "dir:"+root, tc.opts)
			if diff := cmp.Diff(tc.wantPkgs, idents(inv, nil)); diff != "" {
				t.Errorf("packages (-want +got):\n%s", diff)
			}
			var errPaths []string
			for _, e := range inv.Errors {
				errPaths = append(errPaths, e.Path)
				if e.Error == "" {
					t.Errorf("empty error message for %s", e.Path)
				}
			}
			if tc.wantErrFor != "" && !slices.Contains(errPaths, tc.wantErrFor) {
				t.Errorf("errors %v do not name %s", inv.Errors, tc.wantErrFor)
			}
		})
	}
}

func TestTruncatedArchive(t *testing.T) {
	src := testenv.DockerArchive(t, testenv.RootfsMinbase)
	fi, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cut := filepath.Join(t.TempDir(), "cut.tar")
	out, err := os.Create(cut)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := out.ReadFrom(ioLimit(f, fi.Size()/2)); err != nil {
		t.Fatal(err)
	}
	out.Close()
	_, err = Scan(context.Background(), "docker-archive:"+cut, Options{})
	if err == nil || !strings.Contains(err.Error(), "manifest.json") {
		t.Fatalf("Scan(truncated archive) error = %v, want one naming the missing manifest", err)
	}
}

func TestTargetErrors(t *testing.T) {
	for _, target := range []string{"dir:/nonexistent/riskmap", "docker-archive:/nonexistent.tar", "sbom:/nonexistent.json", ""} {
		_, err := Scan(context.Background(), target, Options{})
		if err == nil {
			t.Errorf("Scan(%q): no error", target)
			continue
		}
		if !errors.Is(err, ErrTarget) {
			t.Errorf("Scan(%q) = %v, want ErrTarget", target, err)
		}
	}
}

// TestSBOMRoundTrip writes every format and reads CycloneDX and SPDX back
// as sbom: targets.
func TestSBOMRoundTrip(t *testing.T) {
	inv := scan(t, "dir:testdata/owned", Options{})
	for _, format := range []string{sbom.FormatCycloneDX, sbom.FormatSPDX, sbom.FormatJSON} {
		t.Run(strings.ReplaceAll(format, "-", "_"), func(t *testing.T) {
			var buf bytes.Buffer
			if err := sbom.Write(&buf, inv, format, sbom.Tool{Name: "riskmap", Version: "test"}); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), "doc.json")
			write(t, p, buf.String())
			back := scan(t, "sbom:"+p, Options{})
			type id struct{ Eco, Name, Version, PURL, Source, OwnedBy string }
			ids := func(inv *inventory.Inventory) []id {
				var out []id
				for _, p := range inv.Packages {
					out = append(out, id{p.Ecosystem, p.Name, p.Version, p.PURL, p.SourceName, p.OwnedBy})
				}
				return out
			}
			if diff := cmp.Diff(ids(inv), ids(back)); diff != "" {
				t.Errorf("round trip (-scanned +read back):\n%s", diff)
			}
		})
	}
}
