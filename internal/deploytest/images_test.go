package deploytest_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/testenv"
)

// images are the tags of the images one test built.
type images struct{ console, sensor, postgres string }

// randomHex returns n random bytes in hex.
func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// run runs a command, failing the test with its output when it fails.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tail(out, 6000))
	}
	return string(out)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// buildStatic builds the static riskmap binary as `make build` and
// `make release` do (web UI embedded) into path.
func buildStatic(t *testing.T, root, path, version string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, "web", "dist", "app", "index.html")); err != nil {
		testenv.Missing(t, "the web UI build (web/dist/app)", "cd web && npm ci && npm run build; make test does it first")
	}
	start := time.Now()
	run(t, root, []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath",
		"-ldflags", "-s -w -X github.com/riskmap/riskmap/internal/cli.Version="+version, "-o", path, "./cmd/riskmap")
	t.Logf("static riskmap binary built in %s", time.Since(start).Round(time.Second))
}

// buildImages builds deploy/Dockerfile's console and sensor images the
// way a site without a registry would: the prebuilt targets, from a
// static binary and kube-bench built outside Docker, on a debootstrapped
// Debian base holding the sensor's packages (so the build needs no
// network), plus the test's PostgreSQL image. The images are removed when
// the test ends (the imported bases stay, cached).
func buildImages(t *testing.T) images {
	t.Helper()
	testenv.Docker(t)
	root := testenv.ModuleRoot(t)
	ctx := t.TempDir()
	prebuilt := filepath.Join(ctx, "prebuilt")
	if err := os.Mkdir(prebuilt, 0o755); err != nil {
		t.Fatal(err)
	}
	buildStatic(t, root, filepath.Join(prebuilt, "riskmap"), "deploy-test")
	kb, cfg := testenv.KubeBench(t)
	run(t, ctx, nil, "cp", kb, filepath.Join(prebuilt, "kube-bench"))
	run(t, ctx, nil, "cp", "-R", cfg, filepath.Join(prebuilt, "cfg"))
	base := testenv.DockerImage(t, testenv.RootfsSensorBase)
	pgBase := testenv.DockerImage(t, testenv.RootfsPostgres)

	suffix := randomHex(t, 4)
	imgs := images{console: "riskmap-test/deploy-console:" + suffix, sensor: "riskmap-test/deploy-sensor:" + suffix,
		postgres: "riskmap-test/deploy-postgres:" + suffix}
	t.Cleanup(func() {
		_ = exec.Command("docker", "rmi", "-f", imgs.console, imgs.sensor, imgs.postgres).Run()
	})
	// The legacy builder (what Docker 20.10 runs without buildx) builds
	// every stage up to the target: the prebuilt targets come before the
	// source stages, so no Go or Node image is needed. --network none:
	// the base already holds every package.
	env := []string{"DOCKER_BUILDKIT=0"}
	dockerfile := filepath.Join(root, "deploy", "Dockerfile")
	for _, b := range []struct{ target, tag string }{{"console-prebuilt", imgs.console}, {"sensor-prebuilt", imgs.sensor}} {
		start := time.Now()
		run(t, ctx, env, "docker", "build", "--network", "none", "-f", dockerfile,
			"--build-arg", "DEBIAN_IMAGE="+base, "--target", b.target, "-t", b.tag, ctx)
		t.Logf("%s built in %s", b.tag, time.Since(start).Round(time.Second))
	}
	run(t, ctx, env, "docker", "build", "--network", "none", "--build-arg", "BASE="+pgBase, "-t", imgs.postgres,
		filepath.Join(root, "internal", "deploytest", "testdata", "postgres"))
	return imgs
}
