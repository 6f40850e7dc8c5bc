package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver for database/sql
)

// pgCounters are the console database's write counters
// (pg_stat_database): transactions committed and rows written.
type pgCounters struct {
	commits, rows int64
	at            time.Time
}

// pgStats reads the counters of the database url names ("" or an error:
// none, the figures are left out).
func pgStats(url string) (pgCounters, bool) {
	if url == "" {
		return pgCounters{}, false
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		return pgCounters{}, false
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var c pgCounters
	// The statistics collector flushes every second or so: a transaction
	// of our own forces nothing, so the counters lag by that much.
	if err := db.QueryRowContext(ctx, `SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database WHERE datname = current_database()`).
		Scan(&c.commits, &c.rows); err != nil {
		return pgCounters{}, false
	}
	c.at = time.Now()
	return c, true
}

// pgRates prints PostgreSQL's write rates between two readings.
func pgRates(a, b pgCounters) string {
	s := b.at.Sub(a.at).Seconds()
	if s <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f commits/s, %.0f rows written/s", float64(b.commits-a.commits)/s, float64(b.rows-a.rows)/s)
}
