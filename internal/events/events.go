// Package events is the console's event outbox: typed domain events (a node
// appeared or changed, a scan finished, a finding is new or fixed, a sensor
// went silent, the feeds were updated...) written by the module that made
// the change in the same transaction as the change (PublishTx), and
// delivered at least once, in order, to the consumers the composition root
// subscribes. A consumer's position is stored in the database and advanced
// after its handler returns, so a consumer resumes where it stopped after a
// restart or a SIGKILL; one console process at a time delivers to a
// consumer (a lease, taken over by another process when it lapses).
//
// Order: sequence numbers come from a one-row counter updated in the
// publishing transaction. Its row lock makes event-writing transactions
// take numbers in commit order, so a reader that has read up to N never
// later finds an event below N. Publish as the last statement of a
// transaction: the lock is held until commit.
//
// Event types are defined by the packages that publish them, as Go structs
// implementing Typed; consumers decode the payload into the same struct.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmap/riskmap/internal/store"
)

// Typed is a domain event: its type name (scan.finished) and the key its
// order matters for (the node, the scan...).
type Typed interface {
	EventType() string
	EventKey() string
}

// Event is one stored event.
type Event struct {
	Seq     int64           `json:"seq"`
	Type    string          `json:"type"`
	Key     string          `json:"key"`
	Payload json.RawMessage `json:"payload"`
	At      time.Time       `json:"at"`
}

// Decode unmarshals the payload into v (the publisher's event struct).
func (e Event) Decode(v any) error {
	if err := json.Unmarshal(e.Payload, v); err != nil {
		return fmt.Errorf("event %d (%s): %w", e.Seq, e.Type, err)
	}
	return nil
}

// Skip is what a handler returns when none of the events it was handed
// asked anything of it (it changed nothing): its position then advances in
// memory, as over events of other types, and is written later, so after a
// crash they may be handed to it again (at least once, as always).
var Skip = errors.New("events: nothing to do")

// failed reports whether a handler's answer is a failure (Skip is not).
func failed(err error) bool { return err != nil && !errors.Is(err, Skip) }

// Consumer receives events.
type Consumer struct {
	// Name identifies the consumer's stored position; keep it stable.
	Name string
	// Types selects the event types delivered (all when empty).
	Types []string
	// Handle processes a batch, in order. Returning nil advances the
	// position past the batch; an error redelivers it after a backoff.
	// After MaxAttempts failures the batch is delivered one event at a
	// time and the events that still fail are set aside as dead letters.
	Handle func(ctx context.Context, evs []Event) error
	// Batch is the most events per call (default 100).
	Batch int
	// MaxAttempts before dead-lettering (default 8).
	MaxAttempts int
	// FromStart makes a new consumer read every stored event; otherwise
	// it starts after the newest event at its first registration.
	FromStart bool
	// Gather, when set, is the least time between two reads of the
	// consumer: woken sooner, it waits, and handles the events of the
	// commits in between together. For a consumer that takes the events
	// of every sensor report's batch (findings.rescore takes node.changed)
	// one call every Gather instead of one per batch; its events wait up
	// to Gather longer.
	Gather time.Duration
}

// Config configures the bus.
type Config struct {
	// Owner names this process in consumer leases (default host:pid:random).
	Owner string
	// Lease is how long a process holds a consumer without renewing it
	// (default 10 s).
	Lease time.Duration
	// PollEvery is how often a consumer looks for events when nothing woke
	// it (default 250 ms).
	PollEvery time.Duration
	// Retention deletes events older than this that every consumer has
	// passed (default 7 days; Prune does it).
	Retention time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
}

// Bus is the outbox of one console process.
type Bus struct {
	st  *store.Store
	cfg Config
	log *slog.Logger
	now func() time.Time

	mu        sync.Mutex
	consumers []*consumer
	running   bool
	// tail is the newest events, read once for every consumer (tail.go).
	tail *tail

	lag *prometheus.HistogramVec
	// delivered counts events handed to consumers (all consumers).
	delivered *prometheus.CounterVec
	// reads counts the reads of stored events: "shared" for the tail's,
	// "behind" for a consumer's own.
	reads *prometheus.CounterVec
}

