package events_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

// nodeSeen is a test event.
type nodeSeen struct {
	Node string `json:"node"`
	N    int    `json:"n"`
}

func (e nodeSeen) EventType() string { return "test.node_seen" }
func (e nodeSeen) EventKey() string  { return e.Node }

type other struct{}

func (other) EventType() string { return "test.other" }
func (other) EventKey() string  { return "" }

func forEachBackend(t *testing.T, fn func(t *testing.T, url string, st *store.Store)) {
	t.Helper()
	for _, b := range testenv.Backends {
		t.Run(b.Name, func(t *testing.T) {
			url := b.URL(t)
			fn(t, url, openStore(t, url))
		})
	}
}

// openStore opens the database at url for the test (a process's own
// connections).
func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{URL: url})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func publish(t *testing.T, b *events.Bus, st *store.Store, evs ...events.Typed) {
	t.Helper()
	if err := st.Tx(context.Background(), func(tx store.Querier) error { return b.PublishTx(context.Background(), tx, evs...) }); err != nil {
		t.Fatal(err)
	}
	b.Notify()
}

func runBus(t *testing.T, b *events.Bus) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	if err := b.Init(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return cancel
}

// recorder collects the events a consumer was handed.
type recorder struct {
	mu  sync.Mutex
	got []nodeSeen
	seq []int64
}

func (r *recorder) handle(ctx context.Context, evs []events.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range evs {
		var n nodeSeen
		if err := e.Decode(&n); err != nil {
			return err
		}
		r.got = append(r.got, n)
		r.seq = append(r.seq, e.Seq)
	}
	return nil
}

