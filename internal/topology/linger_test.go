package topology

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/riskmap/riskmap/internal/testenv"
)

// TestGroupCommit: a stream of reports from many sensors is committed in
// few transactions (the writer lingers for the next), most alone without
// the linger; a sensor reporting alone is not held back.
func TestGroupCommit(t *testing.T) {
	for _, be := range testenv.Backends {
		t.Run(be.Name, func(t *testing.T) {
			for _, tc := range []struct {
				name   string
				linger time.Duration
			}{{"linger", time.Second}, {"off", -1}} {
				t.Run(tc.name, func(t *testing.T) {
					tp := runTopology(t, be, Config{Interval: 10 * time.Second, Linger: tc.linger})

					const n = 24
					hosts := make([]*simHost, n)
					bodies := make([][]byte, n)
					for i := range hosts {
						hosts[i] = newSimHost(i, n, 3)
						_, bodies[i] = hosts[i].next(true)
					}
					ingest := func(gz []byte) {
						if err := ingestBody(context.Background(), tp, gz); err != nil {
							t.Error(err)
						}
					}
					// A stream: a report every 40 ms, each from another
					// sensor (alone, each is committed well within 40 ms,
					// even on a busy machine).
					var wg sync.WaitGroup
					for i, gz := range bodies {
						wg.Add(1)
						go func() { defer wg.Done(); time.Sleep(time.Duration(i) * 40 * time.Millisecond); ingest(gz) }()
					}
					wg.Wait()
					batches, reports := testutil.ToFloat64(tp.batches), testutil.ToFloat64(tp.batched)
					t.Logf("%d reports 40 ms apart: %v transactions", n, batches)
					if reports != n {
						t.Fatalf("%v reports committed, want %d", reports, n)
					}
					if tc.linger > 0 && batches > 6 {
						t.Errorf("%d reports 40 ms apart were committed in %v transactions; want them grouped", n, batches)
					}
					if tc.linger < 0 && batches <= 6 {
						t.Errorf("without a linger %d reports 40 ms apart were committed in %v transactions; want most alone", n, batches)
					}

					// One sensor alone, report after report, once the burst
					// is two lingers old: never held for the linger (a
					// second each).
					// Each report is timed alone: five on a loaded machine
					// (CI runs packages side by side) can take a second
					// between them without any linger.
					time.Sleep(2 * tc.linger)
					var slowest time.Duration
					for range 5 {
						_, gz := hosts[0].next(false)
						began := time.Now()
						ingest(gz)
						slowest = max(slowest, time.Since(began))
					}
					if tc.linger > 0 && slowest >= tc.linger {
						t.Errorf("a report of a sensor reporting alone took %s: held back by the linger", slowest)
					}
				})
			}
		})
	}
}
