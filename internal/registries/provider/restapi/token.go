package restapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
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

// JWTExpiry reads the exp claim of a JWT without verifying it: the token
// is its issuer's business; only its lifetime matters to the client.
func JWTExpiry(tok string) (time.Time, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var c struct {
		Exp json.Number `json:"exp"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return time.Time{}, false
	}
	n, err := c.Exp.Int64()
	if err != nil || n <= 0 || n > 1<<40 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// ParseToken reads a token endpoint's answer: the token in the first of
// members that holds one (the vendor's names: "token", "access_token",
// "refresh_token"), which must be one word; its expiry the JWT's exp
// claim when it has one.
func ParseToken(body []byte, members ...string) (Token, error) {
	var v map[string]json.RawMessage
	if err := json.Unmarshal(body, &v); err != nil {
		return Token{}, fmt.Errorf("decode token answer: %w", err)
	}
	for _, m := range members {
		var tok string
		if raw, ok := v[m]; !ok || json.Unmarshal(raw, &tok) != nil || tok == "" {
			continue
		}
		if strings.ContainsAny(tok, " \r\n") {
			return Token{}, fmt.Errorf("%s in the answer is not one word", m)
		}
		exp, _ := JWTExpiry(tok)
		return Token{Value: tok, Expires: exp}, nil
	}
	return Token{}, fmt.Errorf("no %s in the answer", strings.Join(members, " or "))
}