func (r *recorder) wait(t *testing.T, n int) []nodeSeen {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r.mu.Lock()
		got := append([]nodeSeen(nil), r.got...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d events, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeliveryInOrderWithTypes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ string, st *store.Store) {
		b := events.New(st, events.Config{PollEvery: 20 * time.Millisecond})
		// An event before any consumer exists: a new consumer starts after
		// it unless it asks for the start.
		publish(t, b, st, nodeSeen{Node: "early", N: 0})
		var all, fromStart recorder
		b.MustSubscribe(
			events.Consumer{Name: "all", Types: []string{"test.node_seen"}, Handle: all.handle, Batch: 7},
			events.Consumer{Name: "from-start", Types: []string{"test.node_seen"}, Handle: fromStart.handle, FromStart: true},
		)
		runBus(t, b)
		var want []nodeSeen
		for i := 1; i <= 50; i++ {
			e := nodeSeen{Node: fmt.Sprintf("n%d", i%3), N: i}
			want = append(want, e)
			publish(t, b, st, e, other{})
		}
		got := all.wait(t, 50)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("delivered out of order or with other types:\n got %v\nwant %v", got, want)
		}
		if got := fromStart.wait(t, 51); got[0].Node != "early" {
			t.Errorf("FromStart consumer began with %v", got[0])
		}
		for i := 1; i < len(all.seq); i++ {
			if all.seq[i] <= all.seq[i-1] {
				t.Fatalf("sequence numbers not increasing: %v", all.seq)
			}
		}
		// The handler saw the last batch before its position was committed:
		// the status counts it once that commit is done.
		deadline := time.Now().Add(5 * time.Second)
		for {
			st2, err := b.Status(context.Background())
			if err == nil && len(st2) == 2 && st2[0].Name == "all" && st2[0].Delivered == 50 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("status %+v %v", st2, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// TestConcurrentPublishersNeverSkip has many transactions publish at once
// while a consumer reads: on PostgreSQL a reader must never see a later
// sequence number commit before an earlier one (it would skip it).
func TestConcurrentPublishersNeverSkip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ string, st *store.Store) {
		b := events.New(st, events.Config{PollEvery: 5 * time.Millisecond})
		var r recorder
		b.MustSubscribe(events.Consumer{Name: "all", Handle: r.handle, Batch: 13})
		runBus(t, b)
		const writers, each = 8, 40
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					err := st.Tx(context.Background(), func(tx store.Querier) error {
						if err := b.PublishTx(context.Background(), tx, nodeSeen{Node: fmt.Sprint("w", w), N: i}); err != nil {
							return err
						}
						time.Sleep(time.Millisecond) // hold the transaction open a little
						return nil
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		got := r.wait(t, writers*each)
		if len(got) != writers*each {
			t.Fatalf("delivered %d, want %d", len(got), writers*each)
		}
		last := map[string]int{}
		for _, e := range got {
			if p, ok := last[e.Node]; ok && e.N != p+1 {
				t.Fatalf("key %s: %d after %d", e.Node, e.N, p)
			}
			last[e.Node] = e.N
		}
	})
}

func TestFailuresRetryThenDeadLetter(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ string, st *store.Store) {
		ctx := context.Background()
		b := events.New(st, events.Config{PollEvery: 10 * time.Millisecond})
		var mu sync.Mutex
		var delivered []int
		flaky := 2 // the first two calls fail
		poisoned := true
		b.MustSubscribe(events.Consumer{Name: "picky", MaxAttempts: 3, Handle: func(ctx context.Context, evs []events.Event) error {
			mu.Lock()
			defer mu.Unlock()
			if flaky > 0 {
				flaky--
				return errors.New("downstream is down")
			}
			for _, e := range evs {
				var n nodeSeen
				_ = e.Decode(&n)
				if n.Node == "poison" && poisoned {
					return errors.New("cannot handle poison")
				}
			}
			for _, e := range evs {
				var n nodeSeen
				_ = e.Decode(&n)
				delivered = append(delivered, n.N)
			}
			return nil
		}})
		runBus(t, b)
		publish(t, b, st, nodeSeen{Node: "a", N: 1}, nodeSeen{Node: "poison", N: 2}, nodeSeen{Node: "b", N: 3})
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			got := fmt.Sprint(delivered)
			mu.Unlock()
			if got == "[1 3]" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("delivered %s, want [1 3] with the poison set aside", got)
			}
			time.Sleep(20 * time.Millisecond)
		}
		dead, err := b.DeadLetters(ctx, "picky")
		if err != nil || len(dead) != 1 || dead[0].Error != "cannot handle poison" || dead[0].Event.Type != "test.node_seen" {
			t.Fatalf("dead letters %+v %v", dead, err)
		}
		// Fixed downstream: the retry delivers it and empties the list.
		mu.Lock()
		poisoned = false
		mu.Unlock()
		if ok, still, err := b.RetryDead(ctx, "picky"); ok != 1 || still != 0 || err != nil {
			t.Fatalf("retry: %d ok, %d still failing, %v", ok, still, err)
		}
		if dead, _ := b.DeadLetters(ctx, "picky"); len(dead) != 0 {
			t.Errorf("dead letters after retry: %+v", dead)
		}
		mu.Lock()
		if fmt.Sprint(delivered) != "[1 3 2]" {
			t.Errorf("after retry delivered %v", delivered)
		}
		mu.Unlock()
	})
}

// TestOneProcessDeliversAtATime runs two buses (two consoles) on one
// database: every event reaches the consumer once, from one of them.
func TestOneProcessDeliversAtATime(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string, st *store.Store) {
		st2 := openStore(t, url)
		var r recorder
		b1 := events.New(st, events.Config{Owner: "one", PollEvery: 5 * time.Millisecond, Lease: time.Second})
		b2 := events.New(st2, events.Config{Owner: "two", PollEvery: 5 * time.Millisecond, Lease: time.Second})
		for _, b := range []*events.Bus{b1, b2} {
			b.MustSubscribe(events.Consumer{Name: "shared", Handle: r.handle, Batch: 3})
		}
		stop1 := runBus(t, b1)
		runBus(t, b2)
		for i := 0; i < 60; i++ {
			publish(t, b1, st, nodeSeen{Node: "k", N: i})
			if i == 30 {
				stop1() // the holder stops; the other takes over after the lease
			}
		}
		got := r.wait(t, 60)
		time.Sleep(300 * time.Millisecond)
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.got) != 60 {
			t.Fatalf("delivered %d events, want 60 (once each)", len(r.got))
		}
		for i, e := range got {
			if e.N != i {
				t.Fatalf("event %d is %d", i, e.N)
			}
		}
	})
}

