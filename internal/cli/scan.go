package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/malwarescan"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/match/remote"
	"github.com/riskmap/riskmap/internal/match/report"
	"github.com/riskmap/riskmap/internal/secretscan"
	"github.com/riskmap/riskmap/internal/vulndb"
)

func scanCommand() Command {
	return Command{Name: "scan", Summary: "find vulnerabilities (and with --scanners secret,malware, secrets and malware) in a target (CI gate); offline against the local knowledge base", Run: runScan}
}

const scanUsage = `Usage: riskmap scan [flags] TARGET

TARGET is one of:
%s  inventory:FILE         a riskmap inventory JSON (riskmap sbom --format json)
A bare path or image reference is recognised without the prefix.

Findings come from the local knowledge base (riskmap feeds update/import),
or with --console URL (or RISKMAP_CONSOLE) from a console's: the inventory is
still built here and only it is sent, no feeds are needed (API key from
--api-key or RISKMAP_API_KEY; the console's certificate verified by --pin or
RISKMAP_CONSOLE_PIN, --ca-cert, or the system roots).

--scanners vuln,secret adds the secret scan (gitleaks' default rules over
every text file of the target, image layers included; docs/secrets.md):
its findings are in the table, JSON and SARIF outputs, with a redacted
excerpt and a fingerprint, never the secret. --scanners secret alone needs
no knowledge base. Allow-lists: secret:path=GLOB, secret:rule=ID and
secret:fingerprint=HEX lines of the ignore file, and --secret-allow-*.

--scanners malware adds the malware scan: YARA rules run by the yara
program (found on PATH or --yara) over every file of the target, image
layers included (docs/malware.md). The rules are the bundle imported with
` + "`riskmap malware-rules import`" + ` into the data directory (--db), else
the built-in set (the EICAR test file and a few simple signatures).

Gate: a finding counts when it reaches every threshold given (--fail-on
severity, kev, secret or malware, --fail-on-risk score); the scan fails when
--fail-on-count findings count (default 1; alone, it counts every finding).
Secrets count for --fail-on secret, for a --fail-on severity their own
reaches (private and cloud keys critical, generic rules medium, the
others high), and with no threshold; not under --fail-on-risk. Malware
findings count the same way for --fail-on malware (a rule without a
severity counts as critical).
--fail-on-uncovered fails it when the knowledge base holds nothing for an
ecosystem of the target (every output says so: table footer, JSON
"uncovered", a SARIF notification).
Exit status: 0 clean (or findings below the gate), 1 the gate was reached,
2 error (bad flags, unreadable target, no knowledge base).

Flags:
`

type scanOpts struct {
	format, output, ignoreFile, dbDir, dockerHost string
	onlyFixed, quiet                              bool
	consoleURL, apiKey, caCert, pin               string
	gate                                          report.Gate
	scanners                                      string
	secretPaths, secretRules, secretFingerprints  []string
	secretMaxFile                                 int64
	yara                                          string
	malwareMaxFile                                int64
}

