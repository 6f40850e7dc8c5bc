package testenv

import (
	"os/exec"
	"strings"
	"testing"
)

// HelmVersion is the Helm release (measured in DEPENDENCIES.md) scripts/test-server-build.sh builds
// into CacheDir/helm-<version> (helm.sh/helm/v3/cmd/helm).
const HelmVersion = "v3.22.0"

// Helm returns the path of a helm binary built from its Go module at
// HelmVersion, building it when missing (a few minutes of CPU, once).
// Without it the test fails in CI and skips elsewhere.
func Helm(t testing.TB) string {
	t.Helper()
	return testServer(t, "helm", HelmVersion, "about 4.5 min of CPU on a 2-core machine")
}

// Compose returns the command that runs Docker Compose: Debian's
// docker-compose (1.29, which .ci/run installs) when present, else the
// Compose v2 plugin (`docker compose`). Without either the test fails in
// CI and skips elsewhere.
func Compose(t testing.TB) []string {
	t.Helper()
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	if out, err := exec.Command("docker", "compose", "version").CombinedOutput(); err == nil && strings.Contains(string(out), "version") {
		return []string{"docker", "compose"}
	}
	Missing(t, "Docker Compose", "apt-get install docker-compose (.ci/run does) or the Compose v2 plugin")
	return nil
}
