package feeds

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzIdentify feeds arbitrary uploads to identify: whatever the content
// says, an accepted file is filed at a path of a known kind inside feeds/.
func FuzzIdentify(f *testing.F) {
	f.Add("all.zip", []byte("PK\x03\x04garbage"))
	f.Add("kev.json", []byte(`{"catalogVersion":"1","vulnerabilities":[{"cveID":"CVE-2020-1"}]}`))
	f.Add("secdb.json", []byte(`{"distroversion":"v3.20","reponame":"main","packages":[]}`))
	f.Add("secdb.json", []byte(`{"distroversion":"..","reponame":"x/y","packages":[]}`))
	f.Add("epss.csv", []byte("#model_version:v1\ncve,epss,percentile\nCVE-2020-1,0.1,0.2\n"))
	f.Add("x.csv", []byte("cve,source,cvss_version,vector,base_score\n"))
	f.Add("..", []byte("cve,source,cvss_version,vector,base_score\n"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		if name == "" || strings.ContainsAny(name, `/\`) {
			return // a file's base name
		}
		file, err := identifyData(context.Background(), name, data)
		if err != nil {
			return
		}
		if !filepath.IsLocal(file.rel) || filepath.Clean(file.rel) != file.rel || kindOf(file.rel) == KindUnknown {
			t.Fatalf("%q filed at %q", name, file.rel)
		}
	})
}

// FuzzReadBundle feeds arbitrary tars (plain or gzipped) to readBundle:
// it never panics, and whatever it files is a local path of a known kind.
func FuzzReadBundle(f *testing.F) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, n := range []string{"feeds/kev/known_exploited_vulnerabilities.json", "../../etc/osv/x/all.zip", "riskmap-feeds-bundle.json"} {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
		tw.Write([]byte("{}"))
	}
	tw.Close()
	f.Add(b.Bytes())
	f.Add([]byte{0x1f, 0x8b, 8, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "upload.tar")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		files, err := readBundle(p)
		if err != nil {
			return
		}
		for rel := range files {
			if !filepath.IsLocal(rel) || filepath.Clean(rel) != rel || kindOf(rel) == KindUnknown {
				t.Fatalf("a member filed at %q", rel)
			}
		}
	})
}
