package oscap_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/compliance/oscap"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/testenv"
)

const (
	standard = "xccdf_org.ssgproject.content_profile_standard"
	shadow   = "xccdf_org.ssgproject.content_rule_file_permissions_etc_shadow"
)

// direct runs oscap itself on root, as a person would (oscap-chroot's
// OSCAP_PROBE_ROOT), and returns each rule's result from what it prints.
func direct(t *testing.T, bin, ds, root string) map[string]string {
	t.Helper()
	cmd := exec.Command(bin, "xccdf", "eval", "--profile", standard, "--results", filepath.Join(t.TempDir(), "r.xml"), ds)
	cmd.Env = append(os.Environ(), "OSCAP_PROBE_ROOT="+root)
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 2) {
		t.Fatalf("oscap: %v", err)
	}
	got := map[string]string{}
	rule := ""
	for _, line := range strings.Split(string(out), "\n") {
		// oscap writes "Rule\r\tID" (a carriage return before the tab).
		k, v, _ := strings.Cut(line, "\t")
		switch strings.TrimSpace(k) {
		case "Rule":
			rule = strings.TrimSpace(v)
		case "Result":
			got[rule] = strings.TrimSpace(v)
		}
	}
	if len(got) == 0 {
		t.Fatalf("oscap printed no results:\n%s", out)
	}
	return got
}

func counts(results map[string]string) map[string]int {
	out := map[string]int{}
	for _, r := range results {
		out[r]++
	}
	return out
}

func byRule(rep *oscap.Report) map[string]string {
	out := map[string]string{}
	for _, c := range rep.Checks {
		out[c.Rule] = c.Result
	}
	return out
}

