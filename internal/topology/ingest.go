package topology

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

// Ingest queues a decoded, validated report for the writer and waits until
// it is committed. The answer tells the sensor when to report next and
// whether to send a full report.
//
// The report is applied to the sensor's snapshot and derived here, on the
// request's goroutine (requests run in parallel); the single writer only
// diffs the result against the graph, writes and applies it.
func (t *Topology) Ingest(ctx context.Context, r *report.Report) (sensorproto.Ack, error) {
	h := t.holder(r.SensorID)
	select {
	case h.mu <- struct{}{}:
	case <-ctx.Done():
		return sensorproto.Ack{}, ctx.Err()
	}
	// Under way while it is prepared (the writer's linger waits for it);
	// not while it waits for its sensor's previous report, which may be
	// in the very batch the writer holds, and no longer once it is
	// queued: still counted when the writer takes it, it would hold its
	// own batch for the whole linger.
	unlock := func() { <-h.mu }
	j := &job{r: r, h: h, done: make(chan result, 1)}
	t.underway.Add(1)
	j.prep = func() *prepared {
		defer t.underway.Add(-1)
		return t.prepareReport(h, r)
	}()
	select {
	case t.queue <- j:
		t.recent.add(r.SensorID)
	default:
		h.snap = nil // the snapshot ran ahead of the store: the next delta asks for a full report
		unlock()
		return sensorproto.Ack{}, errOverloaded
	}
	select {
	case res := <-j.done:
		unlock()
		if res.err != nil {
			return sensorproto.Ack{}, res.err
		}
		return sensorproto.Ack{NextReportSeconds: t.nextInterval(), FullReportRequested: res.full}, nil
	case <-ctx.Done():
		// The report may still be committed; the sensor, not acknowledged,
		// sends a full report next. The snapshot stays locked until the
		// writer is done with it.
		go func() {
			select {
			case <-j.done:
			case <-t.stopped:
			}
			unlock()
		}()
		return sensorproto.Ack{}, ctx.Err()
	case <-t.stopped:
		unlock() // the writer is gone
		return sensorproto.Ack{}, ErrClosed
	}
}

// arrivals are when the last reports were queued, and from which sensor.
type arrivals struct {
	mu   sync.Mutex
	next int
	ring [8]struct {
		at     time.Time
		sensor string
	}
}

func (a *arrivals) add(sensor string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ring[a.next].at, a.ring[a.next].sensor = time.Now(), sensor
	a.next = (a.next + 1) % len(a.ring)
}

// busy reports whether at least two reports of sensors other than sensor
// were queued within the last two lingers: others are expected within the
// next. Only other sensors count: a sensor's next report waits for the
// answer to this one, so it cannot join the batch.
func (a *arrivals) busy(sensor string, linger time.Duration) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	since := time.Now().Add(-2 * linger)
	n := 0
	for _, e := range a.ring {
		if e.sensor != sensor && e.at.After(since) {
			n++
		}
	}
	return n >= 2
}

// holder returns a sensor's snapshot holder.
func (t *Topology) holder(sensorID string) *snapHolder {
	t.holdersMu.Lock()
	defer t.holdersMu.Unlock()
	if t.holders == nil {
		t.holders = map[string]*snapHolder{}
	}
	h := t.holders[sensorID]
	if h == nil {
		h = &snapHolder{mu: make(chan struct{}, 1)}
		t.holders[sensorID] = h
	}
	return h
}

var errOverloaded = errors.New("ingest queue full")

// nextInterval is the configured interval, raised when the writer is busy
// (back-pressure): at more than half busy the interval grows in proportion,
// and doubles again while the queue is more than a quarter full.
func (t *Topology) nextInterval() int {
	f := 1.0
	if u := t.load.utilisation(); u > 0.5 {
		f = u / 0.5
	}
	if len(t.queue) > cap(t.queue)/4 {
		f *= 2
	}
	d := time.Duration(float64(t.cfg.Interval) * f)
	d = min(d, t.cfg.MaxInterval)
	return int(math.Ceil(d.Seconds()))
}

