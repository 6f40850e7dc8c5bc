package integrations

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/store"
)

// Delivery is one entry of a destination's delivery history: a send and
// its outcome (delivered, failed, dead, expired, test, test_failed).
type Delivery struct {
	ID         string    `json:"id"`
	At         time.Time `json:"at"`
	Outcome    string    `json:"outcome"`
	Event      string    `json:"event,omitempty"`
	Messages   int       `json:"messages"`
	Keys       []string  `json:"keys"`
	Attempt    int       `json:"attempt,omitempty"`
	DurationMs int64     `json:"durationMs"`
	Status     int       `json:"status,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// Page bounds a listing: the entries before a cursor (an id), at most
// Limit (default 50, at most 500).
type Page struct {
	Before string
	Limit  int
}

func (p Page) limit() int {
	if p.Limit <= 0 {
		return 50
	}
	return min(p.Limit, 500)
}

// Deliveries lists a destination's history, newest first, and the cursor
// of the next page.
func (s *Service) Deliveries(ctx context.Context, destID string, p Page) ([]Delivery, string, error) {
	if _, err := getDest(ctx, s.st.Read(), destID); err != nil {
		return nil, "", err
	}
	var w store.Where
	w.Add("destination_id = ?", destID)
	if p.Before != "" {
		w.Add("id < ?", p.Before)
	}
	n := p.limit()
	rows, err := s.st.Read().QueryContext(ctx, `SELECT id, at, outcome, event, messages, msg_keys, attempt, duration_ms, status, error
		FROM integration_deliveries`+w.SQL()+fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, n+1), w.Args()...)
	if err != nil {
		return nil, "", fmt.Errorf("delivery history of %s: %w", destID, err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		var d Delivery
		var at int64
		var keys string
		if err := rows.Scan(&d.ID, &at, &d.Outcome, &d.Event, &d.Messages, &keys, &d.Attempt, &d.DurationMs, &d.Status, &d.Error); err != nil {
			return nil, "", fmt.Errorf("delivery history of %s: %w", destID, err)
		}
		d.At = store.FromMillis(at)
		d.Keys = []string{}
		_ = json.Unmarshal([]byte(keys), &d.Keys)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > n {
		out = out[:n]
		next = out[n-1].ID
	}
	return out, next, nil
}

// DeadLetter is a message a destination refused for good, or that waited
// longer than the maximum age.
type DeadLetter struct {
	ID            string `json:"id"`
	DestinationID string `json:"destinationId"`
	RuleID        string `json:"ruleId,omitempty"`
	Key           string `json:"key"`
	Event         string `json:"event"`
	Title         string `json:"title"`
	// Message is the message as destinations receive it (the Message of
	// schema/webhook-v1.json, without idempotencyKey).
	Message   json.RawMessage `json:"message"`
	CreatedAt time.Time       `json:"createdAt"`
	FailedAt  time.Time       `json:"failedAt"`
	Attempts  int             `json:"attempts"`
	Status    int             `json:"status,omitempty"`
	Error     string          `json:"error"`
}

// DeadLetters lists a destination's dead letters, oldest first, and the
// cursor of the next page (Page.Before is then "after").
func (s *Service) DeadLetters(ctx context.Context, destID string, p Page) ([]DeadLetter, string, error) {
	if _, err := getDest(ctx, s.st.Read(), destID); err != nil {
		return nil, "", err
	}
	var w store.Where
	w.Add("destination_id = ?", destID)
	if p.Before != "" {
		w.Add("id > ?", p.Before)
	}
	n := p.limit()
	rows, err := s.st.Read().QueryContext(ctx, `SELECT id, destination_id, rule_id, msg_key, event, body, created_at, failed_at, attempts, status, error
		FROM integration_dead`+w.SQL()+fmt.Sprintf(` ORDER BY id LIMIT %d`, n+1), w.Args()...)
	if err != nil {
		return nil, "", fmt.Errorf("dead letters of %s: %w", destID, err)
	}
	defer rows.Close()
	out := []DeadLetter{}
	for rows.Next() {
		var d DeadLetter
		var body string
		var created, failed int64
		if err := rows.Scan(&d.ID, &d.DestinationID, &d.RuleID, &d.Key, &d.Event, &body, &created, &failed, &d.Attempts, &d.Status, &d.Error); err != nil {
			return nil, "", fmt.Errorf("dead letters of %s: %w", destID, err)
		}
		var m struct {
			Title string `json:"title"`
		}
		_ = json.Unmarshal([]byte(body), &m)
		d.Title, d.Message = m.Title, json.RawMessage(body)
		if !json.Valid(d.Message) {
			d.Message = json.RawMessage("null")
		}
		d.CreatedAt, d.FailedAt = store.FromMillis(created), store.FromMillis(failed)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > n {
		out = out[:n]
		next = out[n-1].ID
	}
	return out, next, nil
}

// RetryDead queues dead letters of a destination again (ids, or all when
// ids is empty), in the order they died, at the end of its outbox, and
// audits it. It returns how many it queued.
func (s *Service) RetryDead(ctx context.Context, destID string, ids []string) (int, error) {
	if len(ids) > 1000 {
		return 0, invalid("ids: at most 1000 at a time")
	}
	n := 0
	kicked := false
	err := events.Tx(ctx, s.st, s.now, func(ctx context.Context, tx store.Querier) error {
		d, err := getDest(ctx, tx, destID)
		if err != nil {
			return err
		}
		var w store.Where
		w.Add("destination_id = ?", destID)
		if len(ids) > 0 {
			args := make([]any, len(ids))
			for i, id := range ids {
				args[i] = id
			}
			w.Add("id IN ("+placeholders(len(ids))+")", args...)
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, rule_id, msg_key, event, body FROM integration_dead`+w.SQL()+` ORDER BY id`, w.Args()...)
		if err != nil {
			return err
		}
		var qs []queued
		var found []string
		for rows.Next() {
			var id, rule, key, event, body string
			if err := rows.Scan(&id, &rule, &key, &event, &body); err != nil {
				rows.Close()
				return err
			}
			var m dest.Message
			if err := json.Unmarshal([]byte(body), &m); err != nil {
				m = dest.Message{Key: key, Event: event}
			}
			qs = append(qs, queued{ruleID: rule, msg: m})
			found = append(found, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) > 0 && len(found) != len(ids) {
			return fmt.Errorf("%w: %d of the %d dead letters are not dead letters of destination %s", ErrNotFound, len(ids)-len(found), len(ids), destID)
		}
		if len(found) == 0 {
			return nil
		}
		if err := s.queueTx(ctx, tx, destID, qs); err != nil {
			return err
		}
		args := make([]any, len(found))
		for i, id := range found {
			args[i] = id
		}
		for start := 0; start < len(args); start += 500 {
			part := args[start:min(start+500, len(args))]
			if _, err := tx.ExecContext(ctx, `DELETE FROM integration_dead WHERE id IN (`+placeholders(len(part))+`)`, part...); err != nil {
				return err
			}
		}
		n = len(found)
		if err := s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditIntegrationDeadRetry, auditTarget(d), nil,
			map[string]any{"retried": n, "ids": found})); err != nil {
			return err
		}
		if d.enabled {
			kicked, err = s.kickTx(ctx, tx, destID, true)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("retry dead letters of %s: %w", destID, err)
	}
	if kicked {
		s.jobs.Wake()
	}
	if n > 0 {
		s.wake(destID)
	}
	return n, nil
}

// DiscardDead deletes one dead letter (audited, with the message's key
// and event).
func (s *Service) DiscardDead(ctx context.Context, destID, id string) error {
	err := s.st.Tx(ctx, func(tx store.Querier) error {
		d, err := getDest(ctx, tx, destID)
		if err != nil {
			return err
		}
		var key, event string
		if err := tx.QueryRowContext(ctx, `SELECT msg_key, event FROM integration_dead WHERE id = ? AND destination_id = ?`, id, destID).Scan(&key, &event); err != nil {
			return fmt.Errorf("%w: dead letter %q of destination %s", ErrNotFound, id, destID)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM integration_dead WHERE id = ?`, id); err != nil {
			return err
		}
		return s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditIntegrationDeadDrop, auditTarget(d),
			map[string]string{"id": id, "key": key, "event": event}, nil))
	})
	if err != nil {
		return fmt.Errorf("discard dead letter %s: %w", id, err)
	}
	return nil
}

func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	b := make([]byte, 0, 3*n)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '?')
	}
	return string(b)
}