// TestIgnoredEventsDoNotWritePosition: a consumer passing only events of
// other types keeps its position in memory while its lease is fresh (no
// write per batch), and a process taking it over from the stored, older
// position skips those events again and delivers the next of its type
// once.
func TestIgnoredEventsDoNotWritePosition(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string, st *store.Store) {
		st2 := openStore(t, url)
		var r recorder
		b1 := events.New(st, events.Config{Owner: "one", PollEvery: 5 * time.Millisecond, Lease: time.Minute})
		b1.MustSubscribe(events.Consumer{Name: "picky", Types: []string{"test.node_seen"}, Handle: r.handle})
		stop1 := runBus(t, b1)
		publish(t, b1, st, nodeSeen{Node: "k", N: 0})
		r.wait(t, 1)
		stored := func() (pos int64, updated int64) {
			if err := st.Read().QueryRowContext(context.Background(), "SELECT position, updated_at FROM event_consumers WHERE name = 'picky'").Scan(&pos, &updated); err != nil {
				t.Fatal(err)
			}
			return
		}
		// The handler returned before the position was written: wait for it.
		pos0, upd0 := stored()
		for deadline := time.Now().Add(5 * time.Second); pos0 != r.seq[0]; pos0, upd0 = stored() {
			if time.Now().After(deadline) {
				t.Fatalf("position %d, want %d written after the first event", pos0, r.seq[0])
			}
			time.Sleep(5 * time.Millisecond)
		}
		for range 20 {
			publish(t, b1, st, other{})
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		if pos, upd := stored(); pos != pos0 || upd != upd0 {
			t.Fatalf("the position was written while only other events passed: %d at %d, then %d at %d", pos0, upd0, pos, upd)
		}
		stop1()
		// The lease is a minute: let the second process take it at once.
		if err := st.Tx(context.Background(), func(tx store.Querier) error {
			_, err := tx.ExecContext(context.Background(), "UPDATE event_consumers SET lease_until = 0 WHERE name = 'picky'")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		b2 := events.New(st2, events.Config{Owner: "two", PollEvery: 5 * time.Millisecond, Lease: time.Minute})
		b2.MustSubscribe(events.Consumer{Name: "picky", Types: []string{"test.node_seen"}, Handle: r.handle})
		runBus(t, b2)
		publish(t, b2, st2, nodeSeen{Node: "k", N: 1})
		got := r.wait(t, 2)
		time.Sleep(200 * time.Millisecond)
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.got) != 2 || got[0].N != 0 || got[1].N != 1 {
			t.Fatalf("delivered %+v, want events 0 and 1 once each", r.got)
		}
		if pos, _ := stored(); pos != r.seq[1] {
			t.Fatalf("stored position %d after delivering event %d", pos, r.seq[1])
		}
	})
}

// Crash test: a process publishes events and is SIGKILLed before its
// consumer delivered them all; a new process delivers the rest.
const crashEnv = "RISKMAP_EVENTS_TEST_PROC"

func TestMain(m *testing.M) {
	if spec := os.Getenv(crashEnv); spec != "" {
		os.Exit(crashProc(spec))
	}
	os.Exit(m.Run())
}

