// Package sensor is the composition root of the sensor: it runs the probes
// (host, process, conn, conntrack, docker, containerd, kubernetes, cloud
// metadata; one sub-package each, listed in probes.go), joins what they see
// into one picture (containers to their processes and pods), and pushes
// full and delta reports to the console at the interval the console asks
// for, backing off with jitter while the console is away and sending a full
// report when it is back. Commands (scans) run beside it in
// internal/sensor/command.
package sensor

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/riskmap/riskmap/internal/compliance/kubebench"
	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

// Config configures a sensor. Zero fields take Default's values.
type Config struct {
	// SensorID names this sensor to the console (default: "host-" and the
	// machine id, or the hostname).
	SensorID string
	// Version is the sensor's version, sent with each report.
	Version string
	// ProcRoot is the proc filesystem (default /proc). The sensor must share
	// the host's PID namespace to see every process.
	ProcRoot string
	// HostRoot is the host's root filesystem (default /; a sensor container
	// mounts the host's / read-only at /host).
	HostRoot string
	// Interval is the report interval until the console sets one.
	Interval time.Duration
	// MinInterval and MaxInterval clamp the console's nextReportSeconds.
	MinInterval, MaxInterval time.Duration
	// MaxBackoff caps the retry delay while the console is away.
	MaxBackoff time.Duration
	// FullEvery sends a full report every so many reports.
	FullEvery int
	// Limits bound each report.
	Limits report.Limits
	// DockerHost is the engine address; "off" disables the probe.
	DockerHost string
	// ContainerdSockets are the containerd sockets to read (those that
	// exist); "off" as the only entry disables the probe.
	ContainerdSockets []string
	// Conntrack enables the conntrack probe.
	Conntrack bool
	// Kubernetes configures the Kubernetes probe (nil: off).
	Kubernetes KubernetesProbe
	// CloudMetadataURL is the instance metadata service; "off" disables.
	CloudMetadataURL string
	// KubeBench configures the CIS Kubernetes checks (ScanCISKubernetes);
	// zero fields take kubebench.DefaultConfig's, and no Targets means
	// those Detect finds running on this node.
	KubeBench kubebench.Config
	// MapsRefresh is how often each process's mapped files are re-read.
	MapsRefresh time.Duration
	// YaraPath is the yara program malware scans run ("": found on PATH).
	YaraPath string
	// MalwareRulesDir holds the malware rule bundle
	// (malwarescan.Store; "": the built-in rules).
	MalwareRulesDir string
	Logger          *slog.Logger
	Now             func() time.Time
}

// Default returns the production defaults.
func Default() Config {
	return Config{ProcRoot: "/proc", HostRoot: "/", Interval: 15 * time.Second, MinInterval: 5 * time.Second,
		MaxInterval: 10 * time.Minute, MaxBackoff: 30 * time.Second, FullEvery: report.DefaultFullEvery,
		Limits: report.DefaultLimits(), DockerHost: "unix:///var/run/docker.sock",
		ContainerdSockets: []string{"/run/containerd/containerd.sock", "/run/docker/containerd/containerd.sock"},
		Conntrack:         true, MapsRefresh: 5 * time.Minute, Now: time.Now}
}

func (c *Config) fill() {
	d := Default()
	if c.ProcRoot == "" {
		c.ProcRoot = d.ProcRoot
	}
	if c.HostRoot == "" {
		c.HostRoot = d.HostRoot
	}
	if c.Interval <= 0 {
		c.Interval = d.Interval
	}
	if c.MinInterval <= 0 {
		c.MinInterval = d.MinInterval
	}
	if c.MaxInterval <= 0 {
		c.MaxInterval = d.MaxInterval
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = d.MaxBackoff
	}
	if c.FullEvery <= 0 {
		c.FullEvery = d.FullEvery
	}
	if c.Limits.MaxCompressedBytes <= 0 {
		c.Limits = d.Limits
	}
	if c.DockerHost == "" {
		c.DockerHost = d.DockerHost
	}
	if c.ContainerdSockets == nil {
		c.ContainerdSockets = d.ContainerdSockets
	}
	if c.MapsRefresh <= 0 {
		c.MapsRefresh = d.MapsRefresh
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = d.Now
	}
}

