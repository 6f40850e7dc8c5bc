package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/report"
)

// aggregateHosts × aggregateProcs processes is more than the map draws one
// by one (mapBudget, 1,500 in web/src/pages/topology.tsx): the console
// answers the processes view with per-host groups.
const (
	aggregateHosts = 30
	aggregateProcs = 60
)

// TestMapAggregatesInBrowser feeds a real console with 30 sensors' reports
// (1,800 processes) through the sensor client, then checks in headless
// Chromium (aggregate.mjs) that the processes view switches to the
// aggregated view and draws its groups, that a click on a group opens
// it, and that "Show its members" drills into that host's processes, which
// fit the map again; and that the hosts grouped by cloud drill into a
// cloud (its regions) and a region (its hosts), the state in the URL.
// Timings are bench/web.sh's business, not this test's.
func TestMapAggregatesInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	c := startBrowserConsole(t)
	root, chromium, node, spki, base, admin, api, key := c.root, c.chromium, c.node, c.spki, c.base, c.admin, c.api, c.key

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c.reportSyntheticHosts(t, ctx, "aggregate fleet", aggregateHosts)
	// Ingest commits in groups: wait until the graph has every process.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var g struct{ Total int }
		api.do("GET", "/api/v1/topology/graph?view=processes", key, nil, &g)
		if g.Total >= aggregateHosts*aggregateProcs {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the processes view counts %d nodes after 60 s, want %d", g.Total, aggregateHosts*aggregateProcs)
		}
		time.Sleep(500 * time.Millisecond)
	}

	artifacts := artifactDir(t)
	cmd := exec.CommandContext(ctx, node, filepath.Join(root, "web", "e2e", "aggregate.mjs"))
	cmd.Dir = filepath.Join(root, "web")
	cmd.Env = append(os.Environ(),
		"RISKMAP_URL="+base,
		"RISKMAP_E2E_ARTIFACTS="+artifacts,
		"RISKMAP_E2E_CHROMIUM="+chromium,
		"RISKMAP_E2E_SPKI="+spki,
		"RISKMAP_E2E_ADMIN_EMAIL="+admin.Email,
		"RISKMAP_E2E_ADMIN_PASSWORD="+admin.Password,
		fmt.Sprintf("RISKMAP_E2E_PROCESSES=%d", aggregateHosts*aggregateProcs),
		fmt.Sprintf("RISKMAP_E2E_PER_HOST=%d", aggregateProcs),
		fmt.Sprintf("RISKMAP_E2E_HOSTS=%d", aggregateHosts),
	)
	out, err := cmd.CombinedOutput()
	t.Logf("browser run:\n%s", out)
	t.Logf("screenshots: %s", artifacts)
	if err != nil {
		t.Fatalf("browser run failed: %v", err)
	}
}

// sessionAPIKey creates an API key with the signed-in session (cookie and
// CSRF header, as the web UI does).
func sessionAPIKey(t *testing.T, hc *http.Client, base string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/me/api-key", nil)
	for _, c := range hc.Jar.Cookies(req.URL) {
		if c.Name == "riskmap_csrf" {
			req.Header.Set("X-CSRF-Token", c.Value)
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var k struct{ APIKey string }
	if err := json.NewDecoder(resp.Body).Decode(&k); err != nil || !strings.HasPrefix(k.APIKey, "rmk_") {
		t.Fatalf("create an API key: %s %v", resp.Status, err)
	}
	return k.APIKey
}

// syntheticHost is a full report of one host with aggregateProcs processes.
func syntheticHost(i int) *report.Report {
	name := fmt.Sprintf("agg-host-%02d", i)
	r := &report.Report{Version: report.Version, SensorID: name, RunID: "run-" + name, SensorVersion: "e2e", Kind: report.KindFull,
		IntervalSeconds: 60, Time: time.Now().UTC(),
		Host: &report.Host{Hostname: name, OS: report.OS{ID: "debian", VersionID: "12"}, Arch: "amd64", CPUs: 2,
			Interfaces: []report.Interface{{Name: "eth0", Up: true, Addrs: []string{fmt.Sprintf("10.9.0.%d/24", i+1)}}},
			// Two thirds in two AWS regions, a third in GCP: the map's cloud and region groups.
			Cloud: &[]report.Cloud{{Provider: "aws", Region: "eu-west-1"}, {Provider: "aws", Region: "us-east-1"}, {Provider: "gcp", Region: "europe-west4"}}[i%3]}}
	for j := range aggregateProcs {
		pid := 1000 + j
		p := report.Process{PID: pid, PPID: 1, StartTicks: uint64(pid * 10), Name: fmt.Sprintf("worker-%02d", j), Exe: "/usr/bin/worker",
			User: "root", Cmdline: []string{"/usr/bin/worker", fmt.Sprint(j)}}
		r.Processes = append(r.Processes, p)
	}
	return r
}
