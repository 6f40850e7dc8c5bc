package osv

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/vuln/osv"
)

// TestReadZipSharedFeeds reads every real export and checks the record and
// withdrawn counts documented in the feeds README.
func TestReadZipSharedFeeds(t *testing.T) {
	dir := testenv.SharedFeeds(t)
	want := map[string][2]int{
		"Go":        {4291, 17},
		"PyPI":      {7080, 269},
		"crates.io": {1206, 13},
		"AlmaLinux": {5637, 0},
		"Debian":    {8906, 0},
	}
	got := map[string][2]int{}
	for eco := range want {
		data, err := os.ReadFile(filepath.Join(dir, "osv", eco, "all.zip"))
		if err != nil {
			t.Fatal(err)
		}
		st, err := ReadZip(context.Background(), data, func(*osv.Vulnerability) error { return nil })
		if err != nil {
			t.Fatalf("%s: %v", eco, err)
		}
		if len(st.Errors) > 0 {
			t.Errorf("%s: %d record errors, first: %v", eco, len(st.Errors), st.Errors[0])
		}
		got[eco] = [2]int{st.Records, st.Withdrawn}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("records/withdrawn (-want +got):\n%s", d)
	}
}

func TestReadZipCorrupt(t *testing.T) {
	dir := testenv.SharedFeeds(t)
	data, err := os.ReadFile(filepath.Join(dir, "osv", "crates.io", "all.zip"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadZip(context.Background(), data[:len(data)/2], func(*osv.Vulnerability) error { return nil }); err == nil {
		t.Fatal("truncated zip accepted")
	}
}
