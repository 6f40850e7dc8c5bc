package scans

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

// benchEstate is an empty scans module on SQLite.
func benchEstate(b *testing.B, _, _ int) *Service {
	st, err := store.Open(context.Background(), store.Config{URL: filepath.Join(b.TempDir(), "riskmap.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return newService(b, st, testenv.NewClock(time.Now()), nil, false)
}

// BenchmarkPoll: one sensor command poll (an acknowledged write) with
// nothing queued, SQLite.
func BenchmarkPoll(b *testing.B) {
	s := benchEstate(b, 0, 0)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Queue.Poll(ctx, fmt.Sprintf("s%d", i%1000), "u1", 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDispatch: enqueue, poll and complete one scan (three commits).
func BenchmarkDispatch(b *testing.B) {
	s := benchEstate(b, 0, 0)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		got, err := s.Queue.Enqueue(ctx, []Target{{SensorID: "s1", Kind: KindHost, Ref: fmt.Sprint(i)}}, "", "")
		if err != nil {
			b.Fatal(err)
		}
		if cmds, err := s.Queue.Poll(ctx, "s1", "u1", 1); err != nil || len(cmds) != 1 {
			b.Fatal(err)
		}
		if _, err := s.Queue.Report(ctx, got[0].ID, "u1", StatusUpdate{Status: StatusError, Message: "x"}); err != nil {
			b.Fatal(err)
		}
	}
	_ = time.Second
}
