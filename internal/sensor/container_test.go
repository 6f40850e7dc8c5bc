package sensor_test

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/testenv"
)

// TestSensorAsContainer runs the real riskmap binary as a container with
// the documented run flags (host PID, network and UTS namespaces, the
// host's / read-only at /host, every capability dropped but three, a
// read-only root) and checks that it reports the host and its other
// containers, not just its own.
func TestSensorAsContainer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the riskmap binary")
	}
	img := testenv.DockerImage(t, testenv.RootfsMinbase)
	other := startContainer(t, "--network", "none", img, "sleep", "infinity")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	bin := filepath.Join(t.TempDir(), "riskmap")
	build := exec.Command("go", "build", "-o", bin, "./cmd/riskmap")
	build.Dir = testenv.ModuleRoot(t)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build riskmap: %v\n%s", err, out)
	}
	sock := testenv.DockerSocket()
	out, err := exec.Command("docker", "run", "--rm", "--label", "riskmap.test=sensor",
		"--pid", "host", "--network", "host", "--uts", "host", "--read-only",
		"--cap-drop", "ALL", "--cap-add", "SYS_PTRACE", "--cap-add", "DAC_READ_SEARCH", "--cap-add", "NET_ADMIN",
		"--security-opt", "no-new-privileges",
		"-v", "/:/host:ro", "-v", bin+":/riskmap:ro", "-v", sock+":/var/run/docker.sock",
		img, "/riskmap", "sensor", "--once", "--host-root", "/host", "--cloud-metadata", "off",
		"--containerd-sockets", "/host/run/docker/containerd/containerd.sock", "--log-level", "warn").Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("sensor container: %v\n%s", err, stderr)
	}
	var r report.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("sensor output is not a report: %v\n%.2000s", err, out)
	}
	for _, st := range r.Probes {
		if st.Error != "" && st.Name != "conntrack" {
			t.Errorf("probe %s failed in the container: %s", st.Name, st.Error)
		}
	}
	hn, _ := os.Hostname()
	if r.Host == nil || r.Host.Hostname != hn {
		t.Errorf("host = %+v, want hostname %s", r.Host, hn)
	}
	if mid, err := os.ReadFile("/etc/machine-id"); err == nil && r.Host != nil && r.Host.MachineID != strings.TrimSpace(string(mid)) {
		t.Errorf("machine id %q, want the host's %q", r.Host.MachineID, strings.TrimSpace(string(mid)))
	}
	// This test process, a host process, with its listener: the fd links of
	// another process were readable with only the three capabilities.
	self := os.Getpid()
	i := slices.IndexFunc(r.Processes, func(p report.Process) bool { return p.PID == self })
	if i < 0 {
		t.Fatalf("the host process %d (this test) is missing: the sensor sees only its own PID namespace?", self)
	}
	exe, _ := os.Executable()
	if r.Processes[i].Exe != exe || len(r.Processes[i].Loaded) == 0 {
		t.Errorf("host process = exe %q loaded %d, want %s and its mapped files", r.Processes[i].Exe, len(r.Processes[i].Loaded), exe)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if !slices.ContainsFunc(r.Connections, func(c report.Connection) bool {
		return c.State == "LISTEN" && int(c.Local.Port) == port && c.PID == self
	}) {
		t.Errorf("host listener 127.0.0.1:%d of pid %d missing", port, self)
	}
	j := slices.IndexFunc(r.Containers, func(c report.Container) bool { return c.ID == other })
	if j < 0 {
		t.Fatalf("the other container %s is missing", other)
	}
	pid := r.Containers[j].PID
	if !slices.ContainsFunc(r.Processes, func(p report.Process) bool { return p.PID == pid && p.ContainerID == other && p.Name == "sleep" }) {
		t.Errorf("process %d of container %s missing", pid, other)
	}
	// And the sensor's own container, with itself in it.
	if !slices.ContainsFunc(r.Processes, func(p report.Process) bool {
		return p.Exe == "/riskmap" && p.ContainerID != "" && slices.ContainsFunc(r.Containers, func(c report.Container) bool { return c.ID == p.ContainerID })
	}) {
		t.Error("the sensor's own process and container are missing")
	}
}
