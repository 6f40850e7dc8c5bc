package sensor

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riskmap/riskmap/internal/compliance"
	"github.com/riskmap/riskmap/internal/compliance/oscap"
	"github.com/riskmap/riskmap/internal/sensor/command"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

// ComplianceConfig configures a sensor's compliance scans.
type ComplianceConfig struct {
	// OSCAP is the oscap binary (default: oscap on PATH).
	OSCAP string
	// ContentDirs are searched for SCAP Security Guide data streams
	// (default compliance.DefaultContentDirs).
	ContentDirs []string
	// Timeout bounds one evaluation (default 1 hour).
	Timeout time.Duration
	// TempDir holds oscap's results file while it runs (default
	// os.TempDir; a read-only sensor container passes its state
	// directory).
	TempDir string
}

// Compliance runs compliance scans (scan type compliance) with OpenSCAP
// and the SCAP Security Guide content on the sensor's node.
type Compliance struct {
	s       *Sensor
	runner  *oscap.Runner
	content string
	engine  sensorproto.Engine

	mu         sync.Mutex
	benchmarks map[string]*oscap.Benchmark // by data stream path
}

// Compliance returns the sensor's compliance engine, or an error saying
// what is missing (oscap, the SSG content): the sensor then does not
// declare the compliance scan type.
func (s *Sensor) Compliance(ctx context.Context, cfg ComplianceConfig) (*Compliance, error) {
	if len(cfg.ContentDirs) == 0 {
		cfg.ContentDirs = compliance.DefaultContentDirs
	}
	runner, err := oscap.New(oscap.Config{Binary: cfg.OSCAP, Timeout: cfg.Timeout, TempDir: cfg.TempDir})
	if err != nil {
		return nil, err
	}
	content, err := compliance.ContentDir(cfg.ContentDirs)
	if err != nil {
		return nil, err
	}
	version, err := runner.Version(ctx)
	if err != nil {
		return nil, err
	}
	return &Compliance{s: s, runner: runner, content: content, engine: sensorproto.Engine{Name: oscap.Name, Version: version},
		benchmarks: map[string]*oscap.Benchmark{}}, nil
}

// ContentDir returns the SCAP Security Guide content directory in use.
func (c *Compliance) ContentDir() string { return c.content }

// ScanCompliance runs a compliance scan command on this node: the
// target's OS (its os-release) chooses the SSG data stream, the command's
// profile (command.CommandOf; empty: compliance.DefaultProfile) one of its
// profiles, and oscap evaluates it on
//   - host: the host's root filesystem (HostRoot; through
//     OSCAP_PROBE_ROOT when the sensor runs in a container with the
//     host's / mounted);
//   - container: a running container's root, /proc/PID/root of its
//     init process, as oscap-chroot does.
//
// Images are refused: compliance is evaluated on running systems. The
// results hold every check the profile selected and the XCCDF results
// document, compressed.
func (c *Compliance) ScanCompliance(ctx context.Context, target sensorproto.CommandTarget, progress func(float64)) (*sensorproto.Results, error) {
	cmd, _ := command.CommandOf(ctx)
	eval := oscap.Eval{Profile: cmd.Profile}
	switch target.Kind {
	case "host":
		eval.Root = c.s.cfg.HostRoot
	case "container":
		ctr, ok := c.s.container(target.Ref)
		if !ok || ctr.PID <= 0 || (ctr.State != "running" && ctr.State != "paused") {
			return nil, fmt.Errorf("compliance scan of container %q: not a running container of this node (compliance scans evaluate running containers, through their root filesystem)", target.Ref)
		}
		proc := filepath.Join(c.s.cfg.ProcRoot, strconv.Itoa(ctr.PID))
		eval.Root = filepath.Join(proc, "root")
		eval.ContainerEnv = readEnviron(filepath.Join(proc, "environ"))
	case "image", "registry":
		return nil, fmt.Errorf("compliance scan of %s %q: compliance is evaluated on running systems (hosts and running containers), not on images", target.Kind, target.Ref)
	default:
		return nil, fmt.Errorf("compliance scan: target kind %q: the sensor evaluates hosts and running containers", target.Kind)
	}
	progress(0.02)
	res, err := c.scan(ctx, eval, progress)
	if err != nil {
		return nil, fmt.Errorf("compliance scan of %s %s: %w", target.Kind, target.Ref, err)
	}
	return res, nil
}

func (c *Compliance) scan(ctx context.Context, eval oscap.Eval, progress func(float64)) (*sensorproto.Results, error) {
	osr, err := compliance.ReadOS(eval.Root)
	if err != nil {
		return nil, err
	}
	ds, err := compliance.DataStreamFor(c.content, osr)
	if err != nil {
		return nil, err
	}
	b, err := c.benchmark(ds.Path)
	if err != nil {
		return nil, err
	}
	eval.DataStream = ds.Path
	if eval.Profile, err = compliance.Resolve(ds.Product, b, eval.Profile); err != nil {
		return nil, err
	}
	progress(0.05)
	if filepath.Clean(eval.Root) == "/" {
		eval.Root = ""
	}
	out, err := c.runner.Run(ctx, eval)
	if err != nil {
		return nil, err
	}
	engine := c.engine
	engine.RulesSet = fmt.Sprintf("ssg-%s %s", ds.Product, b.Version)
	if ds.Derived {
		engine.RulesSet += " (for " + osr.String() + ")"
	}
	res := &sensorproto.Results{Type: sensorproto.ScanCompliance, Engine: engine, Compliance: out.Report.Checks,
		Raw: out.Raw, RawFormat: out.RawFormat}
	for _, ch := range res.Compliance {
		if ch.Result == sensorproto.CheckError {
			res.Errors++
		}
	}
	progress(1)
	return res, nil
}

// benchmark reads (once) a data stream's benchmark: its profiles.
func (c *Compliance) benchmark(path string) (*oscap.Benchmark, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b := c.benchmarks[path]; b != nil {
		return b, nil
	}
	b, err := oscap.ReadBenchmarkFile(path)
	if err != nil {
		return nil, err
	}
	c.benchmarks[path] = b
	return b, nil
}

// Profiles returns Riskmap's profile names resolved for the OS of a root
// filesystem against the installed content (what this sensor can
// evaluate there).
func (c *Compliance) Profiles(root string) (compliance.OSProfiles, error) {
	osr, err := compliance.ReadOS(root)
	if err != nil {
		return compliance.OSProfiles{}, err
	}
	out := compliance.OSProfiles{OS: osr}
	ds, err := compliance.DataStreamFor(c.content, osr)
	if err != nil {
		return out, err
	}
	b, err := c.benchmark(ds.Path)
	if err != nil {
		return out, err
	}
	out.Product, out.Derived, out.Benchmark, out.Version = ds.Product, ds.Derived, b.ID, b.Version
	out.Choices = compliance.Map(ds.Product, b)
	return out, nil
}

// readEnviron reads a process's environment (at most 64 KiB), for the
// rules that read a container's variables; nil when unreadable.
func readEnviron(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil
	}
	var out []string
	for _, kv := range strings.Split(string(b), "\x00") {
		if strings.Contains(kv, "=") && !strings.ContainsAny(kv, "\n") {
			out = append(out, kv)
		}
	}
	return out
}
