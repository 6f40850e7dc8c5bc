package console_test

import (
	"context"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/topology"
)

// productionModules are the modules internal/cli composes into the
// console, built for tests, so that the authorisation matrix covers their
// routes. Feed URLs point at a closed loopback port: no test traffic leaves
// the machine.
var productionModules = []func(t testing.TB, st *store.Store, cfg config.Console, now func() time.Time) console.Module{
	func(t testing.TB, st *store.Store, cfg config.Console, now func() time.Time) console.Module {
		fc := feeds.Config{DataDir: cfg.DataDir, OSVBaseURL: "http://127.0.0.1:9/osv", KEVURL: "http://127.0.0.1:9/kev",
			EPSSURL: "http://127.0.0.1:9/epss", AlpineBaseURL: "http://127.0.0.1:9/alpine", Now: now}
		return scans.NewService(scans.ServiceConfig{Store: st, KB: scans.NewKB(feeds.New(fc), nil, now), Now: now, Version: "test"})
	},
	func(t testing.TB, st *store.Store, cfg config.Console, now func() time.Time) console.Module {
		ctx, cancel := context.WithCancel(context.Background())
		tp, err := topology.New(ctx, st, topology.Config{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		go tp.Run(ctx)
		t.Cleanup(cancel)
		return tp
	},
}
