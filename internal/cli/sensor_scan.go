package cli

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/inventory/scanner"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensor/command"
)

// SensorScan is the sensor's command.ScanFunc: it builds the inventory of a scan command's target with the
// inventory scanner: the host's root filesystem (hostRoot; inventories
// keep paths relative to it), a running container (its merged filesystem
// through the engine at dockerHost) or a local image.
func SensorScan(hostRoot, dockerHost string, log *slog.Logger) command.ScanFunc {
	if dockerHost == "off" {
		dockerHost = ""
	}
	return func(ctx context.Context, t client.Target, progress func(float64)) (*inventory.Inventory, error) {
		var target string
		switch t.Kind {
		case "host":
			target = scanner.KindDir + ":" + filepath.Clean(hostRoot)
		case "container":
			target = scanner.KindContainer + ":" + t.Ref
		case "image":
			target = scanner.KindDocker + ":" + t.Ref
		default:
			return nil, fmt.Errorf("scan: target kind %q is not host, container or image", t.Kind)
		}
		opts := scanner.Options{Logger: log, DockerHost: dockerHost, Progress: func(e scanner.Event) {
			if e.Stage == scanner.StageRead && e.Total > 0 {
				progress(0.5 * float64(e.Done) / float64(e.Total))
			} else if e.Stage == scanner.StageDone {
				progress(1)
			}
		}}
		inv, err := scanner.Scan(ctx, target, opts)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", target, err)
		}
		if t.Kind == "host" {
			inv.Target = inventory.Target{Kind: "host", Ref: t.Ref}
		}
		return inv, nil
	}
}