func scanFlags(stderr io.Writer) (*flag.FlagSet, *scanOpts) {
	o := &scanOpts{}
	fl := flag.NewFlagSet("scan", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.StringVar(&o.format, "format", "table", "output format: "+strings.Join(report.Formats, ", "))
	fl.StringVar(&o.output, "output", "", "write the report to FILE instead of stdout")
	fl.StringVar(&o.gate.Severity, "fail-on", "", "exit 1 when a finding reaches this level: low, medium, high, critical, kev, secret (any secret) or malware (any malware finding)")
	fl.StringVar(&o.scanners, "scanners", "vuln", "what to look for, comma-separated: vuln (vulnerable packages), secret (keys, tokens, passwords in files), malware (files matching YARA rules; needs the yara program)")
	fl.Func("secret-allow-path", "do not report secrets in files matching this `GLOB` (\"testdata/**\", \"/etc/ssl/*.pem\"); repeatable", func(v string) error {
		o.secretPaths = append(o.secretPaths, v)
		return nil
	})
	fl.Func("secret-allow-rule", "do not report secrets of this gitleaks `RULE` id; repeatable", func(v string) error {
		o.secretRules = append(o.secretRules, v)
		return nil
	})
	fl.Func("secret-allow-fingerprint", "do not report the secret finding with this `FINGERPRINT`; repeatable", func(v string) error {
		o.secretFingerprints = append(o.secretFingerprints, v)
		return nil
	})
	fl.Int64Var(&o.secretMaxFile, "secret-max-file-size", secretscan.DefaultConfig().MaxFileSize, "the secret scan skips files larger than this many `BYTES`")
	fl.StringVar(&o.yara, "yara", "", "the yara program the malware scan runs (default: yara on PATH)")
	fl.Int64Var(&o.malwareMaxFile, "malware-max-file-size", malwarescan.DefaultConfig().MaxFileSize, "the malware scan skips files larger than this many `BYTES`")
	fl.Func("fail-on-risk", "exit 1 when a finding's risk score (0-100, the report's risk) reaches `SCORE`", func(v string) error {
		r, err := report.ParseRisk(v)
		o.gate.Risk, o.gate.RiskSet = r, true
		return err
	})
	fl.IntVar(&o.gate.Count, "fail-on-count", 0, "exit 1 only when `N` findings reach the thresholds (--fail-on, --fail-on-risk; alone: N findings of any kind)")
	fl.BoolVar(&o.gate.Uncovered, "fail-on-uncovered", false, "exit 1 when the knowledge base holds nothing for an ecosystem of the target (a distribution release or language without a feed): its packages were not judged")
	fl.StringVar(&o.ignoreFile, "ignore-file", "", "OpenVEX document or ID list (`ID [package=NAME] [expires=YYYY-MM-DD] reason`) of findings to ignore")
	fl.BoolVar(&o.onlyFixed, "only-fixed", false, "report only findings with a fixed version")
	fl.StringVar(&o.dockerHost, "docker-host", "", "Docker engine endpoint for docker: and container: targets (default: DOCKER_HOST or /var/run/docker.sock)")
	fl.BoolVar(&o.quiet, "quiet", false, "no progress display and no per-file warnings on stderr")
	fl.StringVar(&o.dbDir, "db", feeds.DefaultDataDir(), "data directory of the knowledge base (env RISKMAP_DATA_DIR)")
	fl.StringVar(&o.consoleURL, "console", os.Getenv("RISKMAP_CONSOLE"), "match against this console's knowledge base (https://HOST:PORT) instead of the local one: no feeds needed here (env RISKMAP_CONSOLE)")
	fl.StringVar(&o.apiKey, "api-key", "", "API key for --console (default: env RISKMAP_API_KEY)")
	fl.StringVar(&o.caCert, "ca-cert", "", "PEM file of the CA that signed the console's certificate (--console)")
	fl.StringVar(&o.pin, "pin", os.Getenv("RISKMAP_CONSOLE_PIN"), "accept exactly the console certificate with this fingerprint, `sha256:HEX` as `riskmap console` prints it (--console; env RISKMAP_CONSOLE_PIN)")
	fl.Usage = func() { fmt.Fprintf(stderr, scanUsage, targetHelp()); fl.PrintDefaults() }
	return fl, o
}

func runScan(ctx context.Context, args []string, stdio IO) error {
	scanGC()
	fl, o := scanFlags(stdio.Stderr)
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &ExitError{Code: 2, Err: err}
	}
	format, output, ignoreFile, onlyFixed, dbDir := &o.format, &o.output, &o.ignoreFile, &o.onlyFixed, &o.dbDir
	if fl.NArg() != 1 {
		fl.Usage()
		return &ExitError{Code: 2, Err: errors.New("scan: want exactly one TARGET")}
	}
	if !validFormat(*format) {
		return &ExitError{Code: 2, Err: fmt.Errorf("scan: unknown --format %q (want %s)", *format, strings.Join(report.Formats, ", "))}
	}
	if err := o.gate.Validate(); err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("scan: %w", err)}
	}
	scanners, err := parseScanners(o.scanners)
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("scan: %w", err)}
	}
	for _, name := range []string{secretscan.Name, malwarescan.Name} {
		if !scanners[name] {
			if o.gate.Severity == name {
				return &ExitError{Code: 2, Err: fmt.Errorf("scan: --fail-on %s needs --scanners with %s", name, name)}
			}
			continue
		}
		if !slices.Contains(report.SecretFormats, *format) {
			return &ExitError{Code: 2, Err: fmt.Errorf("scan: --format %s does not carry %s findings: use %s with --scanners %s", *format, name, strings.Join(report.SecretFormats, ", "), name)}
		}
		if strings.HasPrefix(fl.Arg(0), "inventory:") {
			return &ExitError{Code: 2, Err: fmt.Errorf("scan: an inventory: target lists packages, not files: the %s scan needs the directory or image itself", name)}
		}
	}
	var files fileScans
	if err := files.start(ctx, fl.Arg(0), scanners, o, stdio.Stderr); err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("scan: %w", err)}
	}
	if !scanners["vuln"] {
		return runFilesOnly(fl.Arg(0), o, &files, stdio)
	}
	var rules []report.Rule
	if *ignoreFile != "" {
		var err error
		if rules, err = report.LoadIgnoreFile(*ignoreFile); err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("scan: %w", err)}
		}
	}
	var (
		db     *vulndb.DB
		rc     *remote.Client
		kbDone chan error
	)
	if o.consoleURL != "" {
		if rc, err = consoleClient(o); err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("scan: %w", err)}
		}
		if err = rc.Check(ctx); err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("scan: %w", err)}
		}
	} else {
		if o.apiKey != "" || o.caCert != "" || o.pin != "" {
			return &ExitError{Code: 2, Err: errors.New("scan: --api-key, --ca-cert and --pin need --console")}
		}
		if _, err := os.Stat(filepath.Join(*dbDir, vulndb.FileName)); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("no knowledge base in %s: run `riskmap feeds update`, or `riskmap feeds import PATH` offline", *dbDir)
			}
			return &ExitError{Code: 2, Err: fmt.Errorf("scan: %w", err)}
		}
		// The knowledge base is mapped and verified (a checksum over the
		// whole file) while the inventory is built.
		kbDone = make(chan error, 1)
		go func() {
			var err error
			db, err = openLocalKB(ctx, *dbDir, stdio.Stderr)
			kbDone <- err
		}()
	}
	inv, err := loadTarget(ctx, fl.Arg(0), o, stdio.Stderr)
	if kbDone != nil {
		if kerr := <-kbDone; kerr != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("scan: %w", kerr)}
		}
		defer db.Close()
	}
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("scan %s: %w", fl.Arg(0), err)}
	}
	mopts := match.Options{OnlyFixed: *onlyFixed}
	var (
		res  *match.Result
		meta vulndb.Meta
	)
	if rc != nil {
		var ans *remote.Response
		if ans, err = rc.Match(ctx, inv, mopts); err == nil {
			res, meta = ans.Result, ans.DB
		}
	} else if res, err = match.New(db).Match(ctx, inv, mopts); err == nil {
		meta = db.Meta()
	}
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("scan %s: %w", fl.Arg(0), err)}
	}
	now := time.Now()
	kept, ignored, expired := report.ApplyIgnores(res.Findings, rules, now)
	for _, r := range expired {
		fmt.Fprintf(stdio.Stderr, "warning: ignore rule for %s (%s) expired on %s; the finding is reported again\n", r.ID, r.Source, r.Expires.Add(-24*time.Hour).Format("2006-01-02"))
	}
	res.Findings = kept
	if age := now.Sub(meta.BuiltAt); age > 7*24*time.Hour {
		fmt.Fprintf(stdio.Stderr, "warning: the knowledge base was built %d days ago; run `riskmap feeds update`\n", int(age.Hours()/24))
	}
	doc := report.New(inv, res, meta, ignored, Version, now)
	if files.secrets != nil || files.malware != nil {
		doc.Scanners = []string{"vuln"}
		if err := files.add(doc); err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("scan %s: %w", fl.Arg(0), err)}
		}
	}
	if err := writeReport(doc, *format, *output, stdio.Stdout); err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("scan: %w", err)}
	}
	if *format != "table" || *output != "" {
		for _, u := range res.Uncovered {
			fmt.Fprintf(stdio.Stderr, "warning: %s\n", u.Sentence())
		}
	}
	if err := checkGate(o.gate, res.Findings, doc); err != nil {
		return err
	}
	if err := o.gate.CheckCoverage(res.Uncovered); err != nil {
		return &ExitError{Code: 1, Err: fmt.Errorf("scan: %w", err)}
	}
	return nil
}

func validFormat(f string) bool {
	for _, x := range report.Formats {
		if x == f {
			return true
		}
	}
	return false
}

func writeReport(doc *report.Document, format, output string, stdout io.Writer) error {
	if output == "" {
		return doc.Write(stdout, format)
	}
	return writeOutput(output, func(w io.Writer) error { return doc.Write(w, format) })
}

// MaxInventorySize bounds an inventory JSON read.
const MaxInventorySize = 512 << 20

func readInventoryFile(path string) (*inventory.Inventory, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var inv inventory.Inventory
	dec := json.NewDecoder(io.LimitReader(f, MaxInventorySize))
	if err := dec.Decode(&inv); err != nil {
		return nil, fmt.Errorf("read inventory %s: %w", path, err)
	}
	if inv.SchemaVersion == "" {
		return nil, fmt.Errorf("read inventory %s: no schemaVersion (not a riskmap inventory)", path)
	}
	if inv.Target.Kind == "" {
		inv.Target = inventory.Target{Kind: "inventory", Ref: path}
	}
	return &inv, nil
}

func writeJSONTo(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
