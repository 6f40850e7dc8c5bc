package integrations

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/store"
)

const ruleCols = `r.id, r.destination_id, r.name, r.events, r.filter, r.mode, r.digest_minutes, r.next_digest_at, r.enabled,
	r.created_by, r.created_at, r.updated_by, r.updated_at`

func scanRule(sc interface{ Scan(...any) error }) (Rule, error) {
	var r Rule
	var evs, filter string
	var next sql.NullInt64
	var enabled int
	var created, updated int64
	err := sc.Scan(&r.ID, &r.DestinationID, &r.Name, &evs, &filter, &r.Mode, &r.DigestMinutes, &next, &enabled, &r.CreatedBy, &created, &r.UpdatedBy, &updated)
	if err != nil {
		return r, err
	}
	r.Enabled = enabled != 0
	r.NextDigestAt = ptime(next)
	r.CreatedAt, r.UpdatedAt = store.FromMillis(created), store.FromMillis(updated)
	if err := json.Unmarshal([]byte(evs), &r.Events); err != nil {
		return r, fmt.Errorf("rule %s: events: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(filter), &r.Filter); err != nil {
		return r, fmt.Errorf("rule %s: filter: %w", r.ID, err)
	}
	return r, nil
}

func getRule(ctx context.Context, q store.Querier, id string) (Rule, error) {
	r, err := scanRule(q.QueryRowContext(ctx, `SELECT `+ruleCols+` FROM integration_rules r WHERE r.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("rule %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("read rule %s: %w", id, err)
	}
	return r, nil
}

// Rules lists the rules (of one destination when destinationID is not
// empty), with the messages each digest rule holds.
func (s *Service) Rules(ctx context.Context, destinationID string) ([]Rule, error) {
	var w store.Where
	if destinationID != "" {
		w.Add("r.destination_id = ?", destinationID)
	}
	rows, err := s.st.Read().QueryContext(ctx, `SELECT `+ruleCols+`, (SELECT COUNT(*) FROM integration_digest_items i WHERE i.rule_id = r.id)
		FROM integration_rules r`+w.SQL()+` ORDER BY r.destination_id, r.name, r.id`, w.Args()...)
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	defer rows.Close()
	out := []Rule{}
	for rows.Next() {
		var pending int
		r, err := scanRule(scanTail{rows, &pending})
		if err != nil {
			return nil, fmt.Errorf("list rules: %w", err)
		}
		r.PendingDigest = pending
		out = append(out, r)
	}
	return out, rows.Err()
}

// scanTail scans a row whose last columns follow those scanRule reads.
type scanTail struct {
	rows *sql.Rows
	tail *int
}

func (s scanTail) Scan(dest ...any) error { return s.rows.Scan(append(dest, s.tail)...) }

func (r Rule) auditTarget(destName string) string {
	return "integration rule " + r.ID + " (" + r.Name + ") of " + destName
}

// audited is a rule as the audit log records it.
func (r Rule) audited() Rule {
	r.NextDigestAt, r.PendingDigest = nil, 0
	return r
}

// CreateRule checks and stores a rule for a destination.
func (s *Service) CreateRule(ctx context.Context, in RuleInput) (Rule, error) {
	if err := in.Check(); err != nil {
		return Rule{}, err
	}
	if in.DestinationID == "" {
		return Rule{}, invalid("destinationId: required")
	}
	by, _ := caller(ctx)
	now := s.now().Truncate(time.Millisecond)
	r := Rule{ID: store.NewID(now), DestinationID: in.DestinationID, Name: in.Name, Enabled: in.Enabled == nil || *in.Enabled, Events: in.Events,
		Filter: in.Filter, Mode: in.Mode, DigestMinutes: in.DigestMinutes, CreatedBy: by, CreatedAt: now.UTC(), UpdatedBy: by, UpdatedAt: now.UTC()}
	if r.Mode == ModeDigest {
		t := now.Add(time.Duration(r.DigestMinutes) * time.Minute).UTC()
		r.NextDigestAt = &t
	}
	evs, _ := json.Marshal(r.Events)
	filter, _ := json.Marshal(r.Filter)
	err := s.st.Tx(ctx, func(tx store.Querier) error {
		d, err := getDest(ctx, tx, r.DestinationID)
		if errors.Is(err, ErrNotFound) {
			return invalid("destinationId: no destination %q", r.DestinationID)
		}
		if err != nil {
			return err
		}
		if err := s.takes(d.kind, r); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO integration_rules (id, destination_id, name, events, filter, mode, digest_minutes, next_digest_at, enabled,
			created_by, created_at, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.DestinationID, r.Name, string(evs), string(filter), r.Mode, r.DigestMinutes, nullTime(r.NextDigestAt), boolInt(r.Enabled),
			by, store.Millis(now), by, store.Millis(now))
		if err != nil {
			return err
		}
		return s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditIntegrationRuleCreate, r.auditTarget(d.name), nil, r.audited()))
	})
	if err != nil {
		return Rule{}, fmt.Errorf("create rule %q: %w", in.Name, err)
	}
	return r, nil
}

// UpdateRule replaces a rule's settings (its destination stays). A digest
// rule keeps its next digest unless its interval changed; a rule that is
// no longer a digest sends what it held at the next digest pass.
func (s *Service) UpdateRule(ctx context.Context, id string, in RuleInput) (Rule, error) {
	if err := in.Check(); err != nil {
		return Rule{}, err
	}
	by, _ := caller(ctx)
	now := s.now().Truncate(time.Millisecond)
	var out Rule
	err := s.st.Tx(ctx, func(tx store.Querier) error {
		old, err := getRule(ctx, tx, id)
		if err != nil {
			return err
		}
		if in.DestinationID != "" && in.DestinationID != old.DestinationID {
			return invalid("destinationId: a rule does not move to another destination; create one there")
		}
		d, err := getDest(ctx, tx, old.DestinationID)
		if err != nil {
			return err
		}
		r := old
		r.Name, r.Events, r.Filter, r.Mode, r.DigestMinutes, r.UpdatedBy, r.UpdatedAt = in.Name, in.Events, in.Filter, in.Mode, in.DigestMinutes, by, now.UTC()
		if in.Enabled != nil {
			r.Enabled = *in.Enabled
		}
		if err := s.takes(d.kind, r); err != nil {
			return err
		}
		switch {
		case r.Mode == ModeDigest && (old.Mode != ModeDigest || old.DigestMinutes != r.DigestMinutes || old.NextDigestAt == nil):
			t := now.Add(time.Duration(r.DigestMinutes) * time.Minute).UTC()
			r.NextDigestAt = &t
		case r.Mode != ModeDigest && old.Mode == ModeDigest:
			t := now.UTC()
			r.NextDigestAt = &t // what it held goes at the next pass
		}
		evs, _ := json.Marshal(r.Events)
		filter, _ := json.Marshal(r.Filter)
		if _, err := tx.ExecContext(ctx, `UPDATE integration_rules SET name = ?, events = ?, filter = ?, mode = ?, digest_minutes = ?, next_digest_at = ?,
			enabled = ?, updated_by = ?, updated_at = ? WHERE id = ?`,
			r.Name, string(evs), string(filter), r.Mode, r.DigestMinutes, nullTime(r.NextDigestAt), boolInt(r.Enabled), by, store.Millis(now), id); err != nil {
			return err
		}
		out = r
		return s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditIntegrationRuleUpdate, r.auditTarget(d.name), old.audited(), r.audited()))
	})
	if err != nil {
		return Rule{}, fmt.Errorf("update rule %s: %w", id, err)
	}
	return out, nil
}

// DeleteRule removes a rule; messages it already queued stay queued, and
// those it held for a digest go with it.
func (s *Service) DeleteRule(ctx context.Context, id string) error {
	err := s.st.Tx(ctx, func(tx store.Querier) error {
		r, err := getRule(ctx, tx, id)
		if err != nil {
			return err
		}
		d, err := getDest(ctx, tx, r.DestinationID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM integration_rules WHERE id = ?`, id); err != nil {
			return err
		}
		return s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditIntegrationRuleDelete, r.auditTarget(d.name), r.audited(), nil))
	})
	if err != nil {
		return fmt.Errorf("delete rule %s: %w", id, err)
	}
	return nil
}

