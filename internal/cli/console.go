package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"

	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/diagnosis"
	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/integrations"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/malwarescan"
	"github.com/riskmap/riskmap/internal/match/remote"
	"github.com/riskmap/riskmap/internal/posture"
	"github.com/riskmap/riskmap/internal/registries"
	"github.com/riskmap/riskmap/internal/reports"
	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/secrets"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/threatgraph"
	"github.com/riskmap/riskmap/internal/topology"
	"github.com/riskmap/riskmap/web"
)

// runConsole is `riskmap console [flags]` and
// `riskmap console reset-password [flags] EMAIL`.
func runConsole(ctx context.Context, args []string, stdio IO) error {
	if len(args) > 0 && args[0] == "reset-password" {
		return runResetPassword(ctx, args[1:], stdio)
	}
	if len(args) > 0 && args[0] == "secrets-key" {
		return runSecretsKey(ctx, args[1:], stdio)
	}
	start := time.Now()
	cfg, rest, err := config.LoadConsole("console", args, os.Getenv, stdio.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdio.Stderr, "\nSubcommands:\n  reset-password EMAIL   print a one-time password reset link for a user (run on the console host)\n"+
			"  secrets-key status|rotate|reseal|retire   the keys that encrypt stored credentials (see `riskmap console secrets-key -h`)")
		return nil
	}
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("console: %w", err)}
	}
	if len(rest) > 0 {
		return &ExitError{Code: 2, Err: fmt.Errorf("console: unexpected argument %q (did you mean reset-password or secrets-key?)", rest[0])}
	}
	log := newLogger(stdio.Stderr, cfg.LogLevel, cfg.LogFormat)
	if addr := os.Getenv("RISKMAP_DEBUG_PPROF"); addr != "" {
		if err := servePprof(ctx, addr, log); err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("console: RISKMAP_DEBUG_PPROF: %w", err)}
		}
	}
	app, err := openConsole(ctx, cfg, log)
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("console: %w", err)}
	}
	app.banner(stdio.Stdout, start)
	err = app.run.Wait()
	app.close()
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("console: %w", err)}
	}
	log.Info("console stopped")
	return nil
}

// consoleApp is a started console: the composition root shared by
// `riskmap console` and `riskmap up`.
type consoleApp struct {
	cfg   config.Console
	log   *slog.Logger
	store *store.Store
	run   *console.Running
	jobs  *jobs.Queue
	kb    *feeds.KB
	// bg holds the background work (topology writer, jobs, events); the
	// store closes after it ends.
	bg sync.WaitGroup
}

// close waits for the background work to stop (its context ended) and
// closes the store.
func (a *consoleApp) close() {
	a.bg.Wait()
	a.store.Close()
}

// openConsole opens the store, builds the console's modules, registers the
// job kinds, schedules and event consumers (internal/cli/backbone.go) and
// starts serving. The caller calls app.close after app.run.Wait returns
// and ctx ended.
func openConsole(ctx context.Context, cfg config.Console, log *slog.Logger) (*consoleApp, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	st, err := store.Open(ctx, store.Config{URL: cfg.Database, DataDir: cfg.DataDir, Logger: log})
	if err != nil {
		return nil, err
	}
	spa, err := web.New()
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("web UI: %w", err)
	}
	if !spa.Built() {
		log.Warn("this binary has no web UI (built without `make web`); the API works, / shows how to build it")
	}
	c, err := compose(ctx, st, cfg, consoleFeeds(cfg.DataDir, cfg.FeedMirror, log), log, time.Now)
	if err != nil {
		st.Close()
		return nil, err
	}
	if c.kb.NeedsRebuild() {
		if _, _, err := c.jobs.Insert(ctx, feeds.KindRebuild, nil, jobs.InsertOpts{UniqueKey: feeds.KindRebuild, Priority: jobs.PriorityHigh}); err != nil {
			st.Close()
			return nil, fmt.Errorf("knowledge base rebuild: %w", err)
		}
	}
	srv, err := console.New(ctx, console.Options{Config: cfg, Store: st, Logger: log, Version: Version, SPA: spa,
		Modules: c.modules, Collectors: append(c.bus.Collectors(), c.topo.Collectors()...)})
	if err != nil {
		st.Close()
		return nil, err
	}
	q, bus, topo, kb := c.jobs, c.bus, c.topo, c.kb
	app := &consoleApp{cfg: cfg, log: log, store: st, jobs: q, kb: kb}
	app.bg.Add(5)
	// Replicas on PostgreSQL: take the feeds and malware rules the others
	// published (at once, then every few seconds; /readyz waits for the
	// first time); nothing on SQLite.
	go func() { defer app.bg.Done(); kb.RunFollow(ctx) }()
	go func() { defer app.bg.Done(); c.rules.Run(ctx, feeds.FollowEvery) }()
	go func() { defer app.bg.Done(); topo.Run(ctx) }()
	go func() {
		defer app.bg.Done()
		if err := q.Run(ctx); err != nil {
			log.Error("job system stopped", "err", err)
		}
	}()
	go func() {
		defer app.bg.Done()
		if err := bus.Run(ctx); err != nil {
			log.Error("event delivery stopped", "err", err)
		}
	}()
	run, err := srv.Start(ctx)
	if err != nil {
		return nil, err
	}
	app.run = run
	log.Info("console started", "url", run.URL, "addr", run.Addr.String(), "fingerprint", run.Fingerprint, "database", st.Dialect())
	return app, nil
}

