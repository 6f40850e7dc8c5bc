package s3

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/riskmap/riskmap/internal/integrations/dest"
)

// DefaultKeyTemplate names objects by day, event and message key.
const DefaultKeyTemplate = "riskmap/{date}/{event}/{key}.{ext}"

// Placeholders of a key template. Every value is made of the S3 "safe"
// characters (letters, digits, ! - _ . * ' ( )) and never contains a slash,
// so the template's own slashes alone make the key's hierarchy. Times are
// the message's time in UTC, so a retried message writes the same key.
var Placeholders = []struct{ Name, Means string }{
	{"date", "the message's day, 2026-12-05"},
	{"year", "its year, 2026"},
	{"month", "its month, 12"},
	{"day", "its day of the month, 05"},
	{"hour", "its hour, 09"},
	{"event", "the event: finding.new, finding.fixed, finding.kev_reachable, scan.failed, sensor.offline, node.exposed, digest, test"},
	{"key", "the message key, characters outside the safe set replaced by _ (and then a - and 8 hex digits of its SHA-256 appended, so two keys never meet)"},
	{"hash", "16 hex digits of the SHA-256 of the event, the key and whether it resolves: one per message"},
	{"severity", "critical, high, medium, low or unknown"},
	{"node", "the node's name (safe characters), or none"},
	{"format", "json, csv, sarif or cyclonedx"},
	{"ext", "the file extension of the format: json, csv, sarif, cdx.json"},
}

// maxKeyBytes is S3's limit on an object key.
const maxKeyBytes = 1024

// Template is a parsed key template.
type Template struct {
	parts []tpart
}

type tpart struct {
	lit string // literal text, or
	ph  string // a placeholder name
}

// ParseTemplate checks a key template: placeholders from Placeholders in
// braces, literal text of safe characters, = and /, no empty, "." or ".."
// path segment, no leading or trailing slash. It must name the format
// ({ext} or {format}) and the message ({hash}, or {key} with {event}),
// so that no two objects share a key.
func ParseTemplate(s string) (*Template, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	if !utf8.ValidString(s) {
		return nil, errors.New("not UTF-8")
	}
	t := &Template{}
	for rest := s; rest != ""; {
		open := strings.IndexByte(rest, '{')
		close := strings.IndexByte(rest, '}')
		switch {
		case close >= 0 && (open < 0 || close < open):
			return nil, fmt.Errorf("a } without its {")
		case open < 0:
			t.parts = append(t.parts, tpart{lit: rest})
			rest = ""
			continue
		case open > 0:
			t.parts = append(t.parts, tpart{lit: rest[:open]})
			rest = rest[open:]
			continue
		}
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return nil, fmt.Errorf("a { without its }")
		}
		name := rest[1:end]
		if strings.Contains(name, "{") {
			return nil, fmt.Errorf("a { without its }")
		}
		if !slices.ContainsFunc(Placeholders, func(p struct{ Name, Means string }) bool { return p.Name == name }) {
			return nil, fmt.Errorf("unknown placeholder {%s} (known: %s)", name, placeholderList())
		}
		t.parts = append(t.parts, tpart{ph: name})
		rest = rest[end+1:]
	}
	for _, p := range t.parts {
		if p.lit == "" {
			continue
		}
		for _, r := range p.lit {
			if !safe(r) && r != '/' && r != '=' {
				return nil, fmt.Errorf("character %q (literal text may use letters, digits, ! - _ . * ' ( ) = and /)", r)
			}
		}
	}
	if !t.has("ext") && !t.has("format") {
		return nil, errors.New("needs {ext} or {format}: each format is an object of its own")
	}
	if !t.has("hash") && !(t.has("key") && t.has("event")) {
		return nil, errors.New("needs {hash}, or {key} and {event}: each message is an object of its own")
	}
	// The shape of the key, with every placeholder standing for a value,
	// and its longest rendering.
	if err := checkKey(t.render(func(string) string { return "x" })); err != nil {
		return nil, err
	}
	if n := len(t.render(func(ph string) string { return strings.Repeat("x", maxLen[ph]) })); n > maxKeyBytes {
		return nil, fmt.Errorf("keys may reach %d bytes (S3 allows %d)", n, maxKeyBytes)
	}
	return t, nil
}

// maxLen is the longest value of each placeholder (sanitize adds 9 bytes
// to its bound).
var maxLen = map[string]int{"date": 10, "year": 4, "month": 2, "day": 2, "hour": 2, "event": 64 + 9, "key": 200 + 9,
	"hash": 16, "severity": 16 + 9, "node": 100 + 9, "format": 9, "ext": 8}

func placeholderList() string {
	var names []string
	for _, p := range Placeholders {
		names = append(names, "{"+p.Name+"}")
	}
	return strings.Join(names, " ")
}

func (t *Template) has(name string) bool {
	return slices.ContainsFunc(t.parts, func(p tpart) bool { return p.ph == name })
}

func (t *Template) render(value func(string) string) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.ph != "" {
			b.WriteString(value(p.ph))
		} else {
			b.WriteString(p.lit)
		}
	}
	return b.String()
}

// checkKey refuses keys a file-backed store (or a person listing the
// bucket) would trip on.
func checkKey(k string) error {
	switch {
	case len(k) > maxKeyBytes:
		return fmt.Errorf("key of %d bytes (S3 allows %d)", len(k), maxKeyBytes)
	case strings.HasPrefix(k, "/") || strings.HasSuffix(k, "/"):
		return fmt.Errorf("key %q starts or ends with /", k)
	}
	for seg := range strings.SplitSeq(k, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("key %q has an empty, . or .. segment", k)
		}
	}
	return nil
}

// Key renders the object key of message m in format f.
func (t *Template) Key(m *dest.Message, f format) (string, error) {
	tm := m.Time.UTC()
	if m.Time.IsZero() {
		tm = time.Unix(0, 0).UTC()
	}
	node := "none"
	if m.Node != nil {
		node = sanitize(cmp.Or(m.Node.Name, m.Node.ID), 100)
	}
	k := t.render(func(ph string) string {
		switch ph {
		case "date":
			return tm.Format("2006-01-02")
		case "year":
			return tm.Format("2006")
		case "month":
			return tm.Format("01")
		case "day":
			return tm.Format("02")
		case "hour":
			return tm.Format("15")
		case "event":
			return sanitize(cmp.Or(m.Event, "none"), 64)
		case "key":
			return sanitize(m.Key, 200)
		case "hash":
			return messageHash(m)
		case "severity":
			return sanitize(cmp.Or(strings.ToLower(m.Severity), "unknown"), 16)
		case "node":
			return node
		case "format":
			return f.name
		case "ext":
			return f.ext
		}
		return ""
	})
	if err := checkKey(k); err != nil {
		return "", dest.Permanent(fmt.Errorf("object key: %w", err))
	}
	return k, nil
}

func messageHash(m *dest.Message) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%t", m.Event, m.Key, m.Resolve)))
	return hex.EncodeToString(h[:8])
}

// safe reports the characters AWS lists as safe in object keys.
func safe(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!-_.*'()", r)
}

// sanitize keeps safe characters, replaces the rest with _, and when that
// changed anything (or the value is longer than max bytes, or would be a
// "." or ".." path segment) appends - and 8 hex digits of the original's
// SHA-256, so two different values never give the same text.
func sanitize(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if safe(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if out == s && len(out) <= max && out != "" && out != "." && out != ".." {
		return out
	}
	if len(out) > max {
		out = out[:max]
	}
	h := sha256.Sum256([]byte(s))
	return out + "-" + hex.EncodeToString(h[:4])
}
