// Package testenv tells tests which real services (PostgreSQL, the Docker
// engine, Chromium, debootstrapped root filesystems) are available, and
// enforces the project rule: in CI (CI=true) a missing service fails the
// test; on a developer machine it skips with a message saying how to get it.
package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// InCI reports whether the tests run in CI, where every service must exist.
func InCI() bool {
	v, _ := strconv.ParseBool(os.Getenv("CI"))
	return v
}

// Missing is called when a service a test needs is absent: it fails the test
// in CI and skips it elsewhere, naming the service and how to provide it.
func Missing(t testing.TB, service, how string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is required in CI but not available: %s", service, how)
	}
	t.Skipf("skipping: %s not available (%s); CI=true makes this a failure", service, how)
}

// CacheDir returns the directory, outside the clone, where slow-to-build test
// assets (root filesystems, Kubernetes binaries, peer-tool fixtures) are
// cached between runs. RISKMAP_TEST_CACHE overrides the default
// /var/cache/riskmap-test (or the user cache directory when not root).
func CacheDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("RISKMAP_TEST_CACHE")
	if dir == "" {
		if os.Geteuid() == 0 {
			dir = "/var/cache/riskmap-test"
		} else {
			base, err := os.UserCacheDir()
			if err != nil {
				t.Fatalf("test cache dir: %v", err)
			}
			dir = filepath.Join(base, "riskmap-test")
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("test cache dir %s: %v", dir, err)
	}
	return dir
}

// SharedFeeds returns the path of the shared vulnerability feeds directory
// (../shared/feeds beside the checkout, or RISKMAP_FEEDS_DIR).
func SharedFeeds(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("RISKMAP_FEEDS_DIR"); dir != "" {
		return dir
	}
	root := ModuleRoot(t)
	dir := filepath.Join(root, "..", "shared", "feeds")
	if _, err := os.Stat(dir); err != nil {
		Missing(t, "shared feeds", "expected at "+dir+" or RISKMAP_FEEDS_DIR")
	}
	return dir
}

// ModuleRoot returns the repository root (the directory holding go.mod).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}
