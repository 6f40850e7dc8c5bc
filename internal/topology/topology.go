package topology

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/store"
)

// Config configures the topology module. Zero fields take Default's values.
type Config struct {
	// Interval is the report interval sensors are told to use when the
	// console is not loaded.
	Interval time.Duration
	// MaxInterval caps the interval raised under load (back-pressure).
	MaxInterval time.Duration
	// GoneAfter marks a sensor's nodes gone when it has not reported for
	// this long.
	GoneAfter time.Duration
	// Retention prunes gone nodes and edges after this long.
	Retention time.Duration
	// SweepEvery is how often silent sensors and expired nodes are looked
	// for.
	SweepEvery time.Duration
	// Limits bound each report (413 beyond them).
	Limits report.Limits
	// SensorBurst and SensorRefill are the per-sensor rate limit: a bucket
	// of SensorBurst reports refilled with one every SensorRefill (429 with
	// Retry-After beyond).
	SensorBurst  int
	SensorRefill time.Duration
	// QueueSize bounds the reports waiting to be written (429 beyond);
	// BatchSize is how many the writer commits in one transaction.
	QueueSize, BatchSize int
	// Linger is how long the writer waits, with a batch that is not full,
	// for more reports to join it (group commit: one transaction, one
	// fsync, one set of events and one wake of their consumers for several
	// reports). It waits only when reports are under way (being decoded or
	// prepared) or other sensors' reports arrive at least one per Linger;
	// a sensor reporting alone is never held back. Negative turns it off.
	// The default, 100 ms, costs about 7% less CPU per report than 60 ms
	// (paired runs of 1,000 sensors each, docs/sizing.md) for a p99 of
	// about 110 ms instead of 75 ms.
	Linger time.Duration
	// AggregateAbove is the number of nodes above which a graph answer is
	// aggregated into groups.
	AggregateAbove int
	// ExposureEvery is how often the nodes reachable from the internet are
	// compared with those recorded, to publish node.exposed (when the
	// graph changed); ExposureForget is how long a node must stay
	// unreachable before reaching it again is news.
	ExposureEvery  time.Duration
	ExposureForget time.Duration
	// FollowEvery is how often a replica on PostgreSQL reads the other
	// replicas' topology changes when no notification woke it (follow.go).
	FollowEvery time.Duration
	// Events, when set, is woken after a batch committed events (the
	// events themselves are written in the batch's transaction).
	Events *events.Bus
	Logger *slog.Logger
	Now    func() time.Time
}

// Default returns the documented defaults.
func Default() Config {
	return Config{Interval: 15 * time.Second, MaxInterval: 5 * time.Minute, GoneAfter: 5 * time.Minute,
		Retention: 7 * 24 * time.Hour, SweepEvery: 30 * time.Second, Limits: report.DefaultLimits(),
		SensorBurst: 6, SensorRefill: 2 * time.Second, QueueSize: 2048, BatchSize: 128, Linger: 100 * time.Millisecond, AggregateAbove: 400,
		ExposureEvery: 5 * time.Second, ExposureForget: time.Hour, FollowEvery: time.Second, Now: time.Now}
}

func (c *Config) fill() {
	d := Default()
	if c.Interval <= 0 {
		c.Interval = d.Interval
	}
	if c.MaxInterval <= 0 {
		c.MaxInterval = d.MaxInterval
	}
	if c.GoneAfter <= 0 {
		c.GoneAfter = d.GoneAfter
	}
	if c.Retention <= 0 {
		c.Retention = d.Retention
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = d.SweepEvery
	}
	if c.Limits.MaxCompressedBytes <= 0 {
		c.Limits = d.Limits
	}
	if c.SensorBurst <= 0 {
		c.SensorBurst = d.SensorBurst
	}
	if c.SensorRefill <= 0 {
		c.SensorRefill = d.SensorRefill
	}
	if c.QueueSize <= 0 {
		c.QueueSize = d.QueueSize
	}
	if c.BatchSize <= 0 {
		c.BatchSize = d.BatchSize
	}
	if c.Linger == 0 {
		c.Linger = d.Linger
	}
	if c.AggregateAbove <= 0 {
		c.AggregateAbove = d.AggregateAbove
	}
	if c.ExposureEvery <= 0 {
		c.ExposureEvery = d.ExposureEvery
	}
	if c.ExposureForget <= 0 {
		c.ExposureForget = d.ExposureForget
	}
	if c.FollowEvery <= 0 {
		c.FollowEvery = d.FollowEvery
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = d.Now
	}
}

