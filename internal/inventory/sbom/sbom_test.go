package sbom

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/inventory"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func sample() *inventory.Inventory {
	return &inventory.Inventory{
		SchemaVersion: inventory.SchemaVersion,
		Target:        inventory.Target{Kind: "docker-archive", Ref: "app.tar", Digest: "sha256:0123"},
		Distro:        &inventory.Distro{ID: "debian", VersionID: "12", Codename: "bookworm", Name: "Debian GNU/Linux 12 (bookworm)"},
		CreatedAt:     time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC),
		Packages: []inventory.Package{
			{Name: "python3-urllib3", Version: "1.26.12-1", Ecosystem: "Debian:12", PURL: "pkg:deb/debian/python3-urllib3@1.26.12-1?arch=all&distro=bookworm", SourceName: "python-urllib3", SourceVersion: "1.26.12-1", Locations: []string{"var/lib/dpkg/status"}, Layer: "sha256:aaaa", Files: []string{"/usr/lib/python3/dist-packages/urllib3/__init__.py"}, Extractor: "os/dpkg"},
			{Name: "urllib3", Version: "1.26.12", Ecosystem: "PyPI", PURL: "pkg:pypi/urllib3@1.26.12", Locations: []string{"usr/lib/python3/dist-packages/urllib3-1.26.12.dist-info/METADATA"}, Layer: "sha256:aaaa", OwnedBy: "pkg:deb/debian/python3-urllib3@1.26.12-1?arch=all&distro=bookworm", Licenses: []string{"MIT"}},
			{Name: "lodash", Version: "4.17.4", Ecosystem: "npm", PURL: "pkg:npm/lodash@4.17.4", Locations: []string{"app/package-lock.json", "app/node_modules/lodash/package.json"}, Licenses: []string{"MIT License (see LICENSE)"}},
		},
	}
}

func TestWriteGolden(t *testing.T) {
	for _, format := range []string{FormatJSON, FormatCycloneDX, FormatSPDX, FormatTable} {
		t.Run(strings.ReplaceAll(format, "-", "_"), func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, sample(), format, Tool{Name: "riskmap", Version: "test"}); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "sample."+format+".golden")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if diff := cmp.Diff(string(want), buf.String()); diff != "" {
				t.Errorf("%s output (-golden +got):\n%s", format, diff)
			}
		})
	}
}

// TestSPDXRequiredFields checks the SPDX 2.3 fields every package must have.
func TestSPDXRequiredFields(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, sample(), FormatSPDX, Tool{Name: "riskmap", Version: "test"}); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, p := range doc["packages"].([]any) {
		m := p.(map[string]any)
		for _, k := range []string{"name", "SPDXID", "downloadLocation"} {
			if m[k] == nil || m[k] == "" {
				t.Errorf("package %v lacks %s", m["name"], k)
			}
		}
		id := m["SPDXID"].(string)
		if ids[id] || !strings.HasPrefix(id, "SPDXRef-") {
			t.Errorf("bad or duplicate SPDXID %q", id)
		}
		ids[id] = true
		if l, ok := m["licenseDeclared"].(string); ok && l != "NOASSERTION" && !spdxExpr(l) {
			t.Errorf("licenseDeclared %q is not an SPDX expression", l)
		}
	}
	for _, r := range doc["relationships"].([]any) {
		m := r.(map[string]any)
		if !ids[m["relatedSpdxElement"].(string)] {
			t.Errorf("relationship to unknown element %v", m["relatedSpdxElement"])
		}
	}
}

func TestReadForeign(t *testing.T) {
	// Documents written by other tools (testdata/foreign/*), with the
	// packages they must yield.
	tests := []struct {
		file string
		want []string
	}{
		{file: "cyclonedx-nested.json", want: []string{"Maven org.apache.logging.log4j:log4j-core@2.14.1", "npm lodash@4.17.4", "Debian:12 openssl@3.0.11-1~deb12u2"}},
		{file: "spdx-minimal.json", want: []string{"PyPI requests@2.19.0", "Go golang.org/x/text@v0.3.0"}},
	}
	for _, tc := range tests {
		t.Run(strings.TrimSuffix(strings.ReplaceAll(tc.file, "-", "_"), ".json"), func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", "foreign", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			inv, err := Read(f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range inv.Packages {
				got = append(got, p.Ecosystem+" "+p.Name+"@"+p.Version)
			}
			if diff := cmp.Diff(sorted(tc.want), sorted(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func sorted(s []string) []string { return sortedCopy(s) }

func TestReadErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"not_json":         "hello",
		"xml":              "<bom/>",
		"unknown_json":     `{"hello":1}`,
		"bad_cyclonedx":    `{"bomFormat":"CycloneDX","components":"nope"}`,
		"deeply_nested":    `{"bomFormat":"CycloneDX","components":[` + strings.Repeat(`{"type":"library","name":"x","components":[`, 40) + strings.Repeat(`]}`, 40) + `]}`,
		"bad_spdx":         `{"spdxVersion":"SPDX-2.3","packages":{}}`,
		"spdx_3_unsupport": `{"spdxVersion":"SPDX-3.0"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Read(strings.NewReader(doc)); err == nil {
				t.Errorf("Read(%s): no error", name)
			}
		})
	}
}

func FuzzRead(f *testing.F) {
	for _, format := range []string{FormatJSON, FormatCycloneDX, FormatSPDX} {
		var buf bytes.Buffer
		Write(&buf, sample(), format, Tool{Name: "riskmap", Version: "fuzz"})
		f.Add(buf.Bytes())
	}
	f.Add([]byte(`{"bomFormat":"CycloneDX","components":[{"type":"library","name":"a","purl":"pkg:deb/ubuntu/a@1?distro=ubuntu-22.04"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		inv, err := Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		// Whatever was read must be writable again.
		for _, format := range []string{FormatCycloneDX, FormatSPDX} {
			if err := Write(&bytes.Buffer{}, inv, format, Tool{Name: "riskmap", Version: "fuzz"}); err != nil {
				t.Fatalf("re-write %s: %v", format, err)
			}
		}
	})
}

// writeIndented gives what json.Indent gives for any compact document.
func FuzzWriteIndented(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"a":[1,2,{}],"b":{"c":"x\"y,{}[]:"},"d":[]}`, `"s"`, `[[],[[]],{"":""}]`, `{"k":"\\","e":"\u00e9<>&"}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		var compact, want, got bytes.Buffer
		if err := json.Compact(&compact, b); err != nil {
			t.Fatal(err)
		}
		compact.WriteByte('\n') // as json.Encoder ends a document
		if err := json.Indent(&want, compact.Bytes(), "", "  "); err != nil {
			t.Fatal(err)
		}
		if err := writeIndented(&got, compact.Bytes()); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Fatalf("writeIndented(%q)\n got %q\nwant %q", compact.String(), got.String(), want.String())
		}
	})
}
