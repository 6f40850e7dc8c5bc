package console_test

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/console"
)

// TestConsoleInfo: the install commands' URL and pin are the certificate
// the console really serves, to any signed-in user and to no one else.
func TestConsoleInfo(t *testing.T) {
	e := start(t, func(c *config.Console, _ *console.Options) { c.PublicURL = "https://console.example:9443" })
	anon := e.client()
	anon.must(http.StatusUnauthorized, http.MethodGet, "/api/v1/console-info", nil, nil)

	admin, _ := e.registerAdmin()
	reader, _ := e.invite(admin, "reader@example.com", "read-only")
	var got console.ConsoleInfo
	reader.must(http.StatusOK, http.MethodGet, "/api/v1/console-info", nil, &got)

	pemBytes, err := os.ReadFile(filepath.Join(e.cfg.DataDir, "tls", "console.crt"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pemBytes)
	crt, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(crt.Raw)
	if got.Fingerprint != console.Fingerprint(crt.Raw) || len(got.Fingerprint) != len(sum)*3-1 {
		t.Errorf("fingerprint %q, want the served certificate's %q", got.Fingerprint, console.Fingerprint(crt.Raw))
	}
	want := console.ConsoleInfo{URL: "https://console.example:9443", Fingerprint: e.print, Version: "test"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("console-info (-want +got):\n%s", diff)
	}
}
