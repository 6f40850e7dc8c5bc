package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"time"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/store"
)

// Sign-in protection. A password check is charged, before it runs, to two
// counters: the account from the caller's address (the pair) and the
// caller's address; with the hard lock (an operator's choice), to the
// account from anywhere too. Each counter lets its first failures through
// (LoginAccountLimit for the pair and the account, LoginAddressLimit for
// the address) and then makes every further attempt wait, firstDelay
// doubling up to LoginWindow (the hard lock: LoginWindow at once). A
// waiting attempt is answered 429 with Retry-After, the password unread.
// The right password forgives its attempt: the pair and the account are
// forgotten, the address gets the attempt back. So an address hammering an
// account slows only itself, an address failing against many accounts is
// slowed whatever account it tries, and the owner signing in from another
// address is never held up. The counters are store rows (login_throttle):
// replicas sharing PostgreSQL count together, and an attempt's charge is
// committed before its password is checked, so simultaneous attempts
// cannot slip past a delay.

// firstDelay is the wait after the first failure beyond a counter's free
// ones.
const firstDelay = time.Second

// signIn names the counters of one sign-in attempt.
type signIn struct {
	email, addr            string
	pair, address, account string // counter ids
	hardLock               bool
}

// signInWait is a refused attempt: which counter waits and for how long.
type signInWait struct {
	detail string // for the caller
	audit  string // for the audit log
	wait   time.Duration
}

func (w *signInWait) problem() error { return rateLimited(w.detail, w.wait) }

