package deploytest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/testenv"
)

// TestSystemdUnits checks the units of deploy/systemd with
// systemd-analyze verify (skipped where systemd-analyze is absent, CI
// included: it is a tool, not a service) and the console unit's
// hardening.
func TestSystemdUnits(t *testing.T) {
	root := testenv.ModuleRoot(t)
	dir := filepath.Join(root, "deploy", "systemd")
	console, err := os.ReadFile(filepath.Join(dir, "riskmap-console.service"))
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]bool{}
	for _, l := range strings.Split(string(console), "\n") {
		settings[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{"DynamicUser=yes", "StateDirectory=riskmap", "ProtectSystem=strict", "NoNewPrivileges=yes",
		"CapabilityBoundingSet=", "AmbientCapabilities=", "ExecStart=/usr/local/bin/riskmap console", "PrivateTmp=yes",
		"Environment=RISKMAP_DATA_DIR=/var/lib/riskmap RISKMAP_LOG_FORMAT=json"} {
		if !settings[want] {
			t.Errorf("riskmap-console.service lacks %q", want)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: the units' syntax is not verified")
	}
	// verify wants the ExecStart binary to exist: point the units at a
	// stand-in in a copy.
	work := t.TempDir()
	bin := filepath.Join(work, "riskmap")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, unit := range []string{"riskmap-console.service", "riskmap-sensor.service"} {
		b, err := os.ReadFile(filepath.Join(dir, unit))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(work, unit)
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/riskmap", bin)), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(analyze, "verify", "--man=no", path)
		cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=warning")
		out, err := cmd.CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			// verify also reports the host's own units when they are
			// broken; only lines about ours count.
			var ours []string
			for _, l := range strings.Split(string(out), "\n") {
				if strings.Contains(l, unit) {
					ours = append(ours, l)
				}
			}
			if len(ours) > 0 || (err != nil && len(strings.TrimSpace(string(out))) == 0) {
				t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
			} else if err != nil {
				t.Logf("systemd-analyze verify %s exited %v about other units:\n%s", unit, err, out)
			}
		}
	}
}