// New returns the bus on st.
func New(st *store.Store, cfg Config) *Bus {
	if cfg.Owner == "" {
		cfg.Owner = store.InstanceName()
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 10 * time.Second
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = 250 * time.Millisecond
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Bus{st: st, cfg: cfg, log: cfg.Logger, now: cfg.Now, tail: newTail(),
		lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "riskmap_event_delivery_lag_seconds", Help: "Time from an event's commit to its consumer's handler returning, by consumer.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60},
		}, []string{"consumer"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskmap_events_delivered_total", Help: "Events handed to consumers, by consumer.",
		}, []string{"consumer"}),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskmap_event_reads_total",
			Help: "Reads of stored events: shared (the newest events, read once for every consumer) or behind (a consumer behind them reading its own).",
		}, []string{"from"}),
	}
}

// Collectors are the bus's Prometheus metrics.
func (b *Bus) Collectors() []prometheus.Collector {
	return []prometheus.Collector{b.lag, b.delivered, b.reads}
}

// PublishTx writes events in the caller's transaction, in order. Call it
// last in the transaction (see the package doc).
func (b *Bus) PublishTx(ctx context.Context, tx store.Querier, evs ...Typed) error {
	return Publish(ctx, tx, b.now(), evs...)
}

// Publish writes events in tx with the time at. Packages that write events
// without holding the Bus (tests, tools) use it.
func Publish(ctx context.Context, tx store.Querier, at time.Time, evs ...Typed) error {
	if len(evs) == 0 {
		return nil
	}
	var last int64
	if err := tx.QueryRowContext(ctx, `UPDATE event_seq SET seq = seq + ? WHERE id = 1 RETURNING seq`, len(evs)).Scan(&last); err != nil {
		return fmt.Errorf("publish %d events: sequence: %w", len(evs), err)
	}
	first := last - int64(len(evs)) + 1
	err := store.ExecValues(ctx, tx, "INSERT INTO events (seq, type, event_key, payload, created_at)", 5, len(evs), "",
		func(i int, args []any) ([]any, error) {
			p, err := json.Marshal(evs[i])
			if err != nil {
				return nil, fmt.Errorf("encode %s event: %w", evs[i].EventType(), err)
			}
			return append(args, first+int64(i), evs[i].EventType(), evs[i].EventKey(), string(p), store.Millis(at)), nil
		})
	if err != nil {
		return fmt.Errorf("publish %d events: %w", len(evs), err)
	}
	return nil
}

// Subscribe registers a consumer; call it before Run.
func (b *Bus) Subscribe(c Consumer) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.Name == "" || c.Handle == nil {
		return errors.New("events: a consumer needs a name and a handler")
	}
	for _, o := range b.consumers {
		if o.c.Name == c.Name {
			return fmt.Errorf("events: consumer %s subscribed twice", c.Name)
		}
	}
	if c.Batch <= 0 {
		c.Batch = 100
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8
	}
	b.consumers = append(b.consumers, &consumer{b: b, c: c, wake: make(chan struct{}, 1)})
	return nil
}

// MustSubscribe is Subscribe for the composition root's static list.
func (b *Bus) MustSubscribe(cs ...Consumer) {
	for _, c := range cs {
		if err := b.Subscribe(c); err != nil {
			panic(err)
		}
	}
}

// Notify wakes this process's consumers (call after committing events).
func (b *Bus) Notify() { b.NotifyOf() }

