package secretscan

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/secretscan/secrettest"
	"github.com/riskmap/riskmap/internal/testenv"
)

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestScanDockerImageAndContainer: the fixture image loaded in the engine
// (docker:, streamed by docker save: the deleted key reported in layer 1,
// deleted), a container of it (container:, docker export: the deleted
// key gone, no layer), and a running container whose process wrote a key
// after it started.
func TestScanDockerImageAndContainer(t *testing.T) {
	testenv.Docker(t)
	ctx := context.Background()
	files, want := secrettest.FixtureFiles()
	archive, diffIDs := secrettest.DockerSave(t, secrettest.ImageLayers(t, files))
	tag := fmt.Sprintf("riskmap-secretscan-test:%d", time.Now().UnixNano())
	out := docker(t, "load", "-i", archive)
	loaded := strings.TrimSpace(strings.TrimPrefix(out[strings.LastIndex(out, "Loaded image"):], "Loaded image:"))
	docker(t, "tag", loaded, tag)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag, loaded).Run() })
	s := newScanner(t, Config{})

	res, err := s.ScanTarget(ctx, "docker:"+tag, TargetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wantFrom(want, 0, map[string]bool{"/etc/app/aws.env": true}), summarize(res, diffIDs)); d != "" {
		t.Errorf("docker:%s findings (-want +got):\n%s", tag, d)
	}

	id := docker(t, "create", "--network", "none", tag, "/nothing")
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
	res, err = s.ScanTarget(ctx, "container:"+id, TargetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wantFrom(want[1:], -1, nil), summarize(res, nil)); d != "" {
		t.Errorf("container findings (-want +got):\n%s", d)
	}

	// A running container: a key written by its process.
	img := testenv.DockerImage(t, testenv.RootfsMinbase)
	run := docker(t, "run", "-d", "--network", "none", img, "sleep", "infinity")
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", run).Run() })
	key := secrettest.FakeSecrets()["aws"]
	docker(t, "exec", run, "sh", "-c", "mkdir -p /root/.aws && printf '[default]\\naws_access_key_id = %s\\n' "+key+" > /root/.aws/credentials")
	res, err = s.ScanTarget(ctx, "container:"+run, TargetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantRun := []got{{"aws-access-token", "/root/.aws/credentials", 2, -1, false}}
	if d := cmp.Diff(wantRun, summarize(res, nil)); d != "" {
		t.Errorf("running container findings (-want +got):\n%s", d)
	}
}