// throttleAddr is the client address a counter is kept for: the address,
// or for IPv6 its /64, which one host or customer usually holds whole.
func throttleAddr(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// keyOf makes a counter's id: kind and a digest of what it counts, so that
// typed-in emails are not kept a second time beside the audit log.
func keyOf(kind string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return kind + ":" + hex.EncodeToString(h.Sum(nil)[:16])
}

func (s *Server) signInOf(ctx context.Context, email string) signIn {
	addr := throttleAddr(ClientAddr(ctx))
	return signIn{email: email, addr: addr, pair: keyOf("pair", addr, email), address: keyOf("addr", addr),
		account: keyOf("account", email), hardLock: s.cfg.LoginHardLock}
}

func (s *Server) backoff(free int) auth.Backoff {
	return auth.Backoff{Free: free, Base: firstDelay, Max: s.cfg.LoginWindow}
}

// chargeSignIn charges a password check for email from the caller's
// address. A non-nil wait refuses the attempt.
func (s *Server) chargeSignIn(ctx context.Context, email string) (signIn, *signInWait, error) {
	a := s.signInOf(ctx, email)
	charges := []store.LoginCharge{
		{Key: a.pair, Wait: s.backoff(s.cfg.LoginAccountLimit).Wait},
		{Key: a.address, Wait: s.backoff(s.cfg.LoginAddressLimit).Wait},
	}
	if a.hardLock {
		lock := auth.Backoff{Free: s.cfg.LoginAccountLimit, Base: s.cfg.LoginWindow, Max: s.cfg.LoginWindow}
		charges = append(charges, store.LoginCharge{Key: a.account, Wait: lock.Wait})
	}
	key, until, err := s.store.ChargeLoginAttempt(ctx, charges, s.cfg.LoginWindow)
	if err != nil {
		return a, nil, s.internal(ctx, "sign in", err)
	}
	if key == "" {
		return a, nil, nil
	}
	return a, s.waitOf(a, key, until.Sub(s.now())), nil
}

func (s *Server) waitOf(a signIn, key string, wait time.Duration) *signInWait {
	retry := max(time.Second, wait.Round(time.Second))
	switch key {
	case a.pair:
		return &signInWait{wait: wait, audit: "too many failed sign-ins to this account from this address; delayed",
			detail: fmt.Sprintf("too many failed sign-ins for %s from %s; retry in %s", a.email, a.addr, retry)}
	case a.account:
		return &signInWait{wait: wait, audit: "account locked after failed sign-ins (login-hard-lock)",
			detail: fmt.Sprintf("%s is locked after too many failed sign-ins; retry in %s", a.email, retry)}
	}
	return &signInWait{wait: wait, audit: "client address over its limit; delayed",
		detail: fmt.Sprintf("too many failed attempts from %s; retry in %s", a.addr, retry)}
}

// forgive takes back the charge of a sign-in whose password was right.
func (s *Server) forgive(ctx context.Context, a signIn) {
	drop := []string{a.pair}
	if a.hardLock {
		drop = append(drop, a.account)
	}
	if err := s.store.ForgiveLoginAttempt(ctx, drop, []string{a.address}); err != nil {
		s.log.WarnContext(ctx, "forgive sign-in attempt", "err", err)
	}
}

// checkAddr refuses a client address that is waiting after failed
// attempts (token exchange and refresh, password reset, invitations:
// their secrets cannot be guessed, so only failures are counted, after
// the fact, by failedAttempt).
func (s *Server) checkAddr(ctx context.Context, what string) error {
	addr := throttleAddr(ClientAddr(ctx))
	key, until, err := s.store.LoginWait(ctx, keyOf("addr", addr))
	if err != nil {
		return s.internal(ctx, what, err)
	}
	if key != "" {
		wait := until.Sub(s.now())
		return rateLimited(fmt.Sprintf("too many failed %s attempts from %s; retry in %s", what, addr, max(time.Second, wait.Round(time.Second))), wait)
	}
	return nil
}

// failedAttempt counts a failed token, reset or invitation look-up against
// the caller's address.
func (s *Server) failedAttempt(ctx context.Context) {
	key := keyOf("addr", throttleAddr(ClientAddr(ctx)))
	if _, _, err := s.store.ChargeLoginAttempt(ctx, []store.LoginCharge{{Key: key, Wait: s.backoff(s.cfg.LoginAddressLimit).Wait}}, s.cfg.LoginWindow); err != nil {
		s.log.WarnContext(ctx, "count failed attempt", "err", err)
	}
}

// passwordSet forgets the sign-in counters of the account's owner after a
// password reset: the pair of the address the reset came from and the
// hard lock.
func (s *Server) passwordSet(ctx context.Context, email string) {
	a := s.signInOf(ctx, email)
	if err := s.store.ForgiveLoginAttempt(ctx, []string{a.pair, a.account}, nil); err != nil {
		s.log.WarnContext(ctx, "forget sign-in counters", "err", err)
	}
}

// allowSensor takes a token of a sensor route's limit: in this process's
// buckets on SQLite (one console), in the store's shared buckets on
// PostgreSQL, so that replicas hold the limit together wherever the load
// balancer sends the sensor. When the store cannot answer, the process's
// buckets decide (the request itself will meet the same outage).
func (s *Server) allowSensor(ctx context.Context, rl RouteLimit, pattern, sensorID string) (bool, time.Duration) {
	if s.store.Dialect() != store.Postgres {
		return rl.Buckets.Allow(sensorID)
	}
	burst, every := rl.Buckets.Params()
	now := s.now()
	ok, wait, err := s.store.TakeToken(ctx, "sensor:"+pattern+":"+sensorID, burst, every, now)
	if err != nil {
		s.log.Warn("shared rate limit unavailable; this replica's own applies", "err", err)
		return rl.Buckets.Allow(sensorID)
	}
	if last, _ := s.tokensPruned.Load().(time.Time); now.Sub(last) > 10*time.Minute {
		s.tokensPruned.Store(now)
		go func() {
			if err := s.store.PruneTokens(context.WithoutCancel(ctx), now.Add(-time.Hour)); err != nil {
				s.log.Warn("prune shared rate limits", "err", err)
			}
		}()
	}
	return ok, wait
}
