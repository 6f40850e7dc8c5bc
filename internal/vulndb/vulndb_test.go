package vulndb

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/riskmap/riskmap/internal/vuln/osv"
)

func sample(t *testing.T, id, fixed string) *Builder {
	t.Helper()
	b := NewBuilder(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	v, err := osv.Parse([]byte(`{"id":"` + id + `","aliases":["CVE-2021-1"],"summary":"s","affected":[{"package":{"ecosystem":"PyPI","name":"Foo_Bar"},"ranges":[{"type":"ECOSYSTEM","events":[{"fixed":"` + fixed + `"},{"introduced":"0"}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b.AddOSV(v, "PyPI")
	b.AddKEV("CVE-2021-1", KEV{DateAdded: "2022-01-01", Ransomware: true})
	b.AddEPSS("CVE-2021-1", 0.5, 0.9)
	return b
}

func TestRoundTrip(t *testing.T) {
	db, err := Decode(sample(t, "PYSEC-1", "1.2").Bytes())
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Lookup("PyPI", "foo.bar")
	if err != nil {
		t.Fatal(err)
	}
	want := []Affected{{Vuln: 0, Ranges: []Range{{Events: []Event{{Introduced, "0"}, {Fixed, "1.2"}}}}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Lookup (-want +got):\n%s", d)
	}
	v, err := db.Vuln(0)
	if err != nil || v.ID != "PYSEC-1" || v.Aliases[0] != "CVE-2021-1" {
		t.Errorf("Vuln(0) = %+v, %v", v, err)
	}
	info, ok := db.CVE("CVE-2021-1")
	if !ok || info.EPSS != 0.5 || info.Percentile != 0.9 || info.KEV == nil || !info.KEV.Ransomware {
		t.Errorf("CVE = %+v %v", info, ok)
	}
	if _, ok := db.CVE("CVE-2021-2"); ok {
		t.Error("unknown CVE found")
	}
	if es, _ := db.Lookup("PyPI", "other"); es != nil {
		t.Error("unknown package found")
	}
}

func TestDecodeRejectsDamage(t *testing.T) {
	good := sample(t, "PYSEC-1", "1.2").Bytes()
	flip := append([]byte(nil), good...)
	flip[len(flip)/2] ^= 1
	schema := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(schema[8:], SchemaVersion+1)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "bad magic"},
		{"truncated", good[:len(good)-10], "checksum"},
		{"bit_flip", flip, "checksum"},
		{"other_schema", schema, "schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if tt.name == "other_schema" && !errors.Is(err, ErrSchema) {
				t.Error("not ErrSchema")
			}
		})
	}
}

// TestAtomicReplace: a reader that opened the old file keeps old data while
// a new file is written; new readers see only the new file.
func TestAtomicReplace(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	if err := sample(t, "PYSEC-OLD", "1.0").WriteFile(path); err != nil {
		t.Fatal(err)
	}
	old, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sample(t, "PYSEC-NEW", "2.0").WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if v, _ := old.Vuln(0); v.ID != "PYSEC-OLD" {
		t.Errorf("old reader sees %s", v.ID)
	}
	fresh, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := fresh.Vuln(0); v.ID != "PYSEC-NEW" {
		t.Errorf("new reader sees %s", v.ID)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"AlmaLinux:9.3", "AlmaLinux:9"},
		{"Alpine:3.19.1", "Alpine:v3.19"},
		{"Alpine:v3.20", "Alpine:v3.20"},
		{"Alpine:3.21_alpha20240923", "Alpine:edge"},
		{"Ubuntu:22.04:LTS", "Ubuntu:22.04"},
		{"Debian:12.4", "Debian:12"},
		{"PyPI", "PyPI"},
	}
	for _, tt := range tests {
		if got := NormalizeEcosystem(tt.in); got != tt.want {
			t.Errorf("NormalizeEcosystem(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := Key("PyPI", "Zope.Interface"); got != "PyPI\x00zope-interface" {
		t.Errorf("Key = %q", got)
	}
}

func FuzzDecode(f *testing.F) {
	b := NewBuilder(time.Unix(0, 0))
	v, _ := osv.Parse([]byte(`{"id":"A","affected":[{"package":{"ecosystem":"Go","name":"m"},"versions":["1"]}]}`))
	b.AddOSV(v, "Go")
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		db, err := Decode(data)
		if err != nil {
			return
		}
		db.Keys(func(eco, name string) bool { _, _ = db.Lookup(eco, name); return true })
		for i := 0; i < db.NumVulns(); i++ {
			_, _ = db.Vuln(uint32(i))
		}
		_, _ = db.CVE("CVE-2021-1")
	})
}
