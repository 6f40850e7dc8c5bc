package osv

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/riskmap/riskmap/internal/testenv"
)

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"not_json", `{`},
		{"missing_id", `{"modified":"2023-01-01T00:00:00Z"}`},
		{"unknown_range_type", `{"id":"A","affected":[{"package":{"ecosystem":"Go","name":"x"},"ranges":[{"type":"FOO","events":[{"introduced":"0"}]}]}]}`},
		{"two_kinds_in_event", `{"id":"A","affected":[{"package":{"ecosystem":"Go","name":"x"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1"}]}]}]}`},
		{"package_without_name", `{"id":"A","affected":[{"package":{"ecosystem":"Go"}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(tt.in)); err == nil {
				t.Fatal("Parse succeeded, want error")
			}
		})
	}
}

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
		st, err := ReadZip(context.Background(), data, func(*Vulnerability) error { return nil })
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
	if _, err := ReadZip(context.Background(), data[:len(data)/2], func(*Vulnerability) error { return nil }); err == nil {
		t.Fatal("truncated zip accepted")
	}
}
