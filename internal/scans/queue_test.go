package scans

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/store"
)

func newQueue(t *testing.T, st *store.Store, clk *clock) *Queue {
	return newService(t, st, clk, nil, false).Queue
}

// terminalEvents lists the scan events in the outbox: id:status.
func terminalEvents(t *testing.T, st *store.Store) []string {
	t.Helper()
	rows, err := st.Read().QueryContext(context.Background(), `SELECT payload FROM events WHERE type IN (?, ?) ORDER BY seq`, EventFinished, EventFailed)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		rows.Scan(&p)
		var e ScanFailed
		json.Unmarshal([]byte(p), &e)
		out = append(out, e.ScanID+":"+e.Status)
	}
	return out
}

func TestQueueLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *store.Store, clk *clock) {
		ctx := context.Background()
		q := newQueue(t, st, clk)
		target := Target{SensorID: "s1", Kind: KindContainer, Ref: "abc"}

		t.Run("complete_after_heartbeats", func(t *testing.T) {
			got, err := q.Enqueue(ctx, []Target{target}, "", "")
			if err != nil {
				t.Fatal(err)
			}
			id := got[0].ID
			again, _ := q.Enqueue(ctx, []Target{target}, "", "")
			if again[0].ID != id {
				t.Fatalf("second enqueue of a queued target made scan %s, want the existing %s", again[0].ID, id)
			}
			if cmds, _ := q.Poll(ctx, "s2", "u1", 2); len(cmds) != 0 {
				t.Fatalf("other sensor got %v", cmds)
			}
			if cmds, _ := q.Poll(ctx, "s1", "u1", 0); len(cmds) != 0 {
				t.Fatalf("no free slot but got %v", cmds)
			}
			cmds, err := q.Poll(ctx, "s1", "u1", 2)
			if err != nil {
				t.Fatal(err)
			}
			want := []sensorproto.Command{{ID: id + "-1", Kind: "scan", ScanID: id, Target: sensorproto.CommandTarget{Kind: "container", Ref: "abc"}, ScanType: "vulnerability"}}
			if d := cmp.Diff(want, cmds); d != "" {
				t.Fatalf("poll (-want +got):\n%s", d)
			}
			if cmds, _ := q.Poll(ctx, "s1", "u1", 2); len(cmds) != 0 {
				t.Fatalf("dispatched twice: %v", cmds)
			}
			if _, err := q.Report(ctx, id, "intruder", StatusUpdate{Status: StatusRunning}); !errors.Is(err, ErrForbidden) {
				t.Fatalf("status from another user: %v, want forbidden", err)
			}
			// Heartbeats keep it alive past several leases.
			for range 5 {
				clk.Advance(45 * time.Second)
				if _, err := q.Report(ctx, id, "u1", StatusUpdate{Status: StatusRunning, Progress: 0.5}); err != nil {
					t.Fatal(err)
				}
				if n, _ := q.Reap(ctx); n != 0 {
					t.Fatalf("reaped a scan with heartbeats")
				}
			}
			// complete without an inventory is a failed attempt.
			s, err := q.Report(ctx, id, "u1", StatusUpdate{Status: StatusComplete})
			if err != nil {
				t.Fatal(err)
			}
			if s.Status != StatusQueued || !strings.Contains(s.Message, "without uploading an inventory") {
				t.Fatalf("complete without inventory: %s %q", s.Status, s.Message)
			}
		})

		t.Run("cancel_queued", func(t *testing.T) {
			got, _ := q.Enqueue(ctx, []Target{{SensorID: "s1", Kind: KindImage, Ref: "alpine:3"}}, "", "")
			s, err := q.Cancel(ctx, got[0].ID)
			if err != nil || s.Status != StatusCancelled || s.FinishedAt == nil {
				t.Fatalf("cancel queued: %+v %v", s, err)
			}
			if _, err := q.Cancel(ctx, got[0].ID); !errors.Is(err, ErrConflict) {
				t.Fatalf("cancel twice: %v", err)
			}
		})
	})
}

