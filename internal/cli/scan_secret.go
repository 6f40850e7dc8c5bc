package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/inventory/scanner"
	"github.com/riskmap/riskmap/internal/malwarescan"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/match/report"
	"github.com/riskmap/riskmap/internal/secretscan"
	"github.com/riskmap/riskmap/internal/vulndb"
)

// scannerNames are the values of --scanners.
var scannerNames = []string{"vuln", secretscan.Name, malwarescan.Name}

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

type malwareOutcome struct {
	res *malwarescan.Result
	err error
}

// fileScans are the scans of a target's files that run beside the
// inventory (--scanners secret, malware): each reports on its channel.
type fileScans struct {
	secrets chan secretOutcome
	malware chan malwareOutcome
}

// start launches the file scans --scanners names.
func (fs *fileScans) start(ctx context.Context, target string, scanners map[string]bool, o *scanOpts, stderr io.Writer) error {
	if scanners[secretscan.Name] {
		ss, err := newSecretScanner(o, stderr)
		if err != nil {
			return err
		}
		fs.secrets = make(chan secretOutcome, 1)
		go func() {
			res, err := ss.ScanTarget(ctx, target, secretscan.TargetOptions{DockerHost: o.dockerHost})
			fs.secrets <- secretOutcome{res, err}
		}()
	}
	if scanners[malwarescan.Name] {
		ms, err := newMalwareScanner(ctx, o, stderr)
		if err != nil {
			return err
		}
		fs.malware = make(chan malwareOutcome, 1)
		go func() {
			defer ms.Close()
			res, err := ms.ScanTarget(ctx, target, malwarescan.TargetOptions{DockerHost: o.dockerHost})
			fs.malware <- malwareOutcome{res, err}
		}()
	}
	return nil
}

// add waits for the file scans and puts their results in the document.
func (fs *fileScans) add(doc *report.Document) error {
	var errs []error
	if fs.secrets != nil {
		sec := <-fs.secrets
		errs = append(errs, sec.err)
		doc.AddSecrets(sec.res)
		doc.Scanners = append(doc.Scanners, secretscan.Name)
	}
	if fs.malware != nil {
		mw := <-fs.malware
		errs = append(errs, mw.err)
		doc.AddMalware(mw.res)
		doc.Scanners = append(doc.Scanners, malwarescan.Name)
	}
	return errors.Join(errs...)
}

// newMalwareScanner builds the malware scanner of `riskmap scan`: the yara
// program (--yara or PATH) and the data directory's rule bundle (the
// built-in rules when none is imported).
func newMalwareScanner(ctx context.Context, o *scanOpts, stderr io.Writer) (*malwarescan.Scanner, error) {
	eng, err := malwarescan.FindEngine(o.yara)
	if err != nil {
		return nil, err
	}
	rules, err := (malwarescan.Store{Dir: malwarescan.StoreDir(o.dbDir)}).Load()
	if err != nil {
		return nil, err
	}
	level := slog.LevelWarn
	if o.quiet {
		level = slog.LevelError
	}
	cfg := malwarescan.DefaultConfig()
	cfg.Engine, cfg.Rules = eng, rules
	cfg.MaxFileSize = o.malwareMaxFile
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	return malwarescan.New(ctx, cfg)
}

// runFilesOnly is `riskmap scan --scanners secret,malware` without vuln:
// no inventory, no knowledge base.
func runFilesOnly(target string, o *scanOpts, scans *fileScans, stdio IO) error {
	inv := &inventory.Inventory{SchemaVersion: inventory.SchemaVersion}
	if t, err := scanner.ParseTarget(target); err == nil {
		inv.Target = inventory.Target{Kind: t.Kind, Ref: t.Ref}
	}
	doc := report.New(inv, &match.Result{Findings: []match.Finding{}}, vulndb.Meta{}, nil, Version, time.Now())
	if err := scans.add(doc); err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("scan %s: %w", target, err)}
	}
	if err := writeReport(doc, o.format, o.output, stdio.Stdout); err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("scan: %w", err)}
	}
	return checkGate(o.gate, nil, doc)
}

// checkGate applies --fail-on* to the vulnerability, secret and malware
// findings together: the scan fails when --fail-on-count of them count.
func checkGate(g report.Gate, vulns []match.Finding, doc *report.Document) error {
	n, fail := g.Check(vulns)
	if doc.Secrets != nil || doc.Malware != nil {
		if doc.Secrets != nil {
			n += g.CountSecrets(doc.Secrets.Findings)
		}
		if doc.Malware != nil {
			n += g.CountMalware(doc.Malware.Findings)
		}
		fail = g.Active() && n >= max(g.Count, 1)
	}
	if fail {
		return &ExitError{Code: 1, Err: fmt.Errorf("scan: %d findings reach %s", n, g)}
	}
	return nil
}
