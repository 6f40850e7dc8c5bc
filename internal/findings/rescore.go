package findings

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/risk"
	"github.com/riskmap/riskmap/internal/store"
)

// Rescoring follows the topology: every batch of reports names the nodes
// it changed, and the findings stored on them are scored again with their
// present exposure (RescoreConsumer). Most batches change nothing a
// finding's risk depends on (a process's CPU figure, a short-lived client
// connection) yet name the node, so Rescore works in three steps, each
// skipping what the one before showed unchanged:
//
//  1. one grouped query per 400 nodes gives each target's findings
//     version (its scans, their finding counts and score sums) and the
//     topology each target's exposure; a target whose exposure and
//     findings version are those it last had when its stored risk was
//     found right (memo) is done;
//  2. the other targets' findings are read and scored;
//  3. only the findings whose score or explanation changed are written,
//     in transactions of at most rescoreTxRows updates (no write, and no
//     competition with the topology's writer for the database, when
//     nothing changed).

// rescoreTxRows bounds the updates of one rescore transaction.
const rescoreTxRows = 2000

// rescoreMemo remembers, per target, the exposure and findings version
// under which its stored risk was last found right. It is a cache of this
// process: empty after a restart (the first rescore of each target reads
// its findings), wrong only to the cost of a read (a version or exposure
// that differs makes Rescore read the findings again).
type rescoreMemo struct {
	mu sync.Mutex
	m  map[Target]memo
}

type memo struct {
	exposure [sha256.Size]byte
	version  string
}

func (r *rescoreMemo) same(t Target, m memo) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, ok := r.m[t]
	return ok && old == m
}

func (r *rescoreMemo) set(t Target, m memo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[t] = m
}

func (r *rescoreMemo) forget(t Target) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, t)
}