// crashProc: "publish:URL:N" publishes N events and prints DONE, then
// delivers them slowly to a consumer that prints each; "consume:URL"
// delivers only.
func crashProc(spec string) int {
	mode, rest, _ := strings.Cut(spec, ":")
	n := 0
	url := rest
	if mode == "publish" {
		i := strings.LastIndex(rest, ":")
		url = rest[:i]
		n, _ = strconv.Atoi(rest[i+1:])
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	st, err := store.Open(ctx, store.Config{URL: url})
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	defer st.Close()
	b := events.New(st, events.Config{Lease: time.Second, PollEvery: 10 * time.Millisecond})
	b.MustSubscribe(events.Consumer{Name: "printer", FromStart: true, Batch: 1, Handle: func(ctx context.Context, evs []events.Event) error {
		for _, e := range evs {
			var ns nodeSeen
			_ = e.Decode(&ns)
			fmt.Println("GOT", ns.N)
		}
		time.Sleep(20 * time.Millisecond)
		return nil
	}})
	for i := 0; i < n; i++ {
		if err := st.Tx(ctx, func(tx store.Querier) error { return b.PublishTx(ctx, tx, nodeSeen{Node: "k", N: i}) }); err != nil {
			fmt.Println("ERR", err)
			return 1
		}
	}
	fmt.Println("DONE")
	_ = b.Run(ctx)
	return 0
}

func TestEventsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, be := range testenv.Backends {
		t.Run(be.Name, func(t *testing.T) {
			url := be.URL(t)
			if _, err := store.Open(context.Background(), store.Config{URL: url}); err != nil {
				t.Fatal(err)
			}
			start := func(spec string) (*exec.Cmd, chan int, chan struct{}) {
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), crashEnv+"="+spec)
				out, _ := cmd.StdoutPipe()
				cmd.Stderr = os.Stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
				got, done := make(chan int, 1000), make(chan struct{})
				go func() {
					sc := bufio.NewScanner(out)
					for sc.Scan() {
						f := strings.Fields(sc.Text())
						switch {
						case len(f) == 2 && f[0] == "GOT":
							n, _ := strconv.Atoi(f[1])
							got <- n
						case len(f) > 0 && f[0] == "DONE":
							close(done)
						case len(f) > 0 && f[0] == "ERR":
							t.Errorf("child: %s", sc.Text())
						}
					}
					close(got)
				}()
				return cmd, got, done
			}
			const total = 200
			p1, got1, done1 := start(fmt.Sprintf("publish:%s:%d", url, total))
			select {
			case <-done1:
			case <-time.After(60 * time.Second):
				t.Fatal("publisher did not finish")
			}
			seen := map[int]bool{}
			for len(seen) < 20 {
				n, ok := <-got1
				if !ok {
					t.Fatal("publisher exited early")
				}
				seen[n] = true
			}
			if err := p1.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			for n := range got1 {
				seen[n] = true
			}
			before := len(seen)
			if before >= total {
				t.Fatalf("every event was delivered before the kill (%d)", before)
			}
			_, got2, _ := start("consume:" + url)
			deadline := time.After(60 * time.Second)
			last := -1
			for len(seen) < total {
				select {
				case n := <-got2:
					if n < last {
						t.Fatalf("after restart %d came after %d", n, last)
					}
					last = n
					seen[n] = true
				case <-deadline:
					t.Fatalf("after restart %d of %d events delivered", len(seen), total)
				}
			}
			t.Logf("%d events delivered before SIGKILL, the other %d after the restart", before, total-before)
		})
	}
}

// reads returns the bus's reads of stored events, shared and behind.
func reads(t *testing.T, b *events.Bus) (shared, behind float64) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(b.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "riskmap_event_reads_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				switch {
				case l.GetName() == "from" && l.GetValue() == "shared":
					shared = m.GetCounter().GetValue()
				case l.GetName() == "from" && l.GetValue() == "behind":
					behind = m.GetCounter().GetValue()
				}
			}
		}
	}
	return shared, behind
}

