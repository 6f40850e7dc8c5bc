// Package kubebench runs the CIS Kubernetes benchmark on a node with Aqua's
// kube-bench (github.com/aquasecurity/kube-bench), a separate program the
// sensor runs like oscap, and turns its JSON report into compliance checks.
//
// kube-bench finds the control-plane and worker components by their
// running processes (ps), reads their flags and configuration files and
// evaluates the benchmark's YAML definitions (its cfg/ directory) against
// them. This package chooses the benchmark and targets, runs the program
// with a bounded output, parses the report (Parse, fuzzed) and maps every
// check: PASS, FAIL, WARN and INFO become pass, fail, notchecked and
// informational; the check number is the rule, its description the title,
// its remediation the fix and the value kube-bench saw the evidence. The
// report itself is kept, gzip-compressed, as the results' raw document.
package kubebench

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/riskmap/riskmap/internal/intake"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

// Name is the engine's name in results.
const Name = "kube-bench"

// Module is kube-bench's Go module: its version in a binary's build
// information is the engine's version.
const Module = "github.com/aquasecurity/kube-bench"

// Benchmark is the ComplianceCheck.Benchmark of every check.
const Benchmark = "cis-kubernetes"

// RawFormat names the raw document: kube-bench's JSON report.
const RawFormat = "kube-bench-json"

// DefaultBenchmark is the kube-bench benchmark run when the configuration
// names none: the newest CIS Kubernetes benchmark kube-bench v0.9.4 ships
// (CIS Kubernetes Benchmark v1.9.0, for Kubernetes 1.27 to 1.29; kube-bench
// has no mapping for newer Kubernetes versions and refuses to guess).
const DefaultBenchmark = "cis-1.9"

// Bounds of a run.
const (
	// MaxReport bounds kube-bench's JSON output.
	MaxReport = 32 << 20
	// maxStderr bounds the diagnostics kept for an error.
	maxStderr = 4000
)

// Config configures a run.
type Config struct {
	// Binary is kube-bench's path (default: "kube-bench" on PATH).
	Binary string
	// ConfigDir is kube-bench's cfg directory (config.yaml and one
	// directory of YAML controls per benchmark); default: "cfg" beside
	// the binary, else /etc/kube-bench/cfg.
	ConfigDir string
	// Benchmark is the kube-bench benchmark ("cis-1.9"). DefaultConfig
	// sets DefaultBenchmark; "detect" lets kube-bench choose it from the
	// Kubernetes version it finds (kubectl or kubelet on the node).
	Benchmark string
	// Targets are the benchmark's targets to run (master, node, etcd,
	// controlplane, policies); default master and node.
	Targets []string
	// Timeout bounds a run (default 5 minutes).
	Timeout time.Duration
	// Env is added to kube-bench's environment (KUBECONFIG...).
	Env []string
	// Overrides are merged into the benchmark's configuration for the
	// run, in the shape of kube-bench's cfg/config.yaml: per target and
	// component, its bins, confs, kubeconfig, optional... For nodes whose
	// components run under other names or paths, or where some are
	// absent: kube-bench substitutes no binary at all for a target when
	// one of its mandatory components is not running, so a control plane
	// without a scheduler needs {"master": {"scheduler": {"optional":
	// true}}}. Needs a named Benchmark (not "detect").
	Overrides map[string]any
	// HostRoot is where the node's root filesystem is seen (a sensor
	// container mounts it at /host); default /. Other than /, the
	// configuration and data file paths kube-bench looks for (confs,
	// kubeconfig, svc, cafile, datadirs and their defaults) are read
	// under it. Paths written into the benchmark's audit commands and
	// those a program's command line names are not rewritten. Needs a
	// named Benchmark.
	HostRoot string
}

// pathKeys are the settings of a component in kube-bench's configuration
// that name files (its TypeMap).
var pathKeys = []string{"confs", "defaultconf", "kubeconfig", "defaultkubeconfig", "svc", "defaultsvc", "cafile", "defaultcafile",
	"datadirs", "defaultdatadir"}

