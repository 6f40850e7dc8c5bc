package vulndb

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/riskmap/riskmap/internal/vuln/cvss"
	"github.com/riskmap/riskmap/internal/vuln/osv"
)

func TestCodecRoundTrip(t *testing.T) {
	vulns := map[string]Vuln{
		"empty": {ID: "X-1", Source: "Go"},
		"full": {
			ID: "DSA-5000-1", Aliases: []string{"CVE-2021-1", "GHSA-aaaa"}, Related: []string{"CVE-2021-2"},
			Summary: "summary with ünïcode", Severity: []osv.Severity{{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}},
			DBSeverity: "high", Published: time.Date(2021, 3, 4, 5, 6, 7, 8, time.UTC), Modified: time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC),
			References: []string{"https://a", "https://b"}, Source: "Debian",
		},
	}
	for name, v := range vulns {
		t.Run(name, func(t *testing.T) {
			var w bytes.Buffer
			encodeVuln(&w, &v)
			got, err := decodeVuln(w.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(v, *got); d != "" {
				t.Errorf("vuln round trip (-want +got):\n%s", d)
			}
			for n := 0; n < w.Len(); n++ {
				if _, err := decodeVuln(w.Bytes()[:n]); err == nil {
					t.Errorf("truncated to %d bytes: no error", n)
				}
			}
		})
	}
	infos := map[string]CVEInfo{
		"none":      {},
		"kev_only":  {KEV: &KEV{DateAdded: "2022-01-01", DueDate: "2022-02-01", Ransomware: true, Name: "n"}},
		"cvss_only": {CVSS: &cvss.Metric{Source: "nvd", Version: "3.1", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", BaseScore: 9.8, Severity: "CRITICAL"}},
		"both":      {KEV: &KEV{DateAdded: "2022-01-01"}, CVSS: &cvss.Metric{Version: "2.0", Vector: "AV:N/AC:L/Au:N/C:P/I:P/A:P", BaseScore: 7.5}},
	}
	for name, in := range infos {
		t.Run("cve_"+name, func(t *testing.T) {
			var w bytes.Buffer
			encodeCVEInfo(&w, &in)
			var got CVEInfo
			if err := decodeCVEInfo(w.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(in, got); d != "" {
				t.Errorf("CVE info round trip (-want +got):\n%s", d)
			}
		})
	}
}

// FuzzRecordCodec feeds arbitrary bytes to the record and CVE-info decoders
// (a damaged file that passes its checksum must not crash a scan), and
// checks that what decodes re-encodes to the same bytes.
func FuzzRecordCodec(f *testing.F) {
	var w bytes.Buffer
	encodeVuln(&w, &Vuln{ID: "GO-1", Aliases: []string{"CVE-1"}, Summary: "s", Published: time.Unix(5, 0).UTC(), Source: "Go"})
	f.Add(w.Bytes())
	w.Reset()
	encodeCVEInfo(&w, &CVEInfo{KEV: &KEV{DateAdded: "d"}, CVSS: &cvss.Metric{Version: "3.1", BaseScore: 5}})
	f.Add(w.Bytes())
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := decodeVuln(b); err == nil {
			var w bytes.Buffer
			encodeVuln(&w, v)
			v2, err := decodeVuln(w.Bytes())
			if err != nil {
				t.Fatalf("re-encoded record does not decode: %v", err)
			}
			if d := cmp.Diff(v, v2); d != "" {
				t.Fatalf("record changed on re-encoding:\n%s", d)
			}
		}
		var info CVEInfo
		_ = decodeCVEInfo(b, &info)
		_, _ = decodeAffected(b)
	})
}