// Topology is the console's topology module.
type Topology struct {
	cfg   Config
	st    *store.Store
	log   *slog.Logger
	now   func() time.Time
	g     *graph
	queue chan *job
	// underway counts the reports being decoded or prepared, not yet
	// queued; recent are the last reports queued (Config.Linger).
	underway atomic.Int32
	recent   arrivals
	// batches and batched count the writer's transactions of reports and
	// the reports they held.
	batches, batched prometheus.Counter
	// rebased counts the full reports derived as deltas on the sensor's
	// snapshot (prepareReport); rebasedC exports it.
	rebased  atomic.Int64
	rebasedC prometheus.CounterFunc
	limit    *auth.Buckets
	load     *loadMeter
	// follow is this replica's position in the other replicas' changes.
	follow *follower

	// reachMu guards reach and scopeChanged.
	reachMu sync.Mutex
	reach   *reach
	// scopeChanged are the processes whose internet reachability (reached
	// or not, from which entry points) changed since ExposureScope last
	// asked; nil before its first call.
	scopeChanged map[string]struct{}

	// exposed is the topology_exposed table as last read or written
	// (CheckExposure).
	exposedMu sync.Mutex
	exposed   map[string]exposedState

	detailsMu sync.RWMutex
	details   []DetailSource

	// risk is the map's source of node risk (SetRiskSource).
	risk riskCache

	// uses caches ImageUses for a graph version (and a few seconds).
	usesMu      sync.Mutex
	uses        []ImageUse
	usesVersion uint64
	usesAt      time.Time

	// holders are the sensors' report snapshots (Ingest).
	holdersMu sync.Mutex
	holders   map[string]*snapHolder

	startedAt time.Time
	runOnce   sync.Once
	stopped   chan struct{}
}

// ErrClosed is returned by Ingest once the module has stopped.
var ErrClosed = errors.New("topology module stopped")

// New loads the current graph from the store. Call Run to start the writer
// and the sweeper.
func New(ctx context.Context, st *store.Store, cfg Config) (*Topology, error) {
	cfg.fill()
	t := &Topology{cfg: cfg, st: st, log: cfg.Logger, now: cfg.Now, g: newGraph(),
		queue: make(chan *job, cfg.QueueSize), stopped: make(chan struct{})}
	t.limit = auth.NewBuckets(cfg.SensorBurst, cfg.SensorRefill, cfg.Now)
	t.load = newLoadMeter(cfg.Now)
	t.batches = prometheus.NewCounter(prometheus.CounterOpts{Name: "riskmap_topology_batches_total",
		Help: "Transactions the topology writer committed for sensor reports (group commit: see riskmap_topology_batched_reports_total)."})
	t.batched = prometheus.NewCounter(prometheus.CounterOpts{Name: "riskmap_topology_batched_reports_total",
		Help: "Sensor reports the topology writer committed, in riskmap_topology_batches_total transactions."})
	t.rebasedC = prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "riskmap_topology_rebased_reports_total",
		Help: "Full sensor reports derived as deltas on the sensor's snapshot (only what changed since its last report)."},
		func() float64 { return float64(t.rebased.Load()) })
	t.startedAt = cfg.Now()
	t.follow = newFollower(st)
	if err := t.startCursor(ctx); err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	if err := t.loadGraph(ctx); err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	return t, nil
}

// Collectors are the module's Prometheus metrics.
func (t *Topology) Collectors() []prometheus.Collector {
	return []prometheus.Collector{t.batches, t.batched, t.rebasedC}
}

// Run writes ingested reports, sweeps and publishes newly exposed nodes
// until ctx ends.
func (t *Topology) Run(ctx context.Context) {
	t.runOnce.Do(func() {
		go t.sweepLoop(ctx)
		go t.exposureLoop(ctx)
		go t.followLoop(ctx)
		t.writer(ctx)
		close(t.stopped)
	})
}
