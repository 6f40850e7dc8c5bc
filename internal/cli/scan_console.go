package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/match/remote"
	"github.com/riskmap/riskmap/internal/vulndb"
)

// consoleClient is the client of `scan --console`: the API key from
// --api-key or RISKMAP_API_KEY, TLS verified by --pin, --ca-cert or the
// system roots.
func consoleClient(o *scanOpts) (*remote.Client, error) {
	key := o.apiKey
	if key == "" {
		key = os.Getenv("RISKMAP_API_KEY")
	}
	return remote.New(remote.Config{URL: o.consoleURL, APIKey: key, CACertFile: o.caCert, Pin: o.pin,
		UserAgent: "riskmap-scan/" + Version})
}

// openLocalKB opens the knowledge base in dbDir. A file of another schema
// version (written by an older riskmap) is rebuilt from the feeds stored
// beside it, once, with a note on stderr.
func openLocalKB(ctx context.Context, dbDir string, stderr io.Writer) (*vulndb.DB, error) {
	db, err := feeds.New(feeds.DefaultConfig(dbDir)).OpenKB(ctx, func(reason error) {
		fmt.Fprintf(stderr, "note: %v; rebuilding it from the feeds stored in %s\n", reason, dbDir)
	})
	if errors.Is(err, os.ErrNotExist) {
		err = fmt.Errorf("no knowledge base in %s: run `riskmap feeds update`, or `riskmap feeds import PATH` offline", dbDir)
	}
	return db, err
}

// scanGC lets a one-shot scan trade memory for CPU: image inventories
// allocate whole files briefly, and the default GOGC=100 spends ~17% of the
// scan's CPU collecting them. GOGC=400 measured 747 → 624 ms CPU on the
// bookworm archive for 107 → 132 MB peak RSS (bench/vulndb.sh part 3). An
// explicit GOGC in the environment wins.
func scanGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}
