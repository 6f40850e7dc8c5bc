package integrations

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/store"
)

// Job kinds of the periodic work.
const (
	KindDigest = "integrations.digest"
	KindPrune  = "integrations.prune"
)

// DigestKind is the integrations.digest job: it turns what each due
// digest rule holds into digest messages in its destination's outbox.
func (s *Service) DigestKind() jobs.Kind {
	return jobs.Kind{Name: KindDigest, MaxAttempts: 3, Timeout: 10 * time.Minute, Work: func(ctx context.Context, _ jobs.Job) error {
		_, err := s.Digests(ctx)
		return err
	}}
}

// DigestEvery is the schedule of integrations.digest.
func (s *Service) DigestEvery() jobs.Periodic {
	return jobs.Periodic{Name: KindDigest, Kind: KindDigest, Every: s.cfg.Delivery.DigestEvery}
}

// PruneKind is the integrations.prune job: delivery history older than
// HistoryKeep goes.
func (s *Service) PruneKind() jobs.Kind {
	return jobs.Kind{Name: KindPrune, MaxAttempts: 3, Timeout: time.Hour, Work: func(ctx context.Context, _ jobs.Job) error {
		return s.st.Tx(ctx, func(tx store.Querier) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM integration_deliveries WHERE at < ?`, store.Millis(s.now().Add(-s.cfg.Delivery.HistoryKeep)))
			return err
		})
	}}
}

// PruneEvery is the schedule of integrations.prune.
func PruneEvery() jobs.Periodic {
	return jobs.Periodic{Name: KindPrune, Kind: KindPrune, Cron: "@daily"}
}

// Digests builds the digests of the rules that are due, each in its own
// transaction (its held messages leave as digest messages in the
// outbox, its next digest is set), and returns how many messages it
// queued.
func (s *Service) Digests(ctx context.Context) (int, error) {
	now := s.now()
	rows, err := s.st.Read().QueryContext(ctx, `SELECT id FROM integration_rules WHERE next_digest_at IS NOT NULL AND next_digest_at <= ? ORDER BY next_digest_at, id`,
		store.Millis(now))
	if err != nil {
		return 0, fmt.Errorf("due digests: %w", err)
	}
	var due []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		due = append(due, id)
	}
	rows.Close()
	total := 0
	for _, id := range due {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := s.digest(ctx, id)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// digest builds one rule's digest.
func (s *Service) digest(ctx context.Context, ruleID string) (int, error) {
	now := s.now()
	queuedN := 0
	kicked := false
	destID := ""
	err := s.st.Tx(ctx, func(tx store.Querier) error {
		r, err := getRule(ctx, tx, ruleID)
		if err != nil {
			return err
		}
		destID = r.DestinationID
		if r.NextDigestAt == nil || r.NextDigestAt.After(now) {
			return nil // another process did it
		}
		d, err := getDest(ctx, tx, r.DestinationID)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, event, body, created_at FROM integration_digest_items WHERE rule_id = ? ORDER BY id`, ruleID)
		if err != nil {
			return err
		}
		var items []dest.Message
		var from, to int64
		for rows.Next() {
			var id, event, body string
			var at int64
			if err := rows.Scan(&id, &event, &body, &at); err != nil {
				rows.Close()
				return err
			}
			var m dest.Message
			if err := json.Unmarshal([]byte(body), &m); err != nil {
				s.log.Warn("integrations: undecodable digest item skipped", "rule", ruleID, "item", id, "err", err)
				continue
			}
			if from == 0 {
				from = at
			}
			to = at
			items = append(items, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var next any
		if r.Mode == ModeDigest {
			next = store.Millis(now.Add(time.Duration(r.DigestMinutes) * time.Minute))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE integration_rules SET next_digest_at = ? WHERE id = ?`, next, ruleID); err != nil {
			return err
		}
		if len(items) == 0 {
			return nil
		}
		msgs := s.buildDigests(r, d.name, items, store.FromMillis(from), store.FromMillis(to), now)
		qs := make([]queued, len(msgs))
		for i, m := range msgs {
			qs[i] = queued{ruleID: ruleID, msg: m}
		}
		if d.enabled {
			if err := s.queueTx(ctx, tx, d.id, qs); err != nil {
				return err
			}
			if kicked, err = s.kickTx(ctx, tx, d.id, false); err != nil {
				return err
			}
			queuedN = len(qs)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM integration_digest_items WHERE rule_id = ?`, ruleID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("digest of rule %s: %w", ruleID, err)
	}
	if kicked {
		s.jobs.Wake()
	}
	if queuedN > 0 {
		s.wake(destID)
	}
	return queuedN, nil
}

var eventTitles = map[string][2]string{
	dest.EventFindingNew:    {"new finding", "new findings"},
	dest.EventKEVReachable:  {"exploited vulnerability reachable from the internet", "exploited vulnerabilities reachable from the internet"},
	dest.EventFindingFixed:  {"fixed finding", "fixed findings"},
	dest.EventScanFailed:    {"failed scan", "failed scans"},
	dest.EventSensorOffline: {"sensor offline", "sensors offline"},
	dest.EventNodeExposed:   {"node newly reachable from the internet", "nodes newly reachable from the internet"},
}

// digestOrder is the order of a digest's messages, most pressing first.
var digestOrder = []string{dest.EventKEVReachable, dest.EventFindingNew, dest.EventNodeExposed, dest.EventSensorOffline, dest.EventScanFailed, dest.EventFindingFixed}

// buildDigests gathers a rule's held messages into digest messages: one
// per event kind (new findings, fixed findings...), findings ranked by
// risk, at most MaxDigestFindings findings each (more make further parts).
func (s *Service) buildDigests(r Rule, destName string, items []dest.Message, from, to, now time.Time) []dest.Message {
	byEvent := map[string][]dest.Message{}
	for _, m := range items {
		byEvent[m.Event] = append(byEvent[m.Event], m)
	}
	var out []dest.Message
	for _, ev := range append(slices.Clone(digestOrder), sortedKeysOf(byEvent)...) {
		ms := byEvent[ev]
		if len(ms) == 0 {
			continue
		}
		delete(byEvent, ev)
		var fs []dest.Finding
		for _, m := range ms {
			for _, f := range m.Findings {
				if f.Node == nil {
					f.Node = m.Node
				}
				fs = append(fs, f)
			}
		}
		slices.SortStableFunc(fs, func(a, b dest.Finding) int {
			return cmp.Or(cmp.Compare(b.RiskScore, a.RiskScore), cmp.Compare(severityRank(b.Severity), severityRank(a.Severity)), strings.Compare(a.VulnID, b.VulnID))
		})
		parts := max(1, (len(fs)+s.cfg.Delivery.MaxDigestFindings-1)/s.cfg.Delivery.MaxDigestFindings)
		for p := 0; p < parts; p++ {
			var part []dest.Finding
			if len(fs) > 0 {
				part = fs[p*s.cfg.Delivery.MaxDigestFindings : min((p+1)*s.cfg.Delivery.MaxDigestFindings, len(fs))]
			}
			out = append(out, s.digestMessage(r, destName, ev, ms, part, p, parts, from, to, now))
		}
	}
	return out
}

func (s *Service) digestMessage(r Rule, destName, ev string, ms []dest.Message, fs []dest.Finding, part, parts int, from, to, now time.Time) dest.Message {
	count := len(ms)
	names := eventTitles[ev]
	if names[0] == "" {
		names = [2]string{ev, ev}
	}
	noun := names[1]
	if count == 1 {
		noun = names[0]
	}
	sev := map[string]int{}
	worst := "unknown"
	for _, m := range ms {
		sev[m.Severity]++
		if severityRank(m.Severity) > severityRank(worst) {
			worst = m.Severity
		}
	}
	var title strings.Builder
	fmt.Fprintf(&title, "Riskmap digest: %s %s", thousands(count), noun)
	var counts []string
	for _, k := range []string{"critical", "high", "medium", "low"} {
		if sev[k] > 0 && (ev == dest.EventFindingNew || ev == dest.EventKEVReachable || ev == dest.EventFindingFixed) {
			counts = append(counts, fmt.Sprintf("%s %s", thousands(sev[k]), k))
		}
	}
	if len(counts) > 0 {
		fmt.Fprintf(&title, " (%s)", strings.Join(counts, ", "))
	}
	if parts > 1 {
		fmt.Fprintf(&title, ", part %d of %d", part+1, parts)
	}
	var text strings.Builder
	fmt.Fprintf(&text, "Rule %q of %s, %s to %s.\n", r.Name, destName, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	const shown = 20
	if len(fs) > 0 {
		for _, f := range fs[:min(len(fs), shown)] {
			where := ""
			if f.Node != nil && f.Node.Name != "" {
				where = " on " + f.Node.Name
			}
			fmt.Fprintf(&text, "• %s (%s, risk %.0f) in %s %s%s\n", f.VulnID, f.Severity, f.RiskScore, f.Package, f.Version, where)
		}
		if len(fs) > shown {
			fmt.Fprintf(&text, "… and %s more in this message.\n", thousands(len(fs)-shown))
		}
	} else {
		for _, m := range ms[:min(len(ms), shown)] {
			fmt.Fprintf(&text, "• %s\n", m.Title)
		}
		if len(ms) > shown {
			fmt.Fprintf(&text, "… and %s more.\n", thousands(len(ms)-shown))
		}
	}
	return dest.Message{
		Key:   messageKey("digest", r.ID, strconv.FormatInt(now.UnixMilli(), 10), ev, strconv.Itoa(part+1)),
		Event: dest.EventDigest, Resolve: false, Time: now.UTC(), Severity: worst, Title: title.String(), Text: strings.TrimSpace(text.String()),
		URL: s.link("/vulnerabilities", nil), Findings: fs,
		Fields: map[string]string{"of": ev, "count": strconv.Itoa(count), "rule": r.Name, "ruleId": r.ID, "from": from.UTC().Format(time.RFC3339),
			"to": to.UTC().Format(time.RFC3339), "part": strconv.Itoa(part + 1), "parts": strconv.Itoa(parts)},
	}
}

// thousands writes n with thousands separators (12,345).
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
