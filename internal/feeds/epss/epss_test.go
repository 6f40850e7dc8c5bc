package epss

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/testenv"
)

func TestParseShared(t *testing.T) {
	f, err := os.Open(filepath.Join(testenv.SharedFeeds(t), "epss", "epss_scores.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var log4shell Score
	_, n, err := Parse(f, func(s Score) {
		if s.CVE == "CVE-2021-44228" {
			log4shell = s
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 360142 {
		t.Errorf("%d scores, want 360142", n)
	}
	if log4shell.Percentile < 0.99 {
		t.Errorf("CVE-2021-44228 = %+v, want percentile ≥ 0.99", log4shell)
	}
}

func TestParseInvalid(t *testing.T) {
	for name, in := range map[string]string{
		"empty":        "",
		"wrong_header": "a,b,c\n",
		"bad_float":    "cve,epss,percentile\nCVE-1-1,x,0.5\n",
		"out_of_range": "cve,epss,percentile\nCVE-1-1,1.5,0.5\n",
		"no_rows":      "#model_version:v1\ncve,epss,percentile\n",
		"short_row":    "cve,epss,percentile\nCVE-1-1,0.5\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := Parse(strings.NewReader(in), func(Score) {}); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("#model_version:v2025.03.14,score_date:2026-08-16T00:00:00+0000\ncve,epss,percentile\nCVE-2021-44228,0.94,0.99\n"))
	f.Add([]byte("cve,epss,percentile\nCVE-1999-0001,0.03351,0.87650\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, _ = Parse(strings.NewReader(string(data)), func(s Score) {
			if s.EPSS < 0 || s.EPSS > 1 {
				t.Fatalf("score out of range: %+v", s)
			}
		})
	})
}
