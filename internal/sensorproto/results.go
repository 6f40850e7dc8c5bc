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
	"unicode/utf8"

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
	// Compliance are the checks of a compliance scan: every rule the
	// benchmark evaluated, passed or not (the console counts pass rates
	// from them and makes findings of the failed ones).
	Compliance []ComplianceCheck `json:"compliance,omitempty"`
	// Raw is the engine's own results document, gzip-compressed (for
	// OpenSCAP the XCCDF TestResult; for kube-bench its JSON), kept by
	// the console for export. At most MaxRawGzip bytes.
	Raw []byte `json:"raw,omitempty"`
	// RawFormat names Raw's format: "xccdf-1.2", "arf-1.1",
	// "kube-bench-json", "riskmap-docker-json".
	RawFormat string `json:"rawFormat,omitempty"`
}

// Compliance check results (XCCDF 1.2 result values; kube-bench's PASS,
// FAIL, WARN and INFO map to pass, fail, notchecked and informational).
const (
	CheckPass          = "pass"
	CheckFail          = "fail"
	CheckError         = "error"
	CheckUnknown       = "unknown"
	CheckNotApplicable = "notapplicable"
	CheckNotChecked    = "notchecked"
	CheckNotSelected   = "notselected"
	CheckInformational = "informational"
	CheckFixed         = "fixed"
)

// CheckResults lists the result values of a ComplianceCheck.
var CheckResults = []string{CheckPass, CheckFail, CheckError, CheckUnknown, CheckNotApplicable, CheckNotChecked, CheckNotSelected, CheckInformational, CheckFixed}

// MaxRawGzip bounds Results.Raw.
const MaxRawGzip = 8 << 20

// maxRawString is Raw's longest JSON string: base64 of MaxRawGzip bytes
// and its quotes.
const maxRawString = (MaxRawGzip+2)/3*4 + 2

// ComplianceCheck is one rule of a benchmark evaluated on the target.
type ComplianceCheck struct {
	// Benchmark identifies the benchmark: the XCCDF benchmark id
	// ("xccdf_org.ssgproject.content_benchmark_DEBIAN-11"),
	// "cis-kubernetes" or "cis-docker"; BenchmarkVersion its version
	// ("0.1.65", "cis-1.8", "1.6.0").
	Benchmark        string `json:"benchmark"`
	BenchmarkVersion string `json:"benchmarkVersion,omitempty"`
	// Profile is the profile evaluated: the XCCDF profile id
	// ("xccdf_org.ssgproject.content_profile_standard") or the
	// kube-bench target ("master", "node") or Docker section.
	Profile string `json:"profile"`
	// Rule is the rule's id (XCCDF rule id, "1.2.1" for kube-bench,
	// "5.4" for Docker); Title its title.
	Rule  string `json:"rule"`
	Title string `json:"title,omitempty"`
	// Severity is the rule's: critical, high, medium, low or empty.
	Severity string `json:"severity,omitempty"`
	// Result is one of CheckResults.
	Result string `json:"result"`
	// Subject is what the check was about when one benchmark rule is
	// evaluated on several objects (a container's name for the Docker
	// benchmark); empty for the target as a whole.
	Subject string `json:"subject,omitempty"`
	// Rationale and Fix are the rule's rationale and remediation text;
	// Evidence what the engine saw (kube-bench's actual value, a
	// container's setting), each at most 4,000 bytes.
	Rationale string `json:"rationale,omitempty"`
	Fix       string `json:"fix,omitempty"`
	Evidence  string `json:"evidence,omitempty"`
	// References are the rule's references: CIS ids, NIST 800-53
	// controls, PCI-DSS requirements, CCEs...
	References []Reference `json:"references,omitempty"`
}