// hostRootOverrides prefixes every file path of the base and benchmark
// configurations with root.
func hostRootOverrides(base, benchmark, root string) (map[string]any, error) {
	merged := map[string]any{}
	for _, f := range []string{filepath.Join(base, "config.yaml"), filepath.Join(base, benchmark, "config.yaml")} {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("kube-bench configuration: %w", err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("kube-bench configuration %s: %w", f, err)
		}
		mergeMaps(merged, m)
	}
	out := map[string]any{}
	for target, tv := range merged {
		tm, ok := tv.(map[string]any)
		if !ok {
			continue
		}
		for comp, cv := range tm {
			cm, ok := cv.(map[string]any)
			if !ok {
				continue
			}
			for _, k := range pathKeys {
				var v any
				switch x := cm[k].(type) {
				case string:
					v = filepath.Join(root, x)
				case []any:
					l := make([]any, 0, len(x))
					for _, e := range x {
						if p, ok := e.(string); ok {
							l = append(l, filepath.Join(root, p))
						}
					}
					v = l
				default:
					continue
				}
				if out[target] == nil {
					out[target] = map[string]any{}
				}
				om := out[target].(map[string]any)
				if om[comp] == nil {
					om[comp] = map[string]any{}
				}
				om[comp].(map[string]any)[k] = v
			}
		}
	}
	return out, nil
}

// DefaultConfig returns the configuration the sensor uses: kube-bench from
// PATH, DefaultBenchmark, the master and node targets.
func DefaultConfig() Config {
	return Config{Binary: "kube-bench", Benchmark: DefaultBenchmark, Targets: []string{"master", "node"}, Timeout: 5 * time.Minute}
}

