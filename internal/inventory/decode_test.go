package inventory

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/riskmap/riskmap/internal/intake"
)

func decodeAll(doc string, dec Decoding) (*Inventory, error) {
	var pkgs []Package
	dec.Package = func(p *Package) error { pkgs = append(pkgs, *p); return nil }
	d := intake.NewDecoder(strings.NewReader(doc), intake.Limits{MaxElement: 1 << 10})
	inv, err := Decode(d, dec)
	if err != nil {
		return nil, err
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	inv.Packages = pkgs
	return inv, nil
}

func TestDecodeLikeEncodingJSON(t *testing.T) {
	doc := `{"schemaVersion":"1.0.0","target":{"kind":"dir","ref":"/x"},"distro":{"id":"debian","versionId":"12"},
	 "packages":[{"name":"openssl","version":"3.0.11","ecosystem":"Debian:12","purl":"pkg:deb/debian/openssl@3.0.11",
	   "sourceName":"openssl","locations":["var/lib/dpkg/status"],"files":["/usr/bin/openssl"],"licenses":["Apache-2.0"],"Layer":"sha256:1"},
	   null, {"name":"b","files":null}],
	 "errors":[{"path":"a","error":"b"}],"createdAt":"2026-01-02T03:04:05Z"}`
	var want Inventory
	if err := json.Unmarshal([]byte(doc), &want); err != nil {
		t.Fatal(err)
	}
	var errs []FileError
	got, err := decodeAll(doc, Decoding{FileError: func(fe FileError) error { errs = append(errs, fe); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	got.Errors = errs
	if diff := cmp.Diff(&want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("(-encoding/json +Decode):\n%s", diff)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown_field", `{"packages":[],"extra":1}`, `unknown field "extra"`},
		{"unknown_package_field", `{"packages":[{"name":"a","x":1}]}`, `unknown field "x"`},
		{"unknown_target_field", `{"target":{"kind":"a","x":1}}`, `unknown field "x"`},
		{"packages_twice", `{"packages":[],"packages":[]}`, `"packages" given twice`},
		{"package_not_object", `{"packages":[1]}`, "want an object"},
		{"list_too_long", `{"packages":[{"name":"a","locations":["1","2","3"]}]}`, "more than 2 locations"},
		{"element_too_large", `{"target":{"kind":"` + strings.Repeat("x", 2000) + `"}}`, "MaxElement"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeAll(tc.doc, Decoding{MaxList: 2, MaxFiles: 2})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	_, err := decodeAll(`{"packages":[{"name":"a","files":["1","2","3"]}]}`, Decoding{MaxList: 2, MaxFiles: 2, DropFiles: true})
	if !errors.Is(err, ErrListTooLong) {
		t.Fatalf("dropped files are still counted: %v", err)
	}
}