// retryAfter estimates when the queue will have room.
func (t *Topology) retryAfter() time.Duration {
	return max(time.Second, time.Duration(len(t.queue)/max(1, t.cfg.BatchSize))*100*time.Millisecond)
}

// decodeRequest reads a report request's body: gzip only, within the
// limits, strictly decoded and validated. It returns the HTTP status and
// message for a refusal.
func decodeRequest(r *http.Request, lim report.Limits) (*report.Report, int, string) {
	if enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc != "gzip" {
		return nil, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Encoding %q: the report must be gzip-compressed JSON (Content-Encoding: gzip)", enc)
	}
	rep, err := report.Decode(r.Body, lim)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.Is(err, report.ErrTooLarge) || errors.As(err, &mbe) {
			return nil, http.StatusRequestEntityTooLarge, err.Error()
		}
		return nil, http.StatusBadRequest, err.Error()
	}
	return rep, 0, ""
}

// SensorLimits is the per-sensor report rate, which the console checks
// against the authenticated sensor before the body is read
// (console.SensorLimits).
func (t *Topology) SensorLimits() []console.RouteLimit {
	return []console.RouteLimit{{Method: http.MethodPost, Pattern: RouteReports, Buckets: t.limit, What: "report"}}
}

func (t *Topology) handleReport(w http.ResponseWriter, r *http.Request) {
	x, ok := console.SensorFrom(r.Context())
	if !ok {
		console.WriteProblem(w, http.StatusForbidden, "reports come from enrolled sensors")
		return
	}
	// Under way while decoded (the writer's linger waits for it); Ingest
	// counts it from there.
	t.underway.Add(1)
	rep, status, msg := decodeRequest(r, t.cfg.Limits)
	t.underway.Add(-1)
	if status != 0 {
		console.WriteProblem(w, status, msg)
		return
	}
	if rep.SensorID != x.ID {
		t.log.Warn("report for another sensor refused", "sensor", x.ID, "report_sensor", rep.SensorID, "addr", console.ClientAddr(r.Context()))
		console.WriteProblem(w, http.StatusForbidden, fmt.Sprintf("sensor %s reports for itself only; this report names sensor %q", x.ID, rep.SensorID))
		return
	}
	ack, err := t.Ingest(r.Context(), rep)
	switch {
	case errors.Is(err, errOverloaded):
		console.SetRetryAfter(w.Header(), t.retryAfter())
		console.WriteProblem(w, http.StatusTooManyRequests, "the console is overloaded; retry later")
		return
	case errors.Is(err, ErrClosed):
		w.Header().Set("Retry-After", "5")
		console.WriteProblem(w, http.StatusServiceUnavailable, "the console is shutting down")
		return
	case err != nil:
		t.log.Error("ingest report", "sensor", rep.SensorID, "seq", rep.Seq, "err", err)
		w.Header().Set("Retry-After", "5")
		console.WriteProblem(w, http.StatusServiceUnavailable, "the report could not be stored; retry later")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ack)
}

// loadMeter measures the writer's busy share over the last 10 seconds.
type loadMeter struct {
	mu    sync.Mutex
	now   func() time.Time
	slots [10]time.Duration
	at    [10]int64
}

func newLoadMeter(now func() time.Time) *loadMeter { return &loadMeter{now: now} }

func (m *loadMeter) busy(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sec := m.now().Unix()
	i := sec % 10
	if m.at[i] != sec {
		m.at[i], m.slots[i] = sec, 0
	}
	m.slots[i] += d
}

func (m *loadMeter) utilisation() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	sec := m.now().Unix()
	var total time.Duration
	for i := range m.slots {
		if sec-m.at[i] < 10 {
			total += m.slots[i]
		}
	}
	return total.Seconds() / 10
}
