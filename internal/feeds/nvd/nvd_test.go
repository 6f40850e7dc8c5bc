package nvd

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cvssfeed "github.com/riskmap/riskmap/internal/feeds/cvss"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/vuln/cvss"
)

// nvdFake serves the shared CVSS CSV through the documented NVD API 2.0
// wire format (the real API is not reachable from here), paging 2000 CVEs
// at a time.
func nvdFake(t *testing.T, metrics []cvss.Metric) *httptest.Server {
	byCVE := map[string][]cvss.Metric{}
	var ids []string
	for _, m := range metrics {
		if _, ok := byCVE[m.CVE]; !ok {
			ids = append(ids, m.CVE)
		}
		byCVE[m.CVE] = append(byCVE[m.CVE], m)
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start, _ := strconv.Atoi(r.URL.Query().Get("startIndex"))
		per, _ := strconv.Atoi(r.URL.Query().Get("resultsPerPage"))
		type cvssData struct {
			Version      string  `json:"version"`
			VectorString string  `json:"vectorString"`
			BaseScore    float64 `json:"baseScore"`
		}
		type metric struct {
			Source   string   `json:"source"`
			Type     string   `json:"type"`
			CVSSData cvssData `json:"cvssData"`
		}
		var vulns []any
		for i := start; i < len(ids) && i < start+per; i++ {
			ms := map[string][]metric{}
			for _, m := range byCVE[ids[i]] {
				key := map[string]string{"2.0": "cvssMetricV2", "3.0": "cvssMetricV30", "3.1": "cvssMetricV31", "4.0": "cvssMetricV40"}[m.Version]
				ms[key] = append(ms[key], metric{"nvd@nist.gov", "Primary", cvssData{m.Version, m.Vector, m.BaseScore}})
			}
			vulns = append(vulns, map[string]any{"cve": map[string]any{"id": ids[i], "metrics": ms}})
		}
		json.NewEncoder(w).Encode(map[string]any{"resultsPerPage": per, "startIndex": start, "totalResults": len(ids), "format": "NVD_CVE", "version": "2.0", "vulnerabilities": vulns})
	}))
}

func TestFetchPaged(t *testing.T) {
	f, err := os.Open(filepath.Join(testenv.SharedFeeds(t), "cvss", "cve_cvss.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var in []cvss.Metric
	if _, err := cvssfeed.ReadCSV(f, func(m cvss.Metric) {
		if len(in) < 5000 && m.BaseScore > 0 {
			in = append(in, m)
		}
	}); err != nil {
		t.Fatal(err)
	}
	srv := nvdFake(t, in)
	defer srv.Close()
	c := &Client{HTTP: srv.Client(), BaseURL: srv.URL}
	var got []cvss.Metric
	n, err := c.Fetch(context.Background(), time.Time{}, time.Time{}, func(m cvss.Metric) { got = append(got, m) })
	if err != nil {
		t.Fatal(err)
	}
	if n != len(in) {
		t.Fatalf("fetched %d metrics, want %d", n, len(in))
	}
	key := func(m cvss.Metric) string { return fmt.Sprintf("%s %s %v", m.CVE, m.Vector, m.BaseScore) }
	want := map[string]int{}
	for _, m := range in {
		want[key(m)]++
	}
	for _, m := range got {
		if m.Source != "nvd" {
			t.Fatalf("metric %+v: source %q, want nvd", m, m.Source)
		}
		want[key(m)]--
	}
	for k, n := range want {
		if n != 0 {
			t.Fatalf("metric %s: count off by %d", k, n)
		}
	}
}

func TestParsePageInvalid(t *testing.T) {
	for name, in := range map[string]string{
		"truncated":  `{"vulnerabilities":[`,
		"bad_format": `{"format":"X","vulnerabilities":[]}`,
		"bad_vector": `{"vulnerabilities":[{"cve":{"id":"CVE-1-1","metrics":{"cvssMetricV31":[{"type":"Primary","cvssData":{"vectorString":"CVSS:3.1/AV:Q"}}]}}}]}`,
		"bad_id":     `{"vulnerabilities":[{"cve":{"id":"X"}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := ParsePage(strings.NewReader(in)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func FuzzParsePage(f *testing.F) {
	f.Add(fmt.Sprintf(`{"format":"NVD_CVE","totalResults":1,"vulnerabilities":[{"cve":{"id":"CVE-2021-44228","metrics":{"cvssMetricV31":[{"source":"nvd@nist.gov","type":"Primary","cvssData":{"version":"3.1","vectorString":"%s","baseScore":10.0}}]}}}]}`, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"))
	f.Fuzz(func(t *testing.T, s string) {
		_, ms, err := ParsePage(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.BaseScore < 0 || m.BaseScore > 10 {
				t.Fatal(m)
			}
		}
	})
}
