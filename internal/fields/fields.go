// Package fields describes the settings forms of pluggable kinds
// (integration destinations, registry providers): what each setting is,
// which are secret (sealed by internal/secrets, never returned), and the
// checks every kind gets before its own (required, options, URLs,
// numbers, lengths). The API lists a kind's fields; the web UI draws the
// form from them.
package fields

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Field is one setting of a kind.
type Field struct {
	Name     string   `json:"name"`
	Label    string   `json:"label"`
	Type     string   `json:"type"` // text, url, password, select, bool, number, textarea
	Required bool     `json:"required,omitempty"`
	Secret   bool     `json:"secret,omitempty"` // encrypted at rest, never returned
	Options  []string `json:"options,omitempty"`
	Default  string   `json:"default,omitempty"`
	Help     string   `json:"help,omitempty"`
}

// Types are the field types the UI draws.
var Types = []string{"text", "url", "password", "select", "bool", "number", "textarea"}

// MaxValue bounds one setting's length (a PEM bundle or a service-account
// JSON fits; a body bomb does not).
const MaxValue = 64 << 10

// Check validates values (settings and secrets together, by field name)
// against fs: no unknown names, required ones present (a secret already
// stored counts as present when stored reports it), select values among
// the options, URLs absolute http(s), numbers numbers, bools true/false,
// lengths bounded. Each problem names the field; all are returned joined.
func Check(fs []Field, values map[string]string, stored func(name string) bool) error {
	var errs []error
	known := map[string]Field{}
	for _, f := range fs {
		known[f.Name] = f
	}
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if _, ok := known[n]; !ok {
			errs = append(errs, fmt.Errorf("%s: unknown setting (want one of %s)", n, strings.Join(fieldNames(fs), ", ")))
		}
	}
	for _, f := range fs {
		v, given := values[f.Name]
		if !given || v == "" {
			if f.Required && !(f.Secret && stored != nil && stored(f.Name)) {
				errs = append(errs, fmt.Errorf("%s: required", f.Name))
			}
			continue
		}
		if len(v) > MaxValue {
			errs = append(errs, fmt.Errorf("%s: longer than %d bytes", f.Name, MaxValue))
			continue
		}
		switch f.Type {
		case "select":
			if !slices.Contains(f.Options, v) {
				errs = append(errs, fmt.Errorf("%s: %q is not one of %s", f.Name, v, strings.Join(f.Options, ", ")))
			}
		case "url":
			if err := CheckURL(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.Name, err))
			}
		case "number":
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is not a number", f.Name, v))
			}
		case "bool":
			if v != "true" && v != "false" {
				errs = append(errs, fmt.Errorf("%s: %q is not true or false", f.Name, v))
			}
		case "text", "password":
			if strings.ContainsAny(v, "\r\n") {
				errs = append(errs, fmt.Errorf("%s: one line only", f.Name))
			}
		}
	}
	return errors.Join(errs...)
}

// CheckURL accepts an absolute http or https URL with a host and no
// user information (credentials belong in secret fields).
func CheckURL(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q: want an absolute http(s) URL", v)
	}
	if u.User != nil {
		return errors.New("credentials in the URL: put them in the secret fields")
	}
	return nil
}

// Split separates values into plain settings and secrets per fs.
func Split(fs []Field, values map[string]string) (settings, secrets map[string]string) {
	settings, secrets = map[string]string{}, map[string]string{}
	for _, f := range fs {
		v, ok := values[f.Name]
		if !ok {
			continue
		}
		if f.Secret {
			secrets[f.Name] = v
		} else {
			settings[f.Name] = v
		}
	}
	return settings, secrets
}

func fieldNames(fs []Field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}

// MaxCertificates is the most PEM certificates a kind's extra trusted CA
// setting takes.
const MaxCertificates = 100

// Certificates reads the PEM certificates an account or destination adds
// to the trusted roots: anything that is not a certificate, none at all,
// or more than MaxCertificates is refused.
func Certificates(pemText string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(pemText)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("a PEM block of type %q; want CERTIFICATE", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
		if len(out) > MaxCertificates {
			return nil, fmt.Errorf("more than %d certificates", MaxCertificates)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}
