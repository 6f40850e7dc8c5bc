package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

// clock is the tests' settable clock.
type clock = testenv.Clock

func forEachBackend(t *testing.T, fn func(t *testing.T, url string, st *store.Store)) {
	t.Helper()
	for _, b := range testenv.Backends {
		t.Run(b.Name, func(t *testing.T) {
			url := b.URL(t)
			st, err := store.Open(context.Background(), store.Config{URL: url})
			if err != nil {
				t.Fatalf("open store: %v", err)
			}
			t.Cleanup(func() { st.Close() })
			fn(t, url, st)
		})
	}
}

// run starts q until the test ends.
func run(t *testing.T, q *jobs.Queue) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = q.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitState polls a job until it reaches state.
func waitState(t *testing.T, q *jobs.Queue, id, state string) jobs.Job {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, err := q.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == state {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s (%s) is %s (%s), want %s", id, j.Kind, j.State, j.Message, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fast(int) time.Duration { return 10 * time.Millisecond }

func TestWorkOutcomes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ string, st *store.Store) {
		ctx := context.Background()
		q := jobs.New(st, jobs.Config{PollEvery: 20 * time.Millisecond})
		var calls sync.Map // job id → attempts seen by Work
		count := func(id string) int {
			v, _ := calls.LoadOrStore(id, new(atomic.Int32))
			return int(v.(*atomic.Int32).Add(1))
		}
		type payload struct {
			FailTimes int  `json:"failTimes"`
			Permanent bool `json:"permanent"`
			Panic     bool `json:"panic"`
			Snooze    bool `json:"snooze"`
			Block     bool `json:"block"`
		}
		started := make(chan string, 10)
		var states sync.Map // job id → states seen by OnState, in order
		q.MustRegister(jobs.Kind{Name: "test.work", Concurrency: 4, MaxAttempts: 3, Backoff: fast, Lease: 300 * time.Millisecond,
			Work: func(ctx context.Context, j jobs.Job) error {
				n := count(j.ID)
				var p payload
				if err := j.Decode(&p); err != nil {
					return jobs.Permanent(err)
				}
				switch {
				case p.Panic:
					panic("boom")
				case p.Permanent:
					return jobs.Permanent(errors.New("bad input"))
				case p.Snooze && n == 1:
					return jobs.Snooze(20 * time.Millisecond)
				case p.Block:
					started <- j.ID
					<-ctx.Done()
					return ctx.Err()
				case n <= p.FailTimes:
					return fmt.Errorf("failure %d", n)
				}
				return nil
			},
			OnState: func(ctx context.Context, tx store.Querier, j jobs.Job) error {
				v, _ := states.LoadOrStore(j.ID, &[]string{})
				p := v.(*[]string)
				*p = append(*p, j.State)
				return nil
			}})
		run(t, q)
		insert := func(p payload) string {
			j, ok, err := q.Insert(ctx, "test.work", p, jobs.InsertOpts{})
			if err != nil || !ok {
				t.Fatalf("insert: %v %v", ok, err)
			}
			return j.ID
		}
		okID := insert(payload{})
		retryID := insert(payload{FailTimes: 2})
		exhaustID := insert(payload{FailTimes: 5})
		permID := insert(payload{Permanent: true})
		panicID := insert(payload{Panic: true})
		snoozeID := insert(payload{Snooze: true})

		if j := waitState(t, q, okID, jobs.Completed); j.Attempts != 1 || j.FinishedAt == nil || j.Progress != 1 {
			t.Errorf("completed job: %+v", j)
		}
		if j := waitState(t, q, retryID, jobs.Completed); j.Attempts != 3 || j.LastError != "failure 2" {
			t.Errorf("retried job: attempts %d, last error %q", j.Attempts, j.LastError)
		}
		if j := waitState(t, q, exhaustID, jobs.Failed); j.Attempts != 3 || !strings.Contains(j.Message, "failure 3 (attempt 3 of 3; giving up)") {
			t.Errorf("exhausted job: attempts %d, message %q", j.Attempts, j.Message)
		}
		if j := waitState(t, q, permID, jobs.Failed); j.Attempts != 1 || j.Message != "bad input" {
			t.Errorf("permanent failure: attempts %d, message %q", j.Attempts, j.Message)
		}
		if j := waitState(t, q, panicID, jobs.Failed); !strings.Contains(j.LastError, "panic: boom") {
			t.Errorf("panicking job: %q", j.LastError)
		}
		if j := waitState(t, q, snoozeID, jobs.Completed); j.Attempts != 1 {
			t.Errorf("snoozed job counted %d attempts, want 1 (a snooze is not an attempt)", j.Attempts)
		}
		v, _ := states.Load(retryID)
		if got := strings.Join(*v.(*[]string), ","); got != "running,available,running,available,running,completed" {
			t.Errorf("OnState saw %s", got)
		}

		// Cancel: a waiting job at once; a running one through its context.
		later, _, err := q.Insert(ctx, "test.work", payload{}, jobs.InsertOpts{RunAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if j, err := q.Cancel(ctx, later.ID, ""); err != nil || j.State != jobs.Cancelled {
			t.Fatalf("cancel waiting job: %+v %v", j, err)
		}
		if _, err := q.Cancel(ctx, later.ID, ""); !errors.Is(err, jobs.ErrConflict) {
			t.Errorf("cancel a cancelled job: %v, want ErrConflict", err)
		}
		blockID := insert(payload{Block: true})
		<-started
		if j, err := q.Cancel(ctx, blockID, ""); err != nil || j.State != jobs.Running || !j.CancelRequested {
			t.Fatalf("cancel running job: %+v %v", j, err)
		}
		if j := waitState(t, q, blockID, jobs.Cancelled); !strings.Contains(j.Message, "cancelled on request") {
			t.Errorf("cancelled running job: %q", j.Message)
		}
		depth, err := q.Depth(ctx)
		if err != nil || depth[jobs.Completed] != 3 || depth[jobs.Failed] != 3 || depth[jobs.Cancelled] != 2 {
			t.Errorf("depth %v %v", depth, err)
		}
	})
}

func TestUniqueKeysAndPriority(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ string, st *store.Store) {
		ctx := context.Background()
		q := jobs.New(st, jobs.Config{PollEvery: 20 * time.Millisecond})
		var mu sync.Mutex
		var order []string
		gate := make(chan struct{})
		q.MustRegister(jobs.Kind{Name: "test.ordered", Work: func(ctx context.Context, j jobs.Job) error {
			var name string
			_ = j.Decode(&name)
			if name == "gate" {
				<-gate
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			return nil
		}})
		a, ok, err := q.Insert(ctx, "test.ordered", "unique", jobs.InsertOpts{UniqueKey: "feeds"})
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		b, ok, err := q.Insert(ctx, "test.ordered", "unique again", jobs.InsertOpts{UniqueKey: "feeds"})
		if err != nil || ok || b.ID != a.ID {
			t.Fatalf("second insert with the same unique key: inserted %v, id %s (first %s), %v", ok, b.ID, a.ID, err)
		}
		run(t, q)
		waitState(t, q, a.ID, jobs.Completed)
		// Once the first finished, the key is free again.
		c, ok, err := q.Insert(ctx, "test.ordered", "gate", jobs.InsertOpts{UniqueKey: "feeds"})
		if err != nil || !ok {
			t.Fatalf("insert after the unique job finished: %v %v", ok, err)
		}
		// While the gate job runs (concurrency 1), queue low, default and
		// high priority jobs: they must run high first. The gate must be
		// claimed first, or the high one (queued beside it) goes before it.
		waitState(t, q, c.ID, jobs.Running)
		for _, p := range []struct {
			name string
			prio int
		}{{"low", jobs.PriorityLow}, {"default", jobs.PriorityDefault}, {"high", jobs.PriorityHigh}} {
			if _, _, err := q.Insert(ctx, "test.ordered", p.name, jobs.InsertOpts{Priority: p.prio}); err != nil {
				t.Fatal(err)
			}
		}
		close(gate)
		waitState(t, q, c.ID, jobs.Completed)
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			got := strings.Join(order, ",")
			mu.Unlock()
			if got == "unique,gate,high,default,low" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("ran %s, want unique,gate,high,default,low", got)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func TestConcurrencyLimit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ string, st *store.Store) {
		ctx := context.Background()
		q := jobs.New(st, jobs.Config{PollEvery: 10 * time.Millisecond})
		var cur, peak atomic.Int32
		q.MustRegister(jobs.Kind{Name: "test.limited", Concurrency: 3, Work: func(ctx context.Context, j jobs.Job) error {
			n := cur.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(30 * time.Millisecond)
			cur.Add(-1)
			return nil
		}})
		var ids []string
		for i := 0; i < 12; i++ {
			j, _, err := q.Insert(ctx, "test.limited", i, jobs.InsertOpts{})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, j.ID)
		}
		run(t, q)
		for _, id := range ids {
			waitState(t, q, id, jobs.Completed)
		}
		if p := peak.Load(); p != 3 {
			t.Errorf("peak concurrency %d, want 3", p)
		}
	})
}

