package secretscan

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Allow suppresses findings: by path glob, by rule id, by fingerprint.
// Make it with NewAllow; the zero value allows nothing.
type Allow struct {
	paths        []*regexp.Regexp
	pathText     []string
	rules        map[string]bool
	fingerprints map[string]bool
}

// NewAllow checks and compiles an allow-list. A path glob is matched
// against the file's absolute path in the target: "*" and "?" within one
// element, "**" across elements; a glob without a leading "/" matches at
// any depth ("*.pem", "testdata/**"), and a glob naming a directory
// covers everything under it. A fingerprint is 64 hex digits.
func NewAllow(paths, rules, fingerprints []string) (Allow, error) {
	a := Allow{rules: map[string]bool{}, fingerprints: map[string]bool{}}
	for _, g := range paths {
		re, err := globRegexp(g)
		if err != nil {
			return Allow{}, err
		}
		a.paths = append(a.paths, re)
		a.pathText = append(a.pathText, g)
	}
	for _, r := range rules {
		if r == "" || strings.ContainsAny(r, " \t/") {
			return Allow{}, fmt.Errorf("allow rule %q: want a rule id (aws-access-token, generic-api-key, ...)", r)
		}
		a.rules[r] = true
	}
	for _, f := range fingerprints {
		f = strings.ToLower(f)
		if !isHex64(f) {
			return Allow{}, fmt.Errorf("allow fingerprint %q: want 64 hex digits (a finding's fingerprint)", f)
		}
		a.fingerprints[f] = true
	}
	return a, nil
}

// Merge returns an allow-list covering what a and b cover.
func (a Allow) Merge(b Allow) Allow {
	out := Allow{rules: map[string]bool{}, fingerprints: map[string]bool{}}
	out.paths = append(append(out.paths, a.paths...), b.paths...)
	out.pathText = append(append(out.pathText, a.pathText...), b.pathText...)
	for _, m := range []map[string]bool{a.rules, b.rules} {
		for k := range m {
			out.rules[k] = true
		}
	}
	for _, m := range []map[string]bool{a.fingerprints, b.fingerprints} {
		for k := range m {
			out.fingerprints[k] = true
		}
	}
	return out
}

// Empty reports whether the list allows nothing.
func (a Allow) Empty() bool {
	return len(a.paths) == 0 && len(a.rules) == 0 && len(a.fingerprints) == 0
}

// AllowsPath reports whether a path glob covers the absolute path p.
func (a Allow) AllowsPath(p string) bool {
	for _, re := range a.paths {
		if re.MatchString(p) {
			return true
		}
	}
	return false
}

// Allows reports whether f is suppressed.
func (a Allow) Allows(f *Finding) bool {
	return a.rules[f.RuleID] || a.fingerprints[f.Fingerprint] || a.AllowsPath(f.Path)
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// maxGlob bounds a glob's length.
const maxGlob = 1024

// globRegexp turns a path glob into an anchored regexp.
func globRegexp(g string) (*regexp.Regexp, error) {
	if g == "" || len(g) > maxGlob || strings.ContainsRune(g, 0) || !utf8.ValidString(g) {
		return nil, fmt.Errorf("allow path %q: want a glob of 1 to %d characters of UTF-8", g, maxGlob)
	}
	var b strings.Builder
	body := strings.TrimPrefix(path.Clean("/"+g), "/") // targets' paths are clean
	if strings.HasPrefix(g, "/") {
		b.WriteString("^/")
	} else {
		b.WriteString("(?:^|/)")
	}
	lit := 0 // start of the literal run not yet written
	flush := func(i int) { b.WriteString(regexp.QuoteMeta(body[lit:i])) }
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == '*' || c == '?' {
			flush(i)
		}
		switch {
		case c == '*' && i+1 < len(body) && body[i+1] == '*':
			i++
			if i+1 < len(body) && body[i+1] == '/' {
				i++
				b.WriteString("(?:.*/)?")
			} else {
				b.WriteString(".*")
			}
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			continue
		}
		lit = i + 1
	}
	flush(len(body))
	b.WriteString("(?:/.*)?$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("allow path %q: %w", g, err)
	}
	return re, nil
}