// TestConsumersShareReads: the consumers of one process take the newest
// events from one shared read instead of each reading them (six consumers
// woken by each of 100 commits read them about 100 times, not 600), and
// consumers far behind the shared events (more of them than it keeps)
// read their own and still get every event once, in order.
func TestConsumersShareReads(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ string, st *store.Store) {
		// A long poll interval: the reads counted are those the commits cause.
		b := events.New(st, events.Config{PollEvery: 5 * time.Second})
		recs := make([]*recorder, 6)
		for i := range recs {
			recs[i] = &recorder{}
			b.MustSubscribe(events.Consumer{Name: fmt.Sprintf("c%d", i), Types: []string{"test.node_seen"}, Handle: recs[i].handle})
		}
		runBus(t, b)
		time.Sleep(50 * time.Millisecond) // the consumers take their leases
		s0, _ := reads(t, b)
		const n = 100
		for i := range n {
			publish(t, b, st, nodeSeen{Node: "n", N: i})
		}
		for _, r := range recs {
			if got := r.wait(t, n); len(got) != n || got[n-1].N != n-1 {
				t.Fatalf("a consumer got %d events, last %v", len(got), got[len(got)-1])
			}
		}
		s1, behind := reads(t, b)
		if s1-s0 > n+10 || behind != 0 {
			t.Errorf("%v shared and %v own reads for %d commits and 6 consumers; want at most one shared read per commit and none of their own", s1-s0, behind, n)
		}

		// 5,000 stored events (more than the shared tail keeps) read from
		// the start by a fast and a slow consumer.
		b2 := events.New(st, events.Config{PollEvery: 20 * time.Millisecond})
		var many []events.Typed
		for i := range 5000 {
			many = append(many, nodeSeen{Node: "m", N: i})
			if i%3 == 0 {
				many = append(many, other{})
			}
		}
		if err := st.Tx(context.Background(), func(tx store.Querier) error { return b2.PublishTx(context.Background(), tx, many...) }); err != nil {
			t.Fatal(err)
		}
		var fast, slow recorder
		slowHandle := func(ctx context.Context, evs []events.Event) error {
			time.Sleep(time.Millisecond)
			return slow.handle(ctx, evs)
		}
		b2.MustSubscribe(
			events.Consumer{Name: "fast", Types: []string{"test.node_seen"}, Handle: fast.handle, Batch: 500, FromStart: true},
			events.Consumer{Name: "slow", Types: []string{"test.node_seen"}, Handle: slowHandle, Batch: 7, FromStart: true},
		)
		runBus(t, b2)
		for i := range 5 {
			publish(t, b2, st, nodeSeen{Node: "late", N: 5000 + i})
		}
		// From the start: the n events of the first part, then these.
		for name, r := range map[string]*recorder{"fast": &fast, "slow": &slow} {
			got := r.wait(t, n+5005)
			for i, e := range got[n:] {
				if e.N != i {
					t.Fatalf("%s: event %d is %v (duplicated, skipped or out of order)", name, i, e)
				}
			}
			if len(got) != n+5005 {
				t.Fatalf("%s: %d events, want %d", name, len(got), n+5005)
			}
		}
		if _, behind := reads(t, b2); behind == 0 {
			t.Error("the slow consumer never read on its own: the test did not cover a consumer behind the shared events")
		}
	})
}

// TestSkippedEventsDoNotWritePosition: events a handler skips (Skip: none
// asked anything of it) advance its position in memory only, like events
// of other types; the next batch it acts on writes the position past all
// of them and counts them delivered.
func TestSkippedEventsDoNotWritePosition(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ string, st *store.Store) {
		var r recorder
		b := events.New(st, events.Config{PollEvery: 5 * time.Millisecond, Lease: time.Minute})
		b.MustSubscribe(events.Consumer{Name: "lazy", Handle: func(ctx context.Context, evs []events.Event) error {
			if err := r.handle(ctx, evs); err != nil {
				return err
			}
			var last nodeSeen
			if err := evs[len(evs)-1].Decode(&last); err != nil {
				return err
			}
			if last.Node == "skip" {
				return events.Skip
			}
			return nil
		}})
		runBus(t, b)
		stored := func() (pos, delivered int64) {
			if err := st.Read().QueryRowContext(context.Background(), "SELECT position, delivered FROM event_consumers WHERE name = 'lazy'").Scan(&pos, &delivered); err != nil {
				t.Fatal(err)
			}
			return
		}
		time.Sleep(50 * time.Millisecond) // the lease is taken
		pos0, _ := stored()
		for i := range 5 {
			publish(t, b, st, nodeSeen{Node: "skip", N: i})
			r.wait(t, i+1)
		}
		time.Sleep(50 * time.Millisecond)
		if pos, d := stored(); pos != pos0 || d != 0 {
			t.Fatalf("skipped events wrote the position: %d (delivered %d), was %d", pos, d, pos0)
		}
		publish(t, b, st, nodeSeen{Node: "act", N: 5})
		r.wait(t, 6)
		deadline := time.Now().Add(5 * time.Second)
		for {
			pos, d := stored()
			if pos == r.seq[5] && d == 6 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after an event acted on: position %d delivered %d, want %d and 6", pos, d, r.seq[5])
			}
			time.Sleep(10 * time.Millisecond)
		}
		if st, err := b.DeadLetters(context.Background(), "lazy"); err != nil || len(st) != 0 {
			t.Fatalf("dead letters %v %v", st, err)
		}
	})
}

