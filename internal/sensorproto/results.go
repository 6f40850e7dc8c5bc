package sensorproto

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/riskmap/riskmap/internal/intake"
)

// Scan types. A scan has one; a sensor declares the types it runs in its
// poll (PollRequest.ScanTypes) and a scan command names its type
// (Command.ScanType). A vulnerability scan uploads an inventory
// (PathInventory), which the console matches; every other type uploads
// its findings (PathResults).
const (
	ScanVulnerability = "vulnerability"
	ScanSecret        = "secret"
	ScanMalware       = "malware"
	ScanCompliance    = "compliance"
)

// ScanTypes lists the scan types, in the order they are shown.
var ScanTypes = []string{ScanVulnerability, ScanSecret, ScanMalware, ScanCompliance}

// ValidScanType reports whether t is a scan type.
func ValidScanType(t string) bool { return slices.Contains(ScanTypes, t) }

// CommandScanType is the type of a scan command: an older console sends
// none, which means vulnerability.
func (c Command) CommandScanType() string {
	if c.ScanType == "" {
		return ScanVulnerability
	}
	return c.ScanType
}

// PathResults takes the scan id in place of {id}: the findings of a scan
// of a type other than vulnerability (gzip JSON of Results).
const PathResults = "/api/v1/sensor/scans/{id}/results"

// ResultsPath fills in a scan id (already escaped).
func ResultsPath(escapedID string) string { return "/api/v1/sensor/scans/" + escapedID + "/results" }

// Limits of a results upload.
const (
	// MaxResultsGzip is the largest compressed upload accepted.
	MaxResultsGzip = 16 << 20
	// MaxResultsJSON is the largest decompressed document.
	MaxResultsJSON = 128 << 20
	// MaxResultFindings bounds the findings of one upload.
	MaxResultFindings = 100_000
)

// RedactionMark replaces a secret in a SecretFinding's excerpt. The
// console refuses an excerpt without it: the secret itself is never sent,
// stored, logged or shown.
const RedactionMark = "[REDACTED]"

// Results is what a scan of a type other than vulnerability found: the
// findings of its type (the lists of the other types stay empty), the
// engine that found them and how much it looked at.
type Results struct {
	// Type is the scan's type (secret, malware).
	Type   string `json:"type"`
	Engine Engine `json:"engine"`
	// Files counts the files the engine read; Skipped those it did not
	// (too large, binary, unreadable), Errors the ones it failed on.
	Files   int `json:"files,omitempty"`
	Skipped int `json:"skipped,omitempty"`
	Errors  int `json:"errors,omitempty"`
	// Secrets are the findings of a secret scan.
	Secrets []SecretFinding `json:"secrets,omitempty"`
	// Malware are the findings of a malware scan.
	Malware []MalwareFinding `json:"malware,omitempty"`
}

// Engine names the engine (and its rule set) that produced results.
type Engine struct {
	Name     string `json:"name"`
	Version  string `json:"version,omitempty"`
	RulesSet string `json:"rules,omitempty"` // the rule set's name and version or checksum
}

// SecretFinding is a secret found in a file: which rule matched, where
// (file, line, image layer), the match's entropy, a fingerprint that
// identifies it across scans, and an excerpt with the secret redacted.
type SecretFinding struct {
	// Rule is the rule's id (gitleaks': "aws-access-token").
	Rule string `json:"rule"`
	// Description is the rule's title.
	Description string `json:"description,omitempty"`
	// Severity is the rule's: critical, high, medium or low (empty: the
	// console counts a secret as high).
	Severity string `json:"severity,omitempty"`
	// File is the path in the target; Line the 1-based line (0: unknown).
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	// Layer is the image layer (diff id or digest) that holds the file;
	// a secret of a lower layer deleted in an upper one still counts.
	Layer   string  `json:"layer,omitempty"`
	Entropy float64 `json:"entropy,omitempty"`
	// Fingerprint identifies the finding across scans (the engine's hash
	// of the rule, the file and the secret: never the secret itself);
	// decisions may name it.
	Fingerprint string `json:"fingerprint"`
	// Excerpt is the matched line with the secret replaced by
	// RedactionMark (empty: none).
	Excerpt string `json:"excerpt,omitempty"`
}

// MalwareFinding is a file a malware rule matched.
type MalwareFinding struct {
	Rule        string   `json:"rule"`
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	// Severity is the rule's (empty: the console counts malware as
	// critical).
	Severity string `json:"severity,omitempty"`
	File     string `json:"file"`
	Layer    string `json:"layer,omitempty"`
	// SHA256 is the file's digest, hex.
	SHA256 string `json:"sha256"`
}

// Severities a rule may carry.
var resultSeverities = []string{"", "critical", "high", "medium", "low"}

// Bounds of result fields.
const (
	maxRuleLen    = 200
	maxPathLen    = 4096
	maxTextLen    = 1000
	maxExcerptLen = 400
	maxTags       = 50
)

