package remote

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

// TestSharedMatchLimit: two replicas on one PostgreSQL count a caller's
// match requests together: MatchRateLimit in a window, whichever replica
// takes them, then 429 until the window ends.
func TestSharedMatchLimit(t *testing.T) {
	ctx := context.Background()
	url := testenv.PostgresURL(t)
	clk := time.UnixMilli(1_800_000_000_000).Truncate(MatchRateWindow).Add(10 * time.Second)
	now := func() time.Time { return clk }
	var reps []*Server
	for range 2 {
		st, err := store.Open(ctx, store.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		reps = append(reps, &Server{Store: st, Now: now, Logger: slog.New(slog.DiscardHandler)})
	}
	locals := []*auth.Limiter{auth.NewLimiter(MatchRateLimit, MatchRateWindow, now), auth.NewLimiter(MatchRateLimit, MatchRateWindow, now)}
	for i := range MatchRateLimit {
		if ok, _ := reps[i%2].allow(ctx, locals[i%2], "user-1"); !ok {
			t.Fatalf("request %d of %d refused", i+1, MatchRateLimit)
		}
	}
	ok, wait := reps[0].allow(ctx, locals[0], "user-1")
	if ok || wait != MatchRateWindow-10*time.Second {
		t.Fatalf("request %d: ok=%v wait=%s; want refused until the window ends (%s)", MatchRateLimit+1, ok, wait, MatchRateWindow-10*time.Second)
	}
	if ok, _ := reps[1].allow(ctx, locals[1], "user-2"); !ok {
		t.Fatal("another caller refused")
	}
	clk = clk.Add(MatchRateWindow)
	if ok, _ := reps[1].allow(ctx, locals[1], "user-1"); !ok {
		t.Fatal("refused in the next window")
	}
}
