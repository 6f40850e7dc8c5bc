package integrations_test

import (
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/integrations"
)

func tlsServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	s := httptest.NewUnstartedServer(h)
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is the point
	s.Listener.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Listener = l
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// TestHTTPClient: certificates are verified (a destination's own CA is
// trusted when given); redirects are followed only to the same host with
// the same method; answers are bounded.
func TestHTTPClient(t *testing.T) {
	var other *httptest.Server
	srv := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			io.WriteString(w, "ok")
		case "/same":
			http.Redirect(w, r, "/ok", http.StatusTemporaryRedirect)
		case "/elsewhere":
			http.Redirect(w, r, other.URL+"/ok", http.StatusTemporaryRedirect)
		case "/to-get":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/big":
			w.Write([]byte(strings.Repeat("x", 3<<20)))
		case "/big-declared":
			w.Header().Set("Content-Length", "3145728")
			w.Write([]byte(strings.Repeat("x", 3<<20)))
		}
	})
	other = tlsServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "other") })
	caPEM := (&receiver{srv: srv}).caPEM()

	// The system's roots do not know the test's certificate.
	plain, err := integrations.NewHTTPClient(integrations.HTTPConfig{RootCAs: x509.NewCertPool()}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Post(srv.URL+"/ok", "text/plain", nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("an unknown certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(other.Certificate())
	c, err := integrations.NewHTTPClient(integrations.HTTPConfig{RootCAs: pool, MaxResponseBytes: 1 << 20}, caPEM)
	if err != nil {
		t.Fatal(err)
	}
	post := func(path string) (string, error) {
		resp, err := c.Post(srv.URL+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	for _, tc := range []struct {
		path, want, wantErr string
	}{
		{"/ok", "ok", ""},
		{"/same", "ok", ""},
		{"/elsewhere", "", "another host"},
		{"/to-get", "", "turns POST into GET"},
		{"/big", "", integrations.ErrResponseTooLarge.Error()},
		{"/big-declared", "", "at most"},
	} {
		got, err := post(tc.path)
		if tc.wantErr == "" && (err != nil || got != tc.want) {
			t.Errorf("%s: %q, %v; want %q", tc.path, got, err, tc.want)
		}
		if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: %q, %v; want an error saying %q", tc.path, got, err, tc.wantErr)
		}
	}
	if _, err := integrations.NewHTTPClient(integrations.HTTPConfig{}, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"); err == nil {
		t.Error("a private key taken as a CA certificate")
	}
}
