package e2e

import (
	"bytes"
	"compress/gzip"
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

// TestComplianceInBrowser runs the real console binary, reports a host
// through the sensor client, starts two compliance scans of it (profile
// standard) through the API as the map's node panel does, answers them
// through the sensor protocol (poll, results upload, status) with
// real-shaped SCAP Security Guide checks, then checks in headless Chromium
// (compliance.mjs) the numbers the Compliance page shows: the pass rate
// (pass / (pass + fail + error)), the benchmark, the failing controls, the
// failed controls ranked by risk and the trend of two scans; the node
// panel's compliance; the profile picker of the scans page. No browser
// console errors; axe finds nothing.
func TestComplianceInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	c := startBrowserConsole(t)
	root, chromium, node, certFile, spki, base, admin, api, key := c.root, c.chromium, c.node, c.certFile, c.spki, c.base, c.admin, c.api, c.key

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var tok struct{ Token string }
	if status := api.do("POST", "/api/v1/enrolment-tokens", key, map[string]any{"name": "compliance", "maxSensors": 1}, &tok); status != http.StatusCreated {
		t.Fatalf("enrolment token: %d", status)
	}
	cl, err := client.New(client.Config{ConsoleURL: base, PinSHA256: certPin(t, certFile), Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const hostname = "bastion-1"
	en, err := cl.Enrol(ctx, sensorproto.EnrolRequest{Token: tok.Token, Hostname: hostname})
	if err != nil {
		t.Fatalf("enrol: %v", err)
	}
	rep := &report.Report{Version: report.Version, SensorID: en.SensorID, RunID: "run-1", SensorVersion: "e2e", Kind: report.KindFull,
		IntervalSeconds: 60, Time: time.Now().UTC(),
		Host: &report.Host{Hostname: hostname, OS: report.OS{ID: "debian", VersionID: "12"}, Arch: "amd64", CPUs: 2}}
	gz, err := report.Marshal(report.NewTracker(report.DefaultFullEvery).Next(rep), report.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PushReport(ctx, gz); err != nil {
		t.Fatalf("push report: %v", err)
	}
	var hostID string
	for deadline := time.Now().Add(30 * time.Second); hostID == ""; time.Sleep(300 * time.Millisecond) {
		var nodes struct {
			Items []struct{ ID, Label string }
		}
		api.do("GET", "/api/v1/topology/nodes?kind=host", key, nil, &nodes)
		for _, n := range nodes.Items {
			if n.Label == hostname {
				hostID = n.ID
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the host never appeared in the topology")
		}
	}

	// Two scans; between them a control went fail → pass and another
	// pass → fail. Scan 1: 3 pass, 2 fail, 1 error, 1 not applicable
	// (pass rate 3/6 = 50 %); scan 2: 4 pass, 1 fail, 1 error (4/6).
	scan := func(checks ...sensorproto.ComplianceCheck) {
		t.Helper()
		var got struct {
			Items []struct{ ID, Profile string }
		}
		if status := api.do("POST", "/api/v1/scans", key, map[string]any{"nodeIds": []string{hostID}, "types": []string{"compliance"}, "profile": "standard"}, &got); status != http.StatusCreated || len(got.Items) != 1 || got.Items[0].Profile != "standard" {
			t.Fatalf("start a compliance scan: %d %+v", status, got)
		}
		cmds, err := cl.PollCommands(ctx, en.SensorID, 1, sensorproto.ScanCompliance)
		if err != nil || len(cmds) != 1 || cmds[0].Profile != "standard" || cmds[0].ScanID != got.Items[0].ID {
			t.Fatalf("poll: %v %+v", err, cmds)
		}
		var raw bytes.Buffer
		zw := gzip.NewWriter(&raw)
		zw.Write([]byte(`<?xml version="1.0"?><TestResult xmlns="http://checklists.nist.gov/xccdf/1.2" id="xccdf_org.riskmap_testresult_e2e"/>`))
		zw.Close()
		res := &sensorproto.Results{Type: sensorproto.ScanCompliance, Engine: sensorproto.Engine{Name: "openscap", Version: "1.3.7"},
			Compliance: checks, Raw: raw.Bytes(), RawFormat: "xccdf-1.2"}
		if err := cl.SetScanStatus(ctx, cmds[0].ScanID, sensorproto.ScanStatus{Status: "running"}); err != nil {
			t.Fatal(err)
		}
		if err := cl.UploadResults(ctx, cmds[0].ScanID, res); err != nil {
			t.Fatalf("upload results: %v", err)
		}
		if err := cl.SetScanStatus(ctx, cmds[0].ScanID, sensorproto.ScanStatus{Status: "complete", Progress: 1}); err != nil {
			t.Fatal(err)
		}
	}
	scan(ssgCheck("accounts_password_minlen", "medium", "fail"), ssgCheck("sshd_disable_root_login", "high", "fail"),
		ssgCheck("package_aide_installed", "", "error"), ssgCheck("file_permissions_etc_shadow", "medium", "pass"),
		ssgCheck("service_auditd_enabled", "medium", "pass"), ssgCheck("grub2_password", "high", "pass"),
		ssgCheck("partition_for_tmp", "low", "notapplicable"))
	time.Sleep(5 * time.Millisecond) // the two scans complete at different milliseconds
	scan(ssgCheck("accounts_password_minlen", "medium", "pass"), ssgCheck("sshd_disable_root_login", "high", "fail"),
		ssgCheck("package_aide_installed", "", "error"), ssgCheck("file_permissions_etc_shadow", "medium", "pass"),
		ssgCheck("service_auditd_enabled", "medium", "pass"), ssgCheck("grub2_password", "high", "pass"),
		ssgCheck("partition_for_tmp", "low", "notapplicable"))

	artifacts := artifactDir(t)
	cmd := exec.CommandContext(ctx, node, filepath.Join(root, "web", "e2e", "compliance.mjs"))
	cmd.Dir = filepath.Join(root, "web")
	cmd.Env = append(os.Environ(),
		"RISKMAP_URL="+base,
		"RISKMAP_E2E_ARTIFACTS="+artifacts,
		"RISKMAP_E2E_CHROMIUM="+chromium,
		"RISKMAP_E2E_SPKI="+spki,
		"RISKMAP_E2E_ADMIN_EMAIL="+admin.Email,
		"RISKMAP_E2E_ADMIN_PASSWORD="+admin.Password,
		"RISKMAP_E2E_HOST_ID="+hostID,
		"RISKMAP_E2E_HOSTNAME="+hostname,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("browser run:\n%s", out)
	t.Logf("screenshots: %s", artifacts)
	if err != nil {
		t.Fatalf("browser run failed: %v", err)
	}
}

// ssgCheck is a check of an SSG rule of Debian 12's standard profile.
func ssgCheck(rule, severity, result string) sensorproto.ComplianceCheck {
	return sensorproto.ComplianceCheck{Benchmark: "xccdf_org.ssgproject.content_benchmark_DEBIAN-12", BenchmarkVersion: "0.1.74",
		Profile: "xccdf_org.ssgproject.content_profile_standard", Rule: "xccdf_org.ssgproject.content_rule_" + rule,
		Title: "Rule " + rule, Severity: severity, Result: result,
		References: []sensorproto.Reference{{System: "cce", ID: "CCE-" + rule}}}
}
