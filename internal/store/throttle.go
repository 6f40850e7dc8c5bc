package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// LoginCharge is one counter a sign-in attempt is charged to (the account
// from this client address, the client address, the account under the hard
// lock) and its delay policy.
type LoginCharge struct {
	Key string
	// Wait is how long the key's next attempt waits after n attempts that
	// were not forgiven (auth.Backoff.Wait).
	Wait func(n int) time.Duration
}

var errLoginWaiting = errors.New("login throttle: waiting")

// ChargeLoginAttempt charges one attempt to every key, in one transaction,
// before the credential is checked. When a key is still waiting after
// earlier attempts nothing is charged, and it returns that key (the one
// waiting longest) and the end of its wait. Otherwise every key is charged
// as if the attempt failed: its count grows and the wait of its next
// attempt is set, so that attempts made meanwhile, on this replica or on
// another sharing the database, find the wait already there (each key's row
// is locked from the charge to the commit). ForgiveLoginAttempt takes the
// charge back when the credential was right. A key is forgotten forget
// after its last wait ends.
func (s *Store) ChargeLoginAttempt(ctx context.Context, keys []LoginCharge, forget time.Duration) (waiting string, until time.Time, err error) {
	now := s.now()
	nowMS := Millis(now)
	// One order on every replica: two attempts never wait on each other's
	// rows in opposite orders.
	keys = slices.SortedFunc(slices.Values(keys), func(a, b LoginCharge) int { return strings.Compare(a.Key, b.Key) })
	var latest int64
	err = s.Tx(ctx, func(q Querier) error {
		waiting, latest = "", 0
		counts := make([]int, len(keys))
		for i, k := range keys {
			var blocked int64
			err := q.QueryRowContext(ctx, "INSERT INTO login_throttle (id, attempts, blocked_until, expires_at) VALUES (?, 1, 0, ?) "+
				"ON CONFLICT (id) DO UPDATE SET attempts = CASE WHEN login_throttle.expires_at <= ? THEN 1 ELSE login_throttle.attempts + 1 END "+
				"RETURNING attempts, blocked_until", k.Key, Millis(now.Add(forget)), nowMS).Scan(&counts[i], &blocked)
			if err != nil {
				return fmt.Errorf("charge %q: %w", k.Key, err)
			}
			if blocked > nowMS && blocked > latest {
				waiting, latest = k.Key, blocked
			}
		}
		if latest > 0 {
			return errLoginWaiting // rolls the charges back
		}
		for i, k := range keys {
			var blocked int64
			end := now
			if w := k.Wait(counts[i]); w > 0 {
				end = now.Add(w)
				blocked = Millis(end)
			}
			if _, err := q.ExecContext(ctx, "UPDATE login_throttle SET blocked_until = ?, expires_at = ? WHERE id = ?",
				blocked, Millis(end.Add(forget)), k.Key); err != nil {
				return fmt.Errorf("charge %q: %w", k.Key, err)
			}
		}
		return nil
	})
	if errors.Is(err, errLoginWaiting) {
		return waiting, FromMillis(latest), nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("charge login attempt: %w", err)
	}
	return "", time.Time{}, nil
}

// ForgiveLoginAttempt takes back the charge of an attempt whose credential
// was right: the keys in drop are forgotten (the account from this address,
// the hard lock), the keys in refund lose this one attempt and the wait it
// set (the client address, which failures against other accounts fill too).
func (s *Store) ForgiveLoginAttempt(ctx context.Context, drop, refund []string) error {
	err := s.Tx(ctx, func(q Querier) error {
		for _, k := range drop {
			if _, err := q.ExecContext(ctx, "DELETE FROM login_throttle WHERE id = ?", k); err != nil {
				return fmt.Errorf("drop %q: %w", k, err)
			}
		}
		for _, k := range refund {
			if _, err := q.ExecContext(ctx, "UPDATE login_throttle SET attempts = attempts - 1, blocked_until = 0 WHERE id = ? AND attempts > 0", k); err != nil {
				return fmt.Errorf("refund %q: %w", k, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("forgive login attempt: %w", err)
	}
	return nil
}

// LoginWait reports the key among keys that waits longest and the end of
// its wait; an empty key when none waits. It charges nothing: for checks
// that count only failures afterwards (token exchange, refresh, reset and
// invitation tokens, which cannot be guessed).
func (s *Store) LoginWait(ctx context.Context, keys ...string) (waiting string, until time.Time, err error) {
	if len(keys) == 0 {
		return "", time.Time{}, nil
	}
	args := make([]any, 0, len(keys)+1)
	args = append(args, Millis(s.now()))
	for _, k := range keys {
		args = append(args, k)
	}
	var blocked int64
	err = s.Read().QueryRowContext(ctx, "SELECT id, blocked_until FROM login_throttle WHERE blocked_until > ? AND id IN (?"+
		strings.Repeat(", ?", len(keys)-1)+") ORDER BY blocked_until DESC LIMIT 1", args...).Scan(&waiting, &blocked)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("login wait: %w", err)
	}
	return waiting, FromMillis(blocked), nil
}
