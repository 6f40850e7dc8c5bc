package topology

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

// The ingest benchmarks push bench/loadgen's reports (simHost), gzip
// compressed, through what the console does with a report: decode,
// Ingest (apply to the sensor's state, derive, plan, write in a batch
// transaction, apply to the graph), on SQLite and PostgreSQL. They report
// the process's CPU time per report (the figure of issue 20, 1 ms goal),
// the allocations per report, and BenchmarkHeapPerSensor the live heap
// each sensor adds.
//
//	go test ./internal/topology -run '^$' -bench 'Ingest(Delta|Full)|HeapPerSensor' -benchtime 2000x

const benchSensors = 400

// benchIngestEnv is a running topology module on a fresh database with
// sensors warmed up (one full report each, acknowledged).
type benchIngestEnv struct {
	t     *Topology
	hosts []*simHost
}

// runTopology runs the topology module with cfg on a fresh database of
// be until the test ends.
func runTopology(tb testing.TB, be testenv.Backend, cfg Config) *Topology {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, store.Config{URL: be.URL(tb)})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tp, err := New(ctx, st, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); tp.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done; st.Close() })
	return tp
}

// ingestBody decodes a report as sent and ingests it.
func ingestBody(ctx context.Context, tp *Topology, gz []byte) error {
	r, err := report.Decode(bytes.NewReader(gz), report.DefaultLimits())
	if err == nil {
		_, err = tp.Ingest(ctx, r)
	}
	return err
}

func newBenchIngest(b *testing.B, be testenv.Backend, sensors, fullEvery int) *benchIngestEnv {
	b.Helper()
	tp := runTopology(b, be, Config{Interval: 10 * time.Second})
	e := &benchIngestEnv{t: tp}
	for i := range sensors {
		h := newSimHost(i, sensors, 7)
		h.tr = report.NewTracker(fullEvery)
		e.hosts = append(e.hosts, h)
	}
	// Warm up 16 at a time (batches, as a fleet does).
	e.push(b, 16, func(h *simHost) []byte {
		out, gz := h.next(true)
		h.tr.Ack(out)
		return gz
	}, len(e.hosts))
	return e
}

// benchItem is a report as sent: its host and the gzip-compressed body.
type benchItem struct {
	h  *simHost
	gz []byte
}

// gen builds n reports, round robin over the hosts (the sensors' work,
// done before the console's is measured), by host.
func (e *benchIngestEnv) gen(gen func(h *simHost) []byte, n int) [][]benchItem {
	perHost := make([][]benchItem, len(e.hosts))
	for i := range n {
		h := e.hosts[i%len(e.hosts)]
		perHost[h.id] = append(perHost[h.id], benchItem{h: h, gz: gen(h)})
	}
	return perHost
}

// push builds and sends n reports (see gen and send).
func (e *benchIngestEnv) push(b *testing.B, par int, gen func(h *simHost) []byte, n int) {
	b.Helper()
	e.send(b, par, e.gen(gen, n))
}

// send decodes and ingests the reports from par goroutines, each host's
// in order from one goroutine, timed.
func (e *benchIngestEnv) send(b *testing.B, par int, perHost [][]benchItem) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	b.StartTimer()
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(perHost) {
					return
				}
				for _, it := range perHost[i] {
					if err := ingestBody(context.Background(), e.t, it.gz); err != nil {
						failed.Store(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("ingest: %v", err)
	}
}

// gen builds a host's next report, acknowledged as sent (the console is
// expected to take every report).
func genNext(full bool) func(h *simHost) []byte {
	return func(h *simHost) []byte {
		if full {
			h.tr.RequestFull()
		}
		out, gz := h.next(false)
		h.tr.Ack(out)
		return gz
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchIngest(b *testing.B, full bool) {
	for _, be := range testenv.Backends {
		b.Run(be.Name, func(b *testing.B) {
			b.StopTimer()
			e := newBenchIngest(b, be, benchSensors, 1<<30)
			items := e.gen(genNext(full), b.N)
			runtime.GC()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			cpu0 := cpuTime()
			b.ResetTimer()
			b.StopTimer()
			e.send(b, 16, items)
			cpu := cpuTime() - cpu0
			runtime.ReadMemStats(&ms1)
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N)/1000, "cpu-ms/report")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N), "allocs/report")
			b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N)/1024, "KB-alloc/report")
		})
	}
}

// BenchmarkIngestDelta: a delta report of a loadgen host (decode, ingest).
func BenchmarkIngestDelta(b *testing.B) { benchIngest(b, false) }

// BenchmarkIngestFull: a full report of a loadgen host.
func BenchmarkIngestFull(b *testing.B) { benchIngest(b, true) }

// BenchmarkHeapPerSensor: the live heap a sensor adds once it has sent a
// full report and a few deltas (its graph nodes and edges, the state its
// deltas build on).
func BenchmarkHeapPerSensor(b *testing.B) {
	for _, be := range testenv.Backends[:1] {
		b.Run(be.Name, func(b *testing.B) {
			// One estate whatever b.N (run it with -benchtime 1x).
			for range 1 {
				b.StopTimer()
				runtime.GC()
				var ms0, ms1 runtime.MemStats
				runtime.ReadMemStats(&ms0)
				e := newBenchIngest(b, be, benchSensors, 1<<30)
				e.push(b, 16, genNext(false), 3*len(e.hosts))
				b.StopTimer()
				n := len(e.hosts)
				e.hosts = nil // the simulated sensors' own state is not the console's
				runtime.GC()
				runtime.GC()
				runtime.ReadMemStats(&ms1)
				b.ReportMetric(float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc))/float64(n)/1024, "KB/sensor")
				b.ReportMetric(float64(len(e.t.g.nodes))/float64(n), "nodes/sensor")
				if path := os.Getenv("RISKMAP_BENCH_HEAPPROFILE"); path != "" {
					// The live heap with the estate up (-memprofile is
					// written after it is gone).
					f, err := os.Create(path)
					if err != nil {
						b.Fatal(err)
					}
					if err := pprof.WriteHeapProfile(f); err != nil {
						b.Fatal(err)
					}
					f.Close()
				}
				runtime.KeepAlive(e)
			}
		})
	}
}
