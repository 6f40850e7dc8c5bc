package sensor_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/compliance/oscap"
	"github.com/riskmap/riskmap/internal/sensor"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensor/client/consoletest"
	"github.com/riskmap/riskmap/internal/sensor/command"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/testenv"
)

const ssgStandard = "xccdf_org.ssgproject.content_profile_standard"

// TestScanComplianceHost: a compliance scan command on a host whose root
// filesystem is Debian 11 chooses the debian11 data stream and evaluates
// the standard profile (the default, and by name) through the probe
// root; the results pass the console's decoder and carry the XCCDF
// results; a profile Debian 11's content lacks is refused, naming it; an
// image is refused.
func TestScanComplianceHost(t *testing.T) {
	testenv.OpenSCAP(t)
	host := testenv.BullseyeRootfs(t, testenv.RootfsBullseye)
	s, err := sensor.New(sensor.Config{HostRoot: host, DockerHost: "off", ContainerdSockets: []string{"off"}, CloudMetadataURL: "off"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Compliance(context.Background(), sensor.ComplianceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	target := sensorproto.CommandTarget{Kind: "host", Ref: "/"}
	var last float64
	res, err := c.ScanCompliance(context.Background(), target, func(p float64) { last = p })
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, ch := range res.Compliance {
		counts[ch.Result]++
		if ch.Profile != ssgStandard || ch.Benchmark != "xccdf_org.ssgproject.content_benchmark_DEBIAN-11" || ch.Title == "" {
			t.Errorf("check %+v", ch)
		}
	}
	if counts["pass"] < 10 || counts["fail"] < 5 || last != 1 {
		t.Errorf("counts %v, last progress %v", counts, last)
	}
	if res.Engine.Name != "openscap" || res.Engine.Version == "" || res.Engine.RulesSet != "ssg-debian11 0.1.65" || res.RawFormat != oscap.FormatXCCDF {
		t.Errorf("engine %+v, raw format %q", res.Engine, res.RawFormat)
	}
	zr, err := gzip.NewReader(bytes.NewReader(res.Raw))
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := oscap.Parse(zr, oscap.DefaultLimits()); err != nil || len(rep.Checks) != len(res.Compliance) {
		t.Errorf("raw results: %v", err)
	}
	body, err := sensorproto.EncodeResults(res)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sensorproto.DecodeResults(bytes.NewReader(body)); err != nil {
		t.Errorf("the console would refuse the results: %v", err)
	}

	// The profile by Riskmap's name, through the command.
	ctx := command.WithCommand(context.Background(), sensorproto.Command{Profile: "standard"})
	again, err := c.ScanCompliance(ctx, target, func(float64) {})
	if err != nil || len(again.Compliance) != len(res.Compliance) {
		t.Errorf("standard by name: %v", err)
	}
	ctx = command.WithCommand(context.Background(), sensorproto.Command{Profile: "cis-level1-server"})
	if _, err := c.ScanCompliance(ctx, target, func(float64) {}); err == nil || !strings.Contains(err.Error(), "no CIS Level 1 - Server profile for debian11") {
		t.Errorf("CIS on Debian 11: %v", err)
	}
	if _, err := c.ScanCompliance(context.Background(), sensorproto.CommandTarget{Kind: "image", Ref: "debian:11"}, func(float64) {}); err == nil ||
		!strings.Contains(err.Error(), "not on images") {
		t.Errorf("image: %v", err)
	}
	p, err := c.Profiles(host)
	if err != nil || p.Product != "debian11" || len(p.Choices) == 0 || !p.Choices[0].Available || p.Choices[0].ProfileID != ssgStandard {
		t.Errorf("profiles %+v, %v", p, err)
	}
}

// TestScanComplianceContainer: a running container of the Debian 11 image
// is evaluated through /proc/PID/root of its init process.
func TestScanComplianceContainer(t *testing.T) {
	testenv.OpenSCAP(t)
	img := testenv.DockerImage(t, testenv.RootfsBullseye)
	ctr := startContainer(t, "--network", "none", img, "sleep", "infinity")
	s, err := sensor.New(dockerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Collect(context.Background())
	c, err := s.Compliance(context.Background(), sensor.ComplianceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.ScanCompliance(context.Background(), sensorproto.CommandTarget{Kind: "container", Ref: ctr[:12]}, func(float64) {})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, ch := range res.Compliance {
		counts[ch.Result]++
	}
	// In a container the rules of machines (partitions, kernel settings)
	// are not applicable; the files' are evaluated.
	if counts["pass"] < 10 || counts["notapplicable"] < 10 {
		t.Errorf("counts %v", counts)
	}
	if _, err := c.ScanCompliance(context.Background(), sensorproto.CommandTarget{Kind: "container", Ref: "no-such-container"}, func(float64) {}); err == nil ||
		!strings.Contains(err.Error(), "not a running container") {
		t.Errorf("unknown container: %v", err)
	}
}

// TestComplianceCommand: a compliance scan command from the contract
// console, with a profile by Riskmap's name, runs on the sensor's host and
// uploads its checks and the raw XCCDF results, which the console's
// decoder accepts; the scan completes counting the failed checks.
func TestComplianceCommand(t *testing.T) {
	testenv.OpenSCAP(t)
	host := testenv.BullseyeRootfs(t, testenv.RootfsBullseye)
	s, err := sensor.New(sensor.Config{HostRoot: host, DockerHost: "off", ContainerdSockets: []string{"off"}, CloudMetadataURL: "off"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Compliance(context.Background(), sensor.ComplianceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	con := consoletest.Start(t)
	cl, err := client.New(client.Config{ConsoleURL: con.URL(), Key: con.Key, PinSHA256: con.Pin()})
	if err != nil {
		t.Fatal(err)
	}
	r := command.New(command.Config{SensorID: s.ID(), PollInterval: 100 * time.Millisecond, Heartbeat: time.Second,
		Engines: map[string]command.EngineFunc{sensorproto.ScanCompliance: c.ScanCompliance}}, cl)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	con.Queue(sensorproto.Command{ID: "c1", Kind: "scan", ScanID: "comp", ScanType: "compliance", Profile: "standard",
		Target: sensorproto.CommandTarget{Kind: "host"}})
	waitFor(t, "the compliance scan to end", 2*time.Minute, func() bool {
		st := con.Statuses("comp")
		return len(st) > 0 && st[len(st)-1].Status != sensorproto.StatusRunning
	})
	st := con.Statuses("comp")
	if last := st[len(st)-1]; last.Status != sensorproto.StatusComplete || !strings.HasSuffix(last.Message, "failed") {
		t.Fatalf("scan ended %+v", last)
	}
	res := con.Results("comp")
	if res == nil || res.Type != sensorproto.ScanCompliance || len(res.Compliance) < 30 || len(res.Raw) == 0 || res.RawFormat != "xccdf-1.2" {
		t.Fatalf("results %v", res != nil)
	}
}
