package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensorproto"
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
	c := startBrowserConsole(t, "web/node_modules/axe-core/axe.min.js")
	root, chromium, node, certFile, spki, base, admin, api, key := c.root, c.chromium, c.node, c.certFile, c.spki, c.base, c.admin, c.api, c.key

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
