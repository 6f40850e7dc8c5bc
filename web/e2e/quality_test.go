package e2e

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/testenv"
)

// TestConsoleQualityInBrowser walks every page of a real console's
// navigation in headless Chromium (quality.mjs): axe-core finds no serious
// or critical violation, no page scrolls sideways at 800 px, skeletons (not
// "Loading…") show while a slow request is pending, and the browser logs no
// console error. The map holds three synthetic hosts so its pages and the
// dashboard have something to lay out.
func TestConsoleQualityInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	root := testenv.ModuleRoot(t)
	chromium := lookPath(t, "RISKMAP_E2E_CHROMIUM", "chromium", "Chromium", "apt-get install chromium")
	node := lookPath(t, "RISKMAP_E2E_NODE", "node", "Node.js", "apt-get install nodejs")
	for _, need := range []string{"web/node_modules/playwright-core/package.json", "web/node_modules/axe-core/axe.min.js", "web/dist/app/index.html"} {
		if _, err := os.Stat(filepath.Join(root, need)); err != nil {
			testenv.Missing(t, "the built web UI, playwright-core and axe-core", "run `make web` (npm ci && npm run build in web/)")
		}
	}
	bin := riskmapBinary(t, root)
	work := t.TempDir()
	certFile, keyFile, pool, spki := testCertificate(t, work)
	addr := freeLoopbackAddr(t)
	base := "https://" + addr
	startConsole(t, bin, work, addr, certFile, keyFile)
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	waitReady(t, hc, base)

	admin := account{Email: "ada@example.com", Password: "correct horse battery staple 1"}
	api := apiClient{t: t, c: hc, base: base}
	if status := api.do("POST", "/api/v1/auth/register", "", map[string]string{"email": admin.Email, "password": admin.Password, "name": "Ada", "organisation": "Example"}, nil); status != http.StatusCreated {
		t.Fatalf("register: %d", status)
	}
	key := sessionAPIKey(t, hc, base)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const hosts = 3
	var fleet struct{ Token string }
	if status := api.do("POST", "/api/v1/enrolment-tokens", key, map[string]any{"name": "quality fleet", "maxSensors": hosts}, &fleet); status != http.StatusCreated {
		t.Fatalf("enrolment token: %d", status)
	}
	for i := range hosts {
		cl, err := client.New(client.Config{ConsoleURL: base, PinSHA256: certPin(t, certFile), Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		host := syntheticHost(i)
		en, err := cl.Enrol(ctx, sensorproto.EnrolRequest{Token: fleet.Token, Hostname: host.Host.Hostname})
		if err != nil {
			t.Fatalf("enrol host %d: %v", i, err)
		}
		host.SensorID = en.SensorID
		gz, err := report.Marshal(report.NewTracker(report.DefaultFullEvery).Next(host), report.DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.PushReport(ctx, gz); err != nil {
			t.Fatalf("push the report of host %d: %v", i, err)
		}
	}

	artifacts := artifactDir(t)
	cmd := exec.CommandContext(ctx, node, filepath.Join(root, "web", "e2e", "quality.mjs"))
	cmd.Dir = filepath.Join(root, "web")
	cmd.Env = append(os.Environ(),
		"RISKMAP_URL="+base,
		"RISKMAP_E2E_ARTIFACTS="+artifacts,
		"RISKMAP_E2E_CHROMIUM="+chromium,
		"RISKMAP_E2E_SPKI="+spki,
		"RISKMAP_E2E_ADMIN_EMAIL="+admin.Email,
		"RISKMAP_E2E_ADMIN_PASSWORD="+admin.Password,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("browser run:\n%s", out)
	t.Logf("screenshots: %s", artifacts)
	if err != nil {
		t.Fatalf("browser run failed: %v", err)
	}
}