func TestQueueEveryScanTerminates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *store.Store, clk *clock) {
		ctx := context.Background()
		q := newQueue(t, st, clk)

		silent, _ := q.Enqueue(ctx, []Target{{SensorID: "s1", Kind: KindHost}}, "", "")
		cancelled, _ := q.Enqueue(ctx, []Target{{SensorID: "s1", Kind: KindContainer, Ref: "c1"}}, "", "")
		orphan, _ := q.Enqueue(ctx, []Target{{SensorID: "gone", Kind: KindHost}}, "", "")

		if cmds, _ := q.Poll(ctx, "s1", "u1", 5); len(cmds) != 2 {
			t.Fatalf("poll: %v", cmds)
		}
		// Cancel a running scan: the sensor gets a cancel command once.
		if s, err := q.Cancel(ctx, cancelled[0].ID); err != nil || s.Status != StatusRunning || !s.CancelRequested {
			t.Fatalf("cancel running: %+v %v", s, err)
		}
		cmds, _ := q.Poll(ctx, "s1", "u1", 0)
		if d := cmp.Diff([]sensorproto.Command{{ID: cancelled[0].ID + "-cancel", Kind: "cancel", ScanID: cancelled[0].ID}}, cmds); d != "" {
			t.Fatalf("cancel command (-want +got):\n%s", d)
		}
		// The sensor never answers anything again (it was SIGKILLed).
		attempts := []int{}
		for i := 0; i < 70; i++ { // 71 min: past the 1 h queue timeout
			clk.Advance(61 * time.Second)
			if _, err := q.Reap(ctx); err != nil {
				t.Fatal(err)
			}
			// A restarted sensor polls and takes the retries, then dies again.
			cmds, _ := q.Poll(ctx, "s1", "u1", 5)
			for _, c := range cmds {
				if c.ScanID == silent[0].ID {
					s, _ := q.Get(ctx, c.ScanID)
					attempts = append(attempts, s.Attempts)
				}
			}
		}
		if d := cmp.Diff([]int{2, 3}, attempts); d != "" {
			t.Errorf("retries of the silent scan (-want +got):\n%s", d)
		}
		want := map[string]string{silent[0].ID: StatusError, cancelled[0].ID: StatusCancelled, orphan[0].ID: StatusError}
		for id, st := range want {
			s, err := q.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if s.Status != st || s.FinishedAt == nil {
				t.Errorf("scan %s: %s (%q), want %s", id, s.Status, s.Message, st)
			}
		}
		if terminal := terminalEvents(t, st); len(terminal) != 3 {
			t.Errorf("scan events: %v", terminal)
		}
		list, _, err := q.List(ctx, ListFilter{Status: StatusRunning})
		if err != nil || len(list) != 0 {
			t.Errorf("running after reaping: %v %v", list, err)
		}
	})
}

func TestQueueRetryBackoff(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *store.Store, clk *clock) {
		ctx := context.Background()
		q := newQueue(t, st, clk)
		got, _ := q.Enqueue(ctx, []Target{{SensorID: "s1", Kind: KindHost}}, "", "")
		id := got[0].ID
		q.Poll(ctx, "s1", "u1", 1)
		s, err := q.Report(ctx, id, "u1", StatusUpdate{Status: StatusError, Message: "disk busy"})
		if err != nil || s.Status != StatusQueued || !strings.Contains(s.Message, "disk busy") {
			t.Fatalf("first error: %+v %v", s, err)
		}
		if cmds, _ := q.Poll(ctx, "s1", "u1", 1); len(cmds) != 0 {
			t.Fatalf("retried before the backoff: %v", cmds)
		}
		clk.Advance(31 * time.Second)
		if cmds, _ := q.Poll(ctx, "s1", "u1", 1); len(cmds) != 1 {
			t.Fatalf("no retry after 30 s backoff")
		}
		q.Report(ctx, id, "u1", StatusUpdate{Status: StatusError, Message: "x"})
		clk.Advance(31 * time.Second)
		if cmds, _ := q.Poll(ctx, "s1", "u1", 1); len(cmds) != 0 {
			t.Fatalf("second backoff should be 60 s")
		}
		clk.Advance(30 * time.Second)
		q.Poll(ctx, "s1", "u1", 1)
		s, _ = q.Report(ctx, id, "u1", StatusUpdate{Status: StatusError, Message: "still"})
		if s.Status != StatusError || s.Attempts != 3 {
			t.Fatalf("after 3 attempts: %s attempts %d", s.Status, s.Attempts)
		}
		if _, err := q.Report(ctx, id, "u1", StatusUpdate{Status: StatusRunning}); !errors.Is(err, ErrConflict) {
			t.Fatalf("heartbeat on a finished scan: %v", err)
		}
		if _, err := q.Report(ctx, id, "u1", StatusUpdate{Status: "done"}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("bad status: %v", err)
		}
	})
}

