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
