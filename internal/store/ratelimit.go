package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// TakeToken takes a token from the shared bucket key (burst tokens,
// refilled one per every), or says how long until one is free. The bucket
// is a row updated in one statement, so replicas sharing PostgreSQL hold
// one limit together. now is the caller's clock.
func (s *Store) TakeToken(ctx context.Context, key string, burst int, every time.Duration, now time.Time) (bool, time.Duration, error) {
	ms := Millis(now)
	per := float64(every.Milliseconds())
	if per <= 0 {
		per = 1
	}
	b := float64(burst)
	// avail is the bucket refilled to now, at most burst.
	const avail = "LEAST(CAST(? AS DOUBLE PRECISION), b.tokens + GREATEST(0, CAST(? AS BIGINT) - b.at) / CAST(? AS DOUBLE PRECISION))"
	q := "INSERT INTO rate_buckets AS b (key, tokens, at, ok) VALUES (?, ?, ?, TRUE) ON CONFLICT (key) DO UPDATE SET " +
		"ok = " + avail + " >= 1, tokens = " + avail + " - CASE WHEN " + avail + " >= 1 THEN 1 ELSE 0 END, at = GREATEST(b.at, CAST(? AS BIGINT)) " +
		"RETURNING ok, tokens"
	if s.dialect == SQLite {
		q = strings.NewReplacer("LEAST(", "MIN(", "GREATEST(", "MAX(").Replace(q)
	}
	var ok bool
	var tokens float64
	// One statement, autocommitted (on SQLite, on the writer connection).
	err := rebound{s.dialect, s.w}.QueryRowContext(ctx, q, key, b-1, ms, b, ms, per, b, ms, per, b, ms, per, ms).Scan(&ok, &tokens)
	if err != nil {
		return false, 0, fmt.Errorf("rate limit %s: %w", key, err)
	}
	if ok {
		return true, 0, nil
	}
	return false, time.Duration((1 - tokens) * float64(every)), nil
}

// PruneTokens forgets buckets untouched since before.
func (s *Store) PruneTokens(ctx context.Context, before time.Time) error {
	if _, err := (rebound{s.dialect, s.w}).ExecContext(ctx, "DELETE FROM rate_buckets WHERE at < ?", Millis(before)); err != nil {
		return fmt.Errorf("prune rate limits: %w", err)
	}
	return nil
}
