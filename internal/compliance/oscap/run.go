// Package oscap runs OpenSCAP's `oscap xccdf eval` on a root filesystem
// (the host's, or another root such as a running container's
// /proc/PID/root, the way oscap-chroot does) and parses its XCCDF 1.2 or
// ARF 1.1 results in Go into sensorproto compliance checks.
package oscap

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/riskmap/riskmap/internal/sensorproto"
)

// Name is the engine's name in results.
const Name = "openscap"

// ErrNotInstalled is returned when no oscap binary is found.
var ErrNotInstalled = errors.New("oscap (OpenSCAP, Debian's openscap-scanner package) not found on PATH: install it with the SCAP Security Guide content (ssg-debian, ssg-debderived, ssg-nondebian) to run compliance scans")

// Find returns the path of the oscap binary on PATH.
func Find() (string, error) {
	p, err := exec.LookPath("oscap")
	if err != nil {
		return "", ErrNotInstalled
	}
	return p, nil
}

// Formats of the raw results (sensorproto.Results.RawFormat).
const (
	FormatXCCDF = "xccdf-1.2"
	FormatARF   = "arf-1.1"
)

// Config configures a Runner.
type Config struct {
	// Binary is the oscap binary (default: Find).
	Binary string
	// Timeout bounds one evaluation (default 1 hour).
	Timeout time.Duration
	// MaxResults bounds the results file read (default DefaultLimits).
	Limits Limits
	// ARF asks for an ARF report (--results-arf) instead of XCCDF
	// results (--results). An ARF carries the OVAL results as well: larger.
	ARF bool
	// TempDir holds the results file while oscap runs (default os.TempDir).
	TempDir string
}

// Runner runs oscap.
type Runner struct {
	cfg Config
}

// New returns a runner, finding oscap when Config.Binary is empty.
func New(cfg Config) (*Runner, error) {
	if cfg.Binary == "" {
		p, err := Find()
		if err != nil {
			return nil, err
		}
		cfg.Binary = p
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Hour
	}
	if cfg.Limits.Bytes <= 0 || cfg.Limits.Rules <= 0 {
		cfg.Limits = DefaultLimits()
	}
	return &Runner{cfg: cfg}, nil
}

// Binary returns the oscap binary the runner runs.
func (r *Runner) Binary() string { return r.cfg.Binary }

// Version returns oscap's version ("1.3.7").
func (r *Runner) Version(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, r.cfg.Binary, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", r.cfg.Binary, err)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	if i := strings.LastIndexByte(first, ' '); i >= 0 {
		return strings.TrimSpace(first[i+1:]), nil
	}
	return "", fmt.Errorf("%s --version: unexpected answer %q", r.cfg.Binary, cut(first, 100))
}

// Eval is one evaluation.
type Eval struct {
	// DataStream is the SCAP source data stream file; Profile the XCCDF
	// profile id (empty: the benchmark's default selection).
	DataStream string
	Profile    string
	// Root is the target's root filesystem: "" or "/" for the root oscap
	// runs in, another directory (a debootstrapped tree, a container's
	// /proc/PID/root) through OSCAP_PROBE_ROOT, as oscap-chroot does.
	Root string
	// ContainerEnv is the container's environment, for rules that read
	// the environment (OSCAP_CONTAINER_VARS, as oscap-podman sets it).
	ContainerEnv []string
}

// Result is an evaluation's outcome.
type Result struct {
	Report *Report
	// Raw is the results document, gzip-compressed; nil when its
	// compressed size exceeds sensorproto.MaxRawGzip (RawDropped says so).
	Raw        []byte
	RawFormat  string
	RawDropped bool
	// ExitCode is oscap's: 0 every rule passed, 2 some failed.
	ExitCode int
	Took     time.Duration
}

