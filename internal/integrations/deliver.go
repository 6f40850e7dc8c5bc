package integrations

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/store"
)

// KindDeliver is the job kind that flushes one destination's outbox.
const KindDeliver = "integrations.deliver"

// Delivery outcomes in the history.
const (
	OutcomeDelivered  = "delivered"
	OutcomeFailed     = "failed"  // retried later
	OutcomeDead       = "dead"    // refused for good: a dead letter
	OutcomeExpired    = "expired" // waited longer than MaxAge: a dead letter
	OutcomeTest       = "test"
	OutcomeTestFailed = "test_failed"
)

// flushBudget is how long one run of a flush job sends before it lets
// the job system run it again (other destinations, a console stopping).
const flushBudget = 2 * time.Minute

type deliverPayload struct {
	DestinationID string `json:"destinationId"`
}

func deliverOpts(destID string) jobs.InsertOpts {
	return jobs.InsertOpts{UniqueKey: KindDeliver + ":" + destID, Priority: jobs.PriorityHigh}
}

// DeliverKind is the integrations.deliver job: one per destination with
// messages (unique key), inserted by the router, the digest job, a dead
// letter retry or a change of the destination.
func (s *Service) DeliverKind() jobs.Kind {
	return jobs.Kind{Name: KindDeliver, Concurrency: s.cfg.Delivery.Concurrency, MaxAttempts: 10, Lease: s.cfg.Delivery.Lease, Timeout: flushBudget + 2*s.cfg.HTTP.timeout(),
		Backoff: jobs.DefaultBackoff(time.Second, time.Minute), Work: s.deliver, OnState: s.deliverState}
}

func (c HTTPConfig) timeout() time.Duration {
	c.fill()
	return c.Timeout
}

// deliverState runs in the transaction of each state change of a flush
// job: when the job ends while its destination still has messages (some
// queued after it last looked), it inserts the next one, so none waits
// for another event to be sent.
//
// Every writer to an outbox locks the destination's row first (queueTx)
// and only then looks for a running job. On PostgreSQL this hook takes the
// row with SKIP LOCKED: when a transaction queueing for the destination
// holds it, that transaction may have seen this job still running, so the
// next job is inserted whatever the count (taking the lock would deadlock
// with that transaction, which waits on this job's row). Otherwise the
// count is read under the lock, after any queuer committed. SQLite runs
// one write transaction at a time.
func (s *Service) deliverState(ctx context.Context, tx store.Querier, j jobs.Job) error {
	if !jobs.Terminal(j.State) {
		return nil
	}
	var p deliverPayload
	if err := j.Decode(&p); err != nil || p.DestinationID == "" {
		return nil
	}
	lock := ""
	if s.st.Dialect() == store.Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var enabled int
	err := tx.QueryRowContext(ctx, `SELECT enabled FROM integration_destinations WHERE id = ?`+lock, p.DestinationID).Scan(&enabled)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM integration_destinations WHERE id = ?`, p.DestinationID).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			return nil // deleted
		}
		// Locked by a transaction queueing for it now: the next job, in case.
	case err != nil:
		return err
	case enabled == 0:
		return nil
	default:
		var pending int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM integration_outbox WHERE destination_id = ?`, p.DestinationID).Scan(&pending); err != nil {
			return err
		}
		if pending == 0 {
			return nil
		}
	}
	opts := deliverOpts(p.DestinationID)
	if j.State == jobs.Failed {
		opts.RunAt = s.now().Add(time.Minute)
	}
	_, _, err = s.jobs.InsertTx(ctx, tx, KindDeliver, p, opts)
	return err
}

// outRow is a message of an outbox.
type outRow struct {
	seq       int64
	ruleID    string
	key       string
	event     string
	body      string
	createdAt int64
	attempts  int
}