// Reference names a control in another catalogue.
type Reference struct {
	// System is the catalogue ("cis", "nist-800-53", "pcidss", "cce",
	// "hipaa", "anssi", or the XCCDF reference's href).
	System string `json:"system"`
	ID     string `json:"id"`
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
		if len(r.Secrets)+len(r.Malware) > 0 {
			return fmt.Errorf("results of type compliance carry %d secret and %d malware findings", len(r.Secrets), len(r.Malware))
		}
	default:
		return fmt.Errorf("results type %q (want secret, malware or compliance)", trunc(r.Type, 50))
	}
	if r.Type != ScanCompliance && len(r.Compliance) > 0 {
		return fmt.Errorf("results of type %s carry %d compliance checks", r.Type, len(r.Compliance))
	}
	if len(r.Raw) > MaxRawGzip || len(r.RawFormat) > maxRuleLen || (len(r.Raw) > 0) != (r.RawFormat != "") {
		return fmt.Errorf("raw results: at most %d bytes, with a format name of at most %d bytes", MaxRawGzip, maxRuleLen)
	}
	if r.Engine.Name == "" || len(r.Engine.Name) > maxRuleLen || len(r.Engine.Version) > maxRuleLen || len(r.Engine.RulesSet) > maxRuleLen {
		return errors.New("engine: a name of 1-200 bytes, version and rules at most 200")
	}
	if r.Files < 0 || r.Skipped < 0 || r.Errors < 0 {
		return errors.New("negative file counts")
	}
	if n := len(r.Secrets) + len(r.Malware) + len(r.Compliance); n > MaxResultFindings {
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
	for i := range r.Compliance {
		if err := r.Compliance[i].validate(); err != nil {
			return fmt.Errorf("compliance check %d (%s): %w", i, trunc(r.Compliance[i].Rule, 80), err)
		}
	}
	return nil
}

// Bounds of a compliance check's texts.
const (
	maxCheckText = 4000
	maxRefs      = 200
)

func (c *ComplianceCheck) validate() error {
	for _, f := range []struct{ name, v string }{{"benchmark", c.Benchmark}, {"profile", c.Profile}, {"rule", c.Rule}} {
		if f.v == "" || len(f.v) > maxRuleLen || !printable(f.v) {
			return fmt.Errorf("%s %q: want 1-%d printable bytes", f.name, trunc(f.v, 50), maxRuleLen)
		}
	}
	if len(c.BenchmarkVersion) > maxRuleLen || len(c.Subject) > maxPathLen || len(c.Title) > maxTextLen {
		return errors.New("benchmark version, subject or title too long")
	}
	if !slices.Contains(resultSeverities, c.Severity) {
		return fmt.Errorf("severity %q (want critical, high, medium, low or none)", trunc(c.Severity, 20))
	}
	if !slices.Contains(CheckResults, c.Result) {
		return fmt.Errorf("result %q (want one of %s)", trunc(c.Result, 20), strings.Join(CheckResults, ", "))
	}
	if len(c.Rationale) > maxCheckText || len(c.Fix) > maxCheckText || len(c.Evidence) > maxCheckText {
		return fmt.Errorf("rationale, fix or evidence longer than %d bytes", maxCheckText)
	}
	if len(c.References) > maxRefs {
		return fmt.Errorf("%d references (at most %d)", len(c.References), maxRefs)
	}
	for _, ref := range c.References {
		if ref.System == "" || ref.ID == "" || len(ref.System) > maxRuleLen || len(ref.ID) > maxRuleLen {
			return fmt.Errorf("reference %q %q: want a system and an id of 1-%d bytes", trunc(ref.System, 50), trunc(ref.ID, 50), maxRuleLen)
		}
	}
	return nil
}

// printable: no control characters and valid UTF-8 (ids are shown and
// used in decisions, never interpreted).
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
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
	// The longest string is Raw: MaxRawGzip bytes in base64 (every other
	// string is bounded again by Validate).
	d := intake.NewDecoder(zr, intake.Limits{MaxInput: MaxResultsJSON, MaxBytes: MaxResultsJSON, MaxDepth: 8, MaxString: maxRawString,
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
