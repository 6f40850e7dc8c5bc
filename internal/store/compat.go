package store

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// Schema compatibility between two versions of the console running on one
// database (a rolling upgrade of replicas). Migrations expand: they add
// tables, columns with defaults and indexes, which an older binary never
// reads and does not mind. A migration that contracts (drops or renames
// what an older binary uses, or tightens a constraint it may break) runs
// one release after the expansion that made it safe, says so in its
// header (`-- riskmap:contract`), and inserts a schema_compat row naming
// the oldest migration a binary must know to run with it. TestMigrationsExpandOnly
// holds migrations to this rule.

// SchemaStatus is the database schema compared with this binary's
// migrations.
type SchemaStatus struct {
	// Database is the newest migration applied to the database; Binary is
	// the newest this binary embeds.
	Database, Binary int64
	// CompatibleSince is the oldest migration a binary must know to run
	// with the database's schema (0: any).
	CompatibleSince int64
}

// OK reports whether this binary can run with the schema: it is at the
// binary's version, or newer and not contracted past the binary.
func (s SchemaStatus) OK() bool {
	return s.Database >= s.Binary && s.CompatibleSince <= s.Binary
}

// Problem explains a schema this binary cannot run with ("" when OK).
func (s SchemaStatus) Problem() string {
	switch {
	case s.Database < s.Binary:
		return fmt.Sprintf("database schema is at migration %d, older than this binary's %d (migrations not applied)", s.Database, s.Binary)
	case s.CompatibleSince > s.Binary:
		return fmt.Sprintf("database schema is at migration %d and needs a riskmap that knows migration %d or later; this binary knows up to %d: upgrade it", s.Database, s.CompatibleSince, s.Binary)
	}
	return ""
}

// binaryVersion is the newest migration embedded in this binary.
func binaryVersion() (int64, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return 0, err
	}
	var max int64
	for _, e := range entries {
		v, ok := migrationVersion(e.Name())
		if ok && v > max {
			max = v
		}
	}
	return max, nil
}

// migrationVersion reads NNNNN from NNNNN_name.sql.
func migrationVersion(name string) (int64, bool) {
	if path.Ext(name) != ".sql" {
		return 0, false
	}
	num, _, ok := strings.Cut(name, "_")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(num, 10, 64)
	return v, err == nil
}

// Schema reads the database's schema status.
func (s *Store) Schema(ctx context.Context) (SchemaStatus, error) {
	var st SchemaStatus
	var err error
	if st.Binary, err = binaryVersion(); err != nil {
		return st, fmt.Errorf("schema status: %w", err)
	}
	if st.Database, err = s.MigrationVersion(ctx); err != nil {
		return st, fmt.Errorf("schema status: %w", err)
	}
	if st.Database > st.Binary {
		if err := s.Read().QueryRowContext(ctx, "SELECT COALESCE(MAX(compatible_since), 0) FROM schema_compat").Scan(&st.CompatibleSince); err != nil {
			return st, fmt.Errorf("schema status: read schema_compat: %w", err)
		}
	}
	return st, nil
}

// checkSchema refuses a schema this binary cannot run with, and logs a
// newer one it can (a rolling upgrade in progress).
func (s *Store) checkSchema(ctx context.Context) error {
	st, err := s.Schema(ctx)
	if err != nil {
		return err
	}
	if !st.OK() {
		return fmt.Errorf("database %s: %s", s.where, st.Problem())
	}
	if st.Database > st.Binary {
		s.log.Warn("database schema is newer than this binary; running with it (expand-only migrations)", "schema", st.Database, "binary", st.Binary)
	}
	return nil
}
