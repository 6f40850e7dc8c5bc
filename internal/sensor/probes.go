package sensor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensor/cloud"
	"github.com/riskmap/riskmap/internal/sensor/conn"
	"github.com/riskmap/riskmap/internal/sensor/conntrack"
	"github.com/riskmap/riskmap/internal/sensor/containerd"
	"github.com/riskmap/riskmap/internal/sensor/docker"
	"github.com/riskmap/riskmap/internal/sensor/host"
	"github.com/riskmap/riskmap/internal/sensor/process"
)

// KubernetesProbe is the Kubernetes probe (internal/sensor/kubernetes),
// built by the caller because it needs cluster credentials.
type KubernetesProbe = Probe

// probes is the one list of the sensor's probes, in the order they run:
// processes come before connections (sockets are joined to them) and
// runtimes before Kubernetes (containers are joined to pods).
func probes(cfg Config) ([]Probe, error) {
	procFS, hostFS := process.DirFS(cfg.ProcRoot), os.DirFS(cfg.HostRoot)
	ps := []Probe{
		newHostProbe(host.New(host.Config{Proc: procFS, HostRoot: hostFS}), cfg),
		newProcessProbe(process.New(process.Config{Proc: procFS, HostRoot: hostFS, MapsRefresh: cfg.MapsRefresh, Now: cfg.Now}), conn.New(conn.Config{Proc: procFS})),
	}
	if cfg.Conntrack {
		ps = append(ps, &conntrackProbe{p: conntrack.New(conntrack.Config{})})
	}
	if cfg.DockerHost != "off" {
		d, err := docker.New(docker.Config{Host: cfg.DockerHost})
		if err != nil {
			return nil, err
		}
		ps = append(ps, &dockerProbe{p: d, host: cfg.DockerHost})
	}
	if len(cfg.ContainerdSockets) > 0 && cfg.ContainerdSockets[0] != "off" {
		ps = append(ps, &containerdProbe{sockets: cfg.ContainerdSockets, probes: map[string]*containerd.Probe{}})
	}
	if cfg.Kubernetes != nil {
		ps = append(ps, cfg.Kubernetes)
	}
	return ps, nil
}

// hostProbe adds host facts and, discovered in the background and
// refreshed hourly, cloud instance metadata.
type hostProbe struct {
	p        *host.Probe
	cloudURL string
	mu       sync.Mutex
	cloud    *report.Cloud
	cloudAt  time.Time
	asking   bool
}

func newHostProbe(p *host.Probe, cfg Config) *hostProbe {
	return &hostProbe{p: p, cloudURL: cfg.CloudMetadataURL}
}

func (h *hostProbe) Name() string { return host.Name }
func (h *hostProbe) Close() error { return nil }

func (h *hostProbe) Collect(ctx context.Context, r *report.Report) error {
	hr, errs := h.p.Host(ctx)
	if h.cloudURL != "off" {
		h.mu.Lock()
		if !h.asking && time.Since(h.cloudAt) > time.Hour {
			h.asking = true
			go h.discover(context.WithoutCancel(ctx))
		}
		hr.Cloud = h.cloud
		h.mu.Unlock()
	}
	r.Host = hr
	return errors.Join(errs...)
}

func (h *hostProbe) discover(ctx context.Context) {
	c, err := cloud.Discover(ctx, cloud.Config{BaseURL: h.cloudURL})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asking, h.cloudAt = false, time.Now()
	if err == nil {
		h.cloud = c
	}
}

// processProbe runs the process pass and then the connection probe over
// the same pass.
type processProbe struct {
	procs *process.Probe
	conns *conn.Probe
}

func newProcessProbe(p *process.Probe, c *conn.Probe) *processProbe {
	return &processProbe{procs: p, conns: c}
}

func (p *processProbe) Name() string { return process.Name + "+" + conn.Name }
func (p *processProbe) Close() error { return nil }

func (p *processProbe) Collect(ctx context.Context, r *report.Report) error {
	pass, err := p.procs.Pass(ctx)
	if err != nil {
		return err
	}
	conns, errs := p.conns.Collect(ctx, pass, p.procs)
	r.Processes = append(r.Processes, pass.Processes...)
	r.Connections = append(r.Connections, conns...)
	if n := len(pass.Errors); n > 0 {
		errs = append(errs, fmt.Errorf("%d processes could not be read, first: %w", n, pass.Errors[0]))
	}
	return errors.Join(errs...)
}

type conntrackProbe struct{ p *conntrack.Probe }

func (c *conntrackProbe) Name() string { return conntrack.Name }
func (c *conntrackProbe) Close() error { return nil }
func (c *conntrackProbe) Collect(ctx context.Context, r *report.Report) error {
	flows, err := c.p.Collect(ctx)
	r.Connections = append(r.Connections, flows...)
	return err
}

type dockerProbe struct {
	p    *docker.Probe
	host string
}

func (d *dockerProbe) Name() string { return docker.Name }
func (d *dockerProbe) Close() error { return d.p.Close() }
func (d *dockerProbe) Collect(ctx context.Context, r *report.Report) error {
	if path, ok := strings.CutPrefix(d.host, "unix://"); ok {
		if _, err := os.Stat(path); err != nil {
			return nil // no engine on this host
		}
	}
	ctrs, imgs, err := d.p.Collect(ctx)
	r.Containers = append(r.Containers, ctrs...)
	r.Images = append(r.Images, imgs...)
	return err
}

// containerdProbe reads every configured containerd socket that exists.
type containerdProbe struct {
	sockets []string
	probes  map[string]*containerd.Probe
}

func (c *containerdProbe) Name() string { return containerd.Name }
func (c *containerdProbe) Close() error {
	var errs []error
	for _, p := range c.probes {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

func (c *containerdProbe) Collect(ctx context.Context, r *report.Report) error {
	var errs []error
	for _, sock := range c.sockets {
		if _, err := os.Stat(sock); err != nil {
			continue
		}
		p := c.probes[sock]
		if p == nil {
			p = containerd.New(containerd.Config{Address: sock})
			c.probes[sock] = p
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ctrs, imgs, err := p.Collect(cctx)
		cancel()
		r.Containers = append(r.Containers, ctrs...)
		r.Images = append(r.Images, imgs...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
