package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const ownedFixture = "../inventory/scanner/testdata/owned"

func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := Run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

func TestSBOMFormats(t *testing.T) {
	tests := []struct {
		name   string
		format string
		check  func(t *testing.T, out string)
	}{
		{name: "riskmap_json", format: "json", check: func(t *testing.T, out string) {
			var v struct {
				SchemaVersion string
				Packages      []struct{ Name, OwnedBy string }
			}
			if err := json.Unmarshal([]byte(out), &v); err != nil || v.SchemaVersion == "" || len(v.Packages) != 2 {
				t.Errorf("json: %v %+v", err, v)
			}
		}},
		{name: "cyclonedx", format: "cyclonedx-json", check: func(t *testing.T, out string) {
			var v struct {
				BOMFormat, SpecVersion string
				Components             []struct{ Purl string }
			}
			if err := json.Unmarshal([]byte(out), &v); err != nil || v.BOMFormat != "CycloneDX" || v.SpecVersion != "1.6" || len(v.Components) != 3 {
				t.Errorf("cyclonedx: %v %+v", err, v)
			}
		}},
		{name: "spdx", format: "spdx-json", check: func(t *testing.T, out string) {
			var v struct {
				SPDXVersion string
				Packages    []struct{ Name string }
			}
			if err := json.Unmarshal([]byte(out), &v); err != nil || v.SPDXVersion != "SPDX-2.3" || len(v.Packages) != 4 {
				t.Errorf("spdx: %v %+v", err, v)
			}
		}},
		{name: "table", format: "table", check: func(t *testing.T, out string) {
			if !strings.Contains(out, "python3-urllib3") || !strings.HasPrefix(out, "NAME") {
				t.Errorf("table:\n%s", out)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, err := runCLI(t, "sbom", "--format", tc.format, "dir:"+ownedFixture)
			if err != nil {
				t.Fatalf("riskmap sbom: %v\n%s", err, stderr)
			}
			if stderr != "" {
				t.Errorf("stderr not empty when not a terminal: %q", stderr)
			}
			tc.check(t, out)
		})
	}
}

func TestSBOMOutputFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "inv.cdx.json")
	out, _, err := runCLI(t, "sbom", "--format=cyclonedx", "--output", p, ownedFixture)
	if err != nil {
		t.Fatal(err)
	}
	if out != "" {
		t.Errorf("stdout not empty with --output: %q", out)
	}
	b, err := os.ReadFile(p)
	if err != nil || !bytes.Contains(b, []byte(`"bomFormat": "CycloneDX"`)) {
		t.Fatalf("output file: %v\n%s", err, b)
	}
	// And read back as a target.
	out, _, err = runCLI(t, "sbom", "-o", "table", "sbom:"+p)
	if err != nil || !strings.Contains(out, "urllib3") {
		t.Errorf("sbom: read back: %v\n%s", err, out)
	}
}

func TestSBOMUsageErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"no_target":      {"sbom"},
		"two_targets":    {"sbom", "a", "b"},
		"bad_format":     {"sbom", "--format", "xml", "dir:."},
		"missing_target": {"sbom", "dir:/nonexistent/riskmap"},
		"unknown_flag":   {"sbom", "--nope", "dir:."},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := runCLI(t, args...)
			var ee *ExitError
			if !errors.As(err, &ee) || ee.Code != 2 {
				t.Errorf("riskmap %v: %v, want exit status 2", args, err)
			}
		})
	}
}
