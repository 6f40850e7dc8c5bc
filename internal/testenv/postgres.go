package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver for database/sql
)

// DefaultPostgresURL is the server .ci/run prepares: Debian's PostgreSQL on
// loopback with a role that may create databases.
const DefaultPostgresURL = "postgres://riskmap:riskmap@127.0.0.1:5432/postgres?sslmode=disable"

// PostgresURL returns the URL of a fresh, empty PostgreSQL database created
// for this test and dropped when it ends. RISKMAP_TEST_POSTGRES_URL names the
// server (an administrative database on it); see DefaultPostgresURL.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("RISKMAP_TEST_POSTGRES_URL")
	if base == "" {
		base = DefaultPostgresURL
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("RISKMAP_TEST_POSTGRES_URL: %v", err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		Missing(t, "PostgreSQL", fmt.Sprintf("nothing listens on %s; .ci/run installs and starts it", u.Host))
	}
	conn.Close()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", u.Redacted(), err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "rmtest_" + strings.ToLower(hex.EncodeToString(b[:]))
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		Missing(t, "PostgreSQL", fmt.Sprintf("cannot create a test database on %s: %v", u.Redacted(), err))
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = a.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u.Path = "/" + name
	return u.String()
}
