// Command riverbench measures the job throughput of river v0.51.2 on SQLite
// (riversqlite over modernc.org/sqlite) and PostgreSQL (riverpgxv5), with
// the two workloads of internal/jobs' BenchmarkThroughputBatch and
// BenchmarkThroughputOneByOne, so that bench/jobs.sh can set the console's
// own job system beside it (issue 13):
//
//   - batch: InsertMany of -jobs no-op jobs (one batch), then wait until
//     every one is completed;
//   - one_by_one: -jobs Inserts (one transaction each) while the workers
//     already run them, then wait until every one is completed.
//
// Each workload runs -rounds rounds on a fresh database with one running
// client (one queue, MaxWorkers 8); the figure is the jobs of all rounds
// over the time from the first insert to the last completion. A job counts
// when its completion event arrives (river sends it after the completion is
// written), checked against the stored states at the end of each round.
//
// It is its own Go module so that the riskmap module never depends on
// river; bench/jobs.sh builds it into a temporary directory. Output, one
// line per measurement: "river WORKLOAD BACKEND JOBS_PER_S".
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// defaultPostgresURL is the server the tests and .ci/run use.
const defaultPostgresURL = "postgres://riskmap:riskmap@127.0.0.1:5432/postgres?sslmode=disable"

// noopArgs is the no-op job.
type noopArgs struct{}

func (noopArgs) Kind() string { return "bench_noop" }

