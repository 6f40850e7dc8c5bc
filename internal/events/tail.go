package events

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/riskmap/riskmap/internal/store"
)

// The newest events are read once per process and shared by its
// consumers. Without it every commit that published an event woke every
// consumer, and each read the same rows again (at 200 sensor reports a
// second, six consumers made a thousand queries a second of which most
// returned what another had just read). A consumer whose position lies
// within the tail takes its events from memory; a consumer behind it (a
// new one reading from the start, or one that was failing) reads the
// database as before.
//
// The tail holds every stored event with a sequence number in (from, to]:
// reading "seq > to" in order extends it, because events become visible in
// sequence order (see the package doc). It is read again when a consumer
// has caught up with it and either Notify was called since the last read
// (this process committed events) or half the poll interval has passed
// (other processes may have).

// tailMax and tailMaxBytes bound the events kept (the oldest are dropped).
const (
	tailMax      = 1024
	tailMaxBytes = 4 << 20
	tailRead     = 500 // events read at a time
)

type tail struct {
	mu     chan struct{} // held while reading (a mutex a waiter can give up on)
	set    bool
	from   int64
	to     int64
	evs    []Event
	bytes  int
	readAt time.Time
	// stale is set by Notify (this process committed events since the
	// last read) and after a read that filled its page.
	stale atomic.Bool
}

func newTail() *tail { return &tail{mu: make(chan struct{}, 1)} }

func (t *tail) lock(ctx context.Context) error {
	select {
	case t.mu <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *tail) unlock() { <-t.mu }

// notify marks the tail stale (Bus.Notify).
func (t *tail) notify() { t.stale.Store(true) }

// next returns up to n events after pos that the tail covers (of every
// type) and the highest sequence number they cover; ok is false when pos
// is behind the tail, and the caller reads the database itself.
func (t *tail) next(ctx context.Context, b *Bus, pos int64, n int) (evs []Event, scanned int64, ok bool, err error) {
	if err := t.lock(ctx); err != nil {
		return nil, pos, false, err
	}
	defer t.unlock()
	if !t.set || pos > t.to {
		// The first read, or a position ahead of the tail (taken over
		// from another process): the tail starts there.
		t.set, t.from, t.to, t.evs, t.bytes = true, pos, pos, nil, 0
		t.readAt = time.Time{}
	}
	if pos < t.from {
		return nil, pos, false, nil
	}
	// The poll interval is real time, whatever clock the bus was given.
	if pos == t.to && (t.stale.Load() || time.Since(t.readAt) >= b.cfg.PollEvery/2) {
		if err := t.read(ctx, b); err != nil {
			return nil, pos, true, err
		}
	}
	// The events after pos: binary search (sequence numbers ascend).
	lo, hi := 0, len(t.evs)
	for lo < hi {
		m := (lo + hi) / 2
		if t.evs[m].Seq <= pos {
			lo = m + 1
		} else {
			hi = m
		}
	}
	rest := t.evs[lo:]
	if len(rest) > n {
		rest = rest[:n]
		return append([]Event(nil), rest...), rest[len(rest)-1].Seq, true, nil
	}
	return append([]Event(nil), rest...), t.to, true, nil
}

// read extends the tail with the events after it. The caller holds mu.
func (t *tail) read(ctx context.Context, b *Bus) error {
	// Cleared before the query: a Notify during it marks the tail stale
	// again, so an event committed after the query began is read next time.
	t.stale.Store(false)
	t.readAt = time.Now()
	b.reads.WithLabelValues("shared").Inc()
	rows, err := b.st.Read().QueryContext(ctx, `SELECT seq, type, event_key, payload, created_at FROM events WHERE seq > ? ORDER BY seq LIMIT ?`,
		t.to, tailRead)
	if err != nil {
		t.stale.Store(true)
		return err
	}
	defer rows.Close()
	read := 0
	for rows.Next() {
		read++
		var e Event
		var payload string
		var at int64
		if err := rows.Scan(&e.Seq, &e.Type, &e.Key, &payload, &at); err != nil {
			t.stale.Store(true)
			return err
		}
		e.Payload, e.At = json.RawMessage(payload), store.FromMillis(at)
		t.evs = append(t.evs, e)
		t.bytes += len(payload)
		t.to = e.Seq
	}
	if err := rows.Err(); err != nil {
		t.stale.Store(true)
		return err
	}
	if read == tailRead {
		t.stale.Store(true) // more to read
	}
	// Drop the oldest beyond the bounds.
	drop := 0
	for drop < len(t.evs) && (len(t.evs)-drop > tailMax || t.bytes > tailMaxBytes) {
		t.bytes -= len(t.evs[drop].Payload)
		t.from = t.evs[drop].Seq
		drop++
	}
	// Resliced, not copied: append moves what is left to a new array when
	// it next grows, and the dropped events go with the old one.
	t.evs = t.evs[drop:]
	return nil
}
