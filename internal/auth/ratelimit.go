package auth

import (
	"sync"
	"time"
)

// Limiter counts events per key in a fixed window and refuses keys that
// exceeded their budget until the window ends. It bounds its memory: when
// it holds MaxKeys keys it drops expired ones, and if none expired it
// refuses new keys (failing closed) until they do.
type Limiter struct {
	Limit   int
	Window  time.Duration
	MaxKeys int
	Now     func() time.Time

	mu      sync.Mutex
	entries map[string]*window
}

type window struct {
	start time.Time
	count int
}

// NewLimiter returns a limiter allowing limit events per window per key.
func NewLimiter(limit int, per time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{Limit: limit, Window: per, MaxKeys: 100_000, Now: now, entries: map[string]*window{}}
}

// Allow reports whether key may perform one more event now; when it may not,
// it also returns how long until it may.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	ok, wait := l.Check(key)
	if ok {
		l.Add(key)
	}
	return ok, wait
}

// Check reports whether key is under its budget without counting an event.
func (l *Limiter) Check(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	e := l.entries[key]
	if e == nil || now.Sub(e.start) >= l.Window {
		if e == nil && len(l.entries) >= l.MaxKeys {
			l.sweep(now)
			if len(l.entries) >= l.MaxKeys {
				return false, l.Window
			}
		}
		return true, 0
	}
	if e.count >= l.Limit {
		return false, e.start.Add(l.Window).Sub(now)
	}
	return true, 0
}

// Add counts one event for key.
func (l *Limiter) Add(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	e := l.entries[key]
	if e == nil || now.Sub(e.start) >= l.Window {
		if e == nil && len(l.entries) >= l.MaxKeys {
			l.sweep(now)
		}
		l.entries[key] = &window{start: now, count: 1}
		return
	}
	e.count++
}

// Reset forgets key (after a successful login, for instance).
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, key)
}

func (l *Limiter) sweep(now time.Time) {
	for k, e := range l.entries {
		if now.Sub(e.start) >= l.Window {
			delete(l.entries, k)
		}
	}
}

// Buckets is a token bucket per key: burst events at once, then one more
// every every. A bucket idle long enough to be full again is dropped, so
// memory follows the keys active lately.
type Buckets struct {
	burst float64
	every time.Duration
	now   func() time.Time

	mu    sync.Mutex
	b     map[string]*bucket
	swept time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewBuckets returns token buckets of burst tokens refilled one per every.
func NewBuckets(burst int, every time.Duration, now func() time.Time) *Buckets {
	if now == nil {
		now = time.Now
	}
	return &Buckets{burst: float64(burst), every: every, now: now, b: map[string]*bucket{}}
}

// Params are the buckets' size and refill period.
func (l *Buckets) Params() (burst int, every time.Duration) { return int(l.burst), l.every }

// Allow takes a token for key, or says how long until one is free.
func (l *Buckets) Allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	full := time.Duration(l.burst) * l.every
	if now.Sub(l.swept) > max(full, time.Minute) {
		for k, b := range l.b {
			if now.Sub(b.at) > full {
				delete(l.b, k)
			}
		}
		l.swept = now
	}
	b := l.b[key]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		l.b[key] = b
	}
	b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.every))
	b.at = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(l.every))
	}
	b.tokens--
	return true, 0
}

// Backoff is the delay policy of failed sign-ins: the first Free failures
// cost nothing; from then on each failure makes the next attempt wait,
// Base after the Free-th failure, doubling with every further one, at most
// Max. Base == Max is a plain lock of that length.
type Backoff struct {
	Free int
	Base time.Duration
	Max  time.Duration
}

// Wait is how long the next attempt waits after n failures.
func (b Backoff) Wait(n int) time.Duration {
	if n < b.Free || b.Base <= 0 {
		return 0
	}
	shift := n - b.Free
	if shift >= 62 || b.Base > b.Max>>shift {
		return b.Max
	}
	return b.Base << shift
}
