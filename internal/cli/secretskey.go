package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/secrets"
	"github.com/riskmap/riskmap/internal/store"
)

const secretsKeyUsage = `Usage: riskmap console secrets-key [console flags] ACTION

The keys that encrypt stored credentials (AES-256-GCM; the key file is
--secrets-key-file, by default secrets.key in the data directory). Run on
the console host with the console's flags or environment.

Actions:
  status   the key file's keys, the primary one, and how many stored
           secrets each key seals
  rotate   add a new key and make it the primary: running consoles that
           read this file seal with it within seconds; the hourly
           secrets.reseal job re-seals older secrets (or run reseal)
  reseal   re-seal now every secret an older key sealed
  retire   remove from the file the keys no stored secret uses (after
           reseal); a database backup older than that cannot be read
           without a copy of the retired key, so keep one with the backup
`

// runSecretsKey is `riskmap console secrets-key ACTION`.
func runSecretsKey(ctx context.Context, args []string, stdio IO) error {
	cfg, rest, err := config.LoadConsole("console secrets-key", args, os.Getenv, stdio.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdio.Stderr, "\n"+secretsKeyUsage)
		return nil
	}
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("secrets-key: %w", err)}
	}
	if len(rest) != 1 {
		return &ExitError{Code: 2, Err: errors.New("secrets-key: give one action: status, rotate, reseal or retire (flags go before it)")}
	}
	path, isDefault := cfg.SecretsKey()
	fail := func(err error) error { return &ExitError{Code: 1, Err: fmt.Errorf("secrets-key %s: %w", rest[0], err)} }
	if rest[0] == "rotate" {
		// Rotation needs only the file: the database is not opened.
		if _, err := secrets.LoadKeyring(path, isDefault); err != nil {
			return fail(err)
		}
		id, err := secrets.Rotate(path)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdio.Stdout, "New primary key %s in %s.\nConsoles reading this file seal with it within seconds; secrets sealed by older keys are re-sealed by the hourly secrets.reseal job, or now with `riskmap console secrets-key reseal`.\nCopy the file to every other console replica.\n", id, path)
		return nil
	}
	switch rest[0] {
	case "status", "reseal", "retire":
	default:
		return &ExitError{Code: 2, Err: fmt.Errorf("secrets-key: unknown action %q (want status, rotate, reseal or retire)", rest[0])}
	}
	ring, err := secrets.LoadKeyring(path, false)
	if err != nil {
		return fail(err)
	}
	st, err := store.Open(ctx, store.Config{URL: cfg.Database, DataDir: cfg.DataDir})
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	v := secrets.NewVault(st, ring, nil, nil)
	switch rest[0] {
	case "reseal":
		n, err := v.Reseal(ctx)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdio.Stdout, "Re-sealed %d secrets under key %s.\n", n, ring.Primary())
	case "retire":
		use, err := v.KeyUse(ctx)
		if err != nil {
			return fail(err)
		}
		gone, err := secrets.Retire(path, func(id string) bool { return use[id] > 0 })
		if err != nil {
			return fail(err)
		}
		if len(gone) == 0 {
			fmt.Fprintln(stdio.Stdout, "No key to retire: every key other than the primary still seals a secret (run reseal first).")
			return nil
		}
		fmt.Fprintf(stdio.Stdout, "Retired %s from %s.\n", strings.Join(gone, ", "), path)
	case "status":
		use, err := v.KeyUse(ctx)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdio.Stdout, "Key file %s\n", path)
		for _, id := range ring.IDs() {
			mark := ""
			if id == ring.Primary() {
				mark = " (primary)"
			}
			fmt.Fprintf(stdio.Stdout, "  %s%s: seals %d secrets\n", id, mark, use[id])
			delete(use, id)
		}
		for id, n := range use {
			fmt.Fprintf(stdio.Stdout, "  %s: NOT IN THE KEY FILE, seals %d secrets that cannot be opened\n", id, n)
		}
	}
	return nil
}
