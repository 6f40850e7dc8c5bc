package oscap

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/sensorproto"
)

const (
	ruleP    = "xccdf_org.ssgproject.content_rule_"
	bench    = "xccdf_org.ssgproject.content_benchmark_DEBIAN-11"
	standard = "xccdf_org.ssgproject.content_profile_standard"
)

// wantFixture is what both fixtures (XCCDF results and the same as an
// ARF) say: the benchmark's texts joined to the rule results, the
// notselected rule counted and left out.
func wantFixture() *Report {
	base := sensorproto.ComplianceCheck{Benchmark: bench, BenchmarkVersion: "0.1.65", Profile: standard}
	c1, c2, c3, c4 := base, base, base, base
	c1.Rule, c1.Title, c1.Severity, c1.Result = ruleP+"file_permissions_etc_shadow", "Verify Permissions on shadow File", "medium", "fail"
	c1.Rationale = "The /etc/shadow file contains the list of local system accounts and stores password hashes."
	c1.Fix = "chmod u-xs,g-xws,o-xwrt /etc/shadow"
	c1.References = []sensorproto.Reference{{System: "nist-800-53", ID: "AC-6(1)"}, {System: "nist-800-53", ID: "CM-6(a)"},
		{System: "pcidss", ID: "Req-8.7.c"}, {System: "cis", ID: "6.1.3"}, {System: "hipaa", ID: "164.308(a)(1)(ii)(B)"},
		{System: "anssi", ID: "BP28(R36)"}, {System: "ospp", ID: "FMT_MOF_EXT.1"}, {System: "srg", ID: "SRG-OS-000480-GPOS-00227"},
		{System: "https://example.org/other", ID: "X-1"}, {System: "cce", ID: "CCE-85826-7"}}
	c2.Rule, c2.Title, c2.Severity, c2.Result = ruleP+"partition_for_tmp", "Ensure /tmp Located On Separate Partition", "low", "pass"
	c2.Rationale, c2.Fix, c2.Evidence = "Separate partitions.", "Create a separate partition for /tmp.", "checked /proc/mounts"
	c3.Rule, c3.Title, c3.Result = ruleP+"sysctl_kernel_randomize_va_space", "Enable Randomized Layout of Virtual Address Space", "notapplicable"
	c4.Rule, c4.Result = ruleP+"not_in_benchmark", "error"
	return &Report{Benchmark: bench, BenchmarkVersion: "0.1.65", Profile: standard, ProfileTitle: "Standard System Security Profile for Debian 11",
		Target: "bullseye", Checks: []sensorproto.ComplianceCheck{c1, c2, c3, c4}, NotSelected: 1, Score: 66.666664}
}