func (c *Config) fill() error {
	if c.Binary == "" {
		c.Binary = "kube-bench"
	}
	bin, err := exec.LookPath(c.Binary)
	if err != nil {
		return fmt.Errorf("kube-bench %q: %w (the sensor image ships it; on a host install kube-bench or set its path)", c.Binary, err)
	}
	c.Binary = bin
	if c.ConfigDir == "" {
		for _, d := range []string{filepath.Join(filepath.Dir(bin), "cfg"), "/etc/kube-bench/cfg"} {
			if _, err := os.Stat(filepath.Join(d, "config.yaml")); err == nil {
				c.ConfigDir = d
				break
			}
		}
		if c.ConfigDir == "" {
			return fmt.Errorf("kube-bench configuration: no cfg/config.yaml beside %s nor in /etc/kube-bench/cfg", bin)
		}
	}
	if len(c.Targets) == 0 {
		c.Targets = []string{"master", "node"}
	}
	for _, t := range c.Targets {
		if t == "" || strings.ContainsAny(t, ", \t\n") {
			return fmt.Errorf("kube-bench target %q: want a single target name", t)
		}
	}
	if strings.HasPrefix(c.Benchmark, "-") || strings.ContainsAny(c.Benchmark, " \t\n/") {
		return fmt.Errorf("kube-bench benchmark %q: want a benchmark name such as %s", c.Benchmark, DefaultBenchmark)
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.HostRoot == "/" {
		c.HostRoot = ""
	}
	if (len(c.Overrides) > 0 || c.HostRoot != "") && (c.Benchmark == "" || c.Benchmark == "detect") {
		return errors.New("kube-bench configuration overrides and a host root need a named benchmark (not detect)")
	}
	return nil
}

// overlay builds a configuration directory for a run with overrides: the
// base directory's files and benchmarks as symbolic links, except the
// benchmark's own config.yaml, written as the base's merged with the
// overrides (kube-bench merges it over cfg/config.yaml). The caller
// removes dir.
func overlay(base, benchmark string, overrides map[string]any) (dir string, err error) {
	dir, err = os.MkdirTemp("", "riskmap-kube-bench-")
	if err != nil {
		return "", fmt.Errorf("kube-bench configuration overlay: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	ents, err := os.ReadDir(base)
	if err != nil {
		return "", fmt.Errorf("kube-bench configuration %s: %w", base, err)
	}
	for _, e := range ents {
		if e.Name() == benchmark {
			continue
		}
		if err := os.Symlink(filepath.Join(base, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return "", fmt.Errorf("kube-bench configuration overlay: %w", err)
		}
	}
	src := filepath.Join(base, benchmark)
	bents, err := os.ReadDir(src)
	if err != nil {
		return "", fmt.Errorf("kube-bench benchmark %s: %w", benchmark, err)
	}
	dst := filepath.Join(dir, benchmark)
	if err := os.Mkdir(dst, 0o700); err != nil {
		return "", fmt.Errorf("kube-bench configuration overlay: %w", err)
	}
	for _, e := range bents {
		if e.Name() == "config.yaml" {
			continue
		}
		if err := os.Symlink(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return "", fmt.Errorf("kube-bench configuration overlay: %w", err)
		}
	}
	merged := map[string]any{}
	if b, err := os.ReadFile(filepath.Join(src, "config.yaml")); err == nil {
		if err := yaml.Unmarshal(b, &merged); err != nil {
			return "", fmt.Errorf("kube-bench %s/config.yaml: %w", benchmark, err)
		}
		if merged == nil {
			merged = map[string]any{}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("kube-bench %s/config.yaml: %w", benchmark, err)
	}
	mergeMaps(merged, overrides)
	out, err := yaml.Marshal(merged)
	if err != nil {
		return "", fmt.Errorf("kube-bench configuration overrides: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dst, "config.yaml"), out, 0o600); err != nil {
		return "", fmt.Errorf("kube-bench configuration overlay: %w", err)
	}
	return dir, nil
}

// mergeMaps merges src into dst: maps recursively, other values replaced.
func mergeMaps(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeMaps(dm, sm)
				continue
			}
			cp := map[string]any{}
			mergeMaps(cp, sm)
			dst[k] = cp
			continue
		}
		dst[k] = v
	}
}

// Args are kube-bench's arguments for a configuration.
func (c Config) Args() []string {
	args := []string{"run", "--json", "--targets", strings.Join(c.Targets, ","), "--config-dir", c.ConfigDir}
	if c.Benchmark != "" && c.Benchmark != "detect" {
		args = append(args, "--benchmark", c.Benchmark)
	}
	return args
}

// Run runs kube-bench on this node and returns its checks as compliance
// results (type compliance, engine kube-bench with its version and the
// benchmark run, the JSON report as the raw document).
func Run(ctx context.Context, cfg Config) (*sensorproto.Results, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	overrides := cfg.Overrides
	if cfg.HostRoot != "" {
		hr, err := hostRootOverrides(cfg.ConfigDir, cfg.Benchmark, cfg.HostRoot)
		if err != nil {
			return nil, err
		}
		mergeMaps(hr, cfg.Overrides)
		overrides = hr
	}
	if len(overrides) > 0 {
		dir, err := overlay(cfg.ConfigDir, cfg.Benchmark, overrides)
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cfg.ConfigDir = dir
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cfg.Binary, cfg.Args()...)
	cmd.Env = append(os.Environ(), cfg.Env...)
	// kube-bench reads its benchmark files relative to nothing but
	// --config-dir; its own working directory does not matter.
	cmd.Dir = cfg.ConfigDir
	var stdout limitedBuffer
	stdout.max = MaxReport
	var stderr limitedBuffer
	stderr.max = 64 << 10
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("kube-bench %s: %w", strings.Join(cfg.Args(), " "), ctx.Err())
	}
	if stdout.over {
		return nil, fmt.Errorf("kube-bench %s: report larger than %d bytes", strings.Join(cfg.Args(), " "), MaxReport)
	}
	if err != nil {
		return nil, fmt.Errorf("kube-bench %s: %w: %s", strings.Join(cfg.Args(), " "), err, lastLines(stderr.String(), maxStderr))
	}
	rep, err := Parse(stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("kube-bench %s: %w", strings.Join(cfg.Args(), " "), err)
	}
	res, err := Results(rep, stdout.Bytes())
	if err != nil {
		return nil, err
	}
	res.Engine.Version = Version(cfg.Binary)
	return res, nil
}

// Report is kube-bench's JSON report (run --json): one Controls per
// target run, and the totals.
type Report struct {
	Controls []*Controls `json:"Controls"`
	Totals   Summary     `json:"Totals"`
}

// Controls are the checks of one target (kube-bench's check.Controls).
type Controls struct {
	ID              string   `json:"id"`
	Version         string   `json:"version"`
	DetectedVersion string   `json:"detected_version,omitempty"`
	Text            string   `json:"text"`
	NodeType        string   `json:"node_type"`
	Groups          []*Group `json:"tests"`
	Summary
}

// Group is a section of checks ("1.2 API Server").
type Group struct {
	Section string   `json:"section"`
	Type    string   `json:"type"`
	Desc    string   `json:"desc"`
	Checks  []*Check `json:"results"`
	Pass    int      `json:"pass"`
	Fail    int      `json:"fail"`
	Warn    int      `json:"warn"`
	Info    int      `json:"info"`
}

// Check is one evaluated recommendation.
type Check struct {
	TestNumber     string   `json:"test_number"`
	TestDesc       string   `json:"test_desc"`
	Audit          string   `json:"audit"`
	AuditEnv       string   `json:"AuditEnv"`
	AuditConfig    string   `json:"AuditConfig"`
	Type           string   `json:"type"`
	Remediation    string   `json:"remediation"`
	TestInfo       []string `json:"test_info"`
	Status         string   `json:"status"`
	ActualValue    string   `json:"actual_value"`
	Scored         bool     `json:"scored"`
	IsMultiple     bool     `json:"IsMultiple"`
	ExpectedResult string   `json:"expected_result"`
	Reason         string   `json:"reason,omitempty"`
}

// Summary counts results.
type Summary struct {
	Pass int `json:"total_pass"`
	Fail int `json:"total_fail"`
	Warn int `json:"total_warn"`
	Info int `json:"total_info"`
}

// Parse reads kube-bench's JSON report: the object of `run --json`, or
// the bare array of controls of `--nototals`. Input is bounded
// (MaxReport, nesting, string and array sizes); unknown fields are
// ignored (kube-bench adds some between versions).
func Parse(b []byte) (*Report, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, errors.New("parse kube-bench report: empty output")
	}
	if len(b) > MaxReport {
		return nil, fmt.Errorf("parse kube-bench report: %d bytes, more than %d", len(b), MaxReport)
	}
	d := intake.NewDecoder(bytes.NewReader(b), intake.Limits{MaxInput: MaxReport, MaxBytes: MaxReport, MaxDepth: 10,
		MaxString: 1 << 20, MaxItems: 100_000, MaxElement: MaxReport})
	rep := &Report{}
	var err error
	if b[0] == '[' {
		err = d.Decode(&rep.Controls)
	} else {
		err = d.Decode(rep)
	}
	if err == nil {
		err = d.End()
	}
	if err != nil {
		return nil, fmt.Errorf("parse kube-bench report: %w", err)
	}
	if len(rep.Controls) == 0 {
		return nil, errors.New("parse kube-bench report: no controls (no target ran)")
	}
	n := 0
	for i, c := range rep.Controls {
		if c == nil {
			return nil, fmt.Errorf("parse kube-bench report: controls %d is null", i)
		}
		for _, g := range c.Groups {
			if g == nil {
				return nil, fmt.Errorf("parse kube-bench report: controls %s: null section", c.ID)
			}
			n += len(g.Checks)
		}
	}
	if n > sensorproto.MaxResultFindings {
		return nil, fmt.Errorf("parse kube-bench report: %d checks, more than %d", n, sensorproto.MaxResultFindings)
	}
	return rep, nil
}

// Checks maps a report's checks to compliance checks: one per check, with
// its target (node type) as the profile and the benchmark version the
// controls name ("cis-1.9"). A status kube-bench does not define maps to
// unknown, with the status as evidence; a check without a number, or of
// controls without a node type or id, cannot be named and is left out,
// counted in skipped.
func Checks(rep *Report) (checks []sensorproto.ComplianceCheck, skipped int) {
	for _, c := range rep.Controls {
		profile := oneLine(c.NodeType)
		if strings.TrimSpace(profile) == "" {
			profile = oneLine(c.ID)
		}
		for _, g := range c.Groups {
			if g == nil {
				continue
			}
			for _, k := range g.Checks {
				if k == nil {
					continue
				}
				rule := oneLine(k.TestNumber)
				if strings.TrimSpace(rule) == "" || strings.TrimSpace(profile) == "" {
					skipped++
					continue
				}
				ev := focusEvidence(k.TestDesc, k.ActualValue)
				if ev == "" {
					ev = k.Reason
				}
				res, ok := results[strings.ToUpper(k.Status)]
				if !ok {
					res, ev = sensorproto.CheckUnknown, "kube-bench status "+strconv.Quote(clip(k.Status, 50))+"; "+ev
				}
				checks = append(checks, sensorproto.ComplianceCheck{
					Benchmark: Benchmark, BenchmarkVersion: clip(c.Version, 200), Profile: clip(profile, 200),
					Rule: clip(rule, 200), Title: clip(k.TestDesc, 1000), Result: res,
					Fix: clip(strings.TrimSpace(k.Remediation), 4000), Evidence: clip(strings.TrimSpace(ev), 4000),
					References: []sensorproto.Reference{{System: "cis", ID: clip(rule, 200)}},
				})
			}
		}
	}
	return checks, skipped
}

var results = map[string]string{
	"PASS": sensorproto.CheckPass,
	"FAIL": sensorproto.CheckFail,
	"WARN": sensorproto.CheckNotChecked,
	"INFO": sensorproto.CheckInformational,
}

// Results builds compliance results from a parsed report and its JSON
// (kept gzip-compressed as the raw document when it fits MaxRawGzip).
func Results(rep *Report, raw []byte) (*sensorproto.Results, error) {
	checks, skipped := Checks(rep)
	var versions []string
	for _, c := range rep.Controls {
		if c.Version != "" && !contains(versions, c.Version) {
			versions = append(versions, c.Version)
		}
	}
	res := &sensorproto.Results{Type: sensorproto.ScanCompliance, Engine: sensorproto.Engine{Name: Name, RulesSet: clip(strings.Join(versions, ","), 200)},
		Compliance: checks, Errors: skipped}
	if len(raw) > 0 {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(raw)
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("compress kube-bench report: %w", err)
		}
		if buf.Len() <= sensorproto.MaxRawGzip {
			res.Raw, res.RawFormat = buf.Bytes(), RawFormat
		}
	}
	return res, nil
}

