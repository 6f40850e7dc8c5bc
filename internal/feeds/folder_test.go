package feeds

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/testenv"
)

// folderTar is a tar of files of the shared feeds folder, each under
// prefix + its path there (as tar -C feeds -cf x.tar . or tar -cf x.tar
// feeds/ make it), gzipped when gz.
func folderTar(t *testing.T, prefix string, gz bool, rels ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	var w = &b
	var zw *gzip.Writer
	tw := tar.NewWriter(w)
	if gz {
		zw = gzip.NewWriter(w)
		tw = tar.NewWriter(zw)
	}
	for _, rel := range rels {
		data, err := os.ReadFile(filepath.Join(testenv.SharedFeeds(t), rel))
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: prefix + rel, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		zw.Close()
	}
	return b.Bytes()
}

// TestImportFolderTar: a tar of a feeds folder in the shared layout (no
// bundle marker; under feeds/, ./ or deeper; plain or gzipped) files each
// feed under its path, skipping what is no feed (README.md, MANIFEST.json,
// the KEV history); a tar without any feed file is refused, saying what
// is wanted.
func TestImportFolderTar(t *testing.T) {
	files := []string{"README.md", "MANIFEST.json", "alpine/secdb/edge/main.json", "kev/known_exploited_vulnerabilities.json",
		"kev/history/known_exploited_vulnerabilities-2025.08.25.json"}
	want := []SourceStatus{
		{Source: "alpine:edge/main", Path: "alpine/secdb/edge/main.json", Records: 286},
		{Source: "kev", Path: "kev/known_exploited_vulnerabilities.json", Records: 1662},
	}
	for _, tc := range []struct {
		name   string
		prefix string
		gz     bool
	}{
		{"feeds_dir", "feeds/", false},
		{"dot", "./", false},
		{"deeper", "shared/feeds/", false},
		{"gzipped", "feeds/", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := New(Config{DataDir: t.TempDir(), Now: func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }})
			up := uploadFile{data: folderTar(t, tc.prefix, tc.gz, files...), name: "feeds.tar"}
			if err := up.importInto(t, m); err != nil {
				t.Fatal(err)
			}
			st, err := m.Status()
			if err != nil {
				t.Fatal(err)
			}
			var got []SourceStatus
			for _, s := range st {
				got = append(got, SourceStatus{Source: s.Source, Path: s.Path, Records: s.Records})
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("sources (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("no_feed_in_the_tar", func(t *testing.T) {
		m := New(Config{DataDir: t.TempDir()})
		err := uploadFile{data: folderTar(t, "feeds/", false, "README.md"), name: "docs.tar"}.importInto(t, m)
		if err == nil || !strings.Contains(err.Error(), "no feed file in the tar") {
			t.Errorf("a tar of docs: %v", err)
		}
	})
}

func TestFolderRel(t *testing.T) {
	for in, want := range map[string]string{
		"feeds/osv/Go/all.zip":              "osv/Go/all.zip",
		"./osv/PyPI/all.zip":                "osv/PyPI/all.zip",
		"x/y/feeds/epss/epss_scores.csv.gz": "epss/epss_scores.csv.gz",
		"feeds/kev/history/kev.json":        "",
		"feeds/README.md":                   "",
		"../osv/Go/all.zip":                 "osv/Go/all.zip", // cleaned: never outside the feeds directory
		"/etc/passwd":                       "",
	} {
		if got := folderRel(in); got != want {
			t.Errorf("folderRel(%q) = %q, want %q", in, got, want)
		}
	}
}
