package sensor_test

import (
	"compress/gzip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/riskmap/riskmap/internal/compliance/oscap"
	"github.com/riskmap/riskmap/internal/sensor"
	"github.com/riskmap/riskmap/internal/sensor/command"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/testenv"
)

// BenchmarkComplianceStandard: the standard profile on the Debian 11
// root filesystem through the sensor's engine (os-release, data stream,
// profile, oscap, parsing, compressing the raw results) beside oscap run
// directly with the same arguments and probe root (bench/compliance.sh).
func BenchmarkComplianceStandard(b *testing.B) {
	bin, content := testenv.OpenSCAP(b)
	root := testenv.BullseyeRootfs(b, testenv.RootfsBullseye)
	s, err := sensor.New(sensor.Config{HostRoot: root, DockerHost: "off", ContainerdSockets: []string{"off"}, CloudMetadataURL: "off"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c, err := s.Compliance(context.Background(), sensor.ComplianceConfig{})
	if err != nil {
		b.Fatal(err)
	}
	// A first oscap run (its results file is the parse benchmark's
	// input) and the engine's first read of the data stream's profiles
	// warm both sides alike.
	results := filepath.Join(b.TempDir(), "results.xml")
	cmd := exec.Command(bin, "xccdf", "eval", "--profile", ssgStandard, "--results", results, filepath.Join(content, "ssg-debian11-ds.xml"))
	cmd.Env = append(os.Environ(), "OSCAP_PROBE_ROOT="+root)
	_ = cmd.Run()
	if _, err := c.Profiles(root); err != nil {
		b.Fatal(err)
	}
	ctx := command.WithCommand(context.Background(), sensorproto.Command{Profile: "standard"})
	b.Run("riskmap", func(b *testing.B) {
		for b.Loop() {
			res, err := c.ScanCompliance(ctx, sensorproto.CommandTarget{Kind: "host"}, func(float64) {})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(res.Compliance)), "checks")
		}
	})
	// What riskmap adds to oscap's run: reading the results file while
	// parsing and compressing it.
	b.Run("parse", func(b *testing.B) {
		for b.Loop() {
			f, err := os.Open(results)
			if err != nil {
				b.Fatal(err)
			}
			zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
			rep, err := oscap.Parse(io.TeeReader(f, zw), oscap.DefaultLimits())
			f.Close()
			zw.Close()
			if err != nil || len(rep.Checks) == 0 {
				b.Fatal(err)
			}
		}
	})
	b.Run("oscap", func(b *testing.B) {
		for b.Loop() {
			cmd := exec.Command(bin, "xccdf", "eval", "--profile", ssgStandard, "--results", filepath.Join(b.TempDir(), "r.xml"),
				filepath.Join(content, "ssg-debian11-ds.xml"))
			cmd.Env = append(os.Environ(), "OSCAP_PROBE_ROOT="+root)
			if err := cmd.Run(); err != nil {
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
					b.Fatal(err)
				}
			}
		}
	})
}
