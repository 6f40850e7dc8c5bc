package dockerbench_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/compliance/dockerbench"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/testenv"
)

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	docker(t, append([]string{"run", "-d", "--name", name, "--label", "riskmap.test=dockerbench"}, args...)...)
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
}

// TestScanRealDocker runs the benchmark against the real engine with two
// containers the test starts: an exposed one sharing the host's network,
// PID, IPC and UTS namespaces, with SYS_ADMIN added, seccomp off, a host
// device, the engine's socket and /etc mounted and restart always; and a
// well-configured one (read-only, non-root user, memory, CPU and PIDs
// limits, no new privileges, every capability dropped, a health check,
// on-failure:3). Their results must differ exactly as their settings do,
// and the daemon checks must reflect the real daemon's settings as docker
// info and dockerd's command line (read here with ps) show them, and its
// files' ownership and permissions as stat shows them.
// (--privileged itself cannot run here: the sandbox's bounding set lacks
// CAP_SYS_RESOURCE, so runc refuses it; TestEvaluate covers it.)
func TestScanRealDocker(t *testing.T) {
	img := testenv.DockerImage(t, testenv.RootfsMinbase)
	var rb [4]byte
	rand.Read(rb[:])
	suffix := hex.EncodeToString(rb[:])
	bad, good := "cisbench-bad-"+suffix, "cisbench-good-"+suffix
	run(t, bad, "--network", "host", "--pid", "host", "--ipc", "host", "--uts", "host", "--cap-add", "SYS_ADMIN",
		"--security-opt", "seccomp=unconfined", "--device", "/dev/null:/dev/host-null", "--restart", "always",
		"-v", testenv.DockerSocket()+":/var/run/docker.sock", "-v", "/etc:/host-etc:ro", img, "sleep", "infinity")
	run(t, good, "--network", "none", "--read-only", "--user", "1000:1000", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "64",
		"--security-opt", "no-new-privileges", "--cap-drop", "ALL", "--health-cmd", "true", "--health-interval", "30s",
		"--restart", "on-failure:3", img, "sleep", "infinity")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := dockerbench.Scan(ctx, dockerbench.Config{Host: "unix://" + testenv.DockerSocket()})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Validate(); err != nil {
		t.Fatalf("results do not validate: %v", err)
	}
	if res.Type != sensorproto.ScanCompliance || res.Engine.Name != dockerbench.Name || res.RawFormat != dockerbench.RawFormat || len(res.Raw) == 0 {
		t.Errorf("results type %q engine %+v raw format %q (%d bytes)", res.Type, res.Engine, res.RawFormat, len(res.Raw))
	}
	got := map[string]map[string]string{} // subject -> rule -> result
	evidence := map[string]string{}
	for _, c := range res.Compliance {
		if c.Benchmark != "cis-docker" || c.BenchmarkVersion != "1.6.0" || c.Title == "" || c.Fix == "" || c.Rationale == "" || c.Severity == "" {
			t.Errorf("check %s %s incomplete: %+v", c.Subject, c.Rule, c)
		}
		if got[c.Subject] == nil {
			got[c.Subject] = map[string]string{}
		}
		if _, dup := got[c.Subject][c.Rule]; dup {
			t.Errorf("rule %s reported twice for %q", c.Rule, c.Subject)
		}
		got[c.Subject][c.Rule] = c.Result
		evidence[c.Subject+" "+c.Rule] = c.Evidence
	}

	// AppArmor depends on the host: enabled, containers get docker-default.
	info := docker(t, "info", "--format", "{{json .SecurityOptions}} {{.LiveRestoreEnabled}} {{.ExperimentalBuild}} {{.LoggingDriver}}")
	apparmor := "notapplicable"
	if strings.Contains(info, "name=apparmor") {
		apparmor = "pass"
	}
	wantGood := map[string]string{"4.1": "pass", "5.2": apparmor, "5.3": "notapplicable", "5.4": "pass", "5.5": "pass", "5.6": "pass",
		"5.8": "pass", "5.10": "pass", "5.11": "pass", "5.12": "pass", "5.13": "pass", "5.14": "pass", "5.15": "pass", "5.16": "pass",
		"5.17": "pass", "5.18": "pass", "5.20": "pass", "5.21": "pass", "5.22": "pass", "5.25": "pass", "5.26": "pass", "5.27": "pass",
		"5.29": "pass", "5.30": "pass", "5.31": "pass", "5.32": "pass"}
	wantBad := map[string]string{"4.1": "fail", "5.2": apparmor, "5.3": "notapplicable", "5.4": "fail", "5.5": "pass", "5.6": "fail",
		"5.8": "notapplicable", "5.10": "fail", "5.11": "fail", "5.12": "fail", "5.13": "fail", "5.14": "pass", "5.15": "fail",
		"5.16": "fail", "5.17": "fail", "5.18": "fail", "5.20": "pass", "5.21": "fail", "5.22": "fail", "5.25": "pass", "5.26": "fail",
		"5.27": "fail", "5.29": "fail", "5.30": "pass", "5.31": "pass", "5.32": "fail"}
	if d := cmp.Diff(wantGood, got[good]); d != "" {
		t.Errorf("well-configured container (-want +got):\n%s", d)
	}
	if d := cmp.Diff(wantBad, got[bad]); d != "" {
		t.Errorf("exposed container (-want +got):\n%s", d)
	}
	if ev := evidence[bad+" 5.32"]; !strings.Contains(ev, "docker.sock") {
		t.Errorf("5.32 evidence %q does not name the socket", ev)
	}
	if ev := evidence[bad+" 5.6"]; !strings.Contains(ev, "/etc:/host-etc (ro)") {
		t.Errorf("5.6 evidence %q does not name /etc", ev)
	}
	if ev := evidence[good+" 5.11"]; !strings.Contains(ev, "67108864") {
		t.Errorf("5.11 evidence %q does not show the 64 MiB limit", ev)
	}

	// The daemon, as docker info and dockerd's command line show it.
	daemon := got[""]
	if len(daemon) != 24 {
		t.Errorf("%d daemon checks, want the 18 of section 2 and 6 of section 3: %v", len(daemon), daemon)
	}
	fields := strings.Fields(info)
	want := map[string]string{"2.15": map[bool]string{true: "pass", false: "fail"}[fields[1] == "true"],
		"2.18": map[bool]string{true: "fail", false: "pass"}[fields[2] == "true"],
		"2.17": map[bool]string{true: "pass", false: "fail"}[strings.Contains(info, "name=seccomp")],
		"2.13": map[bool]string{true: "fail", false: "pass"}[fields[3] == "json-file" || fields[3] == "local"]}
	args, err := exec.Command("ps", "-C", "dockerd", "-o", "args=").Output()
	if err != nil || len(args) == 0 {
		t.Logf("dockerd not visible with ps (%v): its command-line checks are not compared", err)
	} else {
		cmdline := string(args)
		want["2.4"] = map[bool]string{true: "fail", false: "pass"}[strings.Contains(cmdline, "--iptables=false")]
		if strings.Contains(cmdline, "--bridge=none") {
			want["2.2"] = "notapplicable"
		}
		if !strings.Contains(cmdline, "userland-proxy") && !strings.Contains(cmdline, "config-file") {
			want["2.16"] = "fail" // default on, unless daemon.json says otherwise
			if b, err := exec.Command("cat", "/etc/docker/daemon.json").Output(); err == nil && strings.Contains(string(b), "userland-proxy") {
				delete(want, "2.16")
			}
		}
		if !strings.Contains(cmdline, " -H") && !strings.Contains(cmdline, "--host") {
			if b, err := exec.Command("cat", "/etc/docker/daemon.json").Output(); err != nil || !strings.Contains(string(b), "hosts") {
				want["2.7"] = "pass" // Unix socket only
			}
		}
	}
	// Section 3: the files as stat shows them.
	for _, f := range []struct {
		ownerRule, modeRule, path, owner string
		max                              int64
	}{
		{"3.5", "3.6", "/etc/docker", "root:root", 0o755},
		{"3.15", "3.16", testenv.DockerSocket(), "root:docker", 0o660},
		{"3.17", "3.18", "/etc/docker/daemon.json", "root:root", 0o644},
	} {
		out, err := exec.Command("stat", "-L", "-c", "%U:%G %a", f.path).Output()
		if err != nil {
			want[f.ownerRule], want[f.modeRule] = "notapplicable", "notapplicable"
			continue
		}
		owner, mode, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
		want[f.ownerRule] = map[bool]string{true: "pass", false: "fail"}[owner == f.owner]
		m, _ := strconv.ParseInt(mode, 8, 32)
		want[f.modeRule] = map[bool]string{true: "pass", false: "fail"}[m&^f.max == 0]
	}
	for rule, w := range want {
		if daemon[rule] != w {
			t.Errorf("daemon check %s = %q, want %q (evidence %q; docker info %s)", rule, daemon[rule], w, evidence[" "+rule], info)
		}
	}
	t.Logf("daemon: %v", daemon)
}
