package privileges

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDropAsRoot builds testdata/dropcheck without cgo, runs it as root and
// checks that only the three capabilities are left, no_new_privs is set,
// CAP_CHOWN is gone and the /proc maps of a more privileged process (its
// parent, the test) are still readable thanks to CAP_SYS_PTRACE.
func TestDropAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	bin := filepath.Join(t.TempDir(), "dropcheck")
	build := exec.Command("go", "build", "-o", bin, "./testdata/dropcheck")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build dropcheck: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil {
		t.Fatalf("dropcheck: %v\n%s", err, out)
	}
	want := uint64(1<<CapDACReadSearch | 1<<CapNetAdmin | 1<<CapSysPtrace)
	for _, line := range []string{
		fmt.Sprintf("eff=%x bnd=%x nnp=1", want, want),
		"chown: chown " + "", // prefix; EPERM checked below
		"read parent maps: <nil>",
	} {
		if !strings.Contains(string(out), line) {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
	}
	if !strings.Contains(string(out), "operation not permitted") {
		t.Errorf("chown still allowed after dropping CAP_CHOWN:\n%s", out)
	}
}

func TestParseCapLine(t *testing.T) {
	status := []byte("Name:\tx\nCapEff:\t000001ffffffffff\nCapBnd:\t0000000000081004\n")
	if v, err := ParseCapLine(status, "CapBnd:"); err != nil || v != 0x81004 {
		t.Fatalf("CapBnd = %x, %v", v, err)
	}
	if _, err := ParseCapLine(status, "CapAmb:"); err == nil {
		t.Fatal("missing line: want an error")
	}
}
