package store_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

func TestLoginThrottle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store, clk *clock, _ string) {
		ctx := context.Background()
		const forget = 15 * time.Minute
		pair := store.LoginCharge{Key: "pair:a", Wait: auth.Backoff{Free: 2, Base: time.Second, Max: time.Minute}.Wait}
		addr := store.LoginCharge{Key: "addr:a", Wait: auth.Backoff{Free: 4, Base: time.Second, Max: time.Minute}.Wait}
		charge := func(keys ...store.LoginCharge) (string, time.Duration) {
			t.Helper()
			k, until, err := s.ChargeLoginAttempt(ctx, keys, forget)
			if err != nil {
				t.Fatalf("ChargeLoginAttempt: %v", err)
			}
			if k == "" {
				return "", 0
			}
			return k, until.Sub(clk.Now())
		}
		// Two free attempts; the second sets a wait of a second.
		for i := range 2 {
			if k, w := charge(pair, addr); k != "" {
				t.Fatalf("attempt %d: waiting on %s for %s", i+1, k, w)
			}
		}
		if k, w := charge(pair, addr); k != "pair:a" || w != time.Second {
			t.Fatalf("third attempt at once: %q %s; want pair:a waiting 1s", k, w)
		}
		if k, _, err := s.LoginWait(ctx, "addr:a", "pair:a", "other"); err != nil || k != "pair:a" {
			t.Errorf("LoginWait = %q, %v", k, err)
		}
		// The refused attempt charged nothing: after the second, the third
		// attempt is allowed and makes the next one wait 2 s.
		clk.Advance(time.Second)
		if k, w := charge(pair, addr); k != "" {
			t.Fatalf("after the wait: waiting on %s for %s", k, w)
		}
		if k, w := charge(pair, addr); k != "pair:a" || w != 2*time.Second {
			t.Errorf("after the third: %q %s; want pair:a waiting 2s", k, w)
		}
		// The address alone: 3 attempts so far, the 4th sets its wait.
		if k, w := charge(addr); k != "" {
			t.Fatalf("address attempt 4: waiting on %s for %s", k, w)
		}
		if k, w := charge(addr); k != "addr:a" || w != time.Second {
			t.Errorf("address attempt 5: %q %s; want addr:a waiting 1s", k, w)
		}
		// A right credential: the pair is forgotten, the address gets this
		// attempt and its wait back.
		if err := s.ForgiveLoginAttempt(ctx, []string{"pair:a"}, []string{"addr:a"}); err != nil {
			t.Fatal(err)
		}
		if k, w := charge(pair, addr); k != "" {
			t.Errorf("after forgiving: waiting on %s for %s", k, w)
		}
		// Forgotten after a quiet window.
		clk.Advance(forget + time.Minute)
		if n, err := s.DeleteExpired(ctx); err != nil || n != 2 {
			t.Errorf("DeleteExpired = %d, %v; want the two throttle rows", n, err)
		}
		if k, _, err := s.LoginWait(ctx, "addr:a", "pair:a"); err != nil || k != "" {
			t.Errorf("LoginWait after expiry = %q, %v", k, err)
		}
	})
}

// TestLoginThrottleConcurrent: attempts racing on two handles of one
// database (two console replicas) are charged one at a time: of 20
// simultaneous attempts against a key whose first attempt sets a wait,
// exactly one goes through.
func TestLoginThrottleConcurrent(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			if b.name == "sqlite" {
				url = filepath.Join(t.TempDir(), "shared.db")
			}
			clk := testenv.NewClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
			var replicas []*store.Store
			for range 2 {
				s, err := store.Open(context.Background(), store.Config{URL: url, Now: clk.Now})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				replicas = append(replicas, s)
			}
			key := store.LoginCharge{Key: "pair:race", Wait: auth.Backoff{Free: 1, Base: time.Minute, Max: time.Hour}.Wait}
			var through atomic.Int32
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Go(func() {
					k, _, err := replicas[i%2].ChargeLoginAttempt(context.Background(), []store.LoginCharge{key}, time.Hour)
					if err != nil {
						t.Error(err)
					} else if k == "" {
						through.Add(1)
					}
				})
			}
			wg.Wait()
			if n := through.Load(); n != 1 {
				t.Errorf("%d of 20 simultaneous attempts went through; want 1", n)
			}
		})
	}
}