// TestRemoteExecutor drives a remote kind the way the sensor protocol does:
// claims, heartbeats, a lease that passes, a cancel, and the rescuer.
func TestRemoteExecutor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ string, st *store.Store) {
		ctx := context.Background()
		clk := testenv.NewClock(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
		q := jobs.New(st, jobs.Config{Now: clk.Now})
		var seen []string
		q.MustRegister(jobs.Kind{Name: "test.remote", Lease: 90 * time.Second, MaxAttempts: 2, QueueTimeout: 24 * time.Hour,
			Backoff:     func(int) time.Duration { return 30 * time.Second },
			CancelGrace: 2 * time.Minute,
			OnState: func(ctx context.Context, tx store.Querier, j jobs.Job) error {
				seen = append(seen, j.State)
				return nil
			}})
		ins := func(route string) jobs.Job {
			j, _, err := q.Insert(ctx, "test.remote", nil, jobs.InsertOpts{Route: route})
			if err != nil {
				t.Fatal(err)
			}
			return j
		}
		claim := func(route, owner string, n int) []jobs.Job {
			var got []jobs.Job
			if err := st.Tx(ctx, func(tx store.Querier) error {
				var err error
				got, err = q.ClaimTx(ctx, tx, route, nil, n, owner)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return got
		}
		tx := func(fn func(tx store.Querier) (jobs.Job, error)) (jobs.Job, error) {
			var j jobs.Job
			err := st.Tx(ctx, func(tx store.Querier) error {
				var err error
				j, err = fn(tx)
				return err
			})
			return j, err
		}
		a := ins("sensor:a")
		ins("sensor:b")
		if got := claim("sensor:a", "owner-a", 5); len(got) != 1 || got[0].ID != a.ID || got[0].State != jobs.Running || got[0].Attempts != 1 {
			t.Fatalf("claim for sensor a: %+v", got)
		}
		if got := claim("sensor:a", "owner-a", 5); len(got) != 0 {
			t.Fatalf("second claim got %d jobs", len(got))
		}
		// Someone else's heartbeat is refused.
		if _, err := tx(func(tx store.Querier) (jobs.Job, error) { return q.HeartbeatTx(ctx, tx, a.ID, "intruder", 0.5, "") }); !errors.Is(err, jobs.ErrConflict) {
			t.Errorf("heartbeat by another owner: %v", err)
		}
		clk.Advance(60 * time.Second)
		j, err := tx(func(tx store.Querier) (jobs.Job, error) { return q.HeartbeatTx(ctx, tx, a.ID, "owner-a", 0.5, "half") })
		if err != nil || j.Progress != 0.5 || j.Message != "half" || !j.LeaseUntil.Equal(clk.Now().Add(90*time.Second).Truncate(time.Millisecond)) {
			t.Fatalf("heartbeat: %+v %v", j, err)
		}
		// The lease passes without a heartbeat: back to available, the
		// attempt counted, after the backoff.
		clk.Advance(91 * time.Second)
		if n, err := q.Rescue(ctx); err != nil || n != 1 {
			t.Fatalf("rescue moved %d, %v", n, err)
		}
		j, _ = q.Get(ctx, a.ID)
		if j.State != jobs.Available || !strings.Contains(j.Message, "lease expired: no heartbeat from owner-a (attempt 1 of 2; retrying at") {
			t.Fatalf("after the lease: %s %q", j.State, j.Message)
		}
		// The executor was still at it: its heartbeat takes the job back.
		j, err = tx(func(tx store.Querier) (jobs.Job, error) { return q.HeartbeatTx(ctx, tx, a.ID, "owner-a", 0.9, "") })
		if err != nil || j.State != jobs.Running || j.Attempts != 1 {
			t.Fatalf("revived: %+v %v", j, err)
		}
		// It fails: retried after the backoff, then claimed again.
		j, err = tx(func(tx store.Querier) (jobs.Job, error) {
			return q.FinishTx(ctx, tx, a.ID, "owner-a", jobs.Outcome{Err: "disk full"})
		})
		if err != nil || j.State != jobs.Available || !j.RunAt.Equal(clk.Now().Add(30*time.Second).Truncate(time.Millisecond)) {
			t.Fatalf("failed attempt: %+v %v", j, err)
		}
		if got := claim("sensor:a", "owner-a", 5); len(got) != 0 {
			t.Fatal("claimed before its backoff")
		}
		clk.Advance(30 * time.Second)
		if got := claim("sensor:a", "owner-a2", 5); len(got) != 1 || got[0].Attempts != 2 {
			t.Fatalf("claim after backoff: %+v", got)
		}
		// Cancel while running: the executor is told once, then answers.
		if j, err := q.Cancel(ctx, a.ID, ""); err != nil || !j.CancelRequested {
			t.Fatalf("cancel: %+v %v", j, err)
		}
		var cancels []jobs.Job
		_ = st.Tx(ctx, func(tx store.Querier) error { cancels, err = q.CancelsTx(ctx, tx, "sensor:a"); return err })
		if len(cancels) != 1 || cancels[0].ID != a.ID {
			t.Fatalf("cancels: %+v", cancels)
		}
		_ = st.Tx(ctx, func(tx store.Querier) error { cancels, err = q.CancelsTx(ctx, tx, "sensor:a"); return err })
		if len(cancels) != 0 {
			t.Fatalf("cancel handed twice")
		}
		j, err = tx(func(tx store.Querier) (jobs.Job, error) {
			return q.FinishTx(ctx, tx, a.ID, "owner-a2", jobs.Outcome{Err: "stopped", Stopped: true})
		})
		if err != nil || j.State != jobs.Cancelled {
			t.Fatalf("stopped after cancel: %+v %v", j, err)
		}
		// Jobs nobody claims fail after the queue timeout, naming the route.
		clk.Advance(25 * time.Hour)
		if _, err := q.Rescue(ctx); err != nil {
			t.Fatal(err)
		}
		b, _ := q.List(ctx, jobs.Filter{Route: "sensor:b"})
		if len(b) != 1 || b[0].State != jobs.Failed || !strings.Contains(b[0].Message, "no sensor b ran it within 24h0m0s") {
			t.Fatalf("queue timeout: %+v", b)
		}
		if got := strings.Join(seen, ","); got != "running,available,running,available,running,running,cancelled,failed" {
			t.Errorf("OnState saw %s", got)
		}
	})
}

func TestOnStateErrorRollsBack(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ string, st *store.Store) {
		ctx := context.Background()
		q := jobs.New(st, jobs.Config{})
		q.MustRegister(jobs.Kind{Name: "test.hooked", OnState: func(ctx context.Context, tx store.Querier, j jobs.Job) error {
			if j.State == jobs.Running {
				return errors.New("the owner refuses")
			}
			return nil
		}})
		j, _, err := q.Insert(ctx, "test.hooked", nil, jobs.InsertOpts{Route: "sensor:x"})
		if err != nil {
			t.Fatal(err)
		}
		err = st.Tx(ctx, func(tx store.Querier) error {
			_, err := q.ClaimTx(ctx, tx, "sensor:x", nil, 1, "o")
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "the owner refuses") {
			t.Fatalf("claim: %v", err)
		}
		if got, _ := q.Get(ctx, j.ID); got.State != jobs.Available || got.Attempts != 0 {
			t.Errorf("after a refused claim: %s, %d attempts", got.State, got.Attempts)
		}
	})
}