// Version is the kube-bench version of a binary, from its Go build
// information (the main module's version when built with go install, the
// kube-bench module's when built from a wrapper module); empty when the
// binary carries none.
func Version(binary string) string {
	bi, err := buildinfo.ReadFile(binary)
	if err != nil {
		return ""
	}
	if bi.Main.Path == Module && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == Module {
			return d.Version
		}
	}
	return ""
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}

// oneLine replaces control characters (ids must be printable).
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, " "))
}

func lastLines(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}

// limitedBuffer keeps at most max bytes and records an overflow.
type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		b.over = true
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

var _ io.Writer = (*limitedBuffer)(nil)

var (
	flagName = regexp.MustCompile(`--[a-z0-9][a-z0-9-]*[a-z0-9]`)
	cmdFlag  = regexp.MustCompile(`(?:^|\s)(--[a-z0-9][a-z0-9-]*)(?:=(\S*)|\s+([^-\s]\S*))?`)
)

// focusEvidence narrows the value kube-bench saw to the flags a check is
// about: for a check on a program's command line (the ps output of
// kube-apiserver, kubelet...), "--profiling=false" or "--audit-log-path
// not set" instead of the whole line. Anything else (file permissions,
// configuration files) is kept as it is.
func focusEvidence(title, actual string) string {
	actual = strings.TrimSpace(actual)
	want := flagName.FindAllString(title, -1)
	if len(want) == 0 || !strings.Contains(actual, " --") {
		return actual
	}
	seen := map[string]string{}
	for _, m := range cmdFlag.FindAllStringSubmatch(actual, -1) {
		if _, dup := seen[m[1]]; dup {
			continue
		}
		v := m[2]
		if v == "" {
			v = m[3]
		}
		seen[m[1]] = v
	}
	var parts []string
	for _, f := range want {
		if contains(parts, f) {
			continue
		}
		if v, ok := seen[f]; ok {
			if v == "" {
				parts = append(parts, f)
			} else {
				parts = append(parts, f+"="+v)
			}
			continue
		}
		parts = append(parts, f+" not set")
	}
	return strings.Join(parts, "; ")
}

