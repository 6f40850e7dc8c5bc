package store

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/testenv"
)

// TestPoolChecksConnectionsAfterABreak: PostgreSQL ends every connection
// of the pool at once (a restart; here pg_terminate_backend, which sends
// the same FATAL). A connection that was taken from the pool before and
// comes back after, within the second in which pgx would hand it out
// unchecked, is checked once a statement has found another one broken,
// and the next statement on the pool does not fail.
func TestPoolChecksConnectionsAfterABreak(t *testing.T) {
	url := testenv.PostgresURL(t)
	st, err := Open(context.Background(), Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	db := st.r
	held, err := db.Conn(ctx) // taken (and checked) now, used by nobody
	if err != nil {
		t.Fatal(err)
	}
	other, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var ended int
	if err := admin.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()) t`).Scan(&ended); err != nil {
		t.Fatal(err)
	}
	if ended < 2 {
		t.Fatalf("%d connections ended, want the pool's 2", ended)
	}
	time.Sleep(50 * time.Millisecond)
	// A statement meets a broken connection (the first to find it).
	if _, err := other.ExecContext(ctx, "SELECT 1"); err == nil {
		t.Fatal("a statement on an ended connection succeeded: the test does not break the connections")
	}
	other.Close()
	held.Close() // back in the pool, idle for well under a second
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("the statement after the break failed: %v", err)
	}
}
