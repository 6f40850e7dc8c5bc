package kev

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/testenv"
)

func TestParseShared(t *testing.T) {
	dir := testenv.SharedFeeds(t)
	for name, want := range map[string]int{
		"known_exploited_vulnerabilities.json":                    1662,
		"history/known_exploited_vulnerabilities-2025.08.25.json": 1404,
	} {
		f, err := os.Open(filepath.Join(dir, "kev", name))
		if err != nil {
			t.Fatal(err)
		}
		c, err := Parse(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(c.Vulnerabilities) != want {
			t.Errorf("%s: %d entries, want %d", name, len(c.Vulnerabilities), want)
		}
		ransom := 0
		for _, e := range c.Vulnerabilities {
			if e.Ransomware() {
				ransom++
			}
		}
		if ransom == 0 {
			t.Errorf("%s: no ransomware entries", name)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	for name, in := range map[string]string{
		"truncated":  `{"vulnerabilities":[{"cveID":"CVE-1-1"`,
		"no_array":   `{"title":"x"}`,
		"bad_cve":    `{"vulnerabilities":[{"cveID":"X"}]}`,
		"count_diff": `{"count":2,"vulnerabilities":[{"cveID":"CVE-2020-1"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse(strings.NewReader(in)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"count":1,"vulnerabilities":[{"cveID":"CVE-2021-44228","knownRansomwareCampaignUse":"Known"}]}`))
	f.Add([]byte(`{"vulnerabilities":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(strings.NewReader(string(data)))
		if err == nil && c.Vulnerabilities == nil {
			t.Fatal("nil vulnerabilities accepted")
		}
	})
}
