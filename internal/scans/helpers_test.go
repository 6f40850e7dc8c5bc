package scans

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// backends is the table every database test runs over.
var backends = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "riskmap.db") }},
	{"postgres", func(t *testing.T) string { return testenv.PostgresURL(t) }},
}

func forEachBackend(t *testing.T, fn func(t *testing.T, st *store.Store, clk *clock)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			clk := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
			st, err := store.Open(context.Background(), store.Config{URL: b.url(t), Now: clk.Now})
			if err != nil {
				t.Fatalf("open store: %v", err)
			}
			t.Cleanup(func() { st.Close() })
			fn(t, st, clk)
		})
	}
}

// addNode inserts a topology node as the topology ingest would.
func addNode(t *testing.T, st *store.Store, id, kind, key, name, sensor string) {
	t.Helper()
	err := st.Tx(context.Background(), func(q store.Querier) error {
		_, err := q.ExecContext(context.Background(), `INSERT INTO nodes (id, kind, node_key, name, sensor_id, attrs, first_seen, last_seen)
			VALUES (?, ?, ?, ?, ?, '{}', 0, 0)`, id, kind, key, name, sensor)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
