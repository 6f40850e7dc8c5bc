package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Node is a vertex of the topology graph (host, process, container, image,
// pod...), unique by (Kind, Key).
type Node struct {
	ID        string
	Kind      string
	Key       string
	Name      string
	SensorID  string
	Attrs     json.RawMessage
	FirstSeen time.Time
	LastSeen  time.Time
}

// Edge is a directed relation between two nodes, unique by (SrcID, DstID,
// Kind).
type Edge struct {
	SrcID     string
	DstID     string
	Kind      string
	Attrs     json.RawMessage
	FirstSeen time.Time
	LastSeen  time.Time
}

func attrsText(a json.RawMessage) (string, error) {
	if len(a) == 0 {
		return "{}", nil
	}
	if !json.Valid(a) {
		return "", fmt.Errorf("attrs are not valid JSON")
	}
	return string(a), nil
}

// UpsertNodes records that nodes were seen at seen, in one transaction:
// new nodes get an ID and first_seen = seen; known nodes keep their ID and
// first_seen, take the new name/sensor/attrs, and last_seen only moves
// forward (a late, older report never rewinds it). It returns the stored
// nodes in input order.
func (s *Store) UpsertNodes(ctx context.Context, nodes []Node, seen time.Time) ([]Node, error) {
	out := make([]Node, len(nodes))
	err := s.Tx(ctx, func(q Querier) error {
		for i, n := range nodes {
			if err := ctx.Err(); err != nil {
				return err
			}
			attrs, err := attrsText(n.Attrs)
			if err != nil {
				return fmt.Errorf("node %s/%s: %w", n.Kind, n.Key, err)
			}
			var sensor any
			if n.SensorID != "" {
				sensor = n.SensorID
			}
			var first, last int64
			err = q.QueryRowContext(ctx, `INSERT INTO nodes (id, kind, node_key, name, sensor_id, attrs, first_seen, last_seen)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (kind, node_key) DO UPDATE SET name = excluded.name, sensor_id = excluded.sensor_id, attrs = excluded.attrs,
  last_seen = CASE WHEN excluded.last_seen > nodes.last_seen THEN excluded.last_seen ELSE nodes.last_seen END
RETURNING id, first_seen, last_seen`,
				s.newID(), n.Kind, n.Key, n.Name, sensor, attrs, Millis(seen), Millis(seen)).Scan(&n.ID, &first, &last)
			if err != nil {
				return fmt.Errorf("node %s/%s: %w", n.Kind, n.Key, err)
			}
			n.Attrs, n.FirstSeen, n.LastSeen = json.RawMessage(attrs), FromMillis(first), FromMillis(last)
			out[i] = n
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("upsert %d nodes: %w", len(nodes), err)
	}
	return out, nil
}

// UpsertEdges records that edges were seen at seen, with the same
// first/last-seen rules as UpsertNodes. Both ends must exist.
func (s *Store) UpsertEdges(ctx context.Context, edges []Edge, seen time.Time) error {
	err := s.Tx(ctx, func(q Querier) error {
		for _, e := range edges {
			if err := ctx.Err(); err != nil {
				return err
			}
			attrs, err := attrsText(e.Attrs)
			if err != nil {
				return fmt.Errorf("edge %s→%s: %w", e.SrcID, e.DstID, err)
			}
			_, err = q.ExecContext(ctx, `INSERT INTO edges (src_id, dst_id, kind, attrs, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (src_id, dst_id, kind) DO UPDATE SET attrs = excluded.attrs,
  last_seen = CASE WHEN excluded.last_seen > edges.last_seen THEN excluded.last_seen ELSE edges.last_seen END`,
				e.SrcID, e.DstID, e.Kind, attrs, Millis(seen), Millis(seen))
			if err != nil {
				return fmt.Errorf("edge %s→%s (%s): %w", e.SrcID, e.DstID, e.Kind, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("upsert %d edges: %w", len(edges), err)
	}
	return nil
}

// Nodes lists nodes of a kind ("" for all) seen at or after since, by ID.
func (s *Store) Nodes(ctx context.Context, kind string, since time.Time, p Page) (out []Node, next string, err error) {
	lim := p.limit()
	rows, err := s.Read().QueryContext(ctx, `SELECT id, kind, node_key, name, sensor_id, attrs, first_seen, last_seen FROM nodes
WHERE id > ? AND (? = '' OR kind = ?) AND last_seen >= ? ORDER BY id LIMIT ?`, p.Cursor, kind, kind, Millis(since), lim+1)
	if err != nil {
		return nil, "", fmt.Errorf("list nodes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n Node
		var sensor sql.NullString
		var attrs string
		var first, last int64
		if err := rows.Scan(&n.ID, &n.Kind, &n.Key, &n.Name, &sensor, &attrs, &first, &last); err != nil {
			return nil, "", fmt.Errorf("list nodes: %w", err)
		}
		n.SensorID, n.Attrs, n.FirstSeen, n.LastSeen = sensor.String, json.RawMessage(attrs), FromMillis(first), FromMillis(last)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list nodes: %w", err)
	}
	if len(out) > lim {
		out = out[:lim]
		next = out[lim-1].ID
	}
	return out, next, nil
}

// EdgesFrom lists the edges leaving a node.
func (s *Store) EdgesFrom(ctx context.Context, nodeID string) ([]Edge, error) {
	rows, err := s.Read().QueryContext(ctx, "SELECT src_id, dst_id, kind, attrs, first_seen, last_seen FROM edges WHERE src_id = ? ORDER BY dst_id, kind", nodeID)
	if err != nil {
		return nil, fmt.Errorf("edges from %s: %w", nodeID, err)
	}
	defer rows.Close()
	var out []Edge
	for rows.Next() {
		var e Edge
		var attrs string
		var first, last int64
		if err := rows.Scan(&e.SrcID, &e.DstID, &e.Kind, &attrs, &first, &last); err != nil {
			return nil, fmt.Errorf("edges from %s: %w", nodeID, err)
		}
		e.Attrs, e.FirstSeen, e.LastSeen = json.RawMessage(attrs), FromMillis(first), FromMillis(last)
		out = append(out, e)
	}
	return out, rows.Err()
}
