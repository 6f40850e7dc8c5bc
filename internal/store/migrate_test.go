package store

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/riskmap/riskmap/internal/testenv"
)

// TestRefreshFamiliesBackfill: refresh tokens issued before migration 33
// get their families, so sensors keep refreshing across the upgrade, and a
// family with a revoked token stays revoked.
func TestRefreshFamiliesBackfill(t *testing.T) {
	for _, b := range testenv.Backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			url := b.URL(t)
			s := &Store{dialect: SQLite}
			driver, dsn, dialect := "sqlite", "file:"+url+"?_pragma=foreign_keys(1)", goose.DialectSQLite3
			if strings.HasPrefix(url, "postgres") {
				s.dialect, driver, dsn, dialect = Postgres, "pgx", url, goose.DialectPostgres
			}
			db, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			fsys, err := s.migrationsFS()
			if err != nil {
				t.Fatal(err)
			}
			p, err := goose.NewProvider(dialect, db, fsys)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.UpTo(ctx, 31); err != nil {
				t.Fatalf("migrate to 31: %v", err)
			}
			q := rebound{s.dialect, db}
			for _, stmt := range []struct {
				sql  string
				args []any
			}{
				{"INSERT INTO orgs (id, name, created_at, updated_at) VALUES ('o', 'O', 1, 1)", nil},
				{"INSERT INTO users (id, org_id, email, name, role, password_hash, disabled, created_at, password_changed_at) VALUES ('u', 'o', 'u@example.com', 'U', 'admin', 'h', ?, 1, 1)", []any{false}},
				// Family f1: rotated once, live. Family f2: reuse detected, revoked.
				{"INSERT INTO refresh_tokens (id, family_id, user_id, api_key_id, token_hash, created_at, expires_at, used_at) VALUES ('f1', 'f1', 'u', 'k', ?, 1000, 5000, 2000)", []any{[]byte{1}}},
				{"INSERT INTO refresh_tokens (id, family_id, user_id, api_key_id, token_hash, created_at, expires_at) VALUES ('f1b', 'f1', 'u', 'k', ?, 2000, 6000)", []any{[]byte{2}}},
				{"INSERT INTO refresh_tokens (id, family_id, user_id, api_key_id, token_hash, created_at, expires_at, revoked_at) VALUES ('f2', 'f2', 'u', 'k', ?, 1500, 5500, 3000)", []any{[]byte{3}}},
			} {
				if _, err := q.ExecContext(ctx, stmt.sql, stmt.args...); err != nil {
					t.Fatalf("%s: %v", stmt.sql, err)
				}
			}
			db.Close()
			st, err := Open(ctx, Config{URL: url, Now: func() time.Time { return FromMillis(4000) }})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			f1, _, err := st.TokenFamilyUser(ctx, "f1")
			if err != nil || f1.RevokedAt != nil || f1.UserID != "u" || f1.APIKeyID != "k" || Millis(f1.CreatedAt) != 1000 || Millis(f1.ExpiresAt) != 6000 {
				t.Errorf("f1 = %+v, %v; want live, created 1000, expiring 6000", f1, err)
			}
			f2, _, err := st.TokenFamilyUser(ctx, "f2")
			if err != nil || f2.RevokedAt == nil || Millis(*f2.RevokedAt) != 3000 {
				t.Errorf("f2 = %+v, %v; want revoked at 3000", f2, err)
			}
		})
	}
}