// config is the run's settings, from the flags.
type config struct {
	jobs, rounds int
	workers      int
	cooldown     time.Duration
	poll         time.Duration
	pgConns      int
}

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "riverbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("riverbench", flag.ContinueOnError)
	pgURL := fs.String("postgres", cmpOr(os.Getenv("RISKMAP_TEST_POSTGRES_URL"), defaultPostgresURL),
		"PostgreSQL server (an administrative database); a database is created on it for each measurement and dropped after")
	backends := fs.String("backends", "sqlite,postgres", "back ends to measure")
	workloads := fs.String("workloads", "batch,one_by_one", "workloads to measure")
	var c config
	fs.IntVar(&c.jobs, "jobs", 1000, "jobs per round")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds per workload")
	fs.IntVar(&c.workers, "workers", 8, "MaxWorkers of the queue")
	fs.DurationVar(&c.cooldown, "fetch-cooldown", time.Millisecond,
		"river FetchCooldown (river's default of 100 ms caps 8 workers near 80 jobs/s; 1 ms is its minimum)")
	fs.DurationVar(&c.poll, "fetch-poll", 10*time.Millisecond, "river FetchPollInterval (riskmap's benchmark polls every 10 ms)")
	fs.IntVar(&c.pgConns, "pg-conns", 20, "pgxpool MaxConns (riskmap's store opens at most 20 PostgreSQL connections)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, be := range strings.Split(*backends, ",") {
		for _, wl := range strings.Split(*workloads, ",") {
			var rate float64
			var err error
			switch be {
			case "sqlite":
				rate, err = onSQLite(ctx, c, wl)
			case "postgres":
				rate, err = onPostgres(ctx, c, *pgURL, wl)
			default:
				return fmt.Errorf("unknown back end %q", be)
			}
			if err != nil {
				return fmt.Errorf("%s on %s: %w", wl, be, err)
			}
			fmt.Printf("river %s %s %.1f\n", wl, be, rate)
		}
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// onSQLite measures workload on a fresh SQLite file, opened as river's
// SQLite driver asks (one connection, WAL, busy_timeout) and with the
// synchronous=FULL setting of riskmap's store.
func onSQLite(ctx context.Context, c config, workload string) (float64, error) {
	dir, err := os.MkdirTemp("", "riverbench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "river.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(FULL)")
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	count := func(ctx context.Context) (n int, err error) {
		err = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE state = 'completed'`).Scan(&n)
		return n, err
	}
	return measure(ctx, c, riversqlite.New(db), count, workload)
}

// onPostgres measures workload on a database it creates on the server at
// admin and drops after.
func onPostgres(ctx context.Context, c config, admin, workload string) (float64, error) {
	u, err := url.Parse(admin)
	if err != nil {
		return 0, fmt.Errorf("postgres URL: %w", err)
	}
	ac, err := pgx.Connect(ctx, admin)
	if err != nil {
		return 0, fmt.Errorf("connect %s: %w", u.Redacted(), err)
	}
	defer ac.Close(context.WithoutCancel(ctx))
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "riverbench_" + hex.EncodeToString(b[:])
	if _, err := ac.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return 0, fmt.Errorf("create database on %s: %w", u.Redacted(), err)
	}
	defer ac.Exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	u.Path = "/" + name
	pc, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return 0, err
	}
	pc.MaxConns = int32(c.pgConns)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return 0, fmt.Errorf("pool on %s: %w", name, err)
	}
	defer pool.Close()
	count := func(ctx context.Context) (n int, err error) {
		err = pool.QueryRow(ctx, `SELECT COUNT(*) FROM river_job WHERE state = 'completed'`).Scan(&n)
		return n, err
	}
	return measure(ctx, c, riverpgxv5.New(pool), count, workload)
}

// measure migrates the database behind driver, runs a client with a no-op
// worker and returns the jobs per second of workload over c.rounds rounds.
func measure[TTx any](ctx context.Context, c config, driver riverdriver.Driver[TTx], completed func(context.Context) (int, error), workload string) (float64, error) {
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return 0, fmt.Errorf("migrator: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[noopArgs]) error { return nil }))
	client, err := river.NewClient(driver, &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: c.workers}},
		Workers:           workers,
		FetchCooldown:     c.cooldown,
		FetchPollInterval: c.poll,
		Logger:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return 0, fmt.Errorf("client: %w", err)
	}
	events, unsubscribe := client.SubscribeConfig(&river.SubscribeConfig{Kinds: []river.EventKind{river.EventKindJobCompleted}, ChanSize: 2 * c.jobs})
	defer unsubscribe()
	var done atomic.Int64
	go func() {
		for range events {
			done.Add(1)
		}
	}()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := client.Start(runCtx); err != nil {
		return 0, fmt.Errorf("start: %w", err)
	}
	defer func() {
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer scancel()
		_ = client.Stop(sctx)
	}()

	batch := make([]river.InsertManyParams, c.jobs)
	for i := range batch {
		batch[i] = river.InsertManyParams{Args: noopArgs{}}
	}
	start := time.Now()
	for r := 1; r <= c.rounds; r++ {
		switch workload {
		case "batch":
			if _, err := client.InsertMany(ctx, batch); err != nil {
				return 0, fmt.Errorf("insert many: %w", err)
			}
		case "one_by_one":
			for range c.jobs {
				if _, err := client.Insert(ctx, noopArgs{}, nil); err != nil {
					return 0, fmt.Errorf("insert: %w", err)
				}
			}
		default:
			return 0, fmt.Errorf("unknown workload %q", workload)
		}
		if err := waitCompleted(ctx, &done, completed, r*c.jobs); err != nil {
			return 0, err
		}
	}
	return float64(c.rounds*c.jobs) / time.Since(start).Seconds(), nil
}

// waitCompleted waits until want completion events arrived, then until the
// database holds want completed jobs.
func waitCompleted(ctx context.Context, done *atomic.Int64, completed func(context.Context) (int, error), want int) error {
	deadline := time.Now().Add(2 * time.Minute)
	for done.Load() < int64(want) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d completion events after 2 minutes", done.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
	for {
		n, err := completed(ctx)
		if err != nil {
			return fmt.Errorf("count completed jobs: %w", err)
		}
		if n >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("completion events arrived but the jobs are not all stored as completed")
		}
		time.Sleep(time.Millisecond)
	}
}
