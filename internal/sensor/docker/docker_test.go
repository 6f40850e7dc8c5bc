package docker

import (
	"context"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/testenv"
)

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestCollectRealEngine starts containers with --network none and
// --network host and a stopped one; all appear with their details.
func TestCollectRealEngine(t *testing.T) {
	img := testenv.DockerImage(t, testenv.RootfsMinbase)
	none := run(t, "run", "-d", "--network", "none", "--label", "riskmap.test=docker-probe",
		"--label", report.LabelPodName+"=web-0", "--label", report.LabelPodNamespace+"=shop", "--label", report.LabelPodUID+"=uid-1",
		"-v", "/etc/hostname:/data/hostname:ro", img, "sleep", "infinity")
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", none).Run() })
	host := run(t, "run", "-d", "--network", "host", "--label", "riskmap.test=docker-probe", img, "sleep", "infinity")
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", host).Run() })
	stopped := run(t, "create", "--network", "none", "--label", "riskmap.test=docker-probe", img, "true")
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", stopped).Run() })

	p, err := New(Config{Host: "unix://" + testenv.DockerSocket()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for pass := range 2 { // the second pass uses the inspect cache
		ctrs, imgs, err := p.Collect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]report.Container{}
		for _, c := range ctrs {
			byID[c.ID] = c
		}
		c, ok := byID[none]
		if !ok {
			t.Fatalf("pass %d: container %s missing from %d containers", pass, none, len(ctrs))
		}
		pid := run(t, "inspect", "-f", "{{.State.Pid}}", none)
		if c.State != "running" || c.NetworkMode != "none" || c.Image != img || itoa(c.PID) != pid || c.Name == "" {
			t.Errorf("pass %d: none container = %+v, want running, network none, image %s, pid %s", pass, c, img, pid)
		}
		if !slices.ContainsFunc(c.Mounts, func(m report.Mount) bool { return m.Destination == "/data/hostname" && !m.RW }) {
			t.Errorf("pass %d: mounts %+v lack the read-only bind of /data/hostname", pass, c.Mounts)
		}
		if c.Pod == nil || c.Pod.Name != "web-0" || c.Pod.Namespace != "shop" || c.Pod.UID != "uid-1" {
			t.Errorf("pass %d: pod from labels = %+v", pass, c.Pod)
		}
		if h := byID[host]; h.NetworkMode != "host" || h.PID == 0 {
			t.Errorf("pass %d: host container = %+v", pass, h)
		}
		if s := byID[stopped]; s.State != "created" || s.PID != 0 {
			t.Errorf("pass %d: created container = %+v", pass, s)
		}
		if !slices.ContainsFunc(imgs, func(i report.Image) bool { return slices.Contains(i.RepoTags, img) && i.ID == c.ImageID }) {
			t.Errorf("pass %d: image %s (%s) missing from %+v", pass, img, c.ImageID, imgs)
		}
	}
}

func TestCollectNoEngine(t *testing.T) {
	p, err := New(Config{Host: "unix://" + t.TempDir() + "/nothing.sock"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Collect(context.Background()); err == nil || !strings.Contains(err.Error(), "docker: ping") {
		t.Fatalf("err = %v, want a ping error", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
