// Package tlspin pins a console's TLS certificate by its SHA-256
// fingerprint, as `riskmap console` prints it: the sensor's client and
// `riskmap scan --console` accept exactly that certificate (self-signed
// consoles have no chain to verify), and only while it is valid.
package tlspin

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrMismatch is returned when the console presents another certificate
// than the pinned one.
var ErrMismatch = errors.New("console certificate does not match the pinned SHA-256 fingerprint")

// Parse reads a fingerprint: an optional "sha256:" prefix, then 64 hex
// digits; colons, spaces around it and case are ignored.
func Parse(s string) ([]byte, error) {
	clean := strings.ToLower(strings.TrimSpace(s))
	clean = strings.TrimPrefix(clean, "sha256:")
	clean = strings.ReplaceAll(clean, ":", "")
	b, err := hex.DecodeString(clean)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("certificate pin %q: want sha256: (optional) and the 64 hex digits of the console certificate's SHA-256 fingerprint", s)
	}
	return b, nil
}

// Fingerprint returns the pin of a DER certificate, as Parse reads it.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return fmt.Sprintf("%x", sum[:])
}

// Verify accepts a connection whose leaf certificate is the pinned one and
// valid at now.
func Verify(cs tls.ConnectionState, pin []byte, now time.Time) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("console presented no certificate")
	}
	leaf := cs.PeerCertificates[0]
	sum := sha256.Sum256(leaf.Raw)
	if subtle.ConstantTimeCompare(sum[:], pin) != 1 {
		return fmt.Errorf("%w: it presented %x", ErrMismatch, sum[:])
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return fmt.Errorf("pinned console certificate is not valid now (valid %s to %s)", leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// Apply makes tc accept exactly the pinned certificate: the chain is not
// checked (the console's certificate is self-signed); the leaf must be the
// pinned one and valid at now().
func Apply(tc *tls.Config, pin []byte, now func() time.Time) {
	tc.InsecureSkipVerify = true
	tc.VerifyConnection = func(cs tls.ConnectionState) error { return Verify(cs, pin, now()) }
}

// Config returns a TLS configuration that accepts exactly the certificate
// with the given fingerprint (for tools and tests that talk to a
// self-signed console).
func Config(fingerprint string) (*tls.Config, error) {
	pin, err := Parse(fingerprint)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	Apply(tc, pin, time.Now)
	return tc, nil
}