// NotifyOf wakes this process's consumers of the events committed (all of
// them when none is given). The others find them at their next poll
// (PollEvery), in the shared tail: at a batch of sensor reports every few
// milliseconds, waking every consumer for each batch's node.changed was
// most of the bus's cost, for the one consumer that takes it.
func (b *Bus) NotifyOf(evs ...Typed) {
	b.tail.notify()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.consumers {
		if len(evs) > 0 && !slices.ContainsFunc(evs, func(e Typed) bool { return c.wants(e.EventType()) }) {
			continue
		}
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// Init stores the starting position of consumers subscribed for the first
// time (the newest event, or the start for FromStart). Call it before the
// modules that publish start, so a new consumer misses nothing they write;
// Run calls it too.
func (b *Bus) Init(ctx context.Context) error {
	b.mu.Lock()
	cs := slices.Clone(b.consumers)
	b.mu.Unlock()
	for _, c := range cs {
		if err := c.register(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Run delivers events to the subscribed consumers until ctx ends.
func (b *Bus) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.running {
		b.mu.Unlock()
		return errors.New("events: Run called twice")
	}
	b.running = true
	cs := slices.Clone(b.consumers)
	b.mu.Unlock()
	if err := b.Init(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() { defer wg.Done(); c.loop(ctx) }()
	}
	wg.Wait()
	return nil
}

// Head returns the newest event's sequence number.
func (b *Bus) Head(ctx context.Context) (int64, error) {
	var n int64
	if err := b.st.Read().QueryRowContext(ctx, `SELECT seq FROM event_seq WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("event head: %w", err)
	}
	return n, nil
}

// ConsumerStatus is one consumer's state (diagnosis).
type ConsumerStatus struct {
	Name       string     `json:"name"`
	Position   int64      `json:"position"`
	Behind     int64      `json:"behind"`
	Owner      string     `json:"owner,omitempty"`
	LeaseUntil *time.Time `json:"leaseUntil,omitempty"`
	Delivered  int64      `json:"delivered"`
	Failures   int        `json:"failures"`
	LastError  string     `json:"lastError,omitempty"`
	Dead       int        `json:"deadLetters"`
}

// Status lists the stored consumers.
func (b *Bus) Status(ctx context.Context) ([]ConsumerStatus, error) {
	head, err := b.Head(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := b.st.Read().QueryContext(ctx, `SELECT c.name, c.position, c.owner, c.lease_until, c.delivered, c.failures, c.last_error,
		(SELECT COUNT(*) FROM event_dead d WHERE d.consumer = c.name) FROM event_consumers c ORDER BY c.name`)
	if err != nil {
		return nil, fmt.Errorf("event consumers: %w", err)
	}
	defer rows.Close()
	out := []ConsumerStatus{}
	for rows.Next() {
		var s ConsumerStatus
		var lease int64
		if err := rows.Scan(&s.Name, &s.Position, &s.Owner, &lease, &s.Delivered, &s.Failures, &s.LastError, &s.Dead); err != nil {
			return nil, fmt.Errorf("event consumers: %w", err)
		}
		s.Behind = max(head-s.Position, 0)
		if lease > 0 {
			t := store.FromMillis(lease)
			s.LeaseUntil = &t
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// DeadLetter is an event a consumer gave up on.
type DeadLetter struct {
	Consumer string    `json:"consumer"`
	Event    Event     `json:"event"`
	Error    string    `json:"error"`
	Attempts int       `json:"attempts"`
	FailedAt time.Time `json:"failedAt"`
}

// DeadLetters lists a consumer's dead letters (all consumers when empty).
func (b *Bus) DeadLetters(ctx context.Context, consumer string) ([]DeadLetter, error) {
	q := `SELECT d.consumer, d.seq, COALESCE(e.type, ''), COALESCE(e.event_key, ''), COALESCE(e.payload, 'null'), COALESCE(e.created_at, 0),
		d.error, d.attempts, d.failed_at FROM event_dead d LEFT JOIN events e ON e.seq = d.seq`
	var args []any
	if consumer != "" {
		q += ` WHERE d.consumer = ?`
		args = append(args, consumer)
	}
	rows, err := b.st.Read().QueryContext(ctx, q+` ORDER BY d.consumer, d.seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		var d DeadLetter
		var payload string
		var at, failed int64
		if err := rows.Scan(&d.Consumer, &d.Event.Seq, &d.Event.Type, &d.Event.Key, &payload, &at, &d.Error, &d.Attempts, &failed); err != nil {
			return nil, fmt.Errorf("dead letters: %w", err)
		}
		d.Event.Payload, d.Event.At, d.FailedAt = json.RawMessage(payload), store.FromMillis(at), store.FromMillis(failed)
		out = append(out, d)
	}
	return out, rows.Err()
}

// Prune deletes events older than Retention that every stored consumer
// has passed, and dead letters of events that no longer exist.
func (b *Bus) Prune(ctx context.Context) (int64, error) {
	var n int64
	err := b.st.Tx(ctx, func(tx store.Querier) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE created_at < ? AND seq <= (SELECT COALESCE(MIN(position), 0) FROM event_consumers)
			AND seq NOT IN (SELECT seq FROM event_dead)`, store.Millis(b.now().Add(-b.cfg.Retention)))
		if err != nil {
			return fmt.Errorf("prune events: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// consumer is one subscribed consumer's delivery loop.
type consumer struct {
	b    *Bus
	c    Consumer
	wake chan struct{}

	held  bool
	pos   int64
	lease time.Time
	// unsaved counts the events delivered (skipped) since the position was
	// last written.
	unsaved int
	fetched time.Time // the last read (Gather)
}

// register stores a new consumer's starting position.
func (c *consumer) register(ctx context.Context) error {
	b := c.b
	return b.st.Tx(ctx, func(tx store.Querier) error {
		start := int64(0)
		if !c.c.FromStart {
			if err := tx.QueryRowContext(ctx, `SELECT seq FROM event_seq WHERE id = 1`).Scan(&start); err != nil {
				return fmt.Errorf("register consumer %s: %w", c.c.Name, err)
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO event_consumers (name, position, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
			c.c.Name, start, store.Millis(b.now()))
		if err != nil {
			return fmt.Errorf("register consumer %s: %w", c.c.Name, err)
		}
		return nil
	})
}

func (c *consumer) loop(ctx context.Context) {
	b := c.b
	backoff := time.Duration(0)
	failures := 0
	for ctx.Err() == nil {
		if !c.held || b.now().After(c.lease.Add(-b.cfg.Lease/2)) {
			ok, err := c.acquire(ctx)
			if err != nil && ctx.Err() == nil {
				b.log.Warn("events: consumer lease", "consumer", c.c.Name, "err", err)
			}
			if !ok {
				c.sleep(ctx, b.cfg.Lease/3)
				continue
			}
		}
		// Gather: a wake-up before the time sleeps again for the rest.
		for wait := c.c.Gather - time.Since(c.fetched); wait > 0 && ctx.Err() == nil; wait = c.c.Gather - time.Since(c.fetched) {
			c.sleep(ctx, wait)
		}
		if ctx.Err() != nil {
			return
		}
		c.fetched = time.Now()
		evs, scanned, err := c.fetch(ctx)
		if len(evs) >= c.c.Batch {
			c.fetched = time.Time{} // more to read: at once
		}
		if err != nil {
			if ctx.Err() == nil {
				b.log.Warn("events: read", "consumer", c.c.Name, "err", err)
			}
			c.sleep(ctx, time.Second)
			continue
		}
		if scanned == c.pos {
			c.sleep(ctx, b.cfg.PollEvery)
			continue
		}
		if backoff > 0 {
			c.sleep(ctx, backoff)
			if ctx.Err() != nil {
				return
			}
		}
		err = c.deliver(ctx, evs, failures+1)
		acted := len(evs)
		if errors.Is(err, Skip) {
			c.unsaved += len(evs)
			acted, err = 0, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			backoff = min(time.Duration(1<<min(failures, 10))*100*time.Millisecond, 30*time.Second)
			c.recordFailure(ctx, failures, err)
			if failures < c.c.MaxAttempts {
				continue
			}
			// Deliver one at a time; set aside what still fails.
			for i, e := range evs {
				if herr := c.handle(ctx, evs[i:i+1]); failed(herr) {
					if ctx.Err() != nil {
						return
					}
					c.deadLetter(ctx, e, herr, failures)
				}
			}
			err = nil
		}
		if err == nil {
			if !c.advance(ctx, scanned, acted) {
				continue
			}
			failures, backoff = 0, 0
		}
	}
}

func (c *consumer) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-c.wake:
	}
}

// acquire takes or renews the consumer's lease and reads its position.
func (c *consumer) acquire(ctx context.Context) (bool, error) {
	b := c.b
	now := b.now()
	until := now.Add(b.cfg.Lease)
	ok := false
	err := b.st.Tx(ctx, func(tx store.Querier) error {
		res, err := tx.ExecContext(ctx, `UPDATE event_consumers SET owner = ?, lease_until = ? WHERE name = ? AND (owner = ? OR lease_until < ?)`,
			b.cfg.Owner, store.Millis(until), c.c.Name, b.cfg.Owner, store.Millis(now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		ok = true
		var pos int64
		if err := tx.QueryRowContext(ctx, `SELECT position FROM event_consumers WHERE name = ?`, c.c.Name).Scan(&pos); err != nil {
			return err
		}
		// Renewing its own lease, the process's position may be ahead of
		// the stored one (advance keeps skipped events in memory).
		if !c.held || pos > c.pos {
			c.pos = pos
		}
		return nil
	})
	if err != nil {
		c.held = false
		return false, fmt.Errorf("consumer %s: %w", c.c.Name, err)
	}
	if ok && !c.held {
		b.log.Debug("events: consumer taken", "consumer", c.c.Name, "position", c.pos)
	}
	c.held = ok
	if ok {
		c.lease = until
	}
	return ok, nil
}

// fetch reads the next events after the position; it returns those of the
// consumer's types and the highest sequence number it read.
func (c *consumer) fetch(ctx context.Context) ([]Event, int64, error) {
	evs, last, ok, err := c.b.tail.next(ctx, c.b, c.pos, c.c.Batch)
	if err != nil {
		return nil, c.pos, err
	}
	if ok {
		out := evs[:0]
		for _, e := range evs {
			if c.wants(e.Type) {
				out = append(out, e)
			}
		}
		return out, last, nil
	}
	// Behind the shared tail: read the database.
	c.b.reads.WithLabelValues("behind").Inc()
	rows, err := c.b.st.Read().QueryContext(ctx, `SELECT seq, type, event_key, payload, created_at FROM events WHERE seq > ? ORDER BY seq LIMIT ?`,
		c.pos, c.c.Batch)
	if err != nil {
		return nil, c.pos, err
	}
	defer rows.Close()
	var out []Event
	last = c.pos
	for rows.Next() {
		var e Event
		var payload string
		var at int64
		if err := rows.Scan(&e.Seq, &e.Type, &e.Key, &payload, &at); err != nil {
			return nil, c.pos, err
		}
		last = e.Seq
		if !c.wants(e.Type) {
			continue
		}
		e.Payload, e.At = json.RawMessage(payload), store.FromMillis(at)
		out = append(out, e)
	}
	return out, last, rows.Err()
}

// wants reports whether the consumer takes events of type typ.
func (c *consumer) wants(typ string) bool {
	return len(c.c.Types) == 0 || slices.Contains(c.c.Types, typ)
}

func (c *consumer) handle(ctx context.Context, evs []Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("consumer %s panicked: %v", c.c.Name, r)
		}
	}()
	return c.c.Handle(ctx, evs)
}

func (c *consumer) deliver(ctx context.Context, evs []Event, attempt int) error {
	if len(evs) == 0 {
		return nil
	}
	err := c.handle(ctx, evs)
	if failed(err) {
		return err
	}
	now := c.b.now()
	for _, e := range evs {
		c.b.lag.WithLabelValues(c.c.Name).Observe(max(now.Sub(e.At).Seconds(), 0))
	}
	c.b.delivered.WithLabelValues(c.c.Name).Add(float64(len(evs)))
	return err
}

// advance stores the new position while the lease is held. Passing
// only events of other types, or events the handler skipped (n is 0), is
// kept in memory while the lease is fresh (under a third of it used): a
// consumer that ignores most events does not write its position after
// every batch of them. The position written lags only over events it
// would not act on, so a process taking the consumer over reads them
// again and skips them.
func (c *consumer) advance(ctx context.Context, to int64, n int) bool {
	b := c.b
	now := b.now()
	if n == 0 && c.held && now.Before(c.lease.Add(-2*b.cfg.Lease/3)) {
		c.pos = to
		return true
	}
	until := now.Add(b.cfg.Lease)
	held := false
	wctx := context.WithoutCancel(ctx)
	err := b.st.Tx(wctx, func(tx store.Querier) error {
		res, err := tx.ExecContext(wctx, `UPDATE event_consumers SET position = ?, delivered = delivered + ?, failures = 0, last_error = '',
			lease_until = ?, updated_at = ? WHERE name = ? AND owner = ?`, to, n+c.unsaved, store.Millis(until), store.Millis(now), c.c.Name, b.cfg.Owner)
		if err != nil {
			return err
		}
		rn, _ := res.RowsAffected()
		held = rn == 1
		return nil
	})
	if err != nil {
		b.log.Warn("events: store position", "consumer", c.c.Name, "err", err)
		c.held = false
		return false
	}
	if !held {
		b.log.Warn("events: consumer lease lost; another process delivers now", "consumer", c.c.Name)
		c.held = false
		return false
	}
	c.pos, c.lease, c.unsaved = to, until, 0
	return true
}

func (c *consumer) recordFailure(ctx context.Context, failures int, err error) {
	b := c.b
	b.log.Warn("events: consumer failed", "consumer", c.c.Name, "attempt", failures, "err", err)
	msg := err.Error()
	if len(msg) > 2000 {
		msg = msg[:2000]
	}
	_ = b.st.Tx(ctx, func(tx store.Querier) error {
		_, err := tx.ExecContext(ctx, `UPDATE event_consumers SET failures = ?, last_error = ?, updated_at = ? WHERE name = ? AND owner = ?`,
			failures, msg, store.Millis(b.now()), c.c.Name, b.cfg.Owner)
		return err
	})
}

func (c *consumer) deadLetter(ctx context.Context, e Event, err error, attempts int) {
	b := c.b
	b.log.Error("events: event set aside after repeated failures", "consumer", c.c.Name, "seq", e.Seq, "type", e.Type, "err", err)
	msg := err.Error()
	if len(msg) > 2000 {
		msg = msg[:2000]
	}
	_ = b.st.Tx(ctx, func(tx store.Querier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO event_dead (consumer, seq, error, attempts, failed_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (consumer, seq) DO UPDATE SET error = excluded.error, attempts = excluded.attempts, failed_at = excluded.failed_at`,
			c.c.Name, e.Seq, msg, attempts, store.Millis(b.now()))
		return err
	})
}

// RetryDead hands a consumer's dead letters to its handler again (in
// order); those that succeed leave the list. It runs in the caller's
// process whether or not it holds the consumer's lease.
func (b *Bus) RetryDead(ctx context.Context, name string) (retried, still int, err error) {
	b.mu.Lock()
	var c *consumer
	for _, x := range b.consumers {
		if x.c.Name == name {
			c = x
		}
	}
	b.mu.Unlock()
	if c == nil {
		return 0, 0, fmt.Errorf("events: no consumer %q in this process", name)
	}
	dead, err := b.DeadLetters(ctx, name)
	if err != nil {
		return 0, 0, err
	}
	sort.Slice(dead, func(i, j int) bool { return dead[i].Event.Seq < dead[j].Event.Seq })
	for _, d := range dead {
		if herr := c.handle(ctx, []Event{d.Event}); failed(herr) {
			still++
			continue
		}
		retried++
		if err := b.st.Tx(ctx, func(tx store.Querier) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM event_dead WHERE consumer = ? AND seq = ?`, name, d.Event.Seq)
			return err
		}); err != nil {
			return retried, still, fmt.Errorf("events: clear dead letter %d: %w", d.Event.Seq, err)
		}
	}
	return retried, still, nil
}

// Deferred publishing. A transaction that runs other modules' code (a job
// state change runs its kind's hook) cannot know whether that code
// publishes; Tx collects what Emit is given and publishes it last, so the
// outbox's counter row is always the last lock a transaction takes (no
// lock-order deadlock between transactions that publish).

type collectorKey struct{}

type collector struct {
	mu  sync.Mutex
	evs []Typed
	at  time.Time
}

// Tx runs fn in a write transaction of st and publishes, at its end, the
// events Emit was given inside it (at the time now()).
func Tx(ctx context.Context, st *store.Store, now func() time.Time, fn func(ctx context.Context, tx store.Querier) error) error {
	return st.Tx(ctx, func(tx store.Querier) error {
		c := &collector{}
		cctx := context.WithValue(ctx, collectorKey{}, c)
		if err := fn(cctx, tx); err != nil {
			return err
		}
		c.mu.Lock()
		evs := c.evs
		c.mu.Unlock()
		return Publish(ctx, tx, now(), evs...)
	})
}

// Emit publishes events in tx; inside Tx it defers them to the end of the
// transaction.
func Emit(ctx context.Context, tx store.Querier, at time.Time, evs ...Typed) error {
	if c, ok := ctx.Value(collectorKey{}).(*collector); ok {
		c.mu.Lock()
		c.evs = append(c.evs, evs...)
		c.mu.Unlock()
		return nil
	}
	return Publish(ctx, tx, at, evs...)
}
