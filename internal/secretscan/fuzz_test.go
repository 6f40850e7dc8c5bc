package secretscan

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseIgnore: the secret lines of an ignore file (outside data) never
// panic, and every entry they yield builds an allow-list whose path globs
// match what they name.
func FuzzParseIgnore(f *testing.F) {
	f.Add([]byte("secret:path=testdata/** fixtures\nsecret:rule=generic-api-key expires=2026-01-31 noisy\n"))
	f.Add([]byte("secret:fingerprint=" + strings.Repeat("0f", 32) + " rotated\nCVE-2024-1 package=x why\n"))
	f.Add([]byte("secret:path=/a/**/b/*.p?m x\nsecret:path=[ x\nsecret:path=\\ y\n"))
	f.Add([]byte("{\"@context\":\"openvex\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseIgnore(data, "fuzz")
		if err != nil {
			return
		}
		a, _ := AllowFrom(entries, time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
		for _, e := range entries {
			if e.Reason == "" || e.Source == "" {
				t.Fatalf("entry without reason or source: %+v", e)
			}
			if e.Kind == "path" && !strings.ContainsAny(e.Value, "*?") && e.Expires.IsZero() {
				p := "/" + strings.Trim(e.Value, "/")
				if !a.AllowsPath(p) {
					t.Fatalf("glob %q does not match the path it names (%q)", e.Value, p)
				}
			}
		}
	})
}

// FuzzGlob: any glob compiles or is refused, never panics; a literal glob
// matches its own path and the files under it.
func FuzzGlob(f *testing.F) {
	for _, g := range []string{"testdata/**", "/etc/ssl/*.pem", "**/x", "a?c", "/", "***", "a/**"} {
		f.Add(g, "/etc/ssl/key.pem")
	}
	f.Fuzz(func(t *testing.T, glob, p string) {
		re, err := globRegexp(glob)
		if err != nil {
			return
		}
		re.MatchString(p)
		if !strings.ContainsAny(glob, "*?") && strings.Trim(glob, "/") != "" {
			lit := "/" + strings.Trim(glob, "/")
			if !re.MatchString(lit) || !re.MatchString(lit+"/x") {
				t.Fatalf("glob %q: %q or %q not matched", glob, lit, lit+"/x")
			}
		}
	})
}
