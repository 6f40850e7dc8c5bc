package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
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
	root, chromium, node, spki, base, admin := c.root, c.chromium, c.node, c.spki, c.base, c.admin

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const hosts = 3
	c.reportSyntheticHosts(t, ctx, "quality fleet", hosts)

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
