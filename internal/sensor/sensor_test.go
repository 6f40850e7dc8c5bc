package sensor_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensor"
	"github.com/riskmap/riskmap/internal/sensor/containerd"
	"github.com/riskmap/riskmap/internal/testenv"
)

// TestMain lets the test binary act as a network helper process
// (testenv.RunNetHelper), also inside test containers.
func TestMain(m *testing.M) {
	testenv.RunNetHelper()
	os.Exit(m.Run())
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// startContainer runs a container and removes it when the test ends.
func startContainer(t *testing.T, args ...string) string {
	t.Helper()
	id := docker(t, append([]string{"run", "-d", "--label", "riskmap.test=sensor"}, args...)...)
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
	return id
}

func dockerConfig() sensor.Config {
	return sensor.Config{DockerHost: "unix://" + testenv.DockerSocket(), ContainerdSockets: []string{containerd.DockerSocket},
		Conntrack: true, CloudMetadataURL: "off"}
}

func waitFor(t *testing.T, what string, timeout time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCollectRealDocker: containers the test starts with --network none
// and --network host appear with their processes; a listener and a client
// connection in the none container's own network namespace, and on the
// host, appear owned by the right processes.
func TestCollectRealDocker(t *testing.T) {
	img := testenv.DockerImage(t, testenv.RootfsMinbase)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	none := startContainer(t, "--network", "none", "-v", exe+":/rmhelper:ro", "-e", testenv.NetHelperEnv+"=pair:127.0.0.1:7777", img, "/rmhelper", "-test.run=^$")
	host := startContainer(t, "--network", "host", img, "sleep", "infinity")
	hostAddr, lpid := testenv.NetHelper(t, "listen:127.0.0.1:0")
	clientAddr, cpid := testenv.NetHelper(t, "connect:"+hostAddr)
	_, hostPort, _ := net.SplitHostPort(hostAddr)
	_, clientPort, _ := net.SplitHostPort(clientAddr)

	s, err := sensor.New(dockerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var r *report.Report
	// The pair inside the container needs a moment to connect.
	waitFor(t, "the container's client connection", 30*time.Second, func() bool {
		r = s.Collect(context.Background())
		return slices.ContainsFunc(r.Connections, func(c report.Connection) bool { return c.Remote.Port == 7777 && c.State == "ESTABLISHED" })
	})
	for _, st := range r.Probes {
		if st.Error != "" && st.Name != "conntrack" {
			t.Errorf("probe %s failed: %s", st.Name, st.Error)
		}
	}
	ctr := func(id string) report.Container {
		var found []report.Container
		for _, c := range r.Containers {
			if c.ID == id {
				found = append(found, c)
			}
		}
		if len(found) != 1 {
			t.Fatalf("container %s appears %d times (docker and its containerd must be merged)", id, len(found))
		}
		return found[0]
	}
	cNone, cHost := ctr(none), ctr(host)
	if cNone.NetworkMode != "none" || cNone.PID == 0 || cHost.NetworkMode != "host" || cHost.PID == 0 {
		t.Fatalf("containers: none=%+v host=%+v", cNone, cHost)
	}
	proc := func(pid int) report.Process {
		i := slices.IndexFunc(r.Processes, func(p report.Process) bool { return p.PID == pid })
		if i < 0 {
			t.Fatalf("process %d missing", pid)
		}
		return r.Processes[i]
	}
	if p := proc(cNone.PID); p.ContainerID != none || p.Exe != "/rmhelper" {
		t.Errorf("main process of the none container = %+v, want container %s, exe /rmhelper", p, none)
	}
	if p := proc(cHost.PID); p.ContainerID != host || p.Name != "sleep" {
		t.Errorf("main process of the host container = %+v", p)
	}
	// Inside the none container: the listener (main process) and the
	// client (its child), in the container's own network namespace.
	var ln, cl *report.Connection
	for i, c := range r.Connections {
		if c.Local.Port == 7777 && c.State == "LISTEN" && c.PID == cNone.PID {
			ln = &r.Connections[i]
		}
		if c.Remote.Port == 7777 && c.State == "ESTABLISHED" {
			cl = &r.Connections[i]
		}
	}
	if ln == nil || cl == nil {
		t.Fatalf("container listener %v / client %v missing", ln, cl)
	}
	if ln.NetNS == proc(os.Getpid()).NetNS {
		t.Errorf("container listener in the host network namespace %d", ln.NetNS)
	}
	child := proc(cl.PID)
	if child.PPID != cNone.PID || child.ContainerID != none || cl.NetNS != ln.NetNS {
		t.Errorf("container client connection %+v owned by %+v, want the child of %d in the same netns", cl, child, cNone.PID)
	}
	if !slices.Contains(proc(cNone.PID).Listen, report.Endpoint{Addr: "127.0.0.1", Port: 7777}) {
		t.Errorf("listener process does not list 127.0.0.1:7777: %v", proc(cNone.PID).Listen)
	}
	// On the host: listener and the other process's client connection.
	hp, _ := strconv.Atoi(hostPort)
	cp, _ := strconv.Atoi(clientPort)
	if !slices.ContainsFunc(r.Connections, func(c report.Connection) bool {
		return c.State == "LISTEN" && int(c.Local.Port) == hp && c.PID == lpid
	}) {
		t.Errorf("host listener %s of pid %d missing", hostAddr, lpid)
	}
	if !slices.ContainsFunc(r.Connections, func(c report.Connection) bool {
		return c.State == "ESTABLISHED" && int(c.Local.Port) == cp && int(c.Remote.Port) == hp && c.PID == cpid
	}) {
		t.Errorf("host client connection %s -> %s of pid %d missing", clientAddr, hostAddr, cpid)
	}
	if !slices.ContainsFunc(r.Images, func(i report.Image) bool { return slices.Contains(i.RepoTags, img) }) {
		t.Errorf("image %s missing", img)
	}
}
