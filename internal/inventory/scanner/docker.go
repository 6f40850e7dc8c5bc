package scanner

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/moby/moby/client"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/inventory/extract"
	"github.com/riskmap/riskmap/internal/inventory/image"
)

// Engine connects to the Docker engine at host (as Options.DockerHost) for
// the other scans of the same targets (the secret scan).
func Engine(ctx context.Context, host string) (*client.Client, error) {
	return engine(ctx, Options{DockerHost: host})
}

// engine connects to the Docker engine (opts.DockerHost, DOCKER_HOST or the
// default socket) and negotiates the API version.
func engine(ctx context.Context, opts Options) (*client.Client, error) {
	copts := []client.Opt{client.FromEnv}
	if h := opts.DockerHost; h != "" {
		if strings.HasPrefix(h, "/") {
			h = "unix://" + h
		}
		copts = append(copts, client.WithHost(h))
	}
	c, err := client.New(copts...)
	if err != nil {
		return nil, fmt.Errorf("docker engine: %w", err)
	}
	if _, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		return nil, fmt.Errorf("docker engine: %w", err)
	}
	return c, nil
}

// scanDockerImage streams `docker save` of one image from the engine
// straight into the archive reader: nothing is written to disk.
func scanDockerImage(ctx context.Context, ex *extract.Extractor, ref string, opts Options, target string) (*inventory.Inventory, error) {
	c, err := engine(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ii, err := c.ImageInspect(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("%w: image %s: %w", ErrTarget, ref, err)
	}
	rc, err := c.ImageSave(ctx, []string{ii.ID})
	if err != nil {
		return nil, fmt.Errorf("docker save %s: %w", ref, err)
	}
	defer rc.Close()
	inv, err := scanArchiveStream(ctx, ex, rc, opts, target, ii.Size)
	if err != nil {
		return nil, fmt.Errorf("docker save %s: %w", ref, err)
	}
	inv.Target.Kind = KindDocker
	inv.Target.Digest = ii.ID
	return inv, nil
}

// scanContainer streams the live filesystem of a container (`docker
// export`) as one layer.
func scanContainer(ctx context.Context, ex *extract.Extractor, id string, opts Options, target string) (*inventory.Inventory, error) {
	c, err := engine(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ci, err := c.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: container %s: %w", ErrTarget, id, err)
	}
	rc, err := c.ContainerExport(ctx, ci.Container.ID, client.ContainerExportOptions{})
	if err != nil {
		return nil, fmt.Errorf("docker export %s: %w", id, err)
	}
	defer rc.Close()
	l, err := image.ReadLayer(ctx, rc, "", ex, imageOptions(opts, target, 0))
	if err != nil {
		return nil, fmt.Errorf("docker export %s: %w", id, err)
	}
	inv, err := inventoryFromImage(ctx, ex, &image.Image{Layers: []*image.Layer{l}})
	if err != nil {
		return nil, err
	}
	inv.Target = inventory.Target{Kind: KindContainer, Digest: ci.Container.Image}
	for i := range inv.Packages {
		inv.Packages[i].Layer = "" // a container export has no layers
	}
	return inv, nil
}

// tarNames lists up to max entry names of a tar stream.
func tarNames(r io.Reader, max int) (map[string]bool, error) {
	out := map[string]bool{}
	tr := tar.NewReader(r)
	for len(out) < max {
		h, err := tr.Next()
		if err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, err
		}
		out[strings.TrimPrefix(h.Name, "./")] = true
	}
	return out, nil
}
