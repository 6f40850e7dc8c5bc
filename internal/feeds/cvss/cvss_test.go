package cvss

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/vuln/cvss"
)

// TestReadCSVShared reads the shared CSV: every row parses and the count is
// the one in the feeds README.
func TestReadCSVShared(t *testing.T) {
	f, err := os.Open(filepath.Join(testenv.SharedFeeds(t), "cvss", "cve_cvss.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := ReadCSV(f, func(cvss.Metric) {})
	if err != nil {
		t.Fatal(err)
	}
	if n != 65554 {
		t.Errorf("%d rows, want 65554", n)
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Add("cve,source,cvss_version,vector,base_score,base_severity,score_origin,referenced_by\nCVE-1999-0006,adp:CISA-ADP,3.1,CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H,9.8,CRITICAL,published,\n")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ReadCSV(strings.NewReader(s), func(m cvss.Metric) {
			if m.BaseScore < 0 || m.BaseScore > 10 {
				t.Fatalf("score out of range %+v", m)
			}
		})
	})
}
