package store

import (
	"context"
	"database/sql"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// openPostgres opens a PostgreSQL pool whose connections are checked
// (pinged) before reuse when idle over a second, as pgx does, and also
// when they were last used before a connection of the pool was found
// broken. A PostgreSQL restart breaks every connection at once; without
// the second rule a connection used a moment before the restart was
// handed out again unchecked after it, and the request it served failed
// (a sensor's report answered 503) although the database was back.
func openPostgres(url string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	b := &pgBreaks{}
	cfg.Tracer = b
	return stdlib.OpenDB(*cfg, stdlib.OptionShouldPing(b.shouldPing)), nil
}

// pgBreaks records when a connection of the pool was last found broken
// (a statement failed and closed it).
type pgBreaks struct{ at atomic.Int64 } // Unix nanoseconds; 0: never

func (b *pgBreaks) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (b *pgBreaks) TraceQueryEnd(_ context.Context, c *pgx.Conn, d pgx.TraceQueryEndData) {
	if d.Err != nil && c.IsClosed() {
		b.at.Store(time.Now().UnixNano())
	}
}

func (b *pgBreaks) shouldPing(_ context.Context, p stdlib.ShouldPingParams) bool {
	if p.IdleDuration > time.Second {
		return true
	}
	at := b.at.Load()
	return at != 0 && time.Now().Add(-p.IdleDuration).UnixNano() <= at
}