// TestPollWritesWhenNeeded: a poll that changes nothing and finds nothing
// writes nothing (sensors poll every few seconds); one that finds a scan
// or a cancel hands it over all the same; the poll's row is written again
// after pollRecordEvery, or at once when what the sensor offers changes.
func TestPollWritesWhenNeeded(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *store.Store, clk *clock) {
		ctx := context.Background()
		q := newQueue(t, st, clk)
		lastPoll := func() (time.Time, int) {
			t.Helper()
			var ms int64
			var free int
			if err := st.Read().QueryRowContext(ctx, `SELECT last_poll, free_slots FROM sensor_polls WHERE sensor_id = ?`, "s9").Scan(&ms, &free); err != nil {
				t.Fatal(err)
			}
			return store.FromMillis(ms), free
		}
		poll := func(free int) []sensorproto.Command {
			t.Helper()
			cmds, err := q.Poll(ctx, "s9", "u9", free)
			if err != nil {
				t.Fatal(err)
			}
			return cmds
		}
		if cmds := poll(1); len(cmds) != 0 {
			t.Fatalf("first poll: %v", cmds)
		}
		t0, _ := lastPoll()
		clk.Advance(10 * time.Second)
		poll(1)
		if got, _ := lastPoll(); !got.Equal(t0) {
			t.Fatalf("an unchanged, empty poll 10 s later rewrote last_poll: %v, want %v", got, t0)
		}
		// A scan queued since is handed over by the next poll.
		got, err := q.Enqueue(ctx, []Target{{SensorID: "s9", Kind: KindContainer, Ref: "c1"}}, "", "")
		if err != nil {
			t.Fatal(err)
		}
		cmds := poll(1)
		if len(cmds) != 1 || cmds[0].ScanID != got[0].ID || cmds[0].Kind != sensorproto.CommandScan {
			t.Fatalf("poll after a scan was queued: %v", cmds)
		}
		// And a cancel requested since.
		if _, err := q.Cancel(ctx, got[0].ID); err != nil {
			t.Fatal(err)
		}
		cmds = poll(1)
		if len(cmds) != 1 || cmds[0].Kind != sensorproto.CommandCancel || cmds[0].ScanID != got[0].ID {
			t.Fatalf("poll after a cancel was requested: %v", cmds)
		}
		if cmds := poll(1); len(cmds) != 0 {
			t.Fatalf("the cancel handed over twice: %v", cmds)
		}
		// Rewritten after pollRecordEvery, and at once when it changes.
		clk.Advance(pollRecordEvery + time.Second)
		poll(1)
		t1, _ := lastPoll()
		if !t1.After(t0) {
			t.Fatalf("last_poll %v not rewritten after %s", t1, pollRecordEvery)
		}
		clk.Advance(time.Second)
		poll(3)
		if at, free := lastPoll(); free != 3 || !at.After(t1) {
			t.Fatalf("a poll offering 3 slots: row %v %d, want written at once", at, free)
		}
	})
}
