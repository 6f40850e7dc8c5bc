package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/inventory/scanner"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/match/report"
	"github.com/riskmap/riskmap/internal/secretscan"
	"github.com/riskmap/riskmap/internal/vulndb"
)

// scannerNames are the values of --scanners.
var scannerNames = []string{"vuln", secretscan.Name}

// parseScanners reads --scanners: a comma-separated set of scannerNames.
func parseScanners(v string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		known := false
		for _, n := range scannerNames {
			known = known || s == n
		}
		if !known {
			return nil, fmt.Errorf("--scanners %q: unknown scanner %q (want %s)", v, s, strings.Join(scannerNames, ", "))
		}
		out[s] = true
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--scanners %q: name at least one of %s", v, strings.Join(scannerNames, ", "))
	}
	return out, nil
}

type secretOutcome struct {
	res *secretscan.Result
	err error
}

// newSecretScanner builds the secret scanner of `riskmap scan`: its
// allow-list from the ignore file's secret: lines and the
// --secret-allow-* flags.
func newSecretScanner(o *scanOpts, stderr io.Writer) (*secretscan.Scanner, error) {
	allow, err := secretscan.NewAllow(o.secretPaths, o.secretRules, o.secretFingerprints)
	if err != nil {
		return nil, err
	}
	if o.ignoreFile != "" {
		fromFile, expired, err := secretscan.LoadIgnoreFile(o.ignoreFile, time.Now())
		if err != nil {
			return nil, err
		}
		for _, e := range expired {
			fmt.Fprintf(stderr, "warning: secret allow-list entry %s=%s (%s) expired on %s; its findings are reported again\n", e.Kind, e.Value, e.Source, e.Expires.Add(-24*time.Hour).Format("2006-01-02"))
		}
		allow = allow.Merge(fromFile)
	}
	level := slog.LevelWarn
	if o.quiet {
		level = slog.LevelError
	}
	cfg := secretscan.DefaultConfig()
	cfg.Allow = allow
	cfg.MaxFileSize = o.secretMaxFile
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	return secretscan.New(cfg)
}

// runSecretsOnly is `riskmap scan --scanners secret`: no inventory, no
// knowledge base.
func runSecretsOnly(ctx context.Context, target string, o *scanOpts, sec secretOutcome, stdio IO) error {
	if sec.err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("scan %s: %w", target, sec.err)}
	}
	inv := &inventory.Inventory{SchemaVersion: inventory.SchemaVersion}
	if t, err := scanner.ParseTarget(target); err == nil {
		inv.Target = inventory.Target{Kind: t.Kind, Ref: t.Ref}
	}
	doc := report.New(inv, &match.Result{Findings: []match.Finding{}}, vulndb.Meta{}, nil, Version, time.Now())
	doc.Scanners = []string{secretscan.Name}
	doc.AddSecrets(sec.res)
	if err := writeReport(doc, o.format, o.output, stdio.Stdout); err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("scan: %w", err)}
	}
	return checkGate(o.gate, nil, sec.res)
}

// checkGate applies --fail-on* to the vulnerability and secret findings
// together: the scan fails when --fail-on-count of them count.
func checkGate(g report.Gate, vulns []match.Finding, sec *secretscan.Result) error {
	n, fail := g.Check(vulns)
	if sec != nil {
		n += g.CountSecrets(sec.Findings)
		fail = g.Active() && n >= max(g.Count, 1)
	}
	if fail {
		return &ExitError{Code: 1, Err: fmt.Errorf("scan: %d findings reach %s", n, g)}
	}
	return nil
}
