package kubebench_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/compliance/kubebench"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/testenv"
)

// TestRunRealAPIServer runs kube-bench (built from its module at the
// pinned version) on this machine while a real kube-apiserver runs with
// flags the test chose: --anonymous-auth=false and --profiling=false
// (CIS 1.2.1 and 1.2.15 pass), and the test cluster's own
// --token-auth-file and --authorization-mode=RBAC (1.2.2 fails; 1.2.6 and
// 1.2.8 pass, 1.2.7 "includes Node" fails), without --audit-log-path
// (1.2.16 fails). kube-bench finds
// the process by its name with ps and reads its command line: the
// evidence is the flag's value it saw.
func TestRunRealAPIServer(t *testing.T) {
	bin, cfgDir := testenv.KubeBench(t)
	kc := testenv.KubernetesWith(t, testenv.KubeOptions{APIServerArgs: []string{"--anonymous-auth=false", "--profiling=false"}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := kubebench.DefaultConfig()
	cfg.Binary, cfg.ConfigDir = bin, cfgDir
	// The test control plane runs no scheduler and no controller manager:
	// without marking them optional kube-bench would look for none of the
	// master's programs.
	cfg.Overrides = map[string]any{"master": map[string]any{"scheduler": map[string]any{"optional": true},
		"controllermanager": map[string]any{"optional": true}}}
	start := time.Now()
	res, err := kubebench.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-bench ran in %s: %d checks", time.Since(start).Round(time.Millisecond), len(res.Compliance))
	if err := res.Validate(); err != nil {
		t.Fatalf("results do not validate: %v", err)
	}
	if res.Engine.Name != "kube-bench" || res.Engine.Version != testenv.KubeBenchVersion || res.Engine.RulesSet != "cis-1.9" {
		t.Errorf("engine %+v, want kube-bench %s with cis-1.9", res.Engine, testenv.KubeBenchVersion)
	}
	// The raw document is kube-bench's report, parseable again.
	zr, err := gzip.NewReader(bytes.NewReader(res.Raw))
	if err != nil || res.RawFormat != kubebench.RawFormat {
		t.Fatalf("raw %q: %v", res.RawFormat, err)
	}
	raw, _ := io.ReadAll(zr)
	if _, err := kubebench.Parse(raw); err != nil {
		t.Errorf("raw document: %v", err)
	}

	type key struct{ profile, rule string }
	got := map[key]sensorproto.ComplianceCheck{}
	profiles := map[string]int{}
	for _, c := range res.Compliance {
		got[key{c.Profile, c.Rule}] = c
		profiles[c.Profile]++
		if c.Benchmark != kubebench.Benchmark || c.BenchmarkVersion != "cis-1.9" || c.Title == "" {
			t.Errorf("check %s/%s: %+v", c.Profile, c.Rule, c)
		}
	}
	if profiles["master"] == 0 || profiles["node"] == 0 {
		t.Errorf("checks per target %v, want master and node", profiles)
	}
	for _, w := range []struct {
		rule, result, evidence string
	}{
		{"1.2.1", "pass", "--anonymous-auth=false"},
		{"1.2.2", "fail", "--token-auth-file=" + kc.Dir + "/tokens.csv"}, // (or another test's apiserver's: below)
		{"1.2.6", "pass", "--authorization-mode=RBAC"},                   // not AlwaysAllow
		{"1.2.7", "fail", "--authorization-mode=RBAC"},                   // ... but without Node
		{"1.2.8", "pass", "--authorization-mode=RBAC"},                   // ... and with RBAC
		{"1.2.15", "pass", "--profiling=false"},
		{"1.2.16", "fail", "--audit-log-path not set"},
	} {
		c, ok := got[key{"master", w.rule}]
		if !ok {
			t.Errorf("no master check %s", w.rule)
			continue
		}
		t.Logf("%s %s: %s (evidence %q)", w.rule, c.Title, c.Result, c.Evidence)
		// Another package's test may run its own kube-apiserver meanwhile
		// (go test runs packages in parallel): kube-bench then reads both
		// command lines, and a flag both carry may show the other's value.
		other := w.rule == "1.2.2" && strings.HasPrefix(c.Evidence, "--token-auth-file=/") && strings.HasSuffix(c.Evidence, "/tokens.csv")
		if c.Result != w.result || c.Evidence != w.evidence && !other {
			t.Errorf("check %s %q = %s with evidence %q; want %s with %q", w.rule, c.Title, c.Result, c.Evidence, w.result, w.evidence)
		}
	}
}

// TestParseNoComponents maps the report kube-bench printed on a machine
// where no Kubernetes component ran (testdata): every check, with its
// target, benchmark version, result and remediation.
func TestParseNoComponents(t *testing.T) {
	b, err := os.ReadFile("testdata/no_components_running.json")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := kubebench.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	res, err := kubebench.Results(rep, b)
	if err != nil {
		t.Fatal(err)
	}
	res.Engine.Version = "v0.9.4"
	if err := res.Validate(); err != nil {
		t.Fatal(err)
	}
	counts := map[string]map[string]int{}
	for _, c := range res.Compliance {
		if counts[c.Profile] == nil {
			counts[c.Profile] = map[string]int{}
		}
		counts[c.Profile][c.Result]++
	}
	want := map[string]map[string]int{"master": {"fail": 46, "notchecked": 13}, "node": {"fail": 11, "notchecked": 12, "pass": 1}}
	if d := cmp.Diff(want, counts); d != "" {
		t.Errorf("results per target (-want +got):\n%s", d)
	}
	first := res.Compliance[0]
	wantFirst := sensorproto.ComplianceCheck{Benchmark: "cis-kubernetes", BenchmarkVersion: "cis-1.9", Profile: "master", Rule: "1.1.1",
		Title: "Ensure that the API server pod specification file permissions are set to 600 or more restrictive (Automated)", Result: "fail",
		Fix:        "Run the below command (based on the file location on your system) on the\ncontrol plane node.\nFor example, chmod 600 /etc/kubernetes/manifests/kube-apiserver.yaml",
		References: []sensorproto.Reference{{System: "cis", ID: "1.1.1"}}}
	if d := cmp.Diff(wantFirst, first); d != "" {
		t.Errorf("first check (-want +got):\n%s", d)
	}
	// A check kube-bench could not run carries its reason as evidence.
	for _, c := range res.Compliance {
		if c.Rule == "1.2.1" && !strings.Contains(c.Evidence, "failed to run") {
			t.Errorf("1.2.1 evidence %q, want kube-bench's reason", c.Evidence)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "empty output"},
		{"not_json", "Warning: no config", "parse kube-bench report"},
		{"no_controls", `{"Controls":[],"Totals":{}}`, "no controls"},
		{"null_controls", `[null]`, "is null"},
		{"trailing_data", `[{"id":"1","node_type":"master","tests":[]}] x`, "parse kube-bench report"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kubebench.Parse([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%q) = %v, want an error with %q", tc.in, err, tc.want)
			}
		})
	}
}

// TestChecksOddItems: one odd check does not fail the scan: an unknown
// status is an unknown result naming it, a check without a number is
// left out and counted.
func TestChecksOddItems(t *testing.T) {
	rep, err := kubebench.Parse([]byte(`[{"id":"1","version":"cis-1.9","node_type":"master","tests":[{"section":"1.1","results":[
		{"test_number":"1.1.1","test_desc":"a","status":"MAYBE"},
		{"test_number":"","test_desc":"no number","status":"PASS"},
		{"test_number":"1.1.3","test_desc":"c","status":"pass"}]}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := kubebench.Results(rep, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range res.Compliance {
		got[c.Rule] = c.Result + " " + c.Evidence
	}
	want := map[string]string{"1.1.1": `unknown kube-bench status "MAYBE";`, "1.1.3": "pass "}
	if d := cmp.Diff(want, got); d != "" || res.Errors != 1 {
		t.Errorf("checks (-want +got):\n%s\nerrors %d, want 1", d, res.Errors)
	}
}

func TestRunMissingBinary(t *testing.T) {
	cfg := kubebench.DefaultConfig()
	cfg.Binary = "/nonexistent/kube-bench"
	_, err := kubebench.Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/kube-bench") {
		t.Errorf("Run = %v, want an error naming the binary", err)
	}
}

// FuzzParse: kube-bench's output is outside data; parsing and mapping
// never panic, and what maps validates.
func FuzzParse(f *testing.F) {
	b, err := os.ReadFile("testdata/no_components_running.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`[{"id":"1","version":"cis-1.9","node_type":"master","tests":[{"section":"1.2","results":[{"test_number":"1.2.1","status":"PASS","actual_value":"x"}]}]}]`))
	f.Add([]byte(`{"Controls":[{"tests":[null]}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		rep, err := kubebench.Parse(in)
		if err != nil {
			return
		}
		res, err := kubebench.Results(rep, in)
		if err != nil {
			return
		}
		res.Engine.Version = "v0"
		for i := range res.Compliance {
			c := &res.Compliance[i]
			if len(c.Title) > 1000 || len(c.Fix) > 4000 || len(c.Evidence) > 4000 || len(c.Profile) > 200 || len(c.Rule) > 200 {
				t.Fatalf("check %d exceeds the protocol's bounds", i)
			}
		}
	})
}

func TestDetect(t *testing.T) {
	proc := func(comms ...string) fstest.MapFS {
		m := fstest.MapFS{"self/comm": {Data: []byte("riskmap\n")}}
		for i, c := range comms {
			m[strconv.Itoa(100+i)+"/comm"] = &fstest.MapFile{Data: []byte(c + "\n")}
		}
		return m
	}
	for _, tc := range []struct {
		name      string
		proc      fstest.MapFS
		targets   []string
		overrides map[string]any
	}{
		{"full_control_plane", proc("kube-apiserver", "kube-scheduler", "kube-controller", "etcd", "kubelet"), []string{"master", "node"}, nil},
		{"apiserver_alone", proc("kube-apiserver", "etcd"), []string{"master"},
			map[string]any{"master": map[string]any{"scheduler": map[string]any{"optional": true}, "controllermanager": map[string]any{"optional": true}}}},
		{"worker", proc("kubelet", "containerd"), []string{"node"}, nil},
		{"no_kubernetes", proc("sshd", "dockerd"), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			targets, overrides := kubebench.Detect(tc.proc)
			if d := cmp.Diff(tc.targets, targets); d != "" {
				t.Errorf("targets (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.overrides, overrides); d != "" {
				t.Errorf("overrides (-want +got):\n%s", d)
			}
		})
	}
}

// TestRunHostRoot: with a host root, kube-bench reads the node's files
// under it: the API server's manifest of a root filesystem the test made
// fails CIS 1.1.1 (permissions 600 or stricter) at 0644 and passes once
// the test fixes it, the evidence showing the mode kube-bench saw.
func TestRunHostRoot(t *testing.T) {
	bin, cfgDir := testenv.KubeBench(t)
	root := t.TempDir()
	manifest := filepath.Join(root, "etc/kubernetes/manifests/kube-apiserver.yaml")
	if err := os.MkdirAll(filepath.Dir(manifest), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manifest, []byte("apiVersion: v1\nkind: Pod\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := kubebench.DefaultConfig()
	cfg.Binary, cfg.ConfigDir, cfg.HostRoot, cfg.Targets = bin, cfgDir, root, []string{"master"}
	check := func(want, evidence string) {
		t.Helper()
		res, err := kubebench.Run(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range res.Compliance {
			if c.Rule == "1.1.1" {
				if c.Result != want || c.Evidence != evidence {
					t.Errorf("1.1.1 = %s with evidence %q, want %s with %q", c.Result, c.Evidence, want, evidence)
				}
				return
			}
		}
		t.Error("no check 1.1.1")
	}
	check("fail", "permissions=644")
	if err := os.Chmod(manifest, 0o600); err != nil {
		t.Fatal(err)
	}
	check("pass", "permissions=600")
}
