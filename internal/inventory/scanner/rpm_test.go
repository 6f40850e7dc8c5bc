package scanner

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	_ "modernc.org/sqlite" // reads the test-built SQLite rpmdb's header blobs

	"github.com/riskmap/riskmap/internal/testenv"
)

// rpmSpec is a package the rpm tests build with rpmbuild and install.
type rpmSpec struct {
	name, version, release string
	epoch                  int // 0: none
	files                  []string
}

func (s rpmSpec) fileName() string {
	return fmt.Sprintf("%s-%s-%s.noarch.rpm", s.name, s.version, s.release)
}

// needTools fails in CI (skips elsewhere) when a command is missing.
func needTools(t *testing.T, how string, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, tool, how)
		}
	}
}

// run runs a command with HOME in dir (rpmbuild writes there) and returns
// its standard output.
func run(t *testing.T, home string, stdin []byte, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s%s", name, args, err, out, stderr.Bytes())
	}
	return string(out)
}

// buildRPMs builds noarch rpms of specs under top with Debian's rpmbuild
// and returns their paths.
func buildRPMs(t *testing.T, top string, specs ...rpmSpec) []string {
	t.Helper()
	needTools(t, "apt-get install rpm (.ci/run does)", "rpm", "rpmbuild")
	var out []string
	for _, s := range specs {
		spec := filepath.Join(top, s.name+".spec")
		var b strings.Builder
		fmt.Fprintf(&b, "Name: %s\nVersion: %s\nRelease: %s\n", s.name, s.version, s.release)
		if s.epoch > 0 {
			fmt.Fprintf(&b, "Epoch: %d\n", s.epoch)
		}
		b.WriteString("Summary: test\nLicense: ASL 2.0\nBuildArch: noarch\n%description\ntest\n%install\n")
		for _, f := range s.files {
			fmt.Fprintf(&b, "mkdir -p %%{buildroot}%s\necho x > %%{buildroot}%s\n", filepath.Dir(f), f)
		}
		b.WriteString("%files\n" + strings.Join(s.files, "\n") + "\n")
		write(t, spec, b.String())
		run(t, top, nil, "rpmbuild", "--define", "_topdir "+top, "-bb", spec)
		out = append(out, filepath.Join(top, "RPMS/noarch", s.fileName()))
	}
	return out
}

// installSQLite creates a SQLite rpmdb (RHEL/Alma/Rocky 9, Fedora) in
// root/var/lib/rpm holding rpms, installed with rpm --justdb.
func installSQLite(t *testing.T, home, root string, rpms []string) {
	t.Helper()
	base := []string{"--root", root, "--dbpath", "/var/lib/rpm", "--define", "_db_backend sqlite"}
	run(t, home, nil, "rpm", append(base, "--initdb")...)
	run(t, home, nil, "rpm", append(base, append([]string{"-i", "--nodeps", "--justdb", "--noscripts"}, rpms...)...)...)
}

