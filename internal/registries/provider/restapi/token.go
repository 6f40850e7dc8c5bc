package restapi

import (
	"context"
	"sync"
	"time"
)

// Token is a cached access token with its expiry.
type Token struct {
	Value   string
	Expires time.Time // zero: no known expiry
}

// TokenCache keeps one access token and fetches a new one when none is
// held, when it expires within Early, or after Drop (a 401 said it no
// longer holds). Fetches are serialised: concurrent callers share one.
type TokenCache struct {
	// Fetch gets a new token.
	Fetch func(ctx context.Context) (Token, error)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Early is how long before its expiry a token is renewed (default 30 s).
	Early time.Duration

	mu  sync.Mutex
	tok Token
}

// Get returns a valid token, fetching one if needed.
func (c *TokenCache) Get(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	early := c.Early
	if early == 0 {
		early = 30 * time.Second
	}
	if c.tok.Value != "" && (c.tok.Expires.IsZero() || now().Add(early).Before(c.tok.Expires)) {
		return c.tok.Value, nil
	}
	t, err := c.Fetch(ctx)
	if err != nil {
		c.tok = Token{}
		return "", err
	}
	c.tok = t
	return t.Value, nil
}

// Drop forgets the token so that the next Get fetches a new one.
func (c *TokenCache) Drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tok = Token{}
}