// Rescore recomputes the risk of the current and pending findings of the
// given nodes from their present exposure and writes those whose score or
// explanation changed. It returns how many findings changed.
func (s *Service) Rescore(ctx context.Context, nodeIDs ...string) (int, error) {
	versions, err := s.findingVersions(ctx, nodeIDs)
	if err != nil {
		return 0, err
	}
	type target struct {
		t    Target
		memo memo
		ex   risk.Exposure
		hop  risk.Hop
	}
	var stale []target
	staleNodes := map[string]bool{}
	for _, t := range slices.SortedFunc(maps.Keys(versions), compareTargets) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		ex, hop := s.exposureOf(ctx, t)
		b, _ := json.Marshal(struct {
			Ex  risk.Exposure
			Hop risk.Hop
		}{ex, hop})
		m := memo{exposure: sha256.Sum256(b), version: versions[t]}
		if s.memo.same(t, m) {
			continue
		}
		stale = append(stale, target{t: t, memo: m, ex: ex, hop: hop})
		staleNodes[t.NodeID] = true
	}
	if len(stale) == 0 {
		return 0, nil
	}
	items, err := s.rescoreItems(ctx, slices.Sorted(maps.Keys(staleNodes)))
	if err != nil {
		return 0, err
	}
	type change struct {
		id, expl, detail string
		score            float64
	}
	var changes []change
	for _, st := range stale {
		before := len(changes)
		for _, it := range items[st.t] {
			var r risk.Result
			if it.typed != nil {
				var ok bool
				if r, ok = it.typed.rescore(st.ex, st.hop); !ok {
					continue // a type this console cannot score yet keeps its score
				}
			} else {
				r = risk.Score(&it.f, it.files, st.ex, st.hop)
			}
			expl, _ := json.Marshal(r)
			if r.Score == it.score && string(expl) == it.expl {
				continue
			}
			var detail []byte
			if it.typed != nil {
				detail, _ = json.Marshal(it.typed)
			} else {
				it.f.Risk = match.Risk{Score: r.Score, Explanation: explain(r)}
				detail, _ = json.Marshal(it.f)
			}
			changes = append(changes, change{id: it.id, expl: string(expl), detail: string(detail), score: r.Score})
		}
		if len(changes) == before {
			// Right as stored: the same exposure and version need no
			// reading next time. (After a write, the next rescore reads
			// the findings once more and remembers then.)
			s.memo.set(st.t, st.memo)
		} else {
			s.memo.forget(st.t)
		}
	}
	n := 0
	for len(changes) > 0 {
		part := changes[:min(rescoreTxRows, len(changes))]
		changes = changes[len(part):]
		err := s.st.Tx(ctx, func(tx store.Querier) error {
			for _, c := range part {
				if _, err := tx.ExecContext(ctx, `UPDATE scan_findings SET score = ?, explanation = ?, detail = ? WHERE id = ?`,
					c.score, c.expl, c.detail, c.id); err != nil {
					return fmt.Errorf("rescore finding %s: %w", c.id, err)
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += len(part)
	}
	return n, nil
}

func compareTargets(a, b Target) int {
	return strings.Compare(a.NodeID+"\x00"+a.SensorID+"\x00"+a.Kind+"\x00"+a.Ref, b.NodeID+"\x00"+b.SensorID+"\x00"+b.Kind+"\x00"+b.Ref)
}

// inChunks calls fn with the distinct ids, at most 400 at a time, as
// query arguments and their placeholders.
func inChunks(ids []string, fn func(args []any, marks string) error) error {
	seen := map[string]bool{}
	var args []any
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		err := fn(args, strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", "))
		args = args[:0]
		return err
	}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if args = append(args, id); len(args) == 400 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// findingVersions gives each target with current or pending findings on
// the nodes its findings version: its scans with their finding counts and
// score sums. Storing a scan's findings, matching them again or
// rescoring them changes it.
func (s *Service) findingVersions(ctx context.Context, nodeIDs []string) (map[Target]string, error) {
	parts := map[Target][]string{}
	err := inChunks(nodeIDs, func(args []any, marks string) error {
		rows, err := s.st.Read().QueryContext(ctx, `SELECT node_id, sensor_id, target_kind, target_ref, scan_id, COUNT(*), SUM(score) FROM scan_findings
			WHERE state IN ('current', 'pending') AND node_id IN (`+marks+`) GROUP BY node_id, sensor_id, target_kind, target_ref, scan_id`, args...)
		if err != nil {
			return fmt.Errorf("rescore: findings of %d nodes: %w", len(args), err)
		}
		defer rows.Close()
		for rows.Next() {
			var t Target
			var scan string
			var n int
			var sum float64
			if err := rows.Scan(&t.NodeID, &t.SensorID, &t.Kind, &t.Ref, &scan, &n, &sum); err != nil {
				return fmt.Errorf("rescore: findings of %d nodes: %w", len(args), err)
			}
			parts[t] = append(parts[t], scan+":"+strconv.Itoa(n)+":"+strconv.FormatFloat(sum, 'g', -1, 64))
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	out := make(map[Target]string, len(parts))
	for t, p := range parts {
		slices.Sort(p)
		out[t] = strings.Join(p, " ")
	}
	return out, nil
}

// rescoreItem is a stored finding as Rescore reads it: a vulnerability
// (f), or a finding of another type (typed).
type rescoreItem struct {
	id    string
	files []string
	f     match.Finding
	typed *typedDetail
	score float64
	expl  string
}

// rescoreItems reads the current and pending findings of the nodes, by
// target.
func (s *Service) rescoreItems(ctx context.Context, nodeIDs []string) (map[Target][]rescoreItem, error) {
	out := map[Target][]rescoreItem{}
	err := inChunks(nodeIDs, func(args []any, marks string) error {
		rows, err := s.st.Read().QueryContext(ctx, `SELECT node_id, sensor_id, target_kind, target_ref, id, files, detail, score, explanation, finding_type FROM scan_findings
			WHERE state IN ('current', 'pending') AND node_id IN (`+marks+`)`, args...)
		if err != nil {
			return fmt.Errorf("rescore: read findings of %d nodes: %w", len(args), err)
		}
		defer rows.Close()
		for rows.Next() {
			var t Target
			var it rescoreItem
			var files, detail, typ string
			if err := rows.Scan(&t.NodeID, &t.SensorID, &t.Kind, &t.Ref, &it.id, &files, &detail, &it.score, &it.expl, &typ); err != nil {
				return fmt.Errorf("rescore: read findings: %w", err)
			}
			_ = json.Unmarshal([]byte(files), &it.files)
			var err error
			if typ != TypeVulnerability {
				it.typed = &typedDetail{}
				err = json.Unmarshal([]byte(detail), it.typed)
			} else {
				err = json.Unmarshal([]byte(detail), &it.f)
			}
			if err != nil {
				return fmt.Errorf("rescore finding %s: %w", it.id, err)
			}
			out[t] = append(out[t], it)
		}
		return rows.Err()
	})
	return out, err
}
