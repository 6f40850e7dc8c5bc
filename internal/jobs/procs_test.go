package jobs_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

// workerEnv makes the test binary a job-running process (a console's job
// system alone) on the database it names.
const workerEnv = "RISKMAP_JOBS_TEST_WORKER"

func TestMain(m *testing.M) {
	if url := os.Getenv(workerEnv); url != "" {
		os.Exit(worker(url, os.Getenv("RISKMAP_JOBS_TEST_OWNER")))
	}
	os.Exit(m.Run())
}

// countKind records every attempt in test_runs and sleeps for the payload's
// milliseconds; it prints "START id" when it starts a job that sleeps a
// second or more.
func countKind(st *store.Store, owner string) jobs.Kind {
	return jobs.Kind{Name: "test.count", Concurrency: 4, Lease: time.Second, MaxAttempts: 5,
		Backoff: func(int) time.Duration { return 50 * time.Millisecond },
		Work: func(ctx context.Context, j jobs.Job) error {
			var ms int
			if err := j.Decode(&ms); err != nil {
				return jobs.Permanent(err)
			}
			if err := st.Tx(ctx, func(tx store.Querier) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO test_runs (job_id, owner, attempt) VALUES (?, ?, ?)`, j.ID, owner, j.Attempts)
				return err
			}); err != nil {
				return err
			}
			if ms >= 1000 {
				fmt.Println("START", j.ID)
			}
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}}
}

func worker(url, owner string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	st, err := store.Open(ctx, store.Config{URL: url})
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	defer st.Close()
	q := jobs.New(st, jobs.Config{Owner: owner, PollEvery: 50 * time.Millisecond, RescueEvery: 200 * time.Millisecond})
	q.MustRegister(countKind(st, owner))
	fmt.Println("READY")
	if err := q.Run(ctx); err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	return 0
}

// TestTwoProcessesExactlyOnce runs 1,000 jobs on two processes sharing one
// real PostgreSQL database, SIGKILLs one while it holds a long job, and
// checks that every job completed exactly once: the jobs the killed
// process held were finished by the other after their lease, and every
// other job ran exactly once.
func TestTwoProcessesExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	url := testenv.PostgresURL(t)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Tx(ctx, func(tx store.Querier) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE test_runs (job_id TEXT NOT NULL, owner TEXT NOT NULL, attempt INTEGER NOT NULL)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	q := jobs.New(st, jobs.Config{})
	q.MustRegister(countKind(st, "inserter"))
	// 1,000 jobs: most take 2 ms; every 100th takes 1.5 s, so each
	// process holds long jobs when one is killed.
	err = st.Tx(ctx, func(tx store.Querier) error {
		for i := 0; i < 1000; i++ {
			ms := 2
			if i%100 == 50 {
				ms = 1500
			}
			if _, _, err := q.InsertTx(ctx, tx, "test.count", ms, jobs.InsertOpts{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	type proc struct {
		cmd   *exec.Cmd
		start chan string
		done  chan error
	}
	startProc := func(owner string) *proc {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), workerEnv+"="+url, "RISKMAP_JOBS_TEST_OWNER="+owner)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p := &proc{cmd: cmd, start: make(chan string, 100), done: make(chan error, 1)}
		ready := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				line := sc.Text()
				switch {
				case line == "READY":
					close(ready)
				case strings.HasPrefix(line, "START "):
					p.start <- strings.TrimPrefix(line, "START ")
				case strings.HasPrefix(line, "ERR"):
					t.Errorf("%s: %s", owner, line)
				}
			}
			p.done <- cmd.Wait()
		}()
		select {
		case <-ready:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not start", owner)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		return p
	}
	a := startProc("console-a")
	b := startProc("console-b")
	// Kill a as soon as it holds a long job.
	var held string
	select {
	case held = <-a.start:
	case <-time.After(60 * time.Second):
		t.Fatal("console-a never started a long job")
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	killedAt := time.Now()

	deadline := time.Now().Add(90 * time.Second)
	for {
		d, err := q.Depth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d[jobs.Completed] == 1000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs by state after 90 s: %v", d)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	<-b.done

	j, err := q.Get(ctx, held)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != jobs.Completed || j.Owner != "console-b" || j.Attempts != 2 {
		t.Errorf("the job console-a held when killed: %s by %s after %d attempts, want completed by console-b on attempt 2", j.State, j.Owner, j.Attempts)
	}
	if j.FinishedAt.Before(killedAt.Add(500 * time.Millisecond)) {
		t.Errorf("console-b finished the killed process's job %s after the kill, before its 1 s lease could pass", j.FinishedAt.Sub(killedAt))
	}
	// Every job ran exactly once, except the jobs console-a held when it
	// died, which console-b ran again.
	rows, err := st.Read().QueryContext(ctx, `SELECT j.id, j.attempts, COUNT(r.job_id), MIN(r.owner), MAX(r.owner)
		FROM jobs j LEFT JOIN test_runs r ON r.job_id = j.id GROUP BY j.id, j.attempts`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	twice, byA, byB := 0, 0, 0
	for rows.Next() {
		var id, minOwner, maxOwner string
		var attempts, runs int
		if err := rows.Scan(&id, &attempts, &runs, &minOwner, &maxOwner); err != nil {
			t.Fatal(err)
		}
		switch {
		case attempts == 1 && runs == 1 && minOwner == "console-a":
			byA++
		case attempts == 1 && runs == 1 && minOwner == "console-b":
			byB++
		// Taken over from console-a: claimed by it (its work may not have
		// started when it died), then run once by console-b.
		case attempts == 2 && maxOwner == "console-b" && (runs == 1 || (runs == 2 && minOwner == "console-a")):
			twice++
		default:
			t.Errorf("job %s: %d attempts, %d runs by %s..%s", id, attempts, runs, minOwner, maxOwner)
		}
	}
	if twice < 1 || twice > 4 {
		t.Errorf("%d jobs were taken over; want the 1-4 that console-a held when killed (concurrency 4)", twice)
	}
	if byA == 0 || byB == 0 {
		t.Errorf("work was not shared: %d jobs by console-a alone, %d by console-b alone", byA, byB)
	}
	t.Logf("1,000 jobs: %d by console-a, %d by console-b, %d taken over from the killed console-a", byA, byB, twice)
}
