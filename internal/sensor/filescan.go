package sensor

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/riskmap/riskmap/internal/sensorproto"
)

// scanFiles runs a file-reading scan (secrets, malware) on a command's
// target, the same way for every such engine:
//   - host: dir on the host's root filesystem (HostRoot);
//   - container: dir on a running container's root through
//     /proc/PID/root, else target on "container:ID" for a Docker
//     container (docker export);
//   - image: target on "docker:REF", an image of the Docker engine.
func scanFiles[R any](ctx context.Context, s *Sensor, t sensorproto.CommandTarget,
	dir func(ctx context.Context, root string) (R, error), target func(ctx context.Context, ref string) (R, error)) (R, error) {
	var zero R
	switch t.Kind {
	case "host":
		return dir(ctx, s.cfg.HostRoot)
	case "container":
		c, ok := s.container(t.Ref)
		switch {
		case ok && c.PID > 0 && (c.State == "running" || c.State == "paused"):
			return dir(ctx, filepath.Join(s.cfg.ProcRoot, strconv.Itoa(c.PID), "root"))
		case ok && c.Runtime == "docker" || !ok && s.cfg.DockerHost != "off":
			ref := t.Ref
			if ok {
				ref = c.ID
			}
			return target(ctx, "container:"+ref)
		}
		return zero, fmt.Errorf("container %q: not running and not a Docker container (only running containers of other runtimes can be scanned)", t.Ref)
	case "image":
		if s.cfg.DockerHost == "off" {
			return zero, fmt.Errorf("image %q: image scans on the sensor need the Docker engine", t.Ref)
		}
		return target(ctx, "docker:"+t.Ref)
	}
	return zero, fmt.Errorf("target kind %q: the sensor scans hosts, containers and images", t.Kind)
}
