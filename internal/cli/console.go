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
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("console: data directory: %w", err)}
	}
	st, err := store.Open(ctx, store.Config{URL: cfg.Database, DataDir: cfg.DataDir, Logger: log})
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("console: %w", err)}
	}
	defer st.Close()
	spa, err := web.New()
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("console: web UI: %w", err)}
	}
	if !spa.Built() {
		log.Warn("this binary has no web UI (built without `make web`); the API works, / shows how to build it")
	}
	kb := scans.NewKB(feeds.New(consoleFeeds(cfg.DataDir, log)), log, nil)
	// The topology module, when composed, provides the scans module's
	// ExposureSource and calls its TopologyChanged / NodesAppeared events.
	scanSvc := scans.NewService(scans.ServiceConfig{Store: st, KB: kb, Logger: log, Version: Version,
		Queue: scans.QueueConfig{Lease: cfg.ScanLease}})
	go scanSvc.Run(ctx, scans.RunConfig{FeedInterval: cfg.FeedInterval})
	srv, err := console.New(ctx, console.Options{Config: cfg, Store: st, Logger: log, Version: Version, SPA: spa,
		Modules: []console.Module{scanSvc}})
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("console: %w", err)}
	}
	run, err := srv.Start(ctx)
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("console: %w", err)}
	}
	fmt.Fprintf(stdio.Stdout, "Riskmap console %s ready in %s\n", Version, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdio.Stdout, "  URL:          %s\n", run.URL)
	fmt.Fprintf(stdio.Stdout, "  listening on: %s\n", run.Addr)
	fmt.Fprintf(stdio.Stdout, "  TLS certificate SHA-256 fingerprint: %s\n", run.Fingerprint)
	if cfg.TLSCert == "" {
		note := "self-signed, kept in " + cfg.DataDir + "/tls"
		if run.CertCreated {
			note = "self-signed, generated now in " + cfg.DataDir + "/tls"
		}
		fmt.Fprintf(stdio.Stdout, "  (%s: pin this fingerprint in sensors and check it in your browser)\n", note)
	}
	fmt.Fprintf(stdio.Stdout, "  database:     %s %s\n", st.Dialect(), st.Location())
	log.Info("console started", "url", run.URL, "addr", run.Addr.String(), "fingerprint", run.Fingerprint, "database", st.Dialect())
	if err := run.Wait(); err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("console: %w", err)}
	}
	log.Info("console stopped")
	return nil
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
