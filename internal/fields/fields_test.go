package fields_test

import (
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/fields"
)

var form = []fields.Field{
	{Name: "url", Type: "url", Required: true},
	{Name: "token", Type: "password", Required: true, Secret: true},
	{Name: "mode", Type: "select", Options: []string{"a", "b"}},
	{Name: "n", Type: "number"},
	{Name: "on", Type: "bool"},
}

func TestCheckNamesEachProblem(t *testing.T) {
	err := fields.Check(form, map[string]string{"url": "ftp://x", "mode": "c", "n": "x", "on": "yes", "extra": "1"}, nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"extra: unknown setting", "token: required", "url: ", "mode: \"c\" is not one of a, b", "n: \"x\" is not a number", "on: \"yes\""} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if err := fields.Check(form, map[string]string{"url": "https://u:p@x"}, func(string) bool { return true }); err == nil || !strings.Contains(err.Error(), "credentials in the URL") {
		t.Errorf("credentials in a URL: %v", err)
	}
	// A secret already stored need not be given again.
	if err := fields.Check(form, map[string]string{"url": "https://hooks.example/x"}, func(n string) bool { return n == "token" }); err != nil {
		t.Errorf("stored secret: %v", err)
	}
	s, sec := fields.Split(form, map[string]string{"url": "https://x", "token": "t"})
	if s["url"] != "https://x" || sec["token"] != "t" || s["token"] != "" {
		t.Errorf("split: %v %v", s, sec)
	}
}

func FuzzCheck(f *testing.F) {
	f.Add("url", "https://x", "mode", "a")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		_ = fields.Check(form, map[string]string{k1: v1, k2: v2}, nil)
	})
}

// FuzzCertificates: any text is certificates or an error.
func FuzzCertificates(f *testing.F) {
	f.Add("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	f.Add("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n")
	f.Fuzz(func(t *testing.T, s string) {
		certs, err := fields.Certificates(s)
		if err == nil && len(certs) == 0 {
			t.Fatal("no certificates and no error")
		}
	})
}
