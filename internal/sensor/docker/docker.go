// Package docker is the sensor's Docker engine probe: containers (name,
// image, state, labels, published ports, network mode, main PID, mounts)
// and images, through the engine API (github.com/moby/moby/client).
// Containers started by Kubernetes through cri-dockerd are joined to their
// pods by their io.kubernetes.* labels.
package docker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/riskmap/riskmap/internal/report"
)

// Name is the probe's name in reports.
const Name = "docker"

// DefaultHost is the engine socket.
const DefaultHost = "unix:///var/run/docker.sock"

// Config configures the probe.
type Config struct {
	// Host is the engine address (DefaultHost).
	Host string
}

type inspected struct {
	status string
	pid    int
}

// Probe lists containers and images. It is not safe for concurrent use.
type Probe struct {
	cli        *client.Client
	negotiated bool
	cache      map[string]inspected
}

// New returns a probe; it does not connect until the first Collect.
func New(cfg Config) (*Probe, error) {
	if cfg.Host == "" {
		cfg.Host = DefaultHost
	}
	cli, err := client.New(client.WithHost(cfg.Host))
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", cfg.Host, err)
	}
	return &Probe{cli: cli, cache: map[string]inspected{}}, nil
}

// Close releases the client.
func (p *Probe) Close() error { return p.cli.Close() }

// Collect lists all containers (running or not) and images.
func (p *Probe) Collect(ctx context.Context) ([]report.Container, []report.Image, error) {
	if !p.negotiated {
		if _, err := p.cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
			return nil, nil, fmt.Errorf("docker: ping: %w", err)
		}
		p.negotiated = true
	}
	list, err := p.cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return nil, nil, fmt.Errorf("docker: list containers: %w", err)
	}
	seen := map[string]bool{}
	ctrs := make([]report.Container, 0, len(list.Items))
	for _, s := range list.Items {
		c := report.Container{ID: s.ID, Runtime: Name, Image: s.Image, ImageID: s.ImageID, State: string(s.State),
			Labels: s.Labels, NetworkMode: s.HostConfig.NetworkMode, Created: time.Unix(s.Created, 0).UTC()}
		if len(s.Names) > 0 {
			c.Name = strings.TrimPrefix(s.Names[0], "/")
		}
		for _, pt := range s.Ports {
			port := report.Port{HostPort: pt.PublicPort, ContainerPort: pt.PrivatePort, Proto: pt.Type}
			if pt.IP.IsValid() {
				port.HostIP = pt.IP.String()
			}
			c.Ports = append(c.Ports, port)
		}
		for _, m := range s.Mounts {
			c.Mounts = append(c.Mounts, report.Mount{Type: string(m.Type), Source: m.Source, Destination: m.Destination, RW: m.RW})
		}
		if c.State == "running" || c.State == "paused" {
			// The main PID needs an inspect; the status text ("Up 3
			// minutes") changes on restart, so it keys the cache.
			seen[s.ID] = true
			if in, ok := p.cache[s.ID]; ok && in.status == s.Status {
				c.PID = in.pid
			} else if res, err := p.cli.ContainerInspect(ctx, s.ID, client.ContainerInspectOptions{}); err == nil && res.Container.State != nil {
				c.PID = res.Container.State.Pid
				p.cache[s.ID] = inspected{status: s.Status, pid: c.PID}
			}
		}
		c.Pod = report.PodRefFromLabels(c.Labels)
		ctrs = append(ctrs, c)
	}
	for id := range p.cache {
		if !seen[id] {
			delete(p.cache, id)
		}
	}
	il, err := p.cli.ImageList(ctx, client.ImageListOptions{})
	if err != nil {
		return ctrs, nil, fmt.Errorf("docker: list images: %w", err)
	}
	imgs := make([]report.Image, 0, len(il.Items))
	for _, s := range il.Items {
		imgs = append(imgs, report.Image{ID: s.ID, Runtime: Name, RepoTags: slices.DeleteFunc(slices.Clone(s.RepoTags), func(t string) bool { return t == "<none>:<none>" }),
			RepoDigests: s.RepoDigests, SizeBytes: s.Size, Created: time.Unix(s.Created, 0).UTC()})
	}
	return ctrs, imgs, nil
}
