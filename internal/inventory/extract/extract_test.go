package extract

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

func TestParseDpkgList(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "drops_directories", in: "/.\n/usr\n/usr/bin\n/usr/bin/curl\n/usr/share/doc/curl\n/usr/share/doc/curl/copyright\n", want: []string{"/usr/bin/curl", "/usr/share/doc/curl/copyright"}},
		{name: "keeps_trailing_file_like_empty_dir", in: "/etc\n/etc/foo.conf\n/var/lib/foo\n", want: []string{"/etc/foo.conf", "/var/lib/foo"}},
		{name: "crlf_and_garbage", in: "/bin/x\r\nrelative\n\n", want: []string{"/bin/x"}},
		{name: "empty", in: "", want: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ParseDpkgList([]byte(tc.in))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseAPKFiles(t *testing.T) {
	in := "C:Q1abc=\nP:musl\nV:1.2.4-r2\nF:lib\nR:ld-musl-x86_64.so.1\nR:libc.musl-x86_64.so.1\n\nP:busybox\nV:1.36.1-r5\nF:bin\nR:busybox\nF:etc/secfixes.d\nR:busybox\n"
	want := map[string][]string{
		"musl":    {"/lib/ld-musl-x86_64.so.1", "/lib/libc.musl-x86_64.so.1"},
		"busybox": {"/bin/busybox", "/etc/secfixes.d/busybox"},
	}
	if diff := cmp.Diff(want, ParseAPKFiles([]byte(in))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseSourceRPM(t *testing.T) {
	tests := []struct{ in, name, version string }{
		{"openssl-3.0.7-25.el9_3.src.rpm", "openssl", "3.0.7-25.el9_3"},
		{"python3-pip-21.2.3-7.el9.src.rpm", "python3-pip", "21.2.3-7.el9"},
		{"nodash.src.rpm", "", ""},
		{"", "", ""},
	}
	for _, tc := range tests {
		n, v := ParseSourceRPM(tc.in)
		if n != tc.name || v != tc.version {
			t.Errorf("ParseSourceRPM(%q) = %q, %q; want %q, %q", tc.in, n, v, tc.name, tc.version)
		}
	}
}

// TestAlpineAndRPM runs the apk extractor and our file lists on a
// hand-written Alpine database.
func TestAlpine(t *testing.T) {
	fsys := fstest.MapFS{
		"etc/os-release":       {Data: []byte("ID=alpine\nVERSION_ID=3.19.1\n")},
		"lib/apk/db/installed": {Data: []byte("P:musl\nV:1.2.4_git20230717-r4\nA:x86_64\no:musl\nL:MIT\nF:lib\nR:ld-musl-x86_64.so.1\n\nP:libcrypto3\nV:3.1.4-r5\nA:x86_64\no:openssl\nL:Apache-2.0\nF:usr/lib\nR:libcrypto.so.3\n\n")},
	}
	ex, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := ex.Run(context.Background(), mapFS{fsys})
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ Name, Version, Eco, Source string }
	var got []row
	for _, p := range res.Packages {
		got = append(got, row{p.Name, p.Version, p.Ecosystem, p.SourceName})
	}
	want := []row{{"libcrypto3", "3.1.4-r5", "Alpine:v3.19", "openssl"}, {"musl", "1.2.4_git20230717-r4", "Alpine:v3.19", "musl"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/usr/lib/libcrypto.so.3"}, res.Packages[0].Files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

// mapFS adds ReadDir/Stat (already on MapFS) under osv-scalibr's interface.
type mapFS struct{ fstest.MapFS }

func FuzzParseDpkgList(f *testing.F) {
	f.Add([]byte("/.\n/usr\n/usr/bin/curl\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range ParseDpkgList(b) {
			if p == "" || p[0] != '/' {
				t.Fatalf("non-absolute path %q", p)
			}
		}
	})
}

func FuzzParseAPKFiles(f *testing.F) {
	f.Add([]byte("P:musl\nV:1\nF:lib\nR:x\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, files := range ParseAPKFiles(b) {
			for _, p := range files {
				if p == "" || p[0] != '/' {
					t.Fatalf("non-absolute path %q", p)
				}
			}
		}
	})
}

func FuzzParseSourceRPM(f *testing.F) {
	f.Add("openssl-3.0.7-25.el9_3.src.rpm")
	f.Fuzz(func(t *testing.T, s string) {
		n, v := ParseSourceRPM(s)
		if (n == "") != (v == "") {
			t.Fatalf("ParseSourceRPM(%q) = %q, %q: one part empty", s, n, v)
		}
	})
}