// TestNotifyOfWakesTheirConsumers: NotifyOf wakes the consumers of the
// events it names, not the others, which find theirs at their next poll
// (or the next Notify).
func TestNotifyOfWakesTheirConsumers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ string, st *store.Store) {
		b := events.New(st, events.Config{PollEvery: time.Minute})
		var seen, others recorder
		otherHandle := func(ctx context.Context, evs []events.Event) error {
			others.mu.Lock()
			defer others.mu.Unlock()
			for range evs {
				others.got = append(others.got, nodeSeen{})
			}
			return nil
		}
		b.MustSubscribe(
			events.Consumer{Name: "seen", Types: []string{"test.node_seen"}, Handle: seen.handle},
			events.Consumer{Name: "others", Types: []string{"test.other"}, Handle: otherHandle},
		)
		runBus(t, b)
		time.Sleep(100 * time.Millisecond) // both took their leases and sleep until woken
		commit := func(evs ...events.Typed) {
			if err := st.Tx(context.Background(), func(tx store.Querier) error { return b.PublishTx(context.Background(), tx, evs...) }); err != nil {
				t.Fatal(err)
			}
		}
		// A node_seen committed without a word, then an other announced:
		// the other's consumer wakes (and reads both); node_seen's does not.
		commit(nodeSeen{Node: "quiet", N: 1})
		commit(other{})
		b.NotifyOf(other{})
		others.wait(t, 1)
		time.Sleep(300 * time.Millisecond)
		seen.mu.Lock()
		early := len(seen.got)
		seen.mu.Unlock()
		if early != 0 {
			t.Fatalf("node_seen's consumer got %d events when only an other was announced", early)
		}
		// Announced by type, node_seen's consumer wakes at once.
		commit(nodeSeen{Node: "loud", N: 2})
		b.NotifyOf(nodeSeen{Node: "loud", N: 2})
		if got := seen.wait(t, 2); got[0].Node != "quiet" || got[1].Node != "loud" {
			t.Fatalf("node_seen's consumer got %v", got)
		}
	})
}

// TestGatherHandlesSeveralCommitsTogether: a consumer with Gather, woken
// by each of several commits in quick succession, reads once per Gather
// and handles their events together, in order, none lost; without it
// each commit's event is a call of its own.
func TestGatherHandlesSeveralCommitsTogether(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ string, st *store.Store) {
		b := events.New(st, events.Config{PollEvery: time.Minute})
		var gathered, each recorder
		var calls [2]atomic.Int32
		count := func(i int, r *recorder) func(context.Context, []events.Event) error {
			return func(ctx context.Context, evs []events.Event) error {
				calls[i].Add(1)
				return r.handle(ctx, evs)
			}
		}
		b.MustSubscribe(
			events.Consumer{Name: "gathered", Types: []string{"test.node_seen"}, Handle: count(0, &gathered), Gather: time.Second},
			events.Consumer{Name: "each", Types: []string{"test.node_seen"}, Handle: count(1, &each)},
		)
		runBus(t, b)
		time.Sleep(100 * time.Millisecond)
		const n = 6
		for i := range n {
			publish(t, b, st, nodeSeen{Node: "g", N: i})
			time.Sleep(40 * time.Millisecond) // each consumer without Gather handles it before the next
		}
		for name, r := range map[string]*recorder{"gathered": &gathered, "each": &each} {
			got := r.wait(t, n)
			for i, e := range got {
				if e.N != i {
					t.Fatalf("%s: event %d is %v", name, i, e)
				}
			}
		}
		if g, e := calls[0].Load(), calls[1].Load(); g > 2 || e < n-1 {
			t.Fatalf("%d calls with Gather, %d without, for %d commits: want at most 2 with, about one per commit without", g, e, n)
		}
	})
}
