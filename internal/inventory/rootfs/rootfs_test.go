package rootfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tree builds a directory with links that try to leave it.
func tree(t *testing.T) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "root")
	outside = filepath.Join(base, "outside")
	must(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(t, os.MkdirAll(filepath.Join(root, "usr/lib"), 0o755))
	must(t, os.MkdirAll(outside, 0o755))
	must(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("host secret"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "usr/lib/os-release"), []byte("ID=debian\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "secret"), []byte("root's own secret"), 0o644))
	// Relative and absolute links that stay inside.
	must(t, os.Symlink("../usr/lib/os-release", filepath.Join(root, "etc/os-release")))
	must(t, os.Symlink("/usr/lib", filepath.Join(root, "lib")))
	// Links that would leave the root on the host.
	must(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "etc/abs-escape")))
	must(t, os.Symlink("../../../../../../../../"+filepath.Join(outside, "secret"), filepath.Join(root, "etc/rel-escape")))
	must(t, os.Symlink(outside, filepath.Join(root, "outdir")))
	// A loop.
	must(t, os.Symlink("loop-b", filepath.Join(root, "loop-a")))
	must(t, os.Symlink("loop-a", filepath.Join(root, "loop-b")))
	return root, outside
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestReadFile(t *testing.T) {
	root, _ := tree(t)
	f, err := Open(root)
	must(t, err)
	defer f.Close()
	tests := []struct {
		name    string
		path    string
		want    string
		wantErr error
	}{
		{name: "relative_link_inside", path: "etc/os-release", want: "ID=debian\n"},
		{name: "absolute_link_to_dir_reroots", path: "lib/os-release", want: "ID=debian\n"},
		// An absolute link is read as the scanned system would see it:
		// /<outside>/secret inside the root, which does not exist.
		{name: "absolute_escape_reroots", path: "etc/abs-escape", wantErr: fs.ErrNotExist},
		// ../.. stops at the root: "secret" of the root itself.
		{name: "relative_escape_clamped", path: "etc/rel-escape", wantErr: fs.ErrNotExist},
		{name: "dir_link_out", path: "outdir/secret", wantErr: fs.ErrNotExist},
		{name: "loop", path: "loop-a", wantErr: ErrLoop},
		{name: "invalid_path", path: "../secret", wantErr: fs.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := fs.ReadFile(f, tc.path)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ReadFile(%q) = %q, %v; want error %v", tc.path, b, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadFile(%q): %v", tc.path, err)
			}
			if diff := cmp.Diff(tc.want, string(b)); diff != "" {
				t.Errorf("ReadFile(%q) (-want +got):\n%s", tc.path, diff)
			}
		})
	}
}

func TestRelativeEscapeLandsOnRootFile(t *testing.T) {
	root, outside := tree(t)
	// "../../.../<outside>/secret" clamps at the root and then walks
	// <outside> below it; create that path inside the root to prove it is
	// the one read.
	inside := filepath.Join(root, outside)
	must(t, os.MkdirAll(inside, 0o755))
	must(t, os.WriteFile(filepath.Join(inside, "secret"), []byte("inside"), 0o644))
	f, err := Open(root)
	must(t, err)
	defer f.Close()
	for _, p := range []string{"etc/rel-escape", "etc/abs-escape", "outdir/secret"} {
		b, err := fs.ReadFile(f, p)
		if err != nil || string(b) != "inside" {
			t.Errorf("ReadFile(%q) = %q, %v; want the root's copy %q", p, b, err, "inside")
		}
	}
}

func TestReadDirDoesNotFollowLinks(t *testing.T) {
	root, _ := tree(t)
	f, err := Open(root)
	must(t, err)
	defer f.Close()
	var got []string
	err = fs.WalkDir(f, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			got = append(got, p+"@")
			return nil
		}
		got = append(got, p)
		return nil
	})
	must(t, err)
	want := []string{".", "etc", "etc/abs-escape@", "etc/os-release@", "etc/rel-escape@", "lib@", "loop-a@", "loop-b@", "outdir@", "secret", "usr", "usr/lib", "usr/lib/os-release"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("walk (-want +got):\n%s", diff)
	}
}

func TestStatFollowsInside(t *testing.T) {
	root, _ := tree(t)
	f, err := Open(root)
	must(t, err)
	defer f.Close()
	fi, err := f.Stat("lib")
	must(t, err)
	if !fi.IsDir() {
		t.Errorf("Stat(lib) is not the directory usr/lib: %v", fi.Mode())
	}
	li, err := f.Lstat("lib")
	must(t, err)
	if li.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat(lib) = %v, want a symlink", li.Mode())
	}
}

func FuzzResolveWith(f *testing.F) {
	f.Add("a/b/c", "../x", true)
	f.Add("loop", "loop", true)
	f.Add("a/../../b", "/abs/target", false)
	f.Fuzz(func(t *testing.T, name, target string, followLast bool) {
		if !fs.ValidPath(name) {
			return
		}
		p, err := ResolveWith(name, followLast, func(p string) (string, bool, error) {
			if len(p)%3 == 0 {
				return target, true, nil
			}
			return "", false, nil
		})
		if err == nil && !fs.ValidPath(p) {
			t.Fatalf("ResolveWith(%q) = %q, not a valid path inside the root", name, p)
		}
	})
}

// TestOpenDir: entries opened and stat-ed relative to an open directory
// follow links with the same chroot semantics as the FS, never out of it.
func TestOpenDir(t *testing.T) {
	root, _ := tree(t)
	f, err := Open(root)
	must(t, err)
	defer f.Close()
	d, ents, err := f.OpenDir("etc")
	must(t, err)
	defer d.Close()
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"abs-escape", "os-release", "rel-escape"}, names); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	tests := []struct {
		name    string
		entry   string
		want    string
		wantErr error
	}{
		{name: "link_inside", entry: "os-release", want: "ID=debian\n"},
		{name: "absolute_escape_reroots", entry: "abs-escape", wantErr: fs.ErrNotExist},
		{name: "relative_escape_clamped", entry: "rel-escape", wantErr: fs.ErrNotExist},
		{name: "missing", entry: "nope", wantErr: fs.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, serr := d.Stat(tc.entry)
			file, err := d.Open(tc.entry)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !errors.Is(serr, tc.wantErr) {
					t.Fatalf("Open, Stat = %v, %v; want %v", err, serr, tc.wantErr)
				}
				return
			}
			must(t, err)
			must(t, serr)
			defer file.Close()
			b := make([]byte, 64)
			n, _ := file.Read(b)
			if string(b[:n]) != tc.want {
				t.Errorf("read %q, want %q", b[:n], tc.want)
			}
		})
	}
	// A plain file: stat from the directory, read, rewind, read at.
	top, _, err := f.OpenDir(".")
	must(t, err)
	defer top.Close()
	fi, err := top.Stat("secret")
	must(t, err)
	if fi.Size() != int64(len("root's own secret")) || !fi.Mode().IsRegular() {
		t.Errorf("stat secret: size %d mode %v", fi.Size(), fi.Mode())
	}
	file, err := top.Open("secret")
	must(t, err)
	defer file.Close()
	b, err := io.ReadAll(file)
	must(t, err)
	if _, err := file.(io.Seeker).Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	again, err := io.ReadAll(file)
	must(t, err)
	at := make([]byte, 3)
	_, err = file.(io.ReaderAt).ReadAt(at, 7)
	must(t, err)
	if string(b) != "root's own secret" || string(again) != string(b) || string(at) != "own" {
		t.Errorf("read %q, again %q, at %q", b, again, at)
	}
}
