package tlspin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	for _, ok := range []string{hex64, "sha256:" + hex64, "SHA256:" + strings.ToUpper(hex64), " " + strings.Repeat("ab:", 31) + "ab "} {
		if b, err := Parse(ok); err != nil || len(b) != 32 {
			t.Errorf("Parse(%q) = %x, %v", ok, b, err)
		}
	}
	for _, bad := range []string{"", "sha256:", hex64[:62], hex64 + "00", "zz" + hex64[2:], "md5:" + hex64} {
		if _, err := Parse(bad); err == nil || !strings.Contains(err.Error(), "certificate pin") {
			t.Errorf("Parse(%q) = %v, want an error naming the pin", bad, err)
		}
	}
}

func TestVerify(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	notBefore := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "console"},
		NotBefore: notBefore, NotAfter: notBefore.AddDate(1, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	pin, err := Parse("sha256:" + Fingerprint(der))
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(cs, pin, notBefore.AddDate(0, 6, 0)); err != nil {
		t.Errorf("pinned, valid certificate refused: %v", err)
	}
	if err := Verify(cs, pin, notBefore.AddDate(2, 0, 0)); err == nil || !strings.Contains(err.Error(), "not valid now") {
		t.Errorf("expired pinned certificate: %v, want refused as not valid now", err)
	}
	other := make([]byte, len(pin))
	if err := Verify(cs, other, notBefore.AddDate(0, 6, 0)); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), Fingerprint(der)) {
		t.Errorf("other pin: %v, want ErrMismatch naming the presented fingerprint", err)
	}
	if err := Verify(tls.ConnectionState{}, pin, notBefore); err == nil {
		t.Error("no certificate accepted")
	}
	tc, err := Config(Fingerprint(der))
	if err != nil || !tc.InsecureSkipVerify || tc.VerifyConnection == nil || tc.MinVersion != tls.VersionTLS12 {
		t.Fatalf("Config: %+v, %v: want pin verification in place of the chain", tc, err)
	}
}
