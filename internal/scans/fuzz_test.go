package scans

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
)

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

// FuzzDecodeInventory feeds the inventory upload decoder arbitrary bytes,
// compressed and not: it returns an inventory or an error, never panics.
func FuzzDecodeInventory(f *testing.F) {
	f.Add(gz(`{"target":{"kind":"container","ref":"abc"},"packages":[{"name":"urllib3","version":"1.26.0","ecosystem":"PyPI","purl":"pkg:pypi/urllib3@1.26.0"}]}`), true)
	f.Add(gz(`{"packages":[{"name":""}]}`), true)
	f.Add(gz(`{"unknown":1}`), true)
	f.Add(gz(`{} {}`), true)
	f.Add([]byte("not gzip"), false)
	f.Add(gz(strings.Repeat("[", 10000)), true)
	f.Fuzz(func(t *testing.T, data []byte, compress bool) {
		if compress {
			data = gz(string(data))
		}
		inv, err := DecodeInventory(bytes.NewReader(data))
		if err == nil {
			for _, p := range inv.Packages {
				if p.Name == "" {
					t.Fatal("accepted a package without a name")
				}
			}
		}
	})
}

// FuzzFindingsQuery checks the findings query decoder (severity list,
// cursor) never panics and only lets known severities through.
func FuzzFindingsQuery(f *testing.F) {
	f.Add("critical,high", "100", "risk")
	f.Add("bogus", "-1", "")
	f.Add(",,,", "x", "vuln")
	f.Fuzz(func(t *testing.T, sev, cursor, sort string) {
		in := findingsIn{Severity: []string{sev}, Cursor: cursor, Sort: sort}
		ff, err := in.filter()
		if err != nil {
			return
		}
		for _, s := range ff.Severity {
			switch s {
			case "critical", "high", "medium", "low", "unknown":
			default:
				t.Fatalf("severity %q accepted", s)
			}
		}
		if ff.Offset < 0 {
			t.Fatalf("negative offset %d", ff.Offset)
		}
	})
}

// FuzzParseCron: schedule specs parse or fail with ErrInvalid.
func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"0 3 * * *", "@daily", "@every 6h", "*/5 * * * 1-5", "61 * * * *", "", "@every -1s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		_, _ = ParseCron(spec)
	})
}
