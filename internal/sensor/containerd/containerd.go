// Package containerd is the sensor's containerd probe: containers (with
// their task's PID and state, labels, image, mounts and network mode from
// the OCI spec) and images of every containerd namespace, through the
// containerd v2 client. On Kubernetes nodes the socket is
// /run/containerd/containerd.sock and pods live in namespace k8s.io; the
// Docker engine's own containerd is /run/docker/containerd/containerd.sock
// (namespace moby). Pod containers are joined to their pods by the
// io.kubernetes.* labels the CRI plugin sets, so pods are found even when
// the API server cannot be asked.
package containerd

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/riskmap/riskmap/internal/report"
)

// Name is the probe's name in reports.
const Name = "containerd"

// Sockets where containerd listens: a Kubernetes node's, then the Docker
// engine's own.
const (
	NodeSocket   = "/run/containerd/containerd.sock"
	DockerSocket = "/run/docker/containerd/containerd.sock"
)

// Config configures the probe.
type Config struct {
	// Address is the containerd socket.
	Address string
	// Namespaces limits the namespaces listed (default: all).
	Namespaces []string
}

// Probe lists containers and images. It is not safe for concurrent use.
type Probe struct {
	cfg Config
	cli *client.Client
}

// New returns a probe; it connects lazily.
func New(cfg Config) *Probe { return &Probe{cfg: cfg} }

// Close releases the connection.
func (p *Probe) Close() error {
	if p.cli != nil {
		return p.cli.Close()
	}
	return nil
}

// Collect lists containers and images of every namespace.
func (p *Probe) Collect(ctx context.Context) ([]report.Container, []report.Image, error) {
	if p.cli == nil {
		cli, err := client.New(p.cfg.Address)
		if err != nil {
			return nil, nil, fmt.Errorf("containerd %s: connect: %w", p.cfg.Address, err)
		}
		p.cli = cli
	}
	nss := p.cfg.Namespaces
	if len(nss) == 0 {
		var err error
		if nss, err = p.cli.NamespaceService().List(ctx); err != nil {
			return nil, nil, fmt.Errorf("containerd %s: list namespaces: %w", p.cfg.Address, err)
		}
	}
	var ctrs []report.Container
	var imgs []report.Image
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		list, err := p.cli.ContainerService().List(nctx)
		if err != nil {
			return ctrs, imgs, fmt.Errorf("containerd %s: namespace %s: list containers: %w", p.cfg.Address, ns, err)
		}
		tl, err := p.cli.TaskService().List(nctx, &tasks.ListTasksRequest{})
		if err != nil {
			return ctrs, imgs, fmt.Errorf("containerd %s: namespace %s: list tasks: %w", p.cfg.Address, ns, err)
		}
		byID := map[string]*task.Process{}
		for _, t := range tl.Tasks {
			byID[t.ID] = t
		}
		for _, c := range list {
			rc := report.Container{ID: c.ID, Runtime: Name, Namespace: ns, Image: c.Image, Labels: c.Labels,
				State: "created", Created: c.CreatedAt.UTC()}
			if t := byID[c.ID]; t != nil {
				rc.PID = int(t.Pid)
				rc.State = stateName(t.Status)
			}
			if c.Spec != nil {
				rc.Mounts, rc.NetworkMode = fromSpec(c.Spec.GetValue())
			}
			rc.Name = c.Labels[report.LabelContainerName]
			if rc.Name == "" {
				rc.Name = c.Labels["nerdctl/name"]
			}
			rc.Pod = report.PodRefFromLabels(c.Labels)
			ctrs = append(ctrs, rc)
		}
		il, err := p.cli.ImageService().List(nctx)
		if err != nil {
			return ctrs, imgs, fmt.Errorf("containerd %s: namespace %s: list images: %w", p.cfg.Address, ns, err)
		}
		byDigest := map[string]*report.Image{}
		for _, im := range il {
			d := im.Target.Digest.String()
			ri := byDigest[d]
			if ri == nil {
				imgs = append(imgs, report.Image{ID: d, Runtime: Name, Namespace: ns, SizeBytes: im.Target.Size, Created: im.CreatedAt.UTC()})
				ri = &imgs[len(imgs)-1]
				byDigest[d] = ri
			}
			// CRI stores each image under its tag, digest and id names.
			if !slices.Contains(ri.RepoTags, im.Name) {
				ri.RepoTags = append(ri.RepoTags, im.Name)
			}
		}
	}
	return ctrs, imgs, nil
}

func stateName(s task.Status) string {
	switch s {
	case task.Status_RUNNING:
		return "running"
	case task.Status_PAUSED, task.Status_PAUSING:
		return "paused"
	case task.Status_STOPPED:
		return "exited"
	case task.Status_CREATED:
		return "created"
	}
	return "unknown"
}

// fromSpec reads the mounts and the network mode from an OCI runtime spec
// (JSON): without a network namespace entry, or with one that has a path
// (joined), the container shares the host's or another's network.
func fromSpec(b []byte) ([]report.Mount, string) {
	var spec struct {
		Mounts []struct {
			Destination string   `json:"destination"`
			Type        string   `json:"type"`
			Source      string   `json:"source"`
			Options     []string `json:"options"`
		} `json:"mounts"`
		Linux *struct {
			Namespaces []struct {
				Type string `json:"type"`
				Path string `json:"path"`
			} `json:"namespaces"`
		} `json:"linux"`
	}
	if json.Unmarshal(b, &spec) != nil {
		return nil, ""
	}
	var mounts []report.Mount
	for _, m := range spec.Mounts {
		if m.Type != "bind" && m.Type != "volume" && m.Type != "" {
			continue // proc, sysfs, tmpfs, devpts... are runtime plumbing
		}
		mounts = append(mounts, report.Mount{Type: "bind", Source: m.Source, Destination: m.Destination, RW: !slices.Contains(m.Options, "ro")})
	}
	mode := ""
	if spec.Linux != nil {
		mode = "host"
		for _, ns := range spec.Linux.Namespaces {
			if ns.Type == "network" {
				if ns.Path == "" {
					mode = "private"
				} else {
					mode = "joined:" + ns.Path
				}
			}
		}
	}
	return mounts, mode
}
