package e2e

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/testenv"
)

// browserConsole is a real `riskmap console` started for a browser test:
// the tools the test drives (chromium, node), the console's address and
// certificate, and its first admin registered, with an API key.
type browserConsole struct {
	root, chromium, node, bin, work string
	certFile, spki, base            string
	hc                              *http.Client
	api                             apiClient
	admin                           account
	key                             string
}

// startBrowserConsole finds chromium, node and the built web UI with
// playwright-core (and the files of need, relative to the module root:
// axe-core's, say), failing in CI and skipping elsewhere when one is
// missing; then starts the console on a loopback address with a test
// certificate and registers its first admin.
func startBrowserConsole(t *testing.T, need ...string) *browserConsole {
	t.Helper()
	c := &browserConsole{root: testenv.ModuleRoot(t)}
	c.chromium = lookPath(t, "RISKMAP_E2E_CHROMIUM", "chromium", "Chromium", "apt-get install chromium")
	c.node = lookPath(t, "RISKMAP_E2E_NODE", "node", "Node.js", "apt-get install nodejs")
	for _, p := range append([]string{"web/node_modules/playwright-core/package.json", "web/dist/app/index.html"}, need...) {
		if _, err := os.Stat(filepath.Join(c.root, p)); err != nil {
			testenv.Missing(t, "the built web UI and its test packages ("+p+")", "run `make web` (npm ci && npm run build in web/)")
		}
	}
	c.bin = riskmapBinary(t, c.root)
	c.work = t.TempDir()
	certFile, keyFile, pool, spki := testCertificate(t, c.work)
	c.certFile, c.spki = certFile, spki
	addr := freeLoopbackAddr(t)
	c.base = "https://" + addr
	startConsole(t, c.bin, c.work, addr, certFile, keyFile)
	jar, _ := cookiejar.New(nil)
	c.hc = &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	waitReady(t, c.hc, c.base)

	c.admin = account{Email: "ada@example.com", Password: "correct horse battery staple 1"}
	c.api = apiClient{t: t, c: c.hc, base: c.base}
	if status := c.api.do("POST", "/api/v1/auth/register", "", map[string]string{"email": c.admin.Email, "password": c.admin.Password, "name": "Ada", "organisation": "Example"}, nil); status != http.StatusCreated {
		t.Fatalf("register: %d", status)
	}
	c.key = sessionAPIKey(t, c.hc, c.base)
	return c
}

// reportSyntheticHosts enrols n sensors with one enrolment token named
// name, and each pushes the full report of syntheticHost(i): the console's
// map then holds n hosts with their processes and containers.
func (c *browserConsole) reportSyntheticHosts(t *testing.T, ctx context.Context, name string, n int) {
	t.Helper()
	var fleet struct{ Token string }
	if status := c.api.do("POST", "/api/v1/enrolment-tokens", c.key, map[string]any{"name": name, "maxSensors": n}, &fleet); status != http.StatusCreated {
		t.Fatalf("enrolment token: %d", status)
	}
	for i := range n {
		cl, err := client.New(client.Config{ConsoleURL: c.base, PinSHA256: certPin(t, c.certFile), Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		host := syntheticHost(i)
		en, err := cl.Enrol(ctx, sensorproto.EnrolRequest{Token: fleet.Token, Hostname: host.Host.Hostname})
		if err != nil {
			t.Fatalf("enrol host %d: %v", i, err)
		}
		host.SensorID = en.SensorID
		// The tracker numbers the report as a sensor's first (full) one.
		gz, err := report.Marshal(report.NewTracker(report.DefaultFullEvery).Next(host), report.DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.PushReport(ctx, gz); err != nil {
			t.Fatalf("push the report of host %d: %v", i, err)
		}
	}
}