// IgnoreEntry is one secret line of an ignore file.
type IgnoreEntry struct {
	Kind    string // path, rule or fingerprint
	Value   string
	Reason  string
	Expires time.Time // zero: never; else the first instant it no longer applies
	Source  string    // file:line
}

// IgnorePrefix starts the secret lines of an ignore file; the
// vulnerability rules of the same file skip them.
const IgnorePrefix = "secret:"

// ParseIgnore reads the secret lines of an ignore file (the file given to
// --ignore-file, whose other lines are vulnerability rules):
//
//	secret:path=GLOB [expires=YYYY-MM-DD] reason…
//	secret:rule=RULE-ID [expires=YYYY-MM-DD] reason…
//	secret:fingerprint=HEX [expires=YYYY-MM-DD] reason…
//
// A reason is required. An OpenVEX (JSON) file has no secret lines.
func ParseIgnore(data []byte, name string) ([]IgnoreEntry, error) {
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		return nil, nil
	}
	var out []IgnoreEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, IgnorePrefix) {
			continue
		}
		f := strings.Fields(line)
		kind, val, ok := strings.Cut(strings.TrimPrefix(f[0], IgnorePrefix), "=")
		src := fmt.Sprintf("%s:%d", name, n)
		if !ok || val == "" {
			return nil, fmt.Errorf("ignore file %s: %q: want secret:path=GLOB, secret:rule=ID or secret:fingerprint=HEX", src, f[0])
		}
		e := IgnoreEntry{Kind: kind, Value: val, Source: src}
		var err error
		switch kind {
		case "path":
			_, err = NewAllow([]string{val}, nil, nil)
		case "rule":
			_, err = NewAllow(nil, []string{val}, nil)
		case "fingerprint":
			_, err = NewAllow(nil, nil, []string{val})
		default:
			err = fmt.Errorf("unknown kind %q (want path, rule or fingerprint)", kind)
		}
		if err != nil {
			return nil, fmt.Errorf("ignore file %s: %w", src, err)
		}
		var reason []string
		for _, tok := range f[1:] {
			if d, ok := strings.CutPrefix(tok, "expires="); ok {
				t, err := time.Parse("2006-01-02", d)
				if err != nil {
					return nil, fmt.Errorf("ignore file %s: bad expires date %q (want YYYY-MM-DD)", src, tok)
				}
				e.Expires = t.Add(24 * time.Hour)
				continue
			}
			reason = append(reason, tok)
		}
		e.Reason = strings.TrimPrefix(strings.Join(reason, " "), "# ")
		if e.Reason == "" {
			return nil, fmt.Errorf("ignore file %s: %s has no reason", src, f[0])
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("ignore file %s: %w", name, err)
	}
	return out, nil
}

// LoadIgnoreFile reads the secret lines of the ignore file at path and
// returns the allow-list of the entries live at now, and the expired ones.
func LoadIgnoreFile(path string, now time.Time) (Allow, []IgnoreEntry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Allow{}, nil, fmt.Errorf("ignore file: %w", err)
	}
	entries, err := ParseIgnore(data, path)
	if err != nil {
		return Allow{}, nil, err
	}
	a, expired := AllowFrom(entries, now)
	return a, expired, nil
}

// AllowFrom builds the allow-list of the entries live at now.
func AllowFrom(entries []IgnoreEntry, now time.Time) (Allow, []IgnoreEntry) {
	var paths, rules, fps []string
	var expired []IgnoreEntry
	for _, e := range entries {
		if !e.Expires.IsZero() && !now.Before(e.Expires) {
			expired = append(expired, e)
			continue
		}
		switch e.Kind {
		case "path":
			paths = append(paths, e.Value)
		case "rule":
			rules = append(rules, e.Value)
		case "fingerprint":
			fps = append(fps, e.Value)
		}
	}
	a, err := NewAllow(paths, rules, fps)
	if err != nil { // entries come from ParseIgnore, which checked each
		return Allow{}, expired
	}
	return a, expired
}
