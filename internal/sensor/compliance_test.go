package sensor_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/compliance/oscap"
	"github.com/riskmap/riskmap/internal/sensor"
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