// TestPeriodicRunsOnceAcrossProcesses registers the same schedule in two
// queues on one database: each slot inserts one job.
func TestPeriodicRunsOnceAcrossProcesses(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string, st *store.Store) {
		ctx := context.Background()
		st2, err := store.Open(ctx, store.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		defer st2.Close()
		var runs atomic.Int32
		for i, s := range []*store.Store{st, st2} {
			q := jobs.New(s, jobs.Config{PollEvery: 20 * time.Millisecond, Owner: fmt.Sprint("p", i)})
			q.MustRegister(jobs.Kind{Name: "test.tick", Work: func(ctx context.Context, j jobs.Job) error { runs.Add(1); return nil }})
			if err := q.AddPeriodic(jobs.Periodic{Name: "tick", Kind: "test.tick", Every: time.Second, RunAtStart: true}); err != nil {
				t.Fatal(err)
			}
			run(t, q)
		}
		time.Sleep(3500 * time.Millisecond)
		n := runs.Load()
		// At start, then every second: 3 or 4 runs in 3.5 s, never one per
		// process per slot.
		if n < 3 || n > 5 {
			t.Errorf("%d runs in 3.5 s of a 1 s schedule on two processes", n)
		}
		var rows int
		if err := st.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE kind = 'test.tick'`).Scan(&rows); err != nil || rows != int(n) {
			t.Errorf("%d jobs stored for %d runs (%v)", rows, n, err)
		}
	})
}

func TestParseCronInvalid(t *testing.T) {
	for _, spec := range []string{"", "* *", "@every", "61 * * * *", "@yearly extra"} {
		if _, err := jobs.ParseCron(spec); !errors.Is(err, jobs.ErrInvalid) {
			t.Errorf("ParseCron(%q) = %v, want ErrInvalid", spec, err)
		}
	}
}

// TestStateChangesReturnTheStoredJob pins what a state change hands to
// OnState and records: the job exactly as stored after the change, and no
// change at all when the lease has passed to another owner, whether the
// worker learns it when it reports the outcome or at a heartbeat; a
// heartbeat of the holder keeps the job its own past the lease.
func TestStateChangesReturnTheStoredJob(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ string, st *store.Store) {
		ctx := context.Background()
		q := jobs.New(st, jobs.Config{PollEvery: 20 * time.Millisecond, RescueEvery: 50 * time.Millisecond})
		var mu sync.Mutex
		seen := map[string][]jobs.Job{} // job id → the jobs OnState saw, in order
		hook := func(ctx context.Context, tx store.Querier, j jobs.Job) error {
			mu.Lock()
			defer mu.Unlock()
			seen[j.ID] = append(seen[j.ID], j)
			return nil
		}
		states := func(id string) (out []string) {
			mu.Lock()
			defer mu.Unlock()
			for _, j := range seen[id] {
				out = append(out, j.State)
			}
			return out
		}
		started := make(chan string, 1)
		release := make(chan struct{})
		// test.keep holds a long lease (no heartbeat while it runs here);
		// test.beat a short one (600 ms, renewed every 200 ms: long enough
		// that a loaded machine's scheduling delays do not let it lapse). One at a time each, so
		// a job that completes after another proves the other's outcome
		// was recorded (or refused) first.
		q.MustRegister(
			jobs.Kind{Name: "test.keep", OnState: hook, Work: func(ctx context.Context, j jobs.Job) error {
				if string(j.Payload) == `"block"` {
					started <- j.ID
					<-release
				}
				return nil
			}},
			jobs.Kind{Name: "test.beat", Lease: 600 * time.Millisecond, OnState: hook, Work: func(ctx context.Context, j jobs.Job) error {
				switch string(j.Payload) {
				case `"slow"`:
					time.Sleep(2400 * time.Millisecond)
				case `"watch"`:
					started <- j.ID
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			}})
		run(t, q)
		insert := func(kind, payload string) string {
			t.Helper()
			j, _, err := q.Insert(ctx, kind, payload, jobs.InsertOpts{})
			if err != nil {
				t.Fatal(err)
			}
			return j.ID
		}
		steal := func(id string) {
			t.Helper()
			if err := st.Tx(ctx, func(tx store.Querier) error {
				_, err := tx.ExecContext(ctx, `UPDATE jobs SET lease_owner = 'another-process', lease_until = ? WHERE id = ?`,
					store.Millis(time.Now().Add(time.Hour)), id)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}

		t.Run("completed", func(t *testing.T) {
			id := insert("test.keep", "plain")
			got := waitState(t, q, id, jobs.Completed)
			if diff := cmp.Diff([]string{jobs.Running, jobs.Completed}, states(id)); diff != "" {
				t.Fatalf("states seen by OnState (-want +got):\n%s", diff)
			}
			mu.Lock()
			running, completed := seen[id][0], seen[id][1]
			mu.Unlock()
			if diff := cmp.Diff(got, completed); diff != "" {
				t.Errorf("OnState's completed job differs from the stored one (-stored +hook):\n%s", diff)
			}
			if running.Attempts != 1 || running.Owner != q.Owner() || running.LeaseUntil == nil || running.StartedAt == nil ||
				running.HeartbeatAt == nil || running.Message != "running on "+q.Owner() || running.FinishedAt != nil {
				t.Errorf("claimed job as OnState saw it: %+v", running)
			}
			if got.Attempts != 1 || got.Owner != q.Owner() || got.LeaseUntil != nil || got.FinishedAt == nil || got.Progress != 1 ||
				got.Message != "completed" {
				t.Errorf("completed job: %+v", got)
			}
		})

		t.Run("outcome_after_the_lease_passed", func(t *testing.T) {
			id := insert("test.keep", "block")
			<-started
			steal(id)
			close(release)
			waitState(t, q, insert("test.keep", "plain"), jobs.Completed)
			got, err := q.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != jobs.Running || got.Owner != "another-process" {
				t.Errorf("the old holder's success changed the job: %s, owner %q", got.State, got.Owner)
			}
			if diff := cmp.Diff([]string{jobs.Running}, states(id)); diff != "" {
				t.Errorf("states seen by OnState (-want +got):\n%s", diff)
			}
		})

		t.Run("heartbeats_keep_the_lease", func(t *testing.T) {
			id := insert("test.beat", "slow")
			got := waitState(t, q, id, jobs.Completed)
			if got.Attempts != 1 || !got.HeartbeatAt.After(*got.StartedAt) {
				t.Errorf("a job running 4 leases long: attempts %d, started %v, last heartbeat %v", got.Attempts, got.StartedAt, got.HeartbeatAt)
			}
		})

		t.Run("heartbeat_after_the_lease_passed", func(t *testing.T) {
			id := insert("test.beat", "watch")
			<-started
			steal(id)
			// The next heartbeat cancels the work; its outcome is not
			// recorded.
			waitState(t, q, insert("test.beat", "plain"), jobs.Completed)
			got, err := q.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != jobs.Running || got.Owner != "another-process" {
				t.Errorf("the old holder changed the job: %s, owner %q", got.State, got.Owner)
			}
			if diff := cmp.Diff([]string{jobs.Running}, states(id)); diff != "" {
				t.Errorf("states seen by OnState (-want +got):\n%s", diff)
			}
		})
	})
}