func TestParse(t *testing.T) {
	for _, name := range []string{"xccdf_results.xml", "arf_results.xml"} {
		t.Run(strings.TrimSuffix(name, ".xml"), func(t *testing.T) {
			f, err := os.Open("testdata/" + name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := Parse(f, DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(wantFixture(), got); d != "" {
				t.Errorf("report (-want +got):\n%s", d)
			}
			if d := cmp.Diff(map[string]int{"fail": 1, "pass": 1, "notapplicable": 1, "error": 1}, got.Counts()); d != "" {
				t.Errorf("counts: %s", d)
			}
			res := sensorproto.Results{Type: sensorproto.ScanCompliance, Engine: sensorproto.Engine{Name: Name}, Compliance: got.Checks}
			if err := res.Validate(); err != nil {
				t.Errorf("the console would refuse the checks: %v", err)
			}
		})
	}
}

func TestParseRefused(t *testing.T) {
	doc, err := os.ReadFile("testdata/xccdf_results.xml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		doc  string
		lim  Limits
		want string
		err  error
	}{
		{"too_many_rules", string(doc), Limits{Bytes: 1 << 20, Rules: 2}, "more than 2 rules", ErrLimit},
		{"too_large", string(doc), Limits{Bytes: 1000, Rules: 100}, "more than 1000 bytes", ErrLimit},
		{"no_test_result", `<Benchmark xmlns="http://checklists.nist.gov/xccdf/1.2" id="b"><version>1</version></Benchmark>`, DefaultLimits(), "no XCCDF 1.2 TestResult", nil},
		{"xccdf_1_1", `<Benchmark xmlns="http://checklists.nist.gov/xccdf/1.1" id="b"><TestResult id="t"/></Benchmark>`, DefaultLimits(), "no XCCDF 1.2 TestResult", nil},
		{"truncated", string(doc[:len(doc)/2]), DefaultLimits(), "xml:", nil},
		{"rule_result_without_result", `<TestResult xmlns="http://checklists.nist.gov/xccdf/1.2"><benchmark id="b"/><rule-result idref="r"></rule-result></TestResult>`, DefaultLimits(), `rule-result "r": no result`, nil},
		{"control_character_in_benchmark", `<TestResult xmlns="http://checklists.nist.gov/xccdf/1.2"><benchmark id="b&#9;"/><rule-result idref="r"><result>pass</result></rule-result></TestResult>`, DefaultLimits(), "benchmark id", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.doc), tc.lim)
			if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.err != nil && !errors.Is(err, tc.err)) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestReadBenchmark(t *testing.T) {
	f, err := os.Open("testdata/arf_results.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := ReadBenchmark(f, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := &Benchmark{ID: bench, Version: "0.1.65", Profiles: []Profile{{ID: standard, Title: "Standard System Security Profile for Debian 11"}}}
	if d := cmp.Diff(want, b); d != "" {
		t.Error(d)
	}
}

func TestReferenceSystems(t *testing.T) {
	for href, want := range map[string]string{
		"https://www.pcisecuritystandards.org/documents/PCI-DSS-v4_0.pdf":                                  "pcidss4",
		"https://www.cisecurity.org/controls/":                                                             "cis-csc",
		"https://public.cyber.mil/stigs/cci/":                                                              "cci",
		"https://public.cyber.mil/stigs/downloads/?_dl_facet_stigs=operating-systems%2Cunix-linux":         "stig",
		"https://public.cyber.mil/stigs/srg-stig-tools/":                                                   "srg",
		"http://nvlpubs.nist.gov/nistpubs/SpecialPublications/NIST.SP.800-171.pdf":                         "nist-800-171",
		"https://nvlpubs.nist.gov/nistpubs/CSWP/NIST.CSWP.04162018.pdf":                                    "nist-csf",
		"https://www.iso.org/standard/54534.html":                                                          "iso-27001",
		"https://www.fbi.gov/file-repository/cjis-security-policy-v5_5_20160601-2-1.pdf":                   "cjis",
		"https://benchmarks.cisecurity.org/tools2/linux/CIS_Debian_Benchmark_v1.0.pdf":                     "cis",
		"https://www.nerc.com/pa/Stand/Standard%20Purpose%20Statement%20DL/US_Standard_One-Stop-Shop.xlsx": "nerc-cip",
	} {
		if got := referenceSystem(href, "x"); got != want {
			t.Errorf("%s: %s, want %s", href, got, want)
		}
	}
}

// FuzzParse feeds the results parser arbitrary documents: it returns a
// report whose checks the console accepts, or an error; never panics.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"xccdf_results.xml", "arf_results.xml"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<TestResult xmlns="http://checklists.nist.gov/xccdf/1.2"><benchmark id="b"/><rule-result idref="r"><result>bogus</result></rule-result></TestResult>`))
	f.Add([]byte(`<Benchmark xmlns="http://checklists.nist.gov/xccdf/1.2" id="b"><Rule id="r"><title>` + strings.Repeat("a", 5000) + `</title></Rule></Benchmark>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		rep, err := Parse(bytes.NewReader(doc), Limits{Bytes: 1 << 20, Rules: 1000})
		if err != nil {
			return
		}
		res := sensorproto.Results{Type: sensorproto.ScanCompliance, Engine: sensorproto.Engine{Name: Name}, Compliance: rep.Checks}
		if err := res.Validate(); err != nil {
			t.Fatalf("parsed checks the console refuses: %v", err)
		}
		_, _ = ReadBenchmark(bytes.NewReader(doc), 1<<20)
	})
}

// TestEnv: oscap gets PATH and its own variables, never the caller's
// other variables (a sensor's enrolment token).
func TestEnv(t *testing.T) {
	t.Setenv("RISKMAP_ENROLMENT_TOKEN", "secret-token")
	env := Env(Eval{Root: "/proc/42/root", ContainerEnv: []string{"A=1", "B=2"}})
	got := strings.Join(env, "\n")
	if strings.Contains(got, "secret-token") {
		t.Error("the caller's environment reaches oscap")
	}
	for _, want := range []string{"OSCAP_PROBE_ROOT=/proc/42/root", "OSCAP_CONTAINER_VARS=A=1\nB=2", "PATH="} {
		if !strings.Contains(got, want) {
			t.Errorf("env lacks %q:\n%s", want, got)
		}
	}
	if env := strings.Join(Env(Eval{Root: "/"}), "\n"); strings.Contains(env, "OSCAP_PROBE_ROOT") {
		t.Errorf("the root / through a probe root: %s", env)
	}
}
