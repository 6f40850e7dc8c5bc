package console_test

import (
	"context"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/cli"
	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/store"
)

// productionModules are the modules internal/cli composes into the
// console (the same composition), so that the authorisation matrix covers
// their routes. Feed URLs point at a closed loopback port: no test traffic
// leaves the machine.
func productionModules(t testing.TB, st *store.Store, cfg config.Console, now func() time.Time) []console.Module {
	fc := feeds.Config{DataDir: cfg.DataDir, OSVBaseURL: "http://127.0.0.1:9/osv", KEVURL: "http://127.0.0.1:9/kev",
		EPSSURL: "http://127.0.0.1:9/epss", AlpineBaseURL: "http://127.0.0.1:9/alpine", Now: now}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	mods, err := cli.ConsoleModules(ctx, st, cfg, fc, now)
	if err != nil {
		t.Fatal(err)
	}
	return mods
}
