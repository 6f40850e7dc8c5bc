package feeds

import (
	"context"
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
