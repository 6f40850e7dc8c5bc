package scanner

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/testenv"
)

// rpmRoot builds a Rocky Linux 9 style root whose SQLite rpmdb (the format
// of RHEL/Alma/Rocky 9 and Fedora) holds one package, using Debian's rpm
// and rpmbuild.
func rpmRoot(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"rpm", "rpmbuild"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, tool, "apt-get install rpm (.ci/run does)")
		}
	}
	top := t.TempDir()
	spec := filepath.Join(top, "demo.spec")
	write(t, spec, "Name: openssl-libs\nVersion: 3.0.7\nRelease: 25.el9_3\nEpoch: 1\nSummary: test\nLicense: ASL 2.0\nBuildArch: noarch\n%description\ntest\n%install\nmkdir -p %{buildroot}/usr/lib64\necho x > %{buildroot}/usr/lib64/libssl.so.3\n%files\n/usr/lib64/libssl.so.3\n")
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), "HOME="+top)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("rpmbuild", "--define", "_topdir "+top, "-bb", spec)
	root := filepath.Join(top, "root")
	write(t, filepath.Join(root, "etc/os-release"), "NAME=\"Rocky Linux\"\nID=\"rocky\"\nVERSION_ID=\"9.3\"\n")
	run("rpm", "--root", root, "--dbpath", "/var/lib/rpm", "--define", "_db_backend sqlite", "--initdb")
	run("rpm", "--root", root, "--dbpath", "/var/lib/rpm", "--define", "_db_backend sqlite", "-i", "--nodeps", "--justdb", "--noscripts",
		filepath.Join(top, "RPMS/noarch/openssl-libs-3.0.7-25.el9_3.noarch.rpm"))
	return root
}

func TestScanRPM(t *testing.T) {
	inv := scan(t, "dir:"+rpmRoot(t), Options{})
	type row struct{ Name, Version, Ecosystem, PURL, Source, SourceVersion string }
	var got []row
	for _, p := range inv.Packages {
		got = append(got, row{p.Name, p.Version, p.Ecosystem, p.PURL, p.SourceName, p.SourceVersion})
	}
	want := []row{{
		"openssl-libs", "1:3.0.7-25.el9_3", "Rocky Linux:9",
		"pkg:rpm/rocky/openssl-libs@3.0.7-25.el9_3?arch=noarch&distro=rocky-9.3&epoch=1&sourcerpm=openssl-libs-3.0.7-25.el9_3.src.rpm",
		"openssl-libs", "3.0.7-25.el9_3",
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/usr/lib64/libssl.so.3"}, inv.Packages[0].Files); diff != "" {
		t.Errorf("owned files (-want +got):\n%s", diff)
	}
	if len(inv.Errors) != 0 {
		t.Errorf("errors: %v", inv.Errors)
	}
}