func (s *Service) head(ctx context.Context, destID string, n int) ([]outRow, error) {
	rows, err := s.st.Read().QueryContext(ctx, `SELECT seq, rule_id, msg_key, event, body, created_at, attempts FROM integration_outbox
		WHERE destination_id = ? ORDER BY seq LIMIT ?`, destID, n)
	if err != nil {
		return nil, fmt.Errorf("read the outbox of destination %s: %w", destID, err)
	}
	defer rows.Close()
	var out []outRow
	for rows.Next() {
		var r outRow
		if err := rows.Scan(&r.seq, &r.ruleID, &r.key, &r.event, &r.body, &r.createdAt, &r.attempts); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// errLeaseLost: another process runs this destination's flush now.
var errLeaseLost = errors.New("the flush job's lease passed to another process")

// deliver is one run of a destination's flush job: it sends the outbox in
// order until it is empty, the flush budget is spent, the rate limit
// says wait, or a send fails.
func (s *Service) deliver(ctx context.Context, j jobs.Job) error {
	var p deliverPayload
	if err := j.Decode(&p); err != nil {
		return jobs.Permanent(err)
	}
	start := time.Now()
	wake := s.wakeup(p.DestinationID)
	defer s.release(p.DestinationID, wake)
	var single int64 // up to this seq, send one message at a time (a refused batch is split)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Since(start) > flushBudget {
			return jobs.Snooze(0)
		}
		d, err := getDest(ctx, s.st.Read(), p.DestinationID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !d.enabled {
			return nil
		}
		kind, err := s.kind(d.kind)
		if err != nil {
			s.trouble(ctx, d, err)
			return jobs.Snooze(time.Hour)
		}
		snd, err := s.sender(ctx, d, kind)
		if err != nil {
			// A configuration that does not build: wait for a change (which
			// restarts the job) rather than spin.
			s.trouble(ctx, d, err)
			return jobs.Snooze(s.cfg.Delivery.BackoffMax)
		}
		head, err := s.head(ctx, d.id, max(kind.Batch, 1))
		if err != nil {
			return err
		}
		if len(head) == 0 {
			if !s.linger(ctx, wake) {
				return nil
			}
			continue
		}
		if single >= head[0].seq {
			head = head[:1]
		}
		// Messages that waited too long are set aside, not sent late.
		cut := store.Millis(s.now().Add(-s.cfg.Delivery.MaxAge))
		if n := expired(head, cut); n > 0 {
			if err := s.settle(ctx, j, d, head[:n], OutcomeExpired, 0, 0,
				fmt.Errorf("not delivered within %s", s.cfg.Delivery.MaxAge), 0); err != nil {
				return err
			}
			continue
		}
		granted, wait := s.limits.take(d.id, effectiveRate(d.rate, kind), len(head))
		if granted == 0 {
			return jobs.Snooze(wait)
		}
		head = head[:granted]
		msgs := make([]dest.Message, 0, len(head))
		var bad []outRow
		for _, r := range head {
			var m dest.Message
			if err := json.Unmarshal([]byte(r.body), &m); err != nil {
				bad = append(bad, r)
				break
			}
			msgs = append(msgs, m)
		}
		if len(bad) > 0 {
			if err := s.settle(ctx, j, d, head[:1], OutcomeDead, 0, 0, fmt.Errorf("undecodable message: %w", dest.Permanent(errors.New("stored body"))), 0); err != nil {
				return err
			}
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 2*s.cfg.HTTP.timeout())
		t0 := time.Now()
		err = snd.d.Send(sctx, msgs)
		took := time.Since(t0)
		cancel()
		if err == nil {
			if err := s.settle(ctx, j, d, head, OutcomeDelivered, took, 0, nil, 0); err != nil {
				return err
			}
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err() // stopping: not the destination's doing
		}
		err = scrubbed(err, snd.secrets)
		if n := delivered(err); n > 0 && n < len(head) {
			// The first n landed before the failure: only the rest is
			// failed, retried or dead-lettered.
			if err := s.settle(ctx, j, d, head[:n], OutcomeDelivered, took, 0, nil, 0); err != nil {
				return err
			}
			head = head[n:]
		}
		retry, after := dest.IsRetryable(err)
		if !retry {
			if len(head) > 1 {
				single = head[len(head)-1].seq
				continue
			}
			if err := s.settle(ctx, j, d, head, OutcomeDead, took, statusOf(err), err, 0); err != nil {
				return err
			}
			continue
		}
		delay := s.backoff(d.failures+1, after)
		if err := s.settle(ctx, j, d, head, OutcomeFailed, took, statusOf(err), err, delay); err != nil {
			return err
		}
		return jobs.Snooze(delay)
	}
}

// effectiveRate is a destination's messages a minute: its own setting,
// never above its kind's documented rate (Slack webhooks: one a second).
func effectiveRate(perMinute int, kind dest.Kind) int {
	if kind.PerSecond > 0 {
		if limit := max(int(kind.PerSecond*60), 1); perMinute > limit {
			return limit
		}
	}
	return perMinute
}

// delivered is how many leading messages of a failed batch landed.
func delivered(err error) int {
	var e *dest.Error
	if errors.As(err, &e) {
		return e.Delivered
	}
	return 0
}

// wakeup registers this process's flush job of a destination for the
// router's wake-ups.
func (s *Service) wakeup(destID string) chan struct{} {
	ch := make(chan struct{}, 1)
	s.wakeMu.Lock()
	s.wakeups[destID] = ch
	s.wakeMu.Unlock()
	return ch
}

func (s *Service) release(destID string, ch chan struct{}) {
	s.wakeMu.Lock()
	if s.wakeups[destID] == ch {
		delete(s.wakeups, destID)
	}
	s.wakeMu.Unlock()
}

// wake tells this process's running flush job of each destination that
// messages were queued (after their commit).
func (s *Service) wake(destIDs ...string) {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	for _, id := range destIDs {
		if ch := s.wakeups[id]; ch != nil {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// linger waits, with an empty outbox, for the router's wake-up (true) or
// the end of Linger (false: the job ends; messages queued later get a
// job of their own, or the next one from deliverState).
func (s *Service) linger(ctx context.Context, wake chan struct{}) bool {
	if s.cfg.Delivery.Linger <= 0 {
		return false
	}
	t := time.NewTimer(s.cfg.Delivery.Linger)
	defer t.Stop()
	select {
	case <-wake:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// expired counts the leading messages created before cut.
func expired(head []outRow, cut int64) int {
	n := 0
	for _, r := range head {
		if r.createdAt >= cut {
			break
		}
		n++
	}
	return n
}

// backoff is the wait before attempt n+1 of a destination after n
// failures in a row: base × 2^(n-1) capped, ±20 % jitter, at least the
// target's Retry-After.
func (s *Service) backoff(n int, retryAfter time.Duration) time.Duration {
	c := s.cfg.Delivery
	d := c.BackoffBase << min(max(n-1, 0), 30)
	if d > c.BackoffMax || d <= 0 {
		d = c.BackoffMax
	}
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return max(d, retryAfter)
}

func statusOf(err error) int {
	var e *dest.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// settle records the outcome of sending head: delivered (the messages
// leave the outbox), failed (they stay, their attempts counted), dead or
// expired (they move to the dead letters); and the history entry. It
// checks that this run still holds the job: after a lost lease another
// process flushes the destination.
func (s *Service) settle(ctx context.Context, j jobs.Job, d destRow, head []outRow, outcome string, took time.Duration, status int, sendErr error, delay time.Duration) error {
	wctx := context.WithoutCancel(ctx)
	now := s.now()
	first, last := head[0].seq, head[len(head)-1].seq
	msg := ""
	if sendErr != nil {
		msg = truncate(sendErr.Error(), 1000)
	}
	keys := make([]string, 0, min(len(head), 10))
	for _, r := range head[:min(len(head), 10)] {
		keys = append(keys, r.key)
	}
	event := head[0].event
	for _, r := range head {
		if r.event != event {
			event = "mixed"
		}
	}
	err := s.st.Tx(wctx, func(tx store.Querier) error {
		cur, err := s.jobs.GetTx(wctx, tx, j.ID)
		if err != nil {
			return err
		}
		if cur.State != jobs.Running || cur.Owner != s.jobs.Owner() || cur.Attempts != j.Attempts {
			return errLeaseLost
		}
		switch outcome {
		case OutcomeDelivered:
			if _, err := tx.ExecContext(wctx, `DELETE FROM integration_outbox WHERE destination_id = ? AND seq >= ? AND seq <= ?`, d.id, first, last); err != nil {
				return err
			}
			if _, err := tx.ExecContext(wctx, `UPDATE integration_destinations SET failures = 0, last_error = '', last_success_at = ?, next_attempt_at = NULL
				WHERE id = ?`, store.Millis(now), d.id); err != nil {
				return err
			}
		case OutcomeFailed:
			if _, err := tx.ExecContext(wctx, `UPDATE integration_outbox SET attempts = attempts + 1, last_error = ? WHERE destination_id = ? AND seq >= ? AND seq <= ?`,
				msg, d.id, first, last); err != nil {
				return err
			}
			if _, err := tx.ExecContext(wctx, `UPDATE integration_destinations SET failures = failures + 1, last_error = ?, next_attempt_at = ? WHERE id = ?`,
				msg, store.Millis(now.Add(delay)), d.id); err != nil {
				return err
			}
		case OutcomeDead, OutcomeExpired:
			err := store.ExecValues(wctx, tx, "INSERT INTO integration_dead (id, destination_id, rule_id, msg_key, event, body, created_at, failed_at, attempts, status, error)",
				11, len(head), "", func(i int, args []any) ([]any, error) {
					r := head[i]
					return append(args, store.NewID(now), d.id, r.ruleID, r.key, r.event, r.body, r.createdAt, store.Millis(now), r.attempts+1, status, msg), nil
				})
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(wctx, `DELETE FROM integration_outbox WHERE destination_id = ? AND seq >= ? AND seq <= ?`, d.id, first, last); err != nil {
				return err
			}
			if _, err := tx.ExecContext(wctx, `UPDATE integration_destinations SET last_error = ? WHERE id = ?`, msg, d.id); err != nil {
				return err
			}
		}
		return s.recordTx(wctx, tx, d.id, historyEntry{outcome: outcome, event: event, n: len(head), keys: keys, attempt: head[0].attempts + 1,
			took: took, status: status, err: msg})
	})
	if err != nil {
		return fmt.Errorf("record %s of %d messages to destination %s: %w", outcome, len(head), d.id, err)
	}
	if outcome != OutcomeDelivered {
		s.log.Warn("integrations: delivery "+outcome, "destination", d.name, "kind", d.kind, "messages", len(head), "err", msg, "retry_in", delay)
	}
	return nil
}

type historyEntry struct {
	outcome, event string
	n              int
	keys           []string
	attempt        int
	took           time.Duration
	status         int
	err            string
}

func (s *Service) recordTx(ctx context.Context, tx store.Querier, destID string, h historyEntry) error {
	now := s.now()
	if h.keys == nil {
		h.keys = []string{}
	}
	keys, _ := json.Marshal(h.keys)
	_, err := tx.ExecContext(ctx, `INSERT INTO integration_deliveries (id, destination_id, at, outcome, event, messages, msg_keys, attempt, duration_ms, status, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, store.NewID(now), destID, store.Millis(now), h.outcome, h.event, h.n, string(keys), h.attempt,
		h.took.Milliseconds(), h.status, h.err)
	return err
}

// trouble records a destination that cannot be built (its history says
// why, once per distinct error).
func (s *Service) trouble(ctx context.Context, d destRow, err error) {
	msg := truncate(err.Error(), 1000)
	if msg == d.lastError {
		return
	}
	wctx := context.WithoutCancel(ctx)
	if terr := s.st.Tx(wctx, func(tx store.Querier) error {
		if _, err := tx.ExecContext(wctx, `UPDATE integration_destinations SET last_error = ? WHERE id = ?`, msg, d.id); err != nil {
			return err
		}
		return s.recordTx(wctx, tx, d.id, historyEntry{outcome: OutcomeFailed, err: msg})
	}); terr != nil {
		s.log.Warn("integrations: record a destination's trouble", "destination", d.name, "err", terr)
	}
	s.log.Warn("integrations: destination cannot send", "destination", d.name, "kind", d.kind, "err", msg)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// sender is a built destination and the secret values to keep out of
// its errors.
type sender struct {
	d       dest.Destination
	secrets []string
}

// sender returns the destination built from its stored settings, cached
// until it changes.
func (s *Service) sender(ctx context.Context, d destRow, kind dest.Kind) (sender, error) {
	s.sendersMu.Lock()
	c, ok := s.senders[d.id]
	s.sendersMu.Unlock()
	if ok && c.updatedAt == d.updatedAt {
		return c.s, nil
	}
	sec, err := s.secretsOf(ctx, d.id)
	if err != nil {
		return sender{}, err
	}
	b, err := s.build(kind, d.name, checkedDestination{settings: d.settings, secrets: sec, caPEM: d.caPEM})
	if err != nil {
		return sender{}, err
	}
	out := sender{d: b}
	for _, v := range sec {
		if len(v) >= 6 {
			out.secrets = append(out.secrets, v)
		}
	}
	s.sendersMu.Lock()
	s.senders[d.id] = cachedSender{updatedAt: d.updatedAt, s: out}
	s.sendersMu.Unlock()
	return out, nil
}

// scrubbed replaces secret values in an error's text (a destination that
// echoes its URL or token), keeping whether it may be retried.
func scrubbed(err error, secrets []string) error {
	msg := err.Error()
	clean := msg
	for _, v := range secrets {
		clean = strings.ReplaceAll(clean, v, "[secret]")
	}
	if clean == msg {
		return err
	}
	var e *dest.Error
	if errors.As(err, &e) {
		return &dest.Error{Retryable: e.Retryable, RetryAfter: e.RetryAfter, Status: e.Status, Err: errors.New(clean)}
	}
	return errors.New(clean)
}

// limiter is a token bucket per destination: ratePerMinute messages a
// minute, in bursts of up to a sixth of that (at least one, at most
// 1,000).
type limiter struct {
	mu  sync.Mutex
	now func() time.Time
	b   map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, b: map[string]*bucket{}}
}

// take grants up to want messages to destination id now (at least one),
// or none and how long until one.
func (l *limiter) take(id string, perMinute, want int) (int, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	perMinute = max(perMinute, 1)
	burst := float64(min(max(perMinute/6, 1), 1000))
	every := time.Minute / time.Duration(perMinute)
	now := l.now()
	b := l.b[id]
	if b == nil {
		b = &bucket{tokens: burst, at: now}
		l.b[id] = b
	}
	b.tokens = min(burst, b.tokens+float64(now.Sub(b.at))/float64(every))
	b.at = now
	if b.tokens < 1 {
		return 0, time.Duration((1 - b.tokens) * float64(every))
	}
	n := min(want, int(b.tokens))
	b.tokens -= float64(n)
	return n, 0
}

// TestResult is the outcome of a test send.
type TestResult struct {
	Delivered  bool   `json:"delivered"`
	Status     int    `json:"status,omitempty"`
	Error      string `json:"error,omitempty"`
	DurationMs int64  `json:"durationMs"`
}

// Test sends a test message to a destination now (outside its outbox and
// rate limit), records it in the history and audits it.
func (s *Service) Test(ctx context.Context, id string) (TestResult, error) {
	d, err := getDest(ctx, s.st.Read(), id)
	if err != nil {
		return TestResult{}, err
	}
	kind, err := s.kind(d.kind)
	if err != nil {
		return TestResult{}, err
	}
	var res TestResult
	by, _ := caller(ctx)
	now := s.now()
	m := dest.Message{Key: "test/" + store.NewID(now), Event: dest.EventTest, Time: now.UTC(), Severity: "low",
		Title: "Test message from Riskmap", Text: fmt.Sprintf("A test of the destination %q, sent by %s. The finding below is an example.", d.name, by),
		URL: s.link("/settings/integrations", nil),
		Findings: []dest.Finding{{VulnID: "RISKMAP-TEST-0001", Package: "example", Version: "1.0.0", FixedVersion: "1.0.1", Severity: "low",
			RiskScore: 1, Summary: "An example finding sent by a test; nothing is vulnerable.", Node: &dest.Node{ID: "test", Kind: "host", Name: "example-host"}}},
		Node: &dest.Node{ID: "test", Kind: "host", Name: "example-host"}, Fields: map[string]string{"test": "true"}}
	snd, err := s.sender(ctx, d, kind)
	t0 := time.Now()
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, s.cfg.Delivery.TestTimeout)
		err = snd.d.Send(sctx, []dest.Message{m})
		cancel()
		if err != nil {
			err = scrubbed(err, snd.secrets)
		}
	}
	res.DurationMs = time.Since(t0).Milliseconds()
	outcome := OutcomeTest
	if err != nil {
		outcome, res.Error, res.Status = OutcomeTestFailed, truncate(err.Error(), 1000), statusOf(err)
	} else {
		res.Delivered = true
	}
	werr := s.st.Tx(context.WithoutCancel(ctx), func(tx store.Querier) error {
		if err := s.recordTx(ctx, tx, d.id, historyEntry{outcome: outcome, event: dest.EventTest, n: 1, keys: []string{m.Key}, attempt: 1,
			took: time.Duration(res.DurationMs) * time.Millisecond, status: res.Status, err: res.Error}); err != nil {
			return err
		}
		return s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditIntegrationTest, auditTarget(d), nil, res))
	})
	if werr != nil {
		return res, fmt.Errorf("record the test of destination %s: %w", id, werr)
	}
	return res, nil
}