func scan(t *testing.T, r *oscap.Runner, ds, root string) *oscap.Result {
	t.Helper()
	res, err := r.Run(context.Background(), oscap.Eval{DataStream: ds, Profile: standard, Root: root})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestRunRootfs: the standard profile on a debootstrapped Debian 11 root
// filesystem gives, rule by rule, what oscap prints when run directly on
// the same root; the raw results are the XCCDF document, compressed.
func TestRunRootfs(t *testing.T) {
	bin, content := testenv.OpenSCAP(t)
	root := testenv.BullseyeRootfs(t, testenv.RootfsBullseye)
	ds := filepath.Join(content, "ssg-debian11-ds.xml")
	r, err := oscap.New(oscap.Config{})
	if err != nil {
		t.Fatal(err)
	}
	res := scan(t, r, ds, root)
	want := direct(t, bin, ds, root)
	if d := cmp.Diff(counts(want), res.Report.Counts()); d != "" {
		t.Errorf("pass/fail counts differ from oscap's (-oscap +riskmap):\n%s", d)
	}
	if d := cmp.Diff(want, byRule(res.Report)); d != "" {
		t.Errorf("results differ from oscap's (-oscap +riskmap):\n%s", d)
	}
	c := res.Report.Counts()
	if c["pass"] < 10 || c["fail"] < 5 {
		t.Errorf("counts %v: want a real evaluation (passes and failures)", c)
	}
	if res.ExitCode != 2 || res.Report.Benchmark != "xccdf_org.ssgproject.content_benchmark_DEBIAN-11" || res.Report.BenchmarkVersion != "0.1.65" ||
		res.Report.Profile != standard {
		t.Errorf("exit %d, report %+v", res.ExitCode, res.Report)
	}
	for _, ch := range res.Report.Checks {
		if ch.Rule == shadow && (ch.Title == "" || ch.Severity != "medium" || ch.Rationale == "" || ch.Fix == "" || len(ch.References) < 5) {
			t.Errorf("shadow permissions check lacks the benchmark's texts: %+v", ch)
		}
	}
	if res.RawFormat != oscap.FormatXCCDF || len(res.Raw) == 0 || len(res.Raw) > sensorproto.MaxRawGzip {
		t.Fatalf("raw %s of %d bytes", res.RawFormat, len(res.Raw))
	}
	zr, err := gzip.NewReader(bytes.NewReader(res.Raw))
	if err != nil {
		t.Fatal(err)
	}
	again, err := oscap.Parse(zr, oscap.DefaultLimits())
	if err != nil {
		t.Fatalf("raw results: %v", err)
	}
	if d := cmp.Diff(res.Report, again); d != "" {
		t.Errorf("raw results parse differently: %s", d)
	}
	out := sensorproto.Results{Type: sensorproto.ScanCompliance, Engine: sensorproto.Engine{Name: oscap.Name}, Compliance: res.Report.Checks,
		Raw: res.Raw, RawFormat: res.RawFormat}
	if err := out.Validate(); err != nil {
		t.Errorf("the console would refuse the results: %v", err)
	}

	// The same evaluation as an ARF report: the same checks.
	arf, err := oscap.New(oscap.Config{ARF: true})
	if err != nil {
		t.Fatal(err)
	}
	ares := scan(t, arf, ds, root)
	if d := cmp.Diff(res.Report.Checks, ares.Report.Checks); d != "" {
		t.Errorf("ARF checks differ from the XCCDF results' (-xccdf +arf):\n%s", d)
	}
	if ares.RawFormat != oscap.FormatARF || len(ares.Raw) == 0 {
		t.Errorf("ARF raw %s of %d bytes", ares.RawFormat, len(ares.Raw))
	}
	t.Logf("raw results: XCCDF %d bytes, ARF %d bytes (gzip)", len(res.Raw), len(ares.Raw))
}

// TestRunFixedControl: in a copy of the root filesystem, /etc/shadow
// readable by all fails its control; once its mode is fixed, the next
// scan passes it, and nothing else changed.
func TestRunFixedControl(t *testing.T) {
	_, content := testenv.OpenSCAP(t)
	orig := testenv.BullseyeRootfs(t, testenv.RootfsBullseye)
	ds := filepath.Join(content, "ssg-debian11-ds.xml")
	root := filepath.Join(t.TempDir(), "root")
	// Hard links: cheap; the one file changed is replaced, not edited.
	if out, err := exec.Command("cp", "-al", orig, root).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	sh := filepath.Join(root, "etc/shadow")
	data, err := os.ReadFile(sh)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(sh); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sh, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sh, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := oscap.New(oscap.Config{})
	if err != nil {
		t.Fatal(err)
	}
	before := byRule(scan(t, r, ds, root).Report)
	if before[shadow] != "fail" {
		t.Fatalf("/etc/shadow 0644: %s is %q, want fail", shadow, before[shadow])
	}
	if err := os.Chmod(sh, 0o640); err != nil {
		t.Fatal(err)
	}
	after := byRule(scan(t, r, ds, root).Report)
	if after[shadow] != "pass" {
		t.Errorf("/etc/shadow 0640: %s is %q, want pass", shadow, after[shadow])
	}
	before[shadow] = "pass"
	if d := cmp.Diff(before, after); d != "" {
		t.Errorf("other controls changed: %s", d)
	}
}

// TestRunContainer: a running container started from the Debian 11 root
// filesystem is scanned through /proc/PID/root; the results are oscap's
// own on the same root.
func TestRunContainer(t *testing.T) {
	bin, content := testenv.OpenSCAP(t)
	img := testenv.DockerImage(t, testenv.RootfsBullseye)
	out, err := exec.Command("docker", "run", "-d", "--network", "none", img, "sleep", "600").Output()
	if err != nil {
		t.Fatalf("docker run: %v", err)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", id).Run() })
	pid, err := exec.Command("docker", "inspect", "-f", "{{.State.Pid}}", id).Output()
	if err != nil {
		t.Fatal(err)
	}
	root := "/proc/" + strings.TrimSpace(string(pid)) + "/root"
	ds := filepath.Join(content, "ssg-debian11-ds.xml")
	r, err := oscap.New(oscap.Config{})
	if err != nil {
		t.Fatal(err)
	}
	res := scan(t, r, ds, root)
	want := direct(t, bin, ds, root)
	if d := cmp.Diff(want, byRule(res.Report)); d != "" {
		t.Errorf("results differ from oscap's (-oscap +riskmap):\n%s", d)
	}
	if c := res.Report.Counts(); c["pass"] < 10 {
		t.Errorf("counts %v", c)
	}
}

// TestRunErrors: no oscap, a profile the data stream lacks, a target
// that is not a directory, and a cancelled scan that kills oscap.
func TestRunErrors(t *testing.T) {
	_, content := testenv.OpenSCAP(t)
	ds := filepath.Join(content, "ssg-debian11-ds.xml")
	r, err := oscap.New(oscap.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Run(ctx, oscap.Eval{DataStream: ds, Profile: "xccdf_org.ssgproject.content_profile_nope", Root: t.TempDir()}); err == nil ||
		!strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown profile: %v", err)
	}
	if _, err := r.Run(ctx, oscap.Eval{DataStream: ds, Profile: standard, Root: ds}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file as root: %v", err)
	}

	root := testenv.BullseyeRootfs(t, testenv.RootfsBullseye)
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(500*time.Millisecond, cancel)
	start := time.Now()
	_, err = r.Run(cctx, oscap.Eval{DataStream: ds, Profile: standard, Root: root})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled scan: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("cancel took %v", took)
	}
	if out, _ := exec.Command("pgrep", "-f", "riskmap-oscap-").Output(); len(out) > 0 {
		t.Errorf("oscap still runs after cancel: %s", out)
	}

	t.Setenv("PATH", t.TempDir())
	if _, err := oscap.New(oscap.Config{}); !errors.Is(err, oscap.ErrNotInstalled) {
		t.Errorf("no oscap on PATH: %v", err)
	}
}

var versionRE = regexp.MustCompile(`^\d+\.\d+\.\d+$`)

func TestVersion(t *testing.T) {
	testenv.OpenSCAP(t)
	r, err := oscap.New(oscap.Config{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := r.Version(context.Background())
	if err != nil || !versionRE.MatchString(v) {
		t.Errorf("version %q, %v", v, err)
	}
}