// composition is the console's modules, built and wired.
type composition struct {
	bus     *events.Bus
	jobs    *jobs.Queue
	topo    *topology.Topology
	kb      *feeds.KB
	rules   *store.Replicated // the malware rule bundle shared by replicas
	modules []console.Module
}

// compose builds the console's modules on st and wires them: job kinds,
// schedules and event consumers (backbone.go), node detail sources. Nothing
// runs yet.
func compose(ctx context.Context, st *store.Store, cfg config.Console, fc feeds.Config, log *slog.Logger, now func() time.Time) (*composition, error) {
	keyPath, isDefault := cfg.SecretsKey()
	ring, err := secrets.LoadKeyring(keyPath, isDefault)
	if err != nil {
		return nil, err
	}
	vault := secrets.NewVault(st, ring, log.With("module", "secrets"), now)
	bus := events.New(st, events.Config{Logger: log.With("module", "events"), Now: now})
	q := jobs.New(st, jobs.Config{Logger: log.With("module", "jobs"), Now: now})
	topo, err := topology.New(ctx, st, topology.Config{Interval: cfg.ReportInterval, GoneAfter: cfg.NodeGoneAfter,
		Retention: cfg.TopologyRetention, Logger: log.With("module", "topology"), Events: bus, Now: now})
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	kb := feeds.NewKB(feeds.New(fc), feeds.KBConfig{Store: st, Events: bus, Logger: log.With("module", "feeds"), Now: now, Interval: cfg.FeedInterval})
	// The topology answers exposure in the risk engine's own type.
	fnd := findings.New(findings.Config{Store: st, KB: kb, Exposure: topo, Logger: log.With("module", "findings"), Version: Version, Now: now})
	// Compliance results: every check of compliance scans (the failed
	// ones are findings too).
	pst := posture.New(posture.Config{Store: st, Findings: fnd, Nodes: topo, Logger: log.With("module", "posture"), Now: now})
	scanSvc := scans.NewService(scans.ServiceConfig{Store: st, Jobs: q, Findings: fnd, Posture: pst, Topology: topo, Logger: log.With("module", "scans"),
		Version: Version, Now: now, Queue: scans.QueueConfig{Lease: cfg.ScanLease, RetryBase: cfg.ScanRetry}})
	// Node details show the node's latest scan results.
	topo.AddDetailSource(scanSvc)
	// The map colours nodes by their current findings.
	topo.SetRiskSource(fnd)
	regs := registries.New(registries.Config{Store: st, Vault: vault, Jobs: q, Scans: scanSvc, Topology: topo,
		Logger: log.With("module", "registries"), Now: now})
	rules := &malwarescan.Store{Dir: malwarescan.StoreDir(cfg.DataDir)}
	sharedRules := rules.Replicated(st, store.InstanceName(), log.With("module", "malware-rules"))
	diag := diagnosis.New(diagnosis.Sources{Store: st, KB: kb, Topology: topo, Scans: scanSvc, Findings: fnd, Jobs: q, Events: bus, Secrets: vault,
		Registries: regs, MalwareRules: rules, Now: now})
	// Notifications: destinations, rules, outboxes (the list of destination
	// kinds is integrations.Kinds).
	integ := integrations.New(integrations.Config{Store: st, Jobs: q, Vault: vault, Nodes: topo, ConsoleURL: cfg.PublicURL, Version: Version,
		Logger: log.With("module", "integrations"), Now: now})
	// Scheduled findings reports, delivered through integrations.
	rpts := reports.New(reports.Config{Store: st, Findings: fnd, Delivery: integ, Logger: log.With("module", "reports"), Now: now})
	if err := wireBackbone(q, bus, backbone{cfg: cfg, scans: scanSvc, findings: fnd, kb: kb, vault: vault, integ: integ, regs: regs, reports: rpts}); err != nil {
		return nil, err
	}
	// New consumers start at the current head before anything publishes.
	if err := bus.Init(ctx); err != nil {
		return nil, err
	}
	return &composition{bus: bus, jobs: q, topo: topo, kb: kb, rules: sharedRules,
		modules: []console.Module{topo, scanSvc, fnd, pst, kb, regs, diag, integ, readyOnly{sharedRules}, &remote.Server{KB: kb, Logger: log.With("module", "match"), Now: now, Store: st},
			// The threat graph: the topology's reachable layers with the
			// findings' counts per node.
			threatgraph.New(topo, fnd, log.With("module", "threatgraph")),
			// Scheduled findings reports.
			rpts}}, nil
}