// rpmRoot builds a Rocky Linux 9 style root whose SQLite rpmdb (the format
// of RHEL/Alma/Rocky 9 and Fedora) holds one package, using Debian's rpm
// and rpmbuild.
func rpmRoot(t *testing.T) string {
	t.Helper()
	top := t.TempDir()
	rpms := buildRPMs(t, top, rpmSpec{name: "openssl-libs", version: "3.0.7", release: "25.el9_3", epoch: 1, files: []string{"/usr/lib64/libssl.so.3"}})
	root := filepath.Join(top, "root")
	write(t, filepath.Join(root, "etc/os-release"), "NAME=\"Rocky Linux\"\nID=\"rocky\"\nVERSION_ID=\"9.3\"\n")
	installSQLite(t, top, root, rpms)
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

// bdbSpecs are installed into the Berkeley DB rpmdb: one package with an
// epoch, one without, with several files.
var bdbSpecs = []rpmSpec{
	{name: "openssl-libs", version: "1.1.1k", release: "12.el8_9", epoch: 1, files: []string{"/usr/lib64/libssl.so.10"}},
	{name: "bash", version: "4.4.20", release: "4.el8_6", files: []string{"/etc/skel/.bashrc", "/usr/bin/bash"}},
}

// bdbRoot builds a RHEL 8 style root whose rpmdb is a Berkeley DB hash
// file (the format of RHEL/CentOS up to 8 and of SUSE before NDB): the rpms are
// installed into a SQLite rpmdb by Debian's rpm, their header blobs are
// loaded into var/lib/rpm/Packages with Berkeley DB's own db5.3_load (keys:
// native-endian header numbers, as rpm's BDB backend writes them), and
// Debian's rpm (read-only BDB backend) must read the result back: the
// same file the real rpm would read.
func bdbRoot(t *testing.T) string {
	t.Helper()
	needTools(t, "apt-get install db5.3-util (.ci/run does)", "db5.3_load")
	top := t.TempDir()
	rpms := buildRPMs(t, top, bdbSpecs...)
	staging := filepath.Join(top, "staging")
	installSQLite(t, top, staging, rpms)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(staging, "var/lib/rpm/rpmdb.sqlite")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT hnum, blob FROM Packages ORDER BY hnum")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	// db_load -T input: key and data lines alternate; bytes as \xx.
	var in strings.Builder
	line := func(b []byte) {
		for _, c := range b {
			fmt.Fprintf(&in, "\\%02x", c)
		}
		in.WriteByte('\n')
	}
	var maxNum uint32
	for rows.Next() {
		var hnum uint32
		var blob []byte
		if err := rows.Scan(&hnum, &blob); err != nil {
			t.Fatal(err)
		}
		line(binary.NativeEndian.AppendUint32(nil, hnum))
		line(blob)
		maxNum = max(maxNum, hnum)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// Record 0 holds the last header number, as rpm keeps it.
	line(binary.NativeEndian.AppendUint32(nil, 0))
	line(binary.NativeEndian.AppendUint32(nil, maxNum))
	root := filepath.Join(top, "root")
	dbDir := filepath.Join(root, "var/lib/rpm")
	if err := os.MkdirAll(dbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, top, []byte(in.String()), "db5.3_load", "-T", "-t", "hash", "-c", "db_pagesize=4096", filepath.Join(dbDir, "Packages"))
	write(t, filepath.Join(root, "etc/os-release"), "NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"8.9\"\n")
	// Debian's rpm reads the file back through its own BDB reader.
	got := strings.Fields(run(t, top, nil, "rpm", "--dbpath", dbDir, "--define", "_db_backend bdb_ro", "-qa", "--qf", "%{NAME}:%{EPOCHNUM}:%{VERSION}-%{RELEASE}\n"))
	slices.Sort(got)
	if diff := cmp.Diff([]string{"bash:0:4.4.20-4.el8_6", "openssl-libs:1:1.1.1k-12.el8_9"}, got); diff != "" {
		t.Fatalf("rpm -qa of the built Berkeley DB (-want +got):\n%s", diff)
	}
	return root
}

func TestScanRPMBerkeleyDB(t *testing.T) {
	inv := scan(t, "dir:"+bdbRoot(t), Options{})
	type row struct {
		Name, Version, Ecosystem, PURL string
		Files, Locations               []string
	}
	var got []row
	for _, p := range inv.Packages {
		got = append(got, row{p.Name, p.Version, p.Ecosystem, p.PURL, p.Files, p.Locations})
	}
	want := []row{
		{
			"bash", "4.4.20-4.el8_6", "Red Hat",
			"pkg:rpm/rhel/bash@4.4.20-4.el8_6?arch=noarch&distro=rhel-8.9&sourcerpm=bash-4.4.20-4.el8_6.src.rpm",
			[]string{"/etc/skel/.bashrc", "/usr/bin/bash"}, []string{"var/lib/rpm/Packages"},
		},
		{
			"openssl-libs", "1:1.1.1k-12.el8_9", "Red Hat",
			"pkg:rpm/rhel/openssl-libs@1.1.1k-12.el8_9?arch=noarch&distro=rhel-8.9&epoch=1&sourcerpm=openssl-libs-1.1.1k-12.el8_9.src.rpm",
			[]string{"/usr/lib64/libssl.so.10"}, []string{"var/lib/rpm/Packages"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if len(inv.Errors) != 0 {
		t.Errorf("errors: %v", inv.Errors)
	}
}

// ndbRoot builds a SUSE Linux Enterprise 15 root around a real NDB rpmdb
// (SUSE's format since SLE 15 SP3; Debian's rpm can neither write nor read
// it): the Packages.db of a SLE 15 BCI image that go-rpmdb ships as test
// data, taken from the module cache (its content is pinned by go.sum).
func ndbRoot(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/erikvarga/go-rpmdb")
	cmd.Dir = testenv.ModuleRoot(t)
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("go list -m github.com/erikvarga/go-rpmdb: %v %s", err, out)
	}
	db, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "pkg/testdata/sle15-bci/Packages.db"))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	write(t, filepath.Join(root, "usr/lib/sysimage/rpm/Packages.db"), string(db))
	write(t, filepath.Join(root, "etc/os-release"), "NAME=\"SLES\"\nVERSION=\"15-SP3\"\nVERSION_ID=\"15.3\"\nID=\"sles\"\nID_LIKE=\"suse\"\n")
	return root
}

func TestScanRPMNDB(t *testing.T) {
	inv := scan(t, "dir:"+ndbRoot(t), Options{})
	b, err := os.ReadFile("testdata/rpm/sle15-bci-ndb.txt")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			want = append(want, l)
		}
	}
	var got []string
	files := map[string][]string{}
	for _, p := range inv.Packages {
		if p.Ecosystem != "SUSE:15.3" || !slices.Equal(p.Locations, []string{"usr/lib/sysimage/rpm/Packages.db"}) {
			t.Errorf("%s: ecosystem %q, locations %v", p.Name, p.Ecosystem, p.Locations)
		}
		got = append(got, fmt.Sprintf("%s %s %s %s-%s.src.rpm", p.Name, p.Version, purlQualifier(p.PURL, "arch"), p.SourceName, p.SourceVersion))
		files[p.Name] = p.Files
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("packages (-want +got):\n%s", diff)
	}
	// SUSE's bash owns /bin/bash (SLE 15 is not usr-merged) and /usr/bin/bash.
	for _, f := range []string{"/bin/bash", "/usr/bin/bash", "/etc/skel/.bashrc"} {
		if !slices.Contains(files["bash"], f) {
			t.Errorf("bash does not own %s: %v", f, files["bash"])
		}
	}
	if len(inv.Errors) != 0 {
		t.Errorf("errors: %v", inv.Errors)
	}
}

// purlQualifier returns one qualifier of a purl.
func purlQualifier(purl, key string) string {
	_, q, _ := strings.Cut(purl, "?")
	for _, kv := range strings.Split(q, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}