// Program names (as /proc/PID/comm shows them, at most 15 bytes) of the
// components kube-bench looks for, by its component name.
var componentComms = map[string][]string{
	"apiserver":         {"kube-apiserver", "apiserver"},
	"scheduler":         {"kube-scheduler"},
	"controllermanager": {"kube-controller", "kube-controller-manager"},
	"etcd":              {"etcd"},
	"kubelet":           {"kubelet"},
}

// Detect chooses the targets for this node from the programs running in a
// /proc tree: master when a kube-apiserver runs, node when a kubelet does.
// A control plane whose scheduler or controller manager runs elsewhere (or
// not at all) gets overrides marking them optional, so that kube-bench
// still checks the programs that do run (it checks none of a target's
// programs when a mandatory one is missing); their own checks then fail
// with kube-bench's reason. No target: no Kubernetes component runs here.
func Detect(proc fs.FS) (targets []string, overrides map[string]any) {
	running := map[string]bool{}
	ents, err := fs.ReadDir(proc, ".")
	if err != nil {
		return nil, nil
	}
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := fs.ReadFile(proc, e.Name()+"/comm")
		if err != nil {
			continue
		}
		comm := strings.TrimSpace(string(b))
		for comp, names := range componentComms {
			if contains(names, comm) {
				running[comp] = true
			}
		}
	}
	if running["apiserver"] {
		targets = append(targets, "master")
		for _, comp := range []string{"scheduler", "controllermanager"} {
			if !running[comp] {
				if overrides == nil {
					overrides = map[string]any{"master": map[string]any{}}
				}
				overrides["master"].(map[string]any)[comp] = map[string]any{"optional": true}
			}
		}
	}
	if running["kubelet"] {
		targets = append(targets, "node")
	}
	return targets, overrides
}
