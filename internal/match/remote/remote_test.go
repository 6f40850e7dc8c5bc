package remote

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/vulndb"
)

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

const good = `{"schemaVersion":"1.0.0","target":{"kind":"dir","ref":"/src"},"packages":[{"name":"urllib3","version":"1.26.0","ecosystem":"PyPI","purl":"pkg:pypi/urllib3@1.26.0"}]}`

func TestDecodeRequest(t *testing.T) {
	tests := map[string]struct {
		body     []byte
		encoding string
		wantErr  string
		is       error
	}{
		"plain":              {[]byte(good), "", "", nil},
		"identity":           {[]byte(good), "identity", "", nil},
		"gzip":               {gz(good), "gzip", "", nil},
		"gzip_upper":         {gz(good), "GZIP", "", nil},
		"gzip_not_gzip":      {[]byte(good), "gzip", "not gzip", nil},
		"brotli":             {[]byte(good), "br", "unsupported Content-Encoding", ErrUnsupportedEncoding},
		"unknown_field":      {[]byte(`{"schemaVersion":"1.0.0","extra":1}`), "", "unknown field", nil},
		"trailing":           {[]byte(good + ` {}`), "", "trailing data", nil},
		"no_schema":          {[]byte(`{"packages":[]}`), "", "no schemaVersion", nil},
		"other_major":        {[]byte(`{"schemaVersion":"2.0.0"}`), "", "this console reads", nil},
		"nameless_package":   {[]byte(`{"schemaVersion":"1.0.0","packages":[{"version":"1"}]}`), "", "has no name", nil},
		"truncated":          {[]byte(good[:40]), "", "unexpected end", nil},
		"empty":              {nil, "", "EOF", nil},
		"not_json":           {[]byte("<xml/>"), "", "invalid character", nil},
		"too_many_packages":  {[]byte(`{"schemaVersion":"1.0.0","packages":[` + strings.Repeat(`{"name":"a"},`, MaxPackages) + `{"name":"a"}]}`), "", "more than 200000 packages", ErrTooLarge},
		"too_deep":           {[]byte(`{"schemaVersion":"1.0.0","target":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`), "", "MaxDepth", ErrTooLarge},
		"long_string":        {[]byte(`{"schemaVersion":"1.0.0","packages":[{"name":"` + strings.Repeat("a", 70_000) + `"}]}`), "", "MaxString", ErrTooLarge},
		"whitespace_trailer": {[]byte(good + "\n\n"), "", "", nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			inv, err := DecodeRequest(bytes.NewReader(tc.body), tc.encoding)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(inv.Packages) != 1 || inv.Packages[0].Name != "urllib3" {
					t.Errorf("packages = %+v", inv.Packages)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
		})
	}
}

// TestWriteResponse: the answer written one finding at a time is the
// bytes encoding/json writes for the whole.
func TestWriteResponse(t *testing.T) {
	res := &match.Result{
		Findings: []match.Finding{{ID: "CVE-1", Records: []string{"DSA-1"}, Summary: "a <b> & c", Package: match.PackageRef{Name: "a", Version: "1"}},
			{ID: "CVE-2", FixedVersions: []string{"2"}, KEV: &match.KEVInfo{}}},
		Skipped:   []match.Skipped{{Package: match.PackageRef{Name: "x"}, Reason: match.SkipNoEcosystem}},
		Packages:  3,
		Uncovered: []match.Uncovered{{Ecosystem: "Debian:99", Packages: 2}},
	}
	for name, resp := range map[string]Response{
		"full":         {Result: res},
		"empty":        {Result: &match.Result{Findings: []match.Finding{}}},
		"nil_findings": {Result: &match.Result{}},
		"nil_result":   {},
		"with_db":      {Result: res, DB: vulndb.Meta{Schema: 3, Vulns: 7, Sources: []vulndb.Source{{}}}},
	} {
		t.Run(name, func(t *testing.T) {
			var want, got bytes.Buffer
			json.NewEncoder(&want).Encode(resp)
			if err := WriteResponse(&got, resp); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want.String(), got.String()); diff != "" {
				t.Errorf("(-encoding/json +WriteResponse):\n%s", diff)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	for name, o := range map[string]match.Options{
		"none":       {},
		"only_fixed": {OnlyFixed: true},
		"kernel":     {RunningKernel: "6.1.0-13-amd64"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := DecodeOptions(EncodeOptions(o))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(o, got); d != "" {
				t.Errorf("round trip (-want +got):\n%s", d)
			}
		})
	}
	for name, q := range map[string]string{
		"unknown":     "format=json",
		"not_bool":    "onlyFixed=yes",
		"repeated":    "onlyFixed=true&onlyFixed=false",
		"long_kernel": "runningKernel=" + strings.Repeat("x", 300),
	} {
		t.Run("bad_"+name, func(t *testing.T) {
			v, _ := url.ParseQuery(q)
			if _, err := DecodeOptions(v); err == nil {
				t.Errorf("%s accepted", q)
			}
		})
	}
}

func TestParsePin(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	colons := strings.ToUpper(strings.TrimSuffix(strings.Repeat("AB:", 32), ":"))
	for _, ok := range []string{hex, "sha256:" + hex, "SHA256:" + colons, colons} {
		if _, err := ParsePin(ok); err != nil {
			t.Errorf("ParsePin(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "sha256:", "sha256:abcd", "sha1:" + hex, hex + "00", strings.Repeat("zz", 32)} {
		if _, err := ParsePin(bad); err == nil {
			t.Errorf("ParsePin(%q) accepted", bad)
		}
	}
}

func TestNewRefusesUnverifiedOrClearText(t *testing.T) {
	for name, cfg := range map[string]Config{
		"http":       {URL: "http://127.0.0.1:8443", APIKey: "k"},
		"no_host":    {URL: "https://", APIKey: "k"},
		"no_key":     {URL: "https://127.0.0.1:8443"},
		"pin_and_ca": {URL: "https://127.0.0.1:8443", APIKey: "k", Pin: strings.Repeat("ab", 32), CACertFile: "/etc/hosts"},
		"ca_not_pem": {URL: "https://127.0.0.1:8443", APIKey: "k", CACertFile: "/etc/hosts"},
		"ca_missing": {URL: "https://127.0.0.1:8443", APIKey: "k", CACertFile: "/nonexistent/ca.pem"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(cfg); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// FuzzDecodeRequest feeds the console's match-request decoder arbitrary
// bodies, compressed and not: an inventory or an error, never a panic, and
// never a package without a name.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(good), false)
	f.Add([]byte(good), true)
	f.Add([]byte(`{"schemaVersion":"1.0.0","packages":[{"name":""}]}`), false)
	f.Add([]byte(`{"schemaVersion":"1.0.0"} {}`), true)
	f.Add([]byte(strings.Repeat("[", 10000)), true)
	f.Add([]byte("\x1f\x8b\x08\x00"), false)
	f.Fuzz(func(t *testing.T, data []byte, compress bool) {
		enc := ""
		if compress {
			data, enc = gz(string(data)), "gzip"
		}
		inv, err := DecodeRequest(bytes.NewReader(data), enc)
		if err != nil {
			return
		}
		if inv.SchemaVersion == "" {
			t.Fatal("accepted an inventory without schemaVersion")
		}
		for _, p := range inv.Packages {
			if p.Name == "" {
				t.Fatal("accepted a package without a name")
			}
		}
	})
}
