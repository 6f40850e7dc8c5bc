package s3

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/riskmap/riskmap/internal/integrations/dest"
)

func TestTemplate(t *testing.T) {
	m := &dest.Message{Key: "finding/n1/openssl/CVE-2026-0001", Event: dest.EventFindingNew, Severity: "High",
		Time: time.Date(2026, 12, 5, 9, 30, 0, 0, time.FixedZone("CET", 3600)), Node: &dest.Node{ID: "n1", Name: "web-1"}}
	csv := formats[1]
	for _, tc := range []struct {
		name, tmpl, want, err string
	}{
		{"default", DefaultKeyTemplate, "riskmap/2026-12-05/finding.new/finding_n1_openssl_CVE-2026-0001-4973f064.csv", ""},
		{"hive_partitions", "y={year}/m={month}/d={day}/h={hour}/{severity}-{node}-{hash}.{format}", "y=2026/m=12/d=05/h=08/high-web-1-" + messageHash(m) + ".csv", ""},
		{"empty", "", "", "empty"},
		{"unknown", "{date}/{what}.{ext}", "", "unknown placeholder {what}"},
		{"unclosed", "{date/{hash}.{ext}", "", "a { without its }"},
		{"open_at_end", "{hash}.{ext}{", "", "a { without its }"},
		{"stray_close", "a}{hash}.{ext}", "", "a } without its {"},
		{"no_format", "{hash}", "", "needs {ext} or {format}"},
		{"key_without_event", "{key}.{ext}", "", "needs {hash}, or {key} and {event}"},
		{"leading_slash", "/{hash}.{ext}", "", "starts or ends with /"},
		{"double_slash", "a//{hash}.{ext}", "", "empty, . or .. segment"},
		{"dot_dot", "a/../{hash}.{ext}", "", "empty, . or .. segment"},
		{"space", "my reports/{hash}.{ext}", "", "character ' '"},
		{"backslash", `a\{hash}.{ext}`, "", `character '\\'`},
		{"too_long", strings.Repeat("{key}", 5) + "{event}.{ext}", "", "keys may reach 1127 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tm, err := ParseTemplate(tc.tmpl)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := tm.Key(m, csv)
			if err != nil || got != tc.want {
				t.Errorf("key %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

func TestSanitize(t *testing.T) {
	for _, tc := range []struct{ in, prefix string }{
		{"CVE-2026-0001", ""}, // unchanged
		{"a/b", "a_b-"},
		{"..", "..-"},
		{"", "-"},
		{"héllo", "h_llo-"},
		{strings.Repeat("x", 300), strings.Repeat("x", 200) + "-"},
	} {
		got := sanitize(tc.in, 200)
		if tc.prefix == "" && got != tc.in || tc.prefix != "" && (!strings.HasPrefix(got, tc.prefix) || len(got) != len(tc.prefix)+8) {
			t.Errorf("sanitize(%q) = %q, want %q followed by 8 hex digits", tc.in, got, tc.prefix)
		}
	}
	if sanitize("a/b", 200) == sanitize("a_b", 200) || sanitize("a/b", 200) == sanitize("a:b", 200) {
		t.Error("different keys meet")
	}
}

// FuzzKeyTemplate parses arbitrary templates; an accepted one renders, for
// any message, a key S3 and a file-backed store accept: at most 1024
// bytes, UTF-8, no empty, "." or ".." segment, only safe characters, =
// and /.
func FuzzKeyTemplate(f *testing.F) {
	f.Add(DefaultKeyTemplate, "finding/n1/openssl/CVE-1", "finding.new", "web-1", "high")
	f.Add("y={year}/{node}/{severity}/{hash}.{format}", "..", "", "", "")
	f.Add("{key}/{event}/{ext}", "\xff/\x00", "../..", "/", "CRITICAL")
	f.Fuzz(func(t *testing.T, tmpl, key, event, node, severity string) {
		tm, err := ParseTemplate(tmpl)
		if err != nil {
			return
		}
		m := &dest.Message{Key: key, Event: event, Severity: severity, Node: &dest.Node{Name: node}, Time: time.Unix(1e9, 0)}
		for _, f := range formats {
			k, err := tm.Key(m, f)
			if err != nil {
				t.Fatalf("template %q: %v", tmpl, err)
			}
			if checkKey(k) != nil || !utf8.ValidString(k) {
				t.Fatalf("key %q", k)
			}
			for _, r := range k {
				if !safe(r) && r != '/' && r != '=' {
					t.Fatalf("key %q has %q", k, r)
				}
			}
		}
	})
}