// readyOnly is a module with no routes that /readyz asks (the malware
// rules a new replica takes from the others before it serves).
type readyOnly struct{ r *store.Replicated }

func (readyOnly) Routes(huma.API, chi.Router)   {}
func (m readyOnly) Ready(context.Context) error { return m.r.Ready() }

// ConsoleModules builds the console's modules as `riskmap console` does,
// with the feeds of fc, for tests that serve them (the authorisation
// matrix covers every route they add). The topology's writer runs until
// ctx ends, so reports are answered; jobs and events do not run.
func ConsoleModules(ctx context.Context, st *store.Store, cfg config.Console, fc feeds.Config, now func() time.Time) ([]console.Module, error) {
	c, err := compose(ctx, st, cfg, fc, slog.New(slog.DiscardHandler), now)
	if err != nil {
		return nil, err
	}
	go c.topo.Run(ctx)
	return c.modules, nil
}

// banner tells the user where the console is and how to trust it.
func (a *consoleApp) banner(w io.Writer, start time.Time) {
	fmt.Fprintf(w, "Riskmap console %s ready in %s\n", Version, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(w, "  URL:          %s\n", a.run.URL)
	fmt.Fprintf(w, "  listening on: %s\n", a.run.Addr)
	fmt.Fprintf(w, "  TLS certificate SHA-256 fingerprint: %s\n", a.run.Fingerprint)
	if a.cfg.TLSCert == "" {
		note := "self-signed, kept in " + a.cfg.DataDir + "/tls"
		if a.run.CertCreated {
			note = "self-signed, generated now in " + a.cfg.DataDir + "/tls"
		}
		fmt.Fprintf(w, "  (%s: pin this fingerprint in sensors and check it in your browser)\n", note)
	}
	fmt.Fprintf(w, "  database:     %s %s\n", a.store.Dialect(), a.store.Location())
}

func runResetPassword(ctx context.Context, args []string, stdio IO) error {
	cfg, rest, err := config.LoadConsole("console reset-password", args, os.Getenv, stdio.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("reset-password: %w", err)}
	}
	if len(rest) != 1 {
		return &ExitError{Code: 2, Err: errors.New("reset-password: give exactly one EMAIL (flags go before it)")}
	}
	st, err := store.Open(ctx, store.Config{URL: cfg.Database, DataDir: cfg.DataDir})
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("reset-password: %w", err)}
	}
	defer st.Close()
	actor := "console host"
	if u := os.Getenv("USER"); u != "" {
		actor = "console host (" + u + ")"
	}
	link, expires, err := console.ResetLink(ctx, st, cfg, rest[0], actor)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	fmt.Fprintf(stdio.Stdout, "One-time password reset link for %s (valid until %s):\n%s\n", rest[0], expires.Local().Format(time.RFC1123), link)
	return nil
}

// consoleFeeds keeps the console's feeds and knowledge base in
// DATA-DIR/feeds (the same layout as `riskmap feeds --db`), fetched from
// their public URLs or, with mirror, from a mirror of that layout.
func consoleFeeds(dataDir, mirror string, log *slog.Logger) feeds.Config {
	c := feeds.DefaultConfig(filepath.Join(dataDir, "feeds"))
	c.Logger = log
	if mirror != "" {
		c = c.Mirror(mirror)
	}
	return c
}

// newLogger logs text to a terminal and JSON otherwise.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