// Validate checks results a sensor uploaded: a known type with findings of
// that type only, each field within its bounds, fingerprints and digests
// well formed, excerpts redacted. Errors name the finding.
func (r *Results) Validate() error {
	switch r.Type {
	case ScanSecret:
		if len(r.Malware) > 0 {
			return fmt.Errorf("results of type secret carry %d malware findings", len(r.Malware))
		}
	case ScanMalware:
		if len(r.Secrets) > 0 {
			return fmt.Errorf("results of type malware carry %d secret findings", len(r.Secrets))
		}
	case ScanVulnerability:
		return errors.New("results of type vulnerability: a vulnerability scan uploads its inventory (" + PathInventory + ")")
	case ScanCompliance:
		return errors.New("results of type compliance are not defined yet")
	default:
		return fmt.Errorf("results type %q (want secret or malware)", trunc(r.Type, 50))
	}
	if r.Engine.Name == "" || len(r.Engine.Name) > maxRuleLen || len(r.Engine.Version) > maxRuleLen || len(r.Engine.RulesSet) > maxRuleLen {
		return errors.New("engine: a name of 1-200 bytes, version and rules at most 200")
	}
	if r.Files < 0 || r.Skipped < 0 || r.Errors < 0 {
		return errors.New("negative file counts")
	}
	if n := len(r.Secrets) + len(r.Malware); n > MaxResultFindings {
		return fmt.Errorf("%w: %d findings, more than %d", ErrTooLarge, n, MaxResultFindings)
	}
	for i := range r.Secrets {
		if err := r.Secrets[i].validate(); err != nil {
			return fmt.Errorf("secret %d: %w", i, err)
		}
	}
	for i := range r.Malware {
		if err := r.Malware[i].validate(); err != nil {
			return fmt.Errorf("malware %d: %w", i, err)
		}
	}
	return nil
}

func (s *SecretFinding) validate() error {
	if err := checkRule(s.Rule, s.Description, s.Severity); err != nil {
		return err
	}
	if err := checkFile(s.File, s.Layer); err != nil {
		return err
	}
	if s.Line < 0 {
		return fmt.Errorf("line %d", s.Line)
	}
	if math.IsNaN(s.Entropy) || math.IsInf(s.Entropy, 0) || s.Entropy < 0 || s.Entropy > 64 {
		return fmt.Errorf("entropy %v out of range 0-64", s.Entropy)
	}
	if !isToken(s.Fingerprint, 16, 128) {
		return fmt.Errorf("fingerprint %q: want 16-128 letters, digits, '.', ':', '-'", trunc(s.Fingerprint, 50))
	}
	if s.Excerpt != "" && (len(s.Excerpt) > maxExcerptLen || !strings.Contains(s.Excerpt, RedactionMark)) {
		return fmt.Errorf("excerpt of %d bytes: want at most %d with the secret replaced by %s", len(s.Excerpt), maxExcerptLen, RedactionMark)
	}
	return nil
}

func (m *MalwareFinding) validate() error {
	if err := checkRule(m.Rule, m.Description, m.Severity); err != nil {
		return err
	}
	if err := checkFile(m.File, m.Layer); err != nil {
		return err
	}
	if len(m.SHA256) != 64 || !isHex(m.SHA256) {
		return fmt.Errorf("sha256 %q: want 64 hex digits", trunc(m.SHA256, 70))
	}
	if len(m.Tags) > maxTags {
		return fmt.Errorf("%d tags (at most %d)", len(m.Tags), maxTags)
	}
	for _, t := range m.Tags {
		if t == "" || len(t) > maxRuleLen {
			return fmt.Errorf("tag %q", trunc(t, 50))
		}
	}
	return nil
}

func checkRule(rule, desc, sev string) error {
	if !isToken(rule, 1, maxRuleLen) {
		return fmt.Errorf("rule %q: want 1-200 letters, digits, '.', ':', '-'", trunc(rule, 50))
	}
	if len(desc) > maxTextLen {
		return fmt.Errorf("description of %d bytes (at most %d)", len(desc), maxTextLen)
	}
	if !slices.Contains(resultSeverities, sev) {
		return fmt.Errorf("severity %q (want critical, high, medium, low or none)", trunc(sev, 20))
	}
	return nil
}

func checkFile(file, layer string) error {
	if file == "" || len(file) > maxPathLen || strings.ContainsRune(file, 0) {
		return fmt.Errorf("file: want a path of 1-%d bytes", maxPathLen)
	}
	if len(layer) > maxRuleLen {
		return fmt.Errorf("layer of %d bytes (at most %d)", len(layer), maxRuleLen)
	}
	return nil
}

// isToken: n bytes in [min, max] of ASCII letters, digits, '.', ':', '-'
// (no LIKE wildcard, no '|': a decision may name it).
func isToken(s string, lo, hi int) bool {
	if len(s) < lo || len(s) > hi {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// EncodeResults gzips results for upload.
func EncodeResults(r *Results) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(r); err != nil {
		return nil, fmt.Errorf("encode results: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("encode results: %w", err)
	}
	return buf.Bytes(), nil
}

// DecodeResults reads a gzip-compressed Results document: bounded to
// MaxResultsJSON decompressed (ErrTooLarge), strict (unknown fields and
// trailing data refused) and validated.
func DecodeResults(r io.Reader) (*Results, error) {
	c := &intake.Counter{R: r}
	zr, err := gzip.NewReader(c)
	if err != nil {
		return nil, fmt.Errorf("decode results: not gzip: %w", err)
	}
	defer zr.Close()
	d := intake.NewDecoder(zr, intake.Limits{MaxInput: MaxResultsJSON, MaxBytes: MaxResultsJSON, MaxDepth: 8, MaxString: 6*maxPathLen + 2,
		MaxItems: MaxResultFindings, MaxElement: MaxResultsJSON, MaxRatio: 200, RatioFree: 1 << 20, Packed: c.Count})
	d.DisallowUnknownFields()
	var res Results
	err = d.Decode(&res)
	if err == nil {
		err = d.End()
	}
	if err != nil {
		if errors.Is(err, intake.ErrLimit) {
			return nil, fmt.Errorf("decode results: %w: %w", ErrTooLarge, err)
		}
		return nil, fmt.Errorf("decode results: %w", err)
	}
	if err := res.Validate(); err != nil {
		return nil, fmt.Errorf("decode results: %w", err)
	}
	return &res, nil
}
