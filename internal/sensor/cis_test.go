package sensor_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/sensor"
	"github.com/riskmap/riskmap/internal/sensor/command"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/testenv"
)

// TestScanCISKubernetes: a compliance scan of the host with the CIS
// Kubernetes profile runs kube-bench on the targets of what runs here (a
// real kube-apiserver started with --profiling=false, no kubelet: master
// only) and reports the apiserver's real flags; the results pass the
// console's decoder.
func TestScanCISKubernetes(t *testing.T) {
	bin, cfgDir := testenv.KubeBench(t)
	testenv.KubernetesWith(t, testenv.KubeOptions{APIServerArgs: []string{"--profiling=false"}})
	cfg := sensor.Config{DockerHost: "off", ContainerdSockets: []string{"off"}, CloudMetadataURL: "off"}
	cfg.KubeBench.Binary, cfg.KubeBench.ConfigDir = bin, cfgDir
	s, err := sensor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var last float64
	res, err := s.ScanCISKubernetes(ctx, sensorproto.CommandTarget{Kind: "host", Ref: "node-1"}, func(p float64) { last = p })
	if err != nil {
		t.Fatal(err)
	}
	if last != 1 {
		t.Errorf("last progress %v, want 1", last)
	}
	cisRoundTrip(t, res)
	profiles := map[string]int{}
	var profiling *sensorproto.ComplianceCheck
	for i, c := range res.Compliance {
		profiles[c.Profile]++
		if c.Profile == "master" && c.Rule == "1.2.15" {
			profiling = &res.Compliance[i]
		}
	}
	if profiles["master"] == 0 || profiles["node"] != 0 {
		t.Errorf("checks per target %v: want master only (no kubelet runs here)", profiles)
	}
	if profiling == nil || profiling.Result != sensorproto.CheckPass || profiling.Evidence != "--profiling=false" {
		t.Errorf("1.2.15 (profiling) = %+v, want pass with --profiling=false", profiling)
	}
	if _, err := s.ScanCISKubernetes(ctx, sensorproto.CommandTarget{Kind: "image", Ref: "x"}, func(float64) {}); err == nil {
		t.Error("an image target was accepted")
	}
}

// TestScanCISDocker: a compliance scan with the CIS Docker profile checks
// the real engine and its running containers (target host), or the daemon
// and one container (target container, by name).
func TestScanCISDocker(t *testing.T) {
	img := testenv.DockerImage(t, testenv.RootfsMinbase)
	id := startContainer(t, "--network", "none", "--read-only", "--memory", "32m", img, "sleep", "infinity")
	name := strings.TrimPrefix(docker(t, "inspect", "--format", "{{.Name}}", id), "/")
	s, err := sensor.New(dockerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	host, err := s.ScanCISDocker(ctx, sensorproto.CommandTarget{Kind: "host"}, func(float64) {})
	if err != nil {
		t.Fatal(err)
	}
	cisRoundTrip(t, host)
	one, err := s.ScanCISDocker(ctx, sensorproto.CommandTarget{Kind: "container", Ref: name}, func(float64) {})
	if err != nil {
		t.Fatal(err)
	}
	cisRoundTrip(t, one)
	for _, res := range []*sensorproto.Results{host, one} {
		got := map[string]string{}
		for _, c := range res.Compliance {
			if c.Subject == name {
				got[c.Rule] = c.Result
			}
		}
		if got["5.13"] != "pass" || got["5.11"] != "pass" || got["4.1"] != "fail" || got["5.10"] != "pass" {
			t.Errorf("container %s: 5.13 %q 5.11 %q 4.1 %q 5.10 %q; want read-only, memory-limited, root, own network", name, got["5.13"], got["5.11"], got["4.1"], got["5.10"])
		}
	}
	for _, c := range one.Compliance {
		if c.Subject != "" && c.Subject != name {
			t.Errorf("container-target scan reports %s", c.Subject)
		}
	}
	if _, err := s.ScanCISDocker(ctx, sensorproto.CommandTarget{Kind: "container", Ref: "no-such-container-cis"}, func(float64) {}); err == nil {
		t.Error("a container that does not run was accepted")
	}
}

// cisRoundTrip encodes results as the sensor uploads them and decodes them
// as the console does.
func cisRoundTrip(t *testing.T, res *sensorproto.Results) {
	t.Helper()
	b, err := sensorproto.EncodeResults(res)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sensorproto.DecodeResults(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("the console refuses the results: %v", err)
	}
	if len(got.Compliance) != len(res.Compliance) || got.Type != sensorproto.ScanCompliance || len(got.Raw) == 0 {
		t.Errorf("decoded %d checks of type %q with %d raw bytes, want %d", len(got.Compliance), got.Type, len(got.Raw), len(res.Compliance))
	}
}

// TestComplianceEngineRoutes: the sensor's compliance engine hands a
// command to the engine its profile names: cis-docker to the CIS Docker
// checks, cis-kubernetes to kube-bench (not installed on PATH here: a
// clear error), any other to OpenSCAP (standard on this Debian 12 host,
// which the installed SCAP content does not cover: OpenSCAP's error).
func TestComplianceEngineRoutes(t *testing.T) {
	testenv.Docker(t)
	testenv.OpenSCAP(t)
	t.Setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin") // no kube-bench
	s, err := sensor.New(dockerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	eng, notes := s.ComplianceEngine(ctx, sensor.ComplianceConfig{})
	if eng == nil {
		t.Fatalf("no compliance engine: %v", notes)
	}
	joined := strings.Join(notes, "; ")
	if !strings.Contains(joined, "OpenSCAP on") || !strings.Contains(joined, "CIS Docker on") || !strings.Contains(joined, "CIS Kubernetes off: kube-bench not found") {
		t.Errorf("notes %q", joined)
	}
	run := func(profile string) (*sensorproto.Results, error) {
		return eng(command.WithCommand(ctx, sensorproto.Command{Kind: sensorproto.CommandScan, ScanType: sensorproto.ScanCompliance, Profile: profile}),
			sensorproto.CommandTarget{Kind: "host"}, func(float64) {})
	}
	res, err := run(sensor.ProfileCISDocker)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Compliance) == 0 || res.Compliance[0].Benchmark != "cis-docker" {
		t.Errorf("cis-docker: %d checks of %q", len(res.Compliance), res.Compliance[0].Benchmark)
	}
	if _, err := run(sensor.ProfileCISKubernetes); err == nil || !strings.Contains(err.Error(), "kube-bench is not installed") {
		t.Errorf("cis-kubernetes without kube-bench: %v", err)
	}
	if os, err := os.ReadFile("/etc/debian_version"); err == nil && strings.HasPrefix(string(os), "12") {
		if _, err := run(""); err == nil || !strings.Contains(err.Error(), "debian12") {
			t.Errorf("standard on Debian 12 (no SSG content): %v", err)
		}
	}
}
