package containerd

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/testenv"
)

// TestCollectEngineContainerd lists, through the Docker engine's own
// containerd (namespace moby), a container the test starts with the engine.
func TestCollectEngineContainerd(t *testing.T) {
	img := testenv.DockerImage(t, testenv.RootfsMinbase)
	if _, err := os.Stat(DockerSocket); err != nil {
		testenv.Missing(t, "the Docker engine's containerd", DockerSocket+" is absent")
	}
	out, err := exec.Command("docker", "run", "-d", "--network", "none", "-v", "/etc/hostname:/data/h:ro", img, "sleep", "infinity").CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
	pidOut, _ := exec.Command("docker", "inspect", "-f", "{{.State.Pid}}", id).Output()
	wantPID, _ := strconv.Atoi(strings.TrimSpace(string(pidOut)))

	p := New(Config{Address: DockerSocket, Namespaces: []string{"moby"}})
	defer p.Close()
	ctrs, _, err := p.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ctrs {
		if c.ID != id {
			continue
		}
		if c.Namespace != "moby" || c.State != "running" || c.PID != wantPID || c.NetworkMode != "private" {
			t.Fatalf("container = %+v, want running in moby with pid %d and a private network namespace", c, wantPID)
		}
		found := false
		for _, m := range c.Mounts {
			if m.Destination == "/data/h" && !m.RW && m.Source == "/etc/hostname" {
				found = true
			}
		}
		if !found {
			t.Errorf("mounts %+v lack /etc/hostname -> /data/h read-only", c.Mounts)
		}
		return
	}
	t.Fatalf("container %s not among %d containerd containers", id, len(ctrs))
}

func TestFromSpec(t *testing.T) {
	spec := `{"mounts":[{"destination":"/proc","type":"proc","source":"proc"},
	{"destination":"/etc/hosts","type":"bind","source":"/var/lib/x/hosts","options":["rbind","rprivate","ro"]},
	{"destination":"/data","type":"bind","source":"/srv/data","options":["rbind"]}],
	"linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"/var/run/netns/cni-1234"}]}}`
	mounts, mode := fromSpec([]byte(spec))
	want := []report.Mount{{Type: "bind", Source: "/var/lib/x/hosts", Destination: "/etc/hosts"}, {Type: "bind", Source: "/srv/data", Destination: "/data", RW: true}}
	if diff := cmp.Diff(want, mounts); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
	if mode != "joined:/var/run/netns/cni-1234" {
		t.Errorf("network mode = %q", mode)
	}
	if _, mode := fromSpec([]byte(`{"linux":{"namespaces":[{"type":"pid"}]}}`)); mode != "host" {
		t.Errorf("no network namespace: mode %q, want host", mode)
	}
	if m, mode := fromSpec([]byte(`not json`)); m != nil || mode != "" {
		t.Errorf("bad spec: %v %q", m, mode)
	}
}

func TestCollectNoSocket(t *testing.T) {
	p := New(Config{Address: t.TempDir() + "/none.sock"})
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5e9)
	defer cancel()
	if _, _, err := p.Collect(ctx); err == nil {
		t.Fatal("want an error without a containerd socket")
	}
}
