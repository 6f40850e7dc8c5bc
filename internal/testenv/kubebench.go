package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// KubeBenchVersion is the kube-bench release scripts/test-server-build.sh
// builds into CacheDir/kube-bench-<version> (the binary and its cfg/
// directory of benchmark YAMLs from the same module version).
const KubeBenchVersion = "v0.9.4"

// KubeBench returns the path of a kube-bench binary built from its Go
// module and its cfg directory, building them when missing (7 minutes on
// a loaded 2-core machine, once). Without them the test fails in CI and skips elsewhere.
func KubeBench(t testing.TB) (binary, cfgDir string) {
	t.Helper()
	bin := testServer(t, "kube-bench", KubeBenchVersion, "7 min on a loaded 2-core machine")
	cfg := filepath.Join(filepath.Dir(bin), "cfg")
	if _, err := os.Stat(filepath.Join(cfg, "config.yaml")); err != nil {
		Missing(t, "kube-bench "+KubeBenchVersion+" benchmark definitions", err.Error()+"; remove "+filepath.Dir(bin)+" and run scripts/test-server-build.sh kube-bench")
	}
	return bin, cfg
}
