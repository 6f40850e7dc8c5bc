package console

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOperatorCertificate(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM, err := selfSigned([]string{"console.example"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(cf, certPEM, 0o644)
	os.WriteFile(kf, keyPEM, 0o600)
	dataDir := t.TempDir()
	cert, created, err := loadOrCreateCert(dataDir, cf, kf, nil, time.Now())
	if err != nil || created {
		t.Fatalf("operator certificate: created=%t err=%v", created, err)
	}
	want, _ := tls.X509KeyPair(certPEM, keyPEM)
	if Fingerprint(cert.Certificate[0]) != Fingerprint(want.Certificate[0]) {
		t.Error("loaded a different certificate")
	}
	if _, err := os.Stat(filepath.Join(dataDir, "tls")); !os.IsNotExist(err) {
		t.Errorf("a certificate was generated although one was given: %v", err)
	}
	if _, _, err := loadOrCreateCert(dataDir, cf, filepath.Join(dir, "missing.pem"), nil, time.Now()); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Errorf("missing key: %v", err)
	}
}

func TestGeneratedCertificateKeptAndCorruptionReported(t *testing.T) {
	dataDir := t.TempDir()
	c1, created, err := loadOrCreateCert(dataDir, "", "", []string{"console.example", "0.0.0.0"}, time.Now())
	if err != nil || !created {
		t.Fatalf("first start: created=%t err=%v", created, err)
	}
	c2, created, err := loadOrCreateCert(dataDir, "", "", nil, time.Now())
	if err != nil || created || Fingerprint(c1.Certificate[0]) != Fingerprint(c2.Certificate[0]) {
		t.Fatalf("second start: created=%t err=%v; want the same certificate", created, err)
	}
	if err := c2.Leaf.VerifyHostname("console.example"); err != nil {
		t.Errorf("extra host missing: %v", err)
	}
	os.WriteFile(filepath.Join(dataDir, "tls", "console.crt"), []byte("garbage"), 0o644)
	if _, _, err := loadOrCreateCert(dataDir, "", "", nil, time.Now()); err == nil || !strings.Contains(err.Error(), "delete both files") {
		t.Errorf("corrupt certificate: %v", err)
	}
}
