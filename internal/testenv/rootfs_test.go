package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBookwormRootfs builds (or reuses) both root filesystem variants and
// checks they are real Debian 12 systems with a dpkg database.
func TestBookwormRootfs(t *testing.T) {
	for _, variant := range []string{RootfsMinbase, RootfsFull} {
		t.Run(variant, func(t *testing.T) {
			root := BookwormRootfs(t, variant)
			osr, err := os.ReadFile(filepath.Join(root, "etc/os-release"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(osr), `VERSION_CODENAME=bookworm`) {
				t.Errorf("os-release is not bookworm:\n%s", osr)
			}
			status, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status"))
			if err != nil {
				t.Fatal(err)
			}
			n := strings.Count(string(status), "\nPackage: ") + 1
			if n < 50 {
				t.Errorf("dpkg status lists %d packages, want a real system (>= 50)", n)
			}
			if variant == RootfsFull && !strings.Contains(string(status), "Package: nginx") {
				t.Errorf("full rootfs lacks nginx")
			}
		})
	}
}

// TestBullseyeRootfs builds (or reuses) the Debian 11 root filesystem of
// the compliance tests.
func TestBullseyeRootfs(t *testing.T) {
	root := BullseyeRootfs(t, RootfsBullseye)
	osr, err := os.ReadFile(filepath.Join(root, "etc/os-release"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(osr), `VERSION_CODENAME=bullseye`) || !strings.Contains(string(osr), `VERSION_ID="11"`) {
		t.Errorf("os-release is not bullseye:\n%s", osr)
	}
}