// Args returns the oscap command line of an evaluation writing its
// results to results: what a person runs for the same evaluation.
func (r *Runner) Args(e Eval, results string) []string {
	args := []string{"xccdf", "eval"}
	if e.Profile != "" {
		args = append(args, "--profile", e.Profile)
	}
	if r.cfg.ARF {
		args = append(args, "--results-arf", results)
	} else {
		args = append(args, "--results", results)
	}
	return append(args, e.DataStream)
}

// Env returns the environment oscap runs with for an evaluation: PATH
// and the probe root and container variables, nothing of the caller's
// own (the sensor's environment may hold its enrolment token, and OVAL's
// environment variable probes report what they read).
func Env(e Eval) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
	if root := e.Root; root != "" && filepath.Clean(root) != "/" {
		env = append(env, "OSCAP_PROBE_ROOT="+filepath.Clean(root))
	}
	if len(e.ContainerEnv) > 0 {
		env = append(env, "OSCAP_CONTAINER_VARS="+strings.Join(e.ContainerEnv, "\n"))
	}
	return env
}

// maxStderr bounds the stderr kept for an error message; stdout (a line
// per rule) is discarded, the results file says it all.
const maxStderr = 64 << 10

// Run evaluates e. oscap's exit status 2 (some rule failed) is a result,
// not an error; 1 or a signal is an error naming oscap's last words.
// Cancelling ctx, or the timeout, kills oscap's process group.
func (r *Runner) Run(ctx context.Context, e Eval) (*Result, error) {
	if e.DataStream == "" {
		return nil, errors.New("oscap eval: no data stream")
	}
	if e.Root != "" {
		st, err := os.Stat(e.Root)
		if err != nil {
			return nil, fmt.Errorf("oscap eval: target root: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("oscap eval: target root %s is not a directory", e.Root)
		}
	}
	dir, err := os.MkdirTemp(r.cfg.TempDir, "riskmap-oscap-")
	if err != nil {
		return nil, fmt.Errorf("oscap eval: %w", err)
	}
	defer os.RemoveAll(dir)
	results := filepath.Join(dir, "results.xml")

	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.cfg.Binary, r.Args(e, results)...)
	cmd.Env = Env(e)
	cmd.Dir = dir
	cmd.Stdout = io.Discard
	stderr := &tailBuffer{max: maxStderr}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	if parent.Err() != nil {
		return nil, fmt.Errorf("oscap eval %s: %w", e.Profile, parent.Err())
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("oscap eval %s: timed out after %v: %w", e.Profile, took.Round(time.Second), ctx.Err())
	}
	code := cmd.ProcessState.ExitCode()
	if err != nil && code != 2 {
		return nil, fmt.Errorf("oscap eval --profile %s %s: %w: %s", e.Profile, e.DataStream, err, lastLines(stderr.String(), 5))
	}
	res := &Result{ExitCode: code, Took: took, RawFormat: FormatXCCDF}
	if r.cfg.ARF {
		res.RawFormat = FormatARF
	}
	res.Report, res.Raw, err = r.read(results)
	if err != nil {
		return nil, fmt.Errorf("oscap eval --profile %s: results: %w (oscap said: %s)", e.Profile, err, lastLines(stderr.String(), 3))
	}
	if res.Raw == nil {
		res.RawFormat, res.RawDropped = "", true
	}
	return res, nil
}

// read parses the results file while compressing it, in one pass.
func (r *Runner) read(path string) (*Report, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var gz capped
	gz.max = sensorproto.MaxRawGzip
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if err != nil {
		return nil, nil, err
	}
	rep, err := Parse(io.TeeReader(f, zw), r.cfg.Limits)
	if err != nil {
		return nil, nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, nil, err
	}
	if gz.over {
		return rep, nil, nil
	}
	return rep, gz.Bytes(), nil
}

// capped is a buffer that stops growing past max and says so.
type capped struct {
	bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if c.over || c.Len()+len(p) > c.max {
		c.over = true
		c.Reset()
		return len(p), nil
	}
	return c.Buffer.Write(p)
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := strings.Join(lines, " | ")
	if out == "" {
		return "no message"
	}
	return cut(out, 1000)
}
