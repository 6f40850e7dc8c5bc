package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// TestStmtCache: on SQLite, statements run in transactions and reads are
// prepared once and reused (a statement first seen inside a transaction
// is prepared before the next one, never inside it, so the one write
// connection cannot deadlock), long queries are left unprepared, and
// writers and readers running at once give the right answers.
func TestStmtCache(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, Config{URL: filepath.Join(t.TempDir(), "c.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.wc == nil || st.rc == nil {
		t.Fatal("no statement cache on SQLite")
	}
	if err := st.Tx(ctx, func(q Querier) error {
		_, err := q.ExecContext(ctx, "CREATE TABLE cache_t (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	const ins = "INSERT INTO cache_t (key, value, updated_at) VALUES (?, ?, ?)"
	for i := range 3 {
		if err := st.Tx(ctx, func(q Querier) error {
			_, err := q.ExecContext(ctx, ins, fmt.Sprint("k", i), "v", 1)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	st.wc.mu.Lock()
	_, cached := st.wc.m[ins]
	st.wc.mu.Unlock()
	if !cached {
		t.Fatal("a statement run in three transactions was not prepared for the next")
	}
	long := "SELECT COUNT(*) FROM cache_t WHERE key IN (" + placeholders(2500) + ")"
	args := make([]any, 2500)
	for i := range args {
		args[i] = fmt.Sprint("k", i)
	}
	var n int
	if err := st.Read().QueryRowContext(ctx, long, args...).Scan(&n); err != nil || n != 3 {
		t.Fatalf("long query: %d, %v", n, err)
	}
	st.rc.mu.Lock()
	_, cached = st.rc.m[long]
	st.rc.mu.Unlock()
	if cached {
		t.Fatal("a query over maxStmtLen was prepared")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if err := st.Tx(ctx, func(q Querier) error {
					var c int
					if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM cache_t WHERE key = ?", "k0").Scan(&c); err != nil {
						return err
					}
					_, err := q.ExecContext(ctx, ins, fmt.Sprintf("w%d-%d", w, i), "v", 1)
					return err
				}); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range 50 {
				rows, err := st.Read().QueryContext(ctx, "SELECT key FROM cache_t WHERE value = ?", "v")
				if err != nil {
					errs <- err
					return
				}
				for rows.Next() {
				}
				rows.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := st.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM cache_t").Scan(&n); err != nil || n != 3+4*50 {
		t.Fatalf("%d rows, %v; want %d", n, err, 3+4*50)
	}
}

func placeholders(n int) string {
	b := make([]byte, 0, 2*n)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '?')
	}
	return string(b)
}
