package console_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/console"
)

// rsaCertificate writes a self-signed RSA certificate for 127.0.0.1 and its
// key (an operator's --tls-cert / --tls-key) and returns the files.
func rsaCertificate(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "console.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "rsa.crt"), filepath.Join(dir, "rsa.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestTLSCipherSuites: over TLS 1.2 the console agrees only to ECDHE with
// an AEAD cipher, with its generated ECDSA certificate and with an
// operator's RSA certificate; TLS 1.3 is unchanged.
func TestTLSCipherSuites(t *testing.T) {
	certFile, keyFile := rsaCertificate(t)
	consoles := []struct {
		name     string
		opt      envOpt
		accepted []uint16
		refused  []uint16
	}{
		{"ecdsa_generated", func(*config.Console, *console.Options) {},
			[]uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
			[]uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}},
		{"rsa_operator", func(c *config.Console, _ *console.Options) { c.TLSCert, c.TLSKey = certFile, keyFile },
			[]uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256},
			[]uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
				tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_128_CBC_SHA}},
	}
	for _, cc := range consoles {
		t.Run(cc.name, func(t *testing.T) {
			e := start(t, cc.opt)
			addr := strings.TrimPrefix(e.base, "https://")
			dial := func(cfg *tls.Config) (tls.ConnectionState, error) {
				cfg.RootCAs = e.pool
				conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
				if err != nil {
					return tls.ConnectionState{}, err
				}
				defer conn.Close()
				return conn.ConnectionState(), nil
			}
			for _, suite := range cc.refused {
				if st, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}}); err == nil {
					t.Errorf("TLS 1.2 with only %s: connected (%s); want a handshake failure", tls.CipherSuiteName(suite), tls.CipherSuiteName(st.CipherSuite))
				}
			}
			for _, suite := range cc.accepted {
				st, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
				if err != nil || st.Version != tls.VersionTLS12 || st.CipherSuite != suite {
					t.Errorf("TLS 1.2 with %s: %v (version %x, suite %s)", tls.CipherSuiteName(suite), err, st.Version, tls.CipherSuiteName(st.CipherSuite))
				}
			}
			if st, err := dial(&tls.Config{}); err != nil || st.Version != tls.VersionTLS13 {
				t.Errorf("default client: %v, version %x; want TLS 1.3", err, st.Version)
			}
			e.client().must(200, "GET", "/healthz", nil, nil)
		})
	}
}
