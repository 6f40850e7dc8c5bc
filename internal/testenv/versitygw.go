package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// VersityGWVersion is the versitygw release scripts/test-server-build.sh
// builds into CacheDir/versitygw-<version>.
const VersityGWVersion = "v1.8.0"

// S3Server is a running versitygw: a real S3 API server (Apache-2.0) with
// SigV4 authentication, serving HTTPS on loopback from a directory of its
// own (buckets are directories, objects files).
type S3Server struct {
	// Endpoint is the server's https URL; address buckets path-style.
	Endpoint string
	Region   string
	// AccessKey and SecretKey are the root user's credentials.
	AccessKey, SecretKey string
	// CAPEM is the server's self-signed certificate; HTTP trusts it.
	CAPEM []byte
	HTTP  *http.Client
	// Dir is the directory behind the gateway (Dir/<bucket>/<key>).
	Dir string
}

// S3 starts versitygw for the test and stops it when the test ends. The
// binary is built on demand by scripts/test-server-build.sh (about 2 minutes
// of CPU once; .ci/run builds it before the tests); when it cannot be
// built the test fails in CI and is skipped elsewhere.
func S3(t testing.TB) *S3Server {
	t.Helper()
	bin := VersityGW(t)
	work := t.TempDir()
	dir := filepath.Join(work, "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := LoopbackCert(t)
	crt, key := filepath.Join(work, "tls.crt"), filepath.Join(work, "tls.key")
	writeFile(t, crt, certPEM)
	writeFile(t, key, keyPEM)
	var kb [10]byte
	rand.Read(kb[:])
	var sb [20]byte
	rand.Read(sb[:])
	s := &S3Server{
		Region:    "us-east-1",
		AccessKey: "RISKMAPTEST" + hex.EncodeToString(kb[:])[:9],
		SecretKey: hex.EncodeToString(sb[:]),
		CAPEM:     certPEM,
		Dir:       dir,
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	s.HTTP = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	t.Cleanup(s.HTTP.CloseIdleConnections)
	port := strconv.Itoa(freePorts(t, 1)[0])
	s.Endpoint = "https://127.0.0.1:" + port
	start(t, work, "versitygw", bin, "--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region,
		"--port", "127.0.0.1:"+port, "--cert", crt, "--key", key, "--quiet", "posix", dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		// Any S3 answer (403 for an unsigned request) means it serves.
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/", nil)
		if resp, err := s.HTTP.Do(req); err == nil {
			resp.Body.Close()
			return s
		}
		select {
		case <-ctx.Done():
			t.Fatalf("versitygw at %s not serving after 30 s", s.Endpoint)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// VersityGW returns the path of the cached versitygw binary, building it
// with scripts/test-server-build.sh when it is missing.
func VersityGW(t testing.TB) string {
	t.Helper()
	return testServer(t, "versitygw", VersityGWVersion, "about 2 minutes of CPU")
}

// LoopbackCert makes a self-signed ECDSA certificate (and its key, in PEM)
// for test servers on 127.0.0.1, ::1 and localhost, valid for a day.
func LoopbackCert(t testing.TB) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "riskmap test server"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:    []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
