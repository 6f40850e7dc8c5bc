package store

import (
	"context"
	"io/fs"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/testenv"
)

// TestSchemaCompat: a binary runs with a newer schema unless a contract
// migration says it needs a newer binary, and then it refuses to start
// with an error naming both versions.
func TestSchemaCompat(t *testing.T) {
	for _, b := range testenv.Backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			url := b.URL(t)
			st, err := Open(ctx, Config{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			bin, err := binaryVersion()
			if err != nil {
				t.Fatal(err)
			}
			status, err := st.Schema(ctx)
			if err != nil || !status.OK() || status.Database != bin {
				t.Fatalf("fresh database: %+v %v (binary %d)", status, err, bin)
			}
			// A newer binary applied an expand migration: this one runs.
			if err := st.Tx(ctx, func(q Querier) error {
				_, err := q.ExecContext(ctx, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, ?)", bin+1, true)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			st.Close()
			st, err = Open(ctx, Config{URL: url})
			if err != nil {
				t.Fatalf("newer expand-only schema refused: %v", err)
			}
			// Then a contract migration that needs it.
			if err := st.Tx(ctx, func(q Querier) error {
				_, err := q.ExecContext(ctx, "INSERT INTO schema_compat (version, compatible_since) VALUES (?, ?)", bin+1, bin+1)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			status, err = st.Schema(ctx)
			if err != nil || status.OK() {
				t.Fatalf("contracted schema reported OK: %+v %v", status, err)
			}
			st.Close()
			_, err = Open(ctx, Config{URL: url})
			if err == nil || !strings.Contains(err.Error(), "upgrade it") {
				t.Fatalf("contracted schema: got %v, want a refusal asking for an upgrade", err)
			}
		})
	}
}

// contractSQL finds statements that take away what an older binary may use.
var contractSQL = regexp.MustCompile(`(?i)\b(DROP\s+(TABLE|COLUMN|VIEW)|RENAME\s|ALTER\s+COLUMN\s+\S+\s+(TYPE|SET\s+NOT\s+NULL)|ALTER\s+TABLE\s+\S+\s+DROP\s)`)

// TestMigrationsExpandOnly guards the rule replicas of two versions rely
// on: from migration 44 on, a migration that drops, renames or retypes
// (what an older binary may still use) must be marked as a contract step
// and record the binaries it needs in schema_compat.
func TestMigrationsExpandOnly(t *testing.T) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		v, ok := migrationVersion(e.Name())
		if !ok {
			t.Errorf("%s: not named NNNNN_name.sql", e.Name())
			continue
		}
		if v < 44 {
			continue // before replicas: one console at a time
		}
		b, err := fs.ReadFile(migrationFS, "migrations/"+e.Name())
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		up, _, _ := strings.Cut(text, "-- +goose Down")
		_, up, ok = strings.Cut(up, "-- +goose Up")
		if !ok {
			t.Errorf("%s: no -- +goose Up section", e.Name())
			continue
		}
		var stmts []string
		for _, l := range strings.Split(up, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") {
				stmts = append(stmts, l)
			}
		}
		m := contractSQL.FindString(strings.Join(stmts, "\n"))
		if m == "" {
			continue
		}
		if !strings.Contains(text, "-- riskmap:contract") || !strings.Contains(up, "INSERT INTO schema_compat") {
			t.Errorf("%s: %q contracts the schema under replicas of the previous version; make it expand-only, or mark it `-- riskmap:contract` and INSERT INTO schema_compat (version, compatible_since) (ARCHITECTURE.md, Replicas)", e.Name(), m)
		}
	}
}

// TestExpandOnlyCatches: the lint above fails a plain DROP COLUMN.
func TestExpandOnlyCatches(t *testing.T) {
	for _, s := range []string{"ALTER TABLE nodes DROP COLUMN gone_at;", "DROP TABLE edges;", "ALTER TABLE x RENAME COLUMN a TO b;", "ALTER TABLE x ALTER COLUMN a TYPE TEXT;"} {
		if contractSQL.FindString(s) == "" {
			t.Errorf("%q not caught", s)
		}
	}
	for _, s := range []string{"ALTER TABLE x ADD COLUMN a TEXT NOT NULL DEFAULT '';", "CREATE INDEX a ON b (c);"} {
		if m := contractSQL.FindString(s); m != "" {
			t.Errorf("%q caught as %q", s, m)
		}
	}
}

// TestTakeToken: a shared bucket lets burst takes through, refuses the
// next with the wait until a token is back, and refills with time; two
// stores on one database (two replicas) draw from the same bucket.
func TestTakeToken(t *testing.T) {
	for _, b := range testenv.Backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			url := b.URL(t)
			s1, err := Open(ctx, Config{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			defer s1.Close()
			s2 := s1
			if b.Name == "postgres" {
				if s2, err = Open(ctx, Config{URL: url}); err != nil {
					t.Fatal(err)
				}
				defer s2.Close()
			}
			now := time.UnixMilli(1_800_000_000_000)
			for i := range 4 {
				st := []*Store{s1, s2}[i%2]
				if ok, _, err := st.TakeToken(ctx, "k", 4, 2*time.Second, now); !ok || err != nil {
					t.Fatalf("take %d of a burst of 4: %v %v", i+1, ok, err)
				}
			}
			ok, wait, err := s2.TakeToken(ctx, "k", 4, 2*time.Second, now.Add(500*time.Millisecond))
			if ok || err != nil || wait != 1500*time.Millisecond {
				t.Fatalf("fifth take: ok=%v wait=%s err=%v; want refused, 1.5s", ok, wait, err)
			}
			if ok, _, err := s1.TakeToken(ctx, "k", 4, 2*time.Second, now.Add(2*time.Second)); !ok || err != nil {
				t.Fatalf("after a refill: %v %v", ok, err)
			}
			if ok, _, _ := s1.TakeToken(ctx, "k", 4, 2*time.Second, now.Add(2*time.Second)); ok {
				t.Fatal("a second token out of one refill")
			}
			if ok, _, _ := s1.TakeToken(ctx, "other", 4, 2*time.Second, now); !ok {
				t.Fatal("another key is limited by k's bucket")
			}
			if err := s1.PruneTokens(ctx, now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		})
	}
}
