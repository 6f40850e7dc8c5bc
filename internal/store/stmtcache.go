package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps the prepared statements of one SQLite pool. The driver
// parses a statement anew for every call otherwise, which was an eighth
// of the console's CPU at 2,000 sensors (docs/sizing.md). PostgreSQL's
// driver (pgx) caches statements itself.
//
// A statement first seen inside a transaction is prepared before the
// next transaction begins, not inside it: the SQLite write pool has one
// connection, which the transaction holds. database/sql keeps a cached
// statement prepared per connection and re-prepares it on a new one.
type stmtCache struct {
	db      *sql.DB
	mu      sync.Mutex
	m       map[string]*sql.Stmt
	pending map[string]struct{}
}

const (
	// maxStmts bounds the cache; queries past it run unprepared.
	maxStmts = 512
	// maxStmtLen leaves long generated queries (IN lists of many
	// placeholders) unprepared.
	maxStmtLen = 4096
)

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}, pending: map[string]struct{}{}}
}

func cacheable(q string) bool { return len(q) <= maxStmtLen }

// lookup returns q's prepared statement, or nil (then q is prepared
// before the next transaction).
func (c *stmtCache) lookup(q string) *sql.Stmt {
	if c == nil || !cacheable(q) {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.m[q]; st != nil {
		return st
	}
	if len(c.m)+len(c.pending) < maxStmts {
		c.pending[q] = struct{}{}
	}
	return nil
}

// prepare returns q's prepared statement, preparing it on the pool; nil
// when it cannot be (the plain call then reports any error). Only for a
// pool the caller holds no connection of. The lock is not held while
// preparing, which waits for a connection.
func (c *stmtCache) prepare(ctx context.Context, q string) *sql.Stmt {
	if c == nil || !cacheable(q) {
		return nil
	}
	c.mu.Lock()
	st, full := c.m[q], len(c.m) >= maxStmts
	c.mu.Unlock()
	if st != nil || full {
		return st
	}
	st, err := c.db.PrepareContext(context.WithoutCancel(ctx), q)
	if err != nil {
		return nil
	}
	return c.keep(q, st)
}

// keep adds a prepared statement, or returns the one another goroutine
// added meanwhile.
func (c *stmtCache) keep(q string, st *sql.Stmt) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[q]; old != nil {
		_ = st.Close()
		return old
	}
	c.m[q] = st
	return st
}

// preparePending prepares the statements seen inside transactions; the
// caller holds no connection of the pool.
func (c *stmtCache) preparePending(ctx context.Context) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if len(c.pending) == 0 {
		c.mu.Unlock()
		return
	}
	var qs []string
	for q := range c.pending {
		qs = append(qs, q)
	}
	clear(c.pending)
	c.mu.Unlock()
	for _, q := range qs {
		if st, err := c.db.PrepareContext(context.WithoutCancel(ctx), q); err == nil {
			c.keep(q, st)
		}
	}
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		_ = st.Close()
		delete(c.m, q)
	}
}

// cachedTx runs a transaction's statements through the cache.
type cachedTx struct {
	tx *sql.Tx
	c  *stmtCache
}

func (t cachedTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.c.lookup(q); st != nil {
		return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

func (t cachedTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.c.lookup(q); st != nil {
		return t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, q, args...)
}

func (t cachedTx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.c.lookup(q); st != nil {
		return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}

// cachedDB runs reads outside a transaction through the cache.
type cachedDB struct {
	db *sql.DB
	c  *stmtCache
}

func (d cachedDB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := d.c.prepare(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return d.db.ExecContext(ctx, q, args...)
}

func (d cachedDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := d.c.prepare(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.db.QueryContext(ctx, q, args...)
}

func (d cachedDB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := d.c.prepare(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.db.QueryRowContext(ctx, q, args...)
}
