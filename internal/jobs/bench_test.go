package jobs_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

// benchJobs is how many jobs one benchmark iteration inserts and waits for.
const benchJobs = 1000

// benchQueue opens a fresh database of backend be, registers a no-op kind
// with 8 workers and runs the queue until the benchmark ends. done counts
// the jobs whose Work returned.
func benchQueue(b *testing.B, be testenv.Backend) (q *jobs.Queue, st *store.Store, done *atomic.Int64) {
	b.Helper()
	st, err := store.Open(context.Background(), store.Config{URL: be.URL(b)})
	if err != nil {
		b.Fatalf("open store: %v", err)
	}
	b.Cleanup(func() { st.Close() })
	done = new(atomic.Int64)
	q = jobs.New(st, jobs.Config{PollEvery: 10 * time.Millisecond})
	q.MustRegister(jobs.Kind{Name: "bench.noop", Concurrency: 8, Work: func(context.Context, jobs.Job) error {
		done.Add(1)
		return nil
	}})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); _ = q.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-stopped })
	return q, st, done
}

// waitCompleted waits until want jobs of the benchmark's kind are stored as
// completed: first until Work has returned want times (no database load
// while the jobs run), then until the last completions have committed.
func waitCompleted(b *testing.B, st *store.Store, done *atomic.Int64, want int64) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for done.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d jobs worked after 2 minutes", done.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
	for {
		var n int64
		if err := st.Read().QueryRowContext(context.Background(),
			`SELECT COUNT(*) FROM jobs WHERE kind = 'bench.noop' AND state = 'completed'`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		if n >= want {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d jobs completed after 2 minutes", n, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// reportThroughput adds the jobs/s metric for iters iterations of
// benchJobs jobs each.
func reportThroughput(b *testing.B, iters int) {
	b.ReportMetric(float64(iters*benchJobs)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkThroughputBatch: each iteration inserts benchJobs no-op jobs in
// one transaction (InsertTx) and waits until the running queue (8 workers)
// has completed them all.
func BenchmarkThroughputBatch(b *testing.B) {
	for _, be := range testenv.Backends {
		b.Run(be.Name, func(b *testing.B) {
			q, st, done := benchQueue(b, be)
			ctx := context.Background()
			iters := 0
			for b.Loop() {
				err := st.Tx(ctx, func(tx store.Querier) error {
					for range benchJobs {
						if _, _, err := q.InsertTx(ctx, tx, "bench.noop", nil, jobs.InsertOpts{}); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				q.Wake()
				iters++
				waitCompleted(b, st, done, int64(iters*benchJobs))
			}
			reportThroughput(b, iters)
		})
	}
}

// BenchmarkThroughputOneByOne: each iteration inserts benchJobs no-op jobs
// one transaction each (Insert) while the workers already run them, and
// waits until all are completed.
func BenchmarkThroughputOneByOne(b *testing.B) {
	for _, be := range testenv.Backends {
		b.Run(be.Name, func(b *testing.B) {
			q, st, done := benchQueue(b, be)
			ctx := context.Background()
			iters := 0
			for b.Loop() {
				for range benchJobs {
					if _, _, err := q.Insert(ctx, "bench.noop", nil, jobs.InsertOpts{}); err != nil {
						b.Fatal(err)
					}
				}
				iters++
				waitCompleted(b, st, done, int64(iters*benchJobs))
			}
			reportThroughput(b, iters)
		})
	}
}
