package testenv

import (
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Clock is a settable clock for tests: pass Now where a package takes an
// injected clock, then Advance it.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now reads the clock.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Backend is a database back end the console runs on.
type Backend struct {
	Name string
	// URL returns a fresh database of this back end for the test: a SQLite
	// file in a temporary directory, or a PostgreSQL database created for
	// it (PostgresURL).
	URL func(t testing.TB) string
}

// Backends are the back ends every database test runs over.
var Backends = []Backend{
	{"sqlite", func(t testing.TB) string { return filepath.Join(t.TempDir(), "riskmap.db") }},
	{"postgres", PostgresURL},
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}
