package cli

import (
	"context"
	"strings"

	"github.com/riskmap/riskmap/internal/inventory"
)

// loadTarget builds the inventory of a scan target.
func loadTarget(ctx context.Context, target string) (*inventory.Inventory, error) {
	if path, ok := strings.CutPrefix(target, "inventory:"); ok {
		return readInventoryFile(path)
	}
	return nil, errUnsupportedTarget(target)
}

func targetHelp() string { return "" }

type errUnsupportedTarget string

func (e errUnsupportedTarget) Error() string {
	return "unsupported target " + string(e) + " (want inventory:FILE)"
}
