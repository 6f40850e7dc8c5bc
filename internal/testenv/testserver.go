package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testServer returns the path of a real server's binary built from its Go
// module by scripts/test-server-build.sh (NAME at version, cached in
// CacheDir/NAME-version), building it when it is missing; cost is what the
// first build takes, for the log. Without it the test fails in CI and
// skips elsewhere (Missing).
func testServer(t testing.TB, name, version, cost string) string {
	t.Helper()
	script := filepath.Join(ModuleRoot(t), "scripts", "test-server-build.sh")
	env := append(os.Environ(), strings.ToUpper(strings.ReplaceAll(name, "-", "_"))+"_VERSION="+version, "RISKMAP_TEST_CACHE="+CacheDir(t))
	where := exec.Command("bash", script, name, "--print")
	where.Env = env
	out, err := where.Output()
	if err != nil {
		Missing(t, name+" "+version, fmt.Sprintf("%s %s --print: %v", script, name, err))
	}
	bin := strings.TrimSpace(string(out))
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	t.Logf("%s %s not built yet: running %s %s (%s, once)", name, version, script, name, cost)
	cmd := exec.Command("bash", script, name)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		Missing(t, name+" "+version, fmt.Sprintf("scripts/test-server-build.sh %s failed (%v): %s", name, err, tail(out, 2000)))
	}
	if _, err := os.Stat(bin); err != nil {
		Missing(t, name+" "+version, "scripts/test-server-build.sh did not produce "+bin)
	}
	return bin
}
