package topology

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/riskmap/riskmap/internal/store"
)

// errExposedStale: another replica changed topology_exposed since this one
// read it; the pass is dropped and the next one reads the table again.
var errExposedStale = errors.New("exposed nodes changed by another replica")

// exposedLock is the advisory lock key that serialises CheckExposure's
// transactions across replicas.
const exposedLock = 0x72697365_78706f73 // "risexpos"

// exposedUnchanged runs first in CheckExposure's transaction on
// PostgreSQL: it takes the replicas' advisory lock (held to commit) and
// checks that the rows the pass is about to change are as this replica's
// copy says, so two replicas never publish the same node.exposed: the one
// that comes second finds the first's rows and gives up the pass. SQLite
// (one console): nothing to check.
func (t *Topology) exposedUnchanged(ctx context.Context, q store.Querier, insert []ExposedNode, regained, lost, drop []string) error {
	if !t.follow.on {
		return nil
	}
	if _, err := q.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", int64(exposedLock)); err != nil {
		return fmt.Errorf("lock exposed nodes: %w", err)
	}
	ids := []string{exposedBaseline}
	for _, n := range insert {
		ids = append(ids, n.ID)
	}
	ids = append(append(append(ids, regained...), lost...), drop...)
	got := map[string]exposedState{}
	for i := 0; i < len(ids); i += chunkRows {
		part := ids[i:min(i+chunkRows, len(ids))]
		args := make([]any, len(part))
		for k, id := range part {
			args[k] = id
		}
		rows, err := q.QueryContext(ctx, "SELECT node_id, since, lost_at FROM topology_exposed WHERE node_id IN ("+placeholders(len(part))+")", args...)
		if err != nil {
			return fmt.Errorf("recheck exposed nodes: %w", err)
		}
		for rows.Next() {
			var id string
			var since int64
			var lostAt sql.NullInt64
			if err := rows.Scan(&id, &since, &lostAt); err != nil {
				rows.Close()
				return fmt.Errorf("recheck exposed nodes: %w", err)
			}
			got[id] = exposedState{since: since, lostAt: lostAt.Int64}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("recheck exposed nodes: %w", err)
		}
	}
	for _, id := range ids {
		mine, ok := t.exposed[id]
		theirs, ok2 := got[id]
		if ok != ok2 || (mine.lostAt == 0) != (theirs.lostAt == 0) {
			return errExposedStale
		}
	}
	return nil
}