// Probe fills its part of the sensor's picture.
type Probe interface {
	Name() string
	// Collect adds what the probe sees to r. An error leaves r as the probe
	// found it and is reported in the report's probe statuses.
	Collect(ctx context.Context, r *report.Report) error
	Close() error
}

// Uplink is where reports go (the console client, or a discarding sink
// for dry runs).
type Uplink interface {
	PushReport(ctx context.Context, gz []byte) (sensorproto.Ack, error)
}

// Sensor collects and reports.
type Sensor struct {
	cfg     Config
	runID   string
	probes  []Probe
	tracker *report.Tracker

	mu         sync.Mutex
	containers []report.Container // from the last pass, for scans
}

// New builds a sensor with the probes of probes.go.
func New(cfg Config) (*Sensor, error) {
	cfg.fill()
	if cfg.SensorID == "" {
		cfg.SensorID = defaultSensorID(cfg.HostRoot, cfg.ProcRoot)
	}
	ps, err := probes(cfg)
	if err != nil {
		return nil, err
	}
	var b [8]byte
	_, _ = crand.Read(b[:])
	return &Sensor{cfg: cfg, runID: hex.EncodeToString(b[:]), probes: ps, tracker: report.NewTracker(cfg.FullEvery)}, nil
}

// Close releases the probes' connections.
func (s *Sensor) Close() error {
	var errs []error
	for _, p := range s.probes {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

// ID returns the sensor id.
func (s *Sensor) ID() string { return s.cfg.SensorID }

func defaultSensorID(hostRoot, procRoot string) string {
	if b, err := os.ReadFile(filepath.Join(hostRoot, "etc/machine-id")); err == nil && len(b) >= 32 {
		return "host-" + string(b[:32])
	}
	if b, err := os.ReadFile(filepath.Join(procRoot, "sys/kernel/hostname")); err == nil {
		return "host-" + string(trimSpace(b))
	}
	h, _ := os.Hostname()
	return "host-" + h
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// Collect runs every probe once and returns the whole current picture
// (Kind full, not numbered).
func (s *Sensor) Collect(ctx context.Context) *report.Report {
	r := &report.Report{Version: report.Version, SensorID: s.cfg.SensorID, RunID: s.runID, SensorVersion: s.cfg.Version,
		Kind: report.KindFull, Time: s.cfg.Now().UTC()}
	for _, p := range s.probes {
		start := time.Now()
		before := items(r)
		err := p.Collect(ctx, r)
		st := report.ProbeStatus{Name: p.Name(), Items: items(r) - before, DurationMS: time.Since(start).Milliseconds()}
		if err != nil {
			st.Error = err.Error()
			s.cfg.Logger.Debug("probe failed", "probe", p.Name(), "err", err)
		}
		r.Probes = append(r.Probes, st)
	}
	join(r)
	report.SortByKey(r)
	s.mu.Lock()
	s.containers = r.Containers
	s.mu.Unlock()
	return r
}

func items(r *report.Report) int {
	n := len(r.Processes) + len(r.Connections) + len(r.Containers) + len(r.Images)
	if r.Host != nil {
		n++
	}
	if k := r.Kubernetes; k != nil {
		n += len(k.Pods) + len(k.Namespaces) + len(k.Services) + len(k.Nodes)
	}
	return n
}

// join deduplicates containers seen by both Docker and its containerd
// (namespace moby), and joins containers to pods by the container ids in
// pod statuses.
func join(r *report.Report) {
	docker := map[string]bool{}
	for _, c := range r.Containers {
		if c.Runtime == "docker" {
			docker[c.ID] = true
		}
	}
	out := r.Containers[:0]
	for _, c := range r.Containers {
		if c.Runtime == "containerd" && c.Namespace == "moby" && docker[c.ID] {
			continue
		}
		out = append(out, c)
	}
	r.Containers = out
	if r.Kubernetes == nil {
		return
	}
	type ref struct {
		pod *report.Pod
		ctr string
	}
	byID := map[string]ref{}
	for i := range r.Kubernetes.Pods {
		p := &r.Kubernetes.Pods[i]
		for _, pc := range p.Containers {
			if pc.ContainerID != "" {
				byID[pc.ContainerID] = ref{p, pc.Name}
			}
		}
	}
	for i := range r.Containers {
		c := &r.Containers[i]
		if rf, ok := byID[c.ID]; ok {
			c.Pod = &report.PodRef{UID: rf.pod.UID, Name: rf.pod.Name, Namespace: rf.pod.Namespace, Container: rf.ctr}
		}
	}
}

// Run collects and reports until ctx ends, following the console's
// interval; it never returns because the console is away or misbehaves.
func (s *Sensor) Run(ctx context.Context, up Uplink) error {
	log := s.cfg.Logger
	interval := s.cfg.Interval
	lim := s.cfg.Limits
	failures := 0
	for {
		cur := s.Collect(ctx)
		if ctx.Err() != nil {
			return nil
		}
		out := s.tracker.Next(cur)
		wait := Jitter(interval, 0.1)
		gz, err := report.Marshal(out, lim)
		if err == nil {
			var ack sensorproto.Ack
			ack, err = up.PushReport(ctx, gz)
			if err == nil {
				if failures > 0 {
					log.Info("console reachable again", "after_failures", failures, "report", out.Seq, "kind", out.Kind)
				}
				failures = 0
				s.tracker.Ack(out)
				if ack.FullReportRequested {
					s.tracker.RequestFull()
				}
				if ack.NextReportSeconds > 0 {
					interval = min(max(time.Duration(ack.NextReportSeconds)*time.Second, s.cfg.MinInterval), s.cfg.MaxInterval)
					wait = Jitter(interval, 0.1)
				}
				if ack.FullReportRequested && out.Kind == report.KindDelta {
					// The console could not apply the delta (it lacks the
					// base: another replica took the report, or it
					// restarted): the full picture now, not an interval
					// later.
					wait = 0
				}
				log.Debug("report sent", "seq", out.Seq, "kind", out.Kind, "bytes", len(gz), "next", interval)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.tracker.Failed()
			failures++
			// Never wait longer than the report interval: the picture is
			// complete again at most one interval after the console returns.
			wait = backoff(failures, min(s.cfg.MaxBackoff, interval))
			var se *client.StatusError
			if errors.As(err, &se) {
				switch se.Code {
				case http.StatusRequestEntityTooLarge:
					lim.MaxCompressedBytes = max(lim.MaxCompressedBytes/2, 64<<10)
					wait = time.Second
				case http.StatusTooManyRequests, http.StatusServiceUnavailable:
					wait = max(wait, se.RetryAfter)
				}
			}
			// Log the first failure and then every tenth, so a long outage
			// does not flood the log.
			if failures == 1 || failures%10 == 0 {
				log.Warn("report not delivered; retrying", "seq", out.Seq, "failures", failures, "retry_in", wait.Round(time.Millisecond), "err", err)
			}
		}
		if !Sleep(ctx, wait) {
			return nil
		}
	}
}

// backoff is exponential from 1 s, capped, with full jitter in its upper
// half so sensors that lost the console together do not return together.
func backoff(failures int, maxWait time.Duration) time.Duration {
	d := time.Second << min(failures-1, 16)
	d = min(d, maxWait)
	return d/2 + rand.N(d/2+1)
}

// Jitter spreads d uniformly over ±frac of it, so that sensors told the
// same interval (by back-pressure, say) do not report in lockstep.
func Jitter(d time.Duration, frac float64) time.Duration {
	j := time.Duration(float64(d) * frac)
	if j <= 0 {
		return d
	}
	return d - j + rand.N(2*j+1)
}

// Sleep waits d, or until ctx ends (false).
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Discard is an Uplink that drops reports (dry runs and benchmarks); it
// records the size of the last one.
type Discard struct {
	Interval int
	LastSize int
	Count    int
}

// PushReport implements Uplink.
func (d *Discard) PushReport(_ context.Context, gz []byte) (sensorproto.Ack, error) {
	d.LastSize = len(gz)
	d.Count++
	return sensorproto.Ack{NextReportSeconds: d.Interval}, nil
}

// String describes the sensor.
func (s *Sensor) String() string { return fmt.Sprintf("sensor %s run %s", s.cfg.SensorID, s.runID) }
