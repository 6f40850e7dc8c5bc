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
	"time"

	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/topology"
	"github.com/riskmap/riskmap/web"
)

// runConsole is `riskmap console [flags]` and
// `riskmap console reset-password [flags] EMAIL`.
func runConsole(ctx context.Context, args []string, stdio IO) error {
	if len(args) > 0 && args[0] == "reset-password" {
		return runResetPassword(ctx, args[1:], stdio)
	}
	start := time.Now()
	cfg, rest, err := config.LoadConsole("console", args, os.Getenv, stdio.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdio.Stderr, "\nSubcommands:\n  reset-password EMAIL   print a one-time password reset link for a user (run on the console host)")
		return nil
	}
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("console: %w", err)}
	}
	if len(rest) > 0 {
		return &ExitError{Code: 2, Err: fmt.Errorf("console: unexpected argument %q (did you mean reset-password?)", rest[0])}
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
	defer app.store.Close()
	app.banner(stdio.Stdout, start)
	if err := app.run.Wait(); err != nil {
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
	scans *scans.Service
}

// openConsole opens the store, wires the console's modules and starts
// serving. The caller closes app.store after app.run.Wait returns.
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
	var scanSvc *scans.Service // set below, before the topology runs
	topo, err := topology.New(ctx, st, topology.Config{Interval: cfg.ReportInterval, GoneAfter: cfg.NodeGoneAfter,
		Retention: cfg.TopologyRetention, Logger: log.With("module", "topology"),
		// Findings are re-scored when the topology changes, and new hosts
		// and images are scanned when the auto-scan setting says so.
		OnChange: func(ctx context.Context, changed, appeared []string) {
			scanSvc.TopologyChanged(ctx, changed...)
			if len(appeared) > 0 {
				scanSvc.NodesAppeared(ctx, appeared...)
			}
		},
		// Node details show the node's latest scan results.
		NodeScans: func(ctx context.Context, nodeID string) (*topology.NodeScans, error) {
			return scanSvc.NodeScans(ctx, nodeID)
		}})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("topology: %w", err)
	}
	kb := scans.NewKB(feeds.New(consoleFeeds(cfg.DataDir, log)), log, nil)
	scanSvc = scans.NewService(scans.ServiceConfig{Store: st, KB: kb, Logger: log, Version: Version,
		Exposure: topo, // the topology answers in the risk engine's own type
		Queue:    scans.QueueConfig{Lease: cfg.ScanLease, RetryBase: cfg.ScanRetry}})
	go topo.Run(ctx)
	go scanSvc.Run(ctx, scans.RunConfig{FeedInterval: cfg.FeedInterval})
	srv, err := console.New(ctx, console.Options{Config: cfg, Store: st, Logger: log, Version: Version, SPA: spa,
		Modules: []console.Module{topo, scanSvc}})
	if err != nil {
		st.Close()
		return nil, err
	}
	run, err := srv.Start(ctx)
	if err != nil {
		st.Close()
		return nil, err
	}
	log.Info("console started", "url", run.URL, "addr", run.Addr.String(), "fingerprint", run.Fingerprint, "database", st.Dialect())
	return &consoleApp{cfg: cfg, log: log, store: st, run: run, scans: scanSvc}, nil
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
// DATA-DIR/feeds (the same layout as `riskmap feeds --db-dir`).
func consoleFeeds(dataDir string, log *slog.Logger) feeds.Config {
	c := feeds.DefaultConfig(filepath.Join(dataDir, "feeds"))
	c.Logger = log
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
