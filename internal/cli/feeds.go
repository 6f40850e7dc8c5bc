package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/vulndb"
)

func feedsCommand() Command {
	return Command{Name: "feeds", Summary: "update, import, export and inspect the local vulnerability feeds", Run: runFeeds}
}

const feedsUsage = `Usage: riskmap feeds <update|import PATH|export FILE|status> [flags]

  update        fetch what changed from the public feeds (conditional GETs,
                checksums) and rebuild the knowledge base; a source that fails
                keeps its previous data and is reported
  import PATH   import feed files or a directory laid out like the data
                directory's feeds/ (osv/<Ecosystem>/all.zip, kev/, epss/, cvss/,
                alpine/secdb/<branch>/), or a bundle made by export
  export FILE   write every stored feed into a bundle another install imports
  status        show each source's records, last update and age

Flags:
`

type feedsOpts struct {
	dbDir, format, osvURL, ecos, nvdKey string
	noNVD                               bool
}

func feedsFlags(stderr io.Writer) (*flag.FlagSet, *feedsOpts) {
	o := &feedsOpts{}
	fl := flag.NewFlagSet("feeds", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.StringVar(&o.dbDir, "db", feeds.DefaultDataDir(), "data directory holding the feeds and the knowledge base (env RISKMAP_DATA_DIR)")
	fl.StringVar(&o.format, "format", "table", "status/update output: table or json")
	fl.StringVar(&o.osvURL, "osv-url", "", "OSV export base URL (default osv.dev's bucket)")
	fl.StringVar(&o.ecos, "ecosystems", "", "comma-separated OSV ecosystems to update (default: "+strings.Join(feeds.DefaultConfig("").OSVEcosystems, ",")+")")
	fl.BoolVar(&o.noNVD, "no-nvd", false, "skip CVSS updates from the NVD API")
	fl.StringVar(&o.nvdKey, "nvd-api-key", os.Getenv("NVD_API_KEY"), "NVD API key (env NVD_API_KEY); raises NVD's rate limit")
	return fl, o
}

func runFeeds(ctx context.Context, args []string, stdio IO) error {
	fl, o := feedsFlags(stdio.Stderr)
	dbDir, format, osvURL, ecos, noNVD, nvdKey := &o.dbDir, &o.format, &o.osvURL, &o.ecos, &o.noNVD, &o.nvdKey
	fl.Usage = func() { io.WriteString(stdio.Stderr, feedsUsage); fl.PrintDefaults() }
	if len(args) == 0 {
		fl.Usage()
		return &ExitError{Code: 2, Err: errors.New("feeds: missing subcommand")}
	}
	sub, rest := args[0], args[1:]
	if sub == "-h" || sub == "--help" {
		fl.Usage()
		return nil
	}
	if err := fl.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &ExitError{Code: 2, Err: err}
	}
	cfg := feeds.DefaultConfig(*dbDir)
	cfg.Logger = slog.New(slog.NewTextHandler(stdio.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if *osvURL != "" {
		cfg.OSVBaseURL = *osvURL
	}
	if *ecos != "" {
		cfg.OSVEcosystems = strings.Split(*ecos, ",")
	}
	if *noNVD {
		cfg.NVDURL = ""
	}
	cfg.NVDAPIKey = *nvdKey
	m := feeds.New(cfg)
	switch sub {
	case "update", "import":
		var rep *feeds.Report
		var err error
		if sub == "update" {
			if fl.NArg() != 0 {
				return &ExitError{Code: 2, Err: errors.New("feeds update: no arguments expected")}
			}
			rep, err = m.Update(ctx)
		} else {
			if fl.NArg() != 1 {
				return &ExitError{Code: 2, Err: errors.New("feeds import: want exactly one PATH")}
			}
			rep, err = m.Import(ctx, fl.Arg(0))
		}
		if rep != nil {
			printReport(stdio.Stdout, rep, *format)
		}
		if err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("feeds %s: %w", sub, err)}
		}
		if err := rep.Failed(); err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("feeds %s: some sources failed (their previous data is kept):\n%w", sub, err)}
		}
		return nil
	case "export":
		if fl.NArg() != 1 {
			return &ExitError{Code: 2, Err: errors.New("feeds export: want exactly one FILE")}
		}
		return exportBundle(ctx, m, fl.Arg(0), stdio)
	case "status":
		return feedsStatus(m, *format, stdio)
	}
	fl.Usage()
	return &ExitError{Code: 2, Err: fmt.Errorf("feeds: unknown subcommand %q", sub)}
}

func printReport(w io.Writer, rep *feeds.Report, format string) {
	if format == "json" {
		writeJSONTo(w, rep)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tFILE\tSTATUS\tRECORDS\tERROR")
	for _, it := range rep.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", it.Source, it.Path, it.Status, it.Records, it.Error)
	}
	tw.Flush()
	if rep.Rebuilt {
		fmt.Fprintf(w, "knowledge base rebuilt in %s\n", rep.Duration.Round(time.Millisecond))
	} else {
		fmt.Fprintln(w, "knowledge base unchanged")
	}
}

func exportBundle(ctx context.Context, m *feeds.Manager, path string, stdio IO) error {
	var n int
	err := writeOutput(path, func(w io.Writer) error {
		var err error
		n, err = m.Export(ctx, w)
		return err
	})
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("feeds export: %w", err)}
	}
	fmt.Fprintf(stdio.Stdout, "exported %d feed files to %s\n", n, path)
	return nil
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i+1]
	}
	return "."
}

func feedsStatus(m *feeds.Manager, format string, stdio IO) error {
	st, err := m.Status()
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	var meta *vulndb.Meta
	var size int64
	if db, err := vulndb.Open(m.KBPath()); err == nil {
		mm := db.Meta()
		meta, size = &mm, db.Size()
		db.Close()
	}
	if format == "json" {
		writeJSONTo(stdio.Stdout, map[string]any{"sources": st, "knowledgeBase": meta, "path": m.KBPath(), "size": size})
		return nil
	}
	if len(st) == 0 {
		fmt.Fprintln(stdio.Stdout, "no feeds stored yet: run `riskmap feeds update` (online) or `riskmap feeds import PATH` (offline)")
		return nil
	}
	tw := tabwriter.NewWriter(stdio.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tFILE\tRECORDS\tLAST UPDATE\tAGE\tLAST ERROR")
	for _, s := range st {
		upd := "never"
		age := "-"
		if !s.UpdatedAt.IsZero() {
			upd = s.UpdatedAt.UTC().Format(time.RFC3339)
			age = humanAge(s.Age)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", s.Source, s.Path, s.Records, upd, age, s.LastError)
	}
	tw.Flush()
	if meta != nil {
		fmt.Fprintf(stdio.Stdout, "\nknowledge base %s: %d vulnerabilities, %d packages, %d CVEs, %.1f MB, built %s (schema %d)\n",
			m.KBPath(), meta.Vulns, meta.Packages, meta.CVEs, float64(size)/1e6, meta.BuiltAt.Format(time.RFC3339), meta.Schema)
	} else {
		fmt.Fprintf(stdio.Stdout, "\nno knowledge base at %s\n", m.KBPath())
	}
	return nil
}

func humanAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return d.Round(time.Minute).String()
}
