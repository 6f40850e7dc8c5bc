package sensorproto

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestDecodeResults(t *testing.T) {
	valid := `{"type":"secret","engine":{"name":"riskmap-secrets","version":"1"},"files":3,"secrets":[{"rule":"aws-access-token","severity":"high","file":"/etc/app.env","line":3,"layer":"sha256:ab","entropy":3.9,"fingerprint":"0123456789abcdef0123","excerpt":"AWS_KEY=[REDACTED]"}]}`
	res, err := DecodeResults(bytes.NewReader(gz(valid)))
	if err != nil {
		t.Fatalf("valid results refused: %v", err)
	}
	if len(res.Secrets) != 1 || res.Secrets[0].Line != 3 || res.Secrets[0].Fingerprint != "0123456789abcdef0123" {
		t.Fatalf("decoded %+v", res)
	}
	comp := `{"type":"compliance","engine":{"name":"oscap"},"compliance":[{"benchmark":"xccdf_org.ssgproject.content_benchmark_DEBIAN-11","profile":"standard","rule":"xccdf_org.ssgproject.content_rule_package_telnet_removed","result":"fail","severity":"high","references":[{"system":"nist-800-53","id":"CM-7(a)"}]}]}`
	if res, err := DecodeResults(bytes.NewReader(gz(comp))); err != nil || len(res.Compliance) != 1 || res.Compliance[0].References[0].ID != "CM-7(a)" {
		t.Fatalf("compliance results: %+v, %v", res, err)
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"unredacted_excerpt", strings.Replace(valid, `[REDACTED]`, `AKIAABCDEFGHIJKLMNOP`, 1), "excerpt"},
		{"short_fingerprint", strings.Replace(valid, `0123456789abcdef0123`, `abc`, 1), "fingerprint"},
		{"fingerprint_with_wildcard", strings.Replace(valid, `0123456789abcdef0123`, `0123456789abcdef_%`, 1), "fingerprint"},
		{"unknown_severity", strings.Replace(valid, `"high"`, `"dire"`, 1), "severity"},
		{"no_file", strings.Replace(valid, `"/etc/app.env"`, `""`, 1), "file"},
		{"unknown_field", strings.Replace(valid, `"files":3`, `"files":3,"secret":"hunter2"`, 1), "unknown field"},
		{"vulnerability", `{"type":"vulnerability","engine":{"name":"x"}}`, "inventory"},
		{"compliance_unknown_result", `{"type":"compliance","engine":{"name":"x"},"compliance":[{"benchmark":"b","profile":"p","rule":"r","result":"maybe"}]}`, "result"},
		{"compliance_no_rule", `{"type":"compliance","engine":{"name":"x"},"compliance":[{"benchmark":"b","profile":"p","result":"pass"}]}`, "rule"},
		{"compliance_in_secret", strings.Replace(valid, `"files":3`, `"files":3,"compliance":[{"benchmark":"b","profile":"p","rule":"r","result":"pass"}]`, 1), "compliance checks"},
		{"raw_without_format", `{"type":"compliance","engine":{"name":"x"},"raw":"AAAA"}`, "raw"},
		{"mixed", `{"type":"malware","engine":{"name":"x"},"secrets":[{"rule":"r","file":"f","fingerprint":"0123456789abcdef"}]}`, "secret findings"},
		{"no_engine", `{"type":"secret"}`, "engine"},
		{"trailing", valid + ` {}`, "trailing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeResults(bytes.NewReader(gz(tc.doc)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("too_many", func(t *testing.T) {
		one := `{"rule":"r","file":"f","fingerprint":"0123456789abcdef"},`
		doc := `{"type":"secret","engine":{"name":"x"},"secrets":[` + strings.Repeat(one, MaxResultFindings) + strings.TrimSuffix(one, ",") + `]}`
		_, err := DecodeResults(bytes.NewReader(gz(doc)))
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	})
}

// TestDecodeResultsRaw: compliance results carrying a raw results
// document up to MaxRawGzip bytes are accepted (its base64 string is the
// longest of the document); one byte more is refused by Validate.
func TestDecodeResultsRaw(t *testing.T) {
	// Incompressible, as a gzip document is.
	raw := make([]byte, MaxRawGzip)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(raw)
	res := &Results{Type: ScanCompliance, Engine: Engine{Name: "openscap"}, RawFormat: "xccdf-1.2", Raw: raw,
		Compliance: []ComplianceCheck{{Benchmark: "b", Profile: "p", Rule: "r", Result: CheckPass}}}
	body, err := EncodeResults(res)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeResults(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("raw of MaxRawGzip bytes: %v", err)
	}
	if !bytes.Equal(got.Raw, raw) {
		t.Error("raw changed on the way")
	}
	res.Raw = append(raw, 0)
	body, err = EncodeResults(res)
	if err == nil {
		_, err = DecodeResults(bytes.NewReader(body))
	}
	if err == nil {
		t.Error("raw of MaxRawGzip+1 bytes accepted")
	}
}