// activeRule is an enabled rule of an enabled destination.
type activeRule struct {
	Rule
	destName string
}

func (s *Service) activeRules(ctx context.Context) ([]activeRule, error) {
	rows, err := s.st.Read().QueryContext(ctx, `SELECT `+ruleCols+`, d.name FROM integration_rules r JOIN integration_destinations d ON d.id = r.destination_id
		WHERE r.enabled = 1 AND d.enabled = 1 ORDER BY r.destination_id, r.id`)
	if err != nil {
		return nil, fmt.Errorf("active rules: %w", err)
	}
	defer rows.Close()
	var out []activeRule
	for rows.Next() {
		var name string
		r, err := scanRule(scanTailString{rows, &name})
		if err != nil {
			return nil, fmt.Errorf("active rules: %w", err)
		}
		out = append(out, activeRule{r, name})
	}
	return out, rows.Err()
}

type scanTailString struct {
	rows *sql.Rows
	tail *string
}

func (s scanTailString) Scan(dest ...any) error { return s.rows.Scan(append(dest, s.tail)...) }

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return store.Millis(*t)
}

// takes refuses a rule sending its destination's kind what the kind does
// not take (Jira files one issue per finding: no digests).
func (s *Service) takes(kindName string, r Rule) error {
	kind, ok := s.kinds[kindName]
	if !ok || kind.Events == nil {
		return nil
	}
	for _, e := range r.Events {
		if !slices.Contains(kind.Events, e) {
			return invalid("events: %s destinations do not take %q (they take %s)", kind.Title, e, strings.Join(kind.Events, ", "))
		}
	}
	if r.Mode == ModeDigest && !slices.Contains(kind.Events, dest.EventDigest) {
		return invalid("mode: %s destinations take no digests (one message per event)", kind.Title)
	}
	return nil
}

func (r Rule) wants(event string) bool { return slices.Contains(r.Events, event) }
