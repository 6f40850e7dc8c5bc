package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/riskmap/riskmap/internal/store"
)

// TestExecValues inserts more rows than one statement takes, in chunks,
// honours the tail (ON CONFLICT), and refuses a row of the wrong width.
func TestExecValues(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store, _ *clock, _ string) {
		ctx := context.Background()
		const n = 2*store.MaxRowsPerStatement + 7
		insert := func(paths string) error {
			return s.Tx(ctx, func(q store.Querier) error {
				return store.ExecValues(ctx, q, "INSERT INTO topology_loaded_sets (id, paths)", 2, n, "ON CONFLICT (id) DO NOTHING",
					func(i int, args []any) ([]any, error) { return append(args, fmt.Sprintf("set-%04d", i), paths), nil })
			})
		}
		if err := insert(`["/a"]`); err != nil {
			t.Fatal(err)
		}
		if err := insert(`["/b"]`); err != nil { // every id exists: nothing changes
			t.Fatal(err)
		}
		var count, b int
		if err := s.Read().QueryRowContext(ctx, `SELECT COUNT(*), SUM(CASE WHEN paths = '["/b"]' THEN 1 ELSE 0 END) FROM topology_loaded_sets`).Scan(&count, &b); err != nil {
			t.Fatal(err)
		}
		if count != n || b != 0 {
			t.Errorf("%d rows (%d rewritten), want %d (none rewritten)", count, b, n)
		}
		err := s.Tx(ctx, func(q store.Querier) error {
			return store.ExecValues(ctx, q, "INSERT INTO topology_loaded_sets (id, paths)", 2, 1, "",
				func(i int, args []any) ([]any, error) { return append(args, "short-row"), nil })
		})
		if err == nil {
			t.Error("a row of 1 value for 2 columns was accepted")
		}
	})
}
