package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/riskmap/riskmap/internal/match"
)

func TestLoadIgnoreFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string
		want    []Rule
		wantErr string
	}{
		{
			name:    "id_list",
			content: "# comment\n\nCVE-2023-1 package=openssl expires=2027-01-31 not reachable\nGHSA-x accepted risk\n",
			want: []Rule{
				{ID: "CVE-2023-1", Package: "openssl", Reason: "not reachable", Expires: time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)},
				{ID: "GHSA-x", Reason: "accepted risk"},
			},
		},
		{name: "missing_reason", content: "CVE-2023-1 package=x\n", wantErr: "no reason"},
		{name: "bad_date", content: "CVE-2023-1 expires=tomorrow why\n", wantErr: "bad expires"},
		{
			name:    "openvex",
			content: `{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":{"name":"CVE-1","aliases":["GHSA-1"]},"products":[{"@id":"pkg:npm/a@1"}],"status":"not_affected","justification":"component_not_present"},{"vulnerability":{"name":"CVE-2"},"status":"affected"}]}`,
			want: []Rule{
				{ID: "CVE-1", Package: "pkg:npm/a@1", Reason: "not_affected: component_not_present"},
				{ID: "GHSA-1", Package: "pkg:npm/a@1", Reason: "not_affected: component_not_present"},
			},
		},
		{name: "json_not_openvex", content: `{"a":1}`, wantErr: "not an OpenVEX"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name)
			os.WriteFile(p, []byte(tt.content), 0o644)
			got, err := LoadIgnoreFile(p)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				got[i].Source = ""
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("rules (-want +got):\n%s", d)
			}
		})
	}
}

func TestApplyIgnoresAndFailOn(t *testing.T) {
	fs := []match.Finding{
		{ID: "CVE-1", Aliases: []string{"GHSA-1"}, Severity: "high", Package: match.PackageRef{Name: "a", PURL: "pkg:npm/a@1?x=y"}},
		{ID: "CVE-2", Severity: "critical", KEV: &match.KEVInfo{CVE: "CVE-2"}, Package: match.PackageRef{Name: "b"}},
		{ID: "CVE-3", Severity: "low", Package: match.PackageRef{Name: "c"}},
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	rules := []Rule{
		{ID: "ghsa-1", Package: "pkg:npm/a@1", Reason: "r1"},
		{ID: "CVE-2", Reason: "r2", Expires: now.Add(-time.Hour)},
		{ID: "CVE-3", Package: "other", Reason: "r3"},
	}
	kept, ignored, expired := ApplyIgnores(fs, rules, now)
	if len(kept) != 2 || len(ignored) != 1 || ignored[0].ID != "CVE-1" || len(expired) != 1 {
		t.Fatalf("kept %d ignored %+v expired %d", len(kept), ignored, len(expired))
	}
	for _, tt := range []struct {
		threshold string
		want      int
	}{{"low", 2}, {"medium", 1}, {"critical", 1}, {"kev", 1}, {"", 0}} {
		if n, err := FailOn(kept, tt.threshold); err != nil || n != tt.want {
			t.Errorf("FailOn(%q) = %d, %v; want %d", tt.threshold, n, err, tt.want)
		}
	}
	if _, err := FailOn(kept, "urgent"); err == nil {
		t.Error("bad threshold accepted")
	}
}

func FuzzLoadIgnoreFile(f *testing.F) {
	f.Add("CVE-1 package=a expires=2027-01-01 reason\n")
	f.Add(`{"@context":"https://openvex.dev/ns/v0.2.0","statements":[]}`)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, s string) {
		p := filepath.Join(dir, "f")
		os.WriteFile(p, []byte(s), 0o644)
		rules, err := LoadIgnoreFile(p)
		if err == nil {
			for _, r := range rules {
				if r.Reason == "" {
					t.Fatalf("rule without reason: %+v", r)
				}
			}
		}
	})
}
