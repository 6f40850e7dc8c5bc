package scanner

import (
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in, kind, ref string
	}{
		{"dir:/srv/app", KindDir, "/srv/app"},
		{"registry:127.0.0.1:5000/a/b:1", KindRegistry, "127.0.0.1:5000/a/b:1"},
		{"container:web-1", KindContainer, "web-1"},
		{"testdata/owned", KindDir, "testdata/owned"},
		{"debian:bookworm", KindImageRef, "debian:bookworm"},
		{"127.0.0.1:5000/x:1", KindImageRef, "127.0.0.1:5000/x:1"},
	}
	for _, tc := range tests {
		got, err := ParseTarget(tc.in)
		if err != nil || got.Kind != tc.kind || got.Ref != tc.ref {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %s %s", tc.in, got, err, tc.kind, tc.ref)
		}
	}
	for _, bad := range []string{"", "dir:", "./missing/dir", "testdata/owned/etc/os-release"} {
		if got, err := ParseTarget(bad); err == nil {
			t.Errorf("ParseTarget(%q) = %+v, want an error", bad, got)
		}
	}
}

func FuzzParseTarget(f *testing.F) {
	f.Add("dir:/x")
	f.Add("docker:alpine:3.19")
	f.Add("sbom:")
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err == nil && tg.Ref == "" {
			t.Fatalf("ParseTarget(%q): empty ref without error", s)
		}
	})
}

func FuzzDBEntries(f *testing.F) {
	f.Add("var/lib/dpkg/status", []byte("Package: a\nVersion: 1\n\nPackage: b\nVersion: 2\n"))
	f.Add("lib/apk/db/installed", []byte("P:musl\nV:1.2\n\n"))
	f.Fuzz(func(t *testing.T, db string, b []byte) {
		for k := range dbEntries(db, b) {
			if !strings.Contains(k, "\x00") {
				t.Fatalf("entry %q without separator", k)
			}
		}
	})
}
