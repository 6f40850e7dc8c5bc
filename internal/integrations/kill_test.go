package integrations_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/integrations"
	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/testenv"
)

// childEnv makes the test binary a console's integrations stack (store,
// vault, job system, event bus, the module) delivering until it is killed.
const childEnv = "RISKMAP_INTEGRATIONS_TEST_CHILD"

type childSpec struct {
	URL     string `json:"url"`
	KeyFile string `json:"keyFile"`
}

func runChild(spec string) int {
	var s childSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Println("ERR", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// Destinations carry their receiver's CA certificate (caCert).
	e, err := buildEnv(time.Now, envOpts{url: s.URL, keyFile: s.KeyFile,
		delivery: integrations.DeliveryConfig{BackoffBase: time.Second, BackoffMax: time.Minute, Lease: 2 * time.Second, Linger: 3 * time.Second}}, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	// The stack runs on a real clock.
	fmt.Println("READY")
	<-ctx.Done()
	e.stop()
	return 0
}

// TestSIGKILLDuringDeliveryLosesNothing runs the module in a child
// process (as a console does), SIGKILLs it while it delivers a stream of
// findings, queues more while nothing runs, starts another and checks
// that every message arrived, in the order queued, each kept once by the
// receiver (a resent copy is dropped by its idempotency key).
func TestSIGKILLDuringDeliveryLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	forEachBackend(t, func(t *testing.T, url string) {
		r := newReceiver(t)
		r.set(func(r *receiver) { r.delay = 5 * time.Millisecond })
		keyFile := filepath.Join(t.TempDir(), "secrets.key")
		clk := testenv.NewClock(time.Now())
		// The test's own stack does not run: it configures and publishes.
		e := newEnv(t, clk, envOpts{url: url, keyFile: keyFile, noRun: true})
		d, err := e.svc.CreateDestination(context.Background(), integrations.DestinationInput{Kind: "webhook", Name: "kill", RatePerMinute: 6000,
			Secrets: map[string]string{"url": r.url(), "secret": signingSecret}, CACert: ptr(r.caPEM())})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.CreateRule(context.Background(), integrations.RuleInput{DestinationID: d.ID, Name: "all", Events: []string{dest.EventFindingNew}}); err != nil {
			t.Fatal(err)
		}
		spec, _ := json.Marshal(childSpec{URL: url, KeyFile: keyFile})
		start := func() *exec.Cmd {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(out)
			if !sc.Scan() || sc.Text() != "READY" {
				t.Fatalf("child: %q", sc.Text())
			}
			go func() {
				for sc.Scan() {
					t.Logf("child: %s", sc.Text())
				}
			}()
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			return cmd
		}
		var want []string
		publish := func(from, n int) {
			for i := from; i < from+n; i += 10 {
				var evs []events.Typed
				for j := i; j < i+10; j++ {
					v := fmt.Sprintf("CVE-2026-%05d", j)
					evs = append(evs, newFindings("host-db", finding(v, "high", 50, false)))
					want = append(want, "finding.new finding/host-db/"+v+"/openssl@3.0.2")
				}
				e.publish(evs...)
			}
		}
		first := start()
		publish(0, 300)
		waitFor(t, "deliveries under way", func() bool { return r.count() >= 60 })
		if err := first.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		_ = first.Wait()
		killedAt := r.count()
		publish(300, 100)
		start()
		waitFor(t, "every message", func() bool { return r.count() >= len(want) })
		got := keys(r.messages())
		if !slices.Equal(got, want) {
			t.Fatalf("after the kill at %d: %d messages, first difference at %d", killedAt, len(got), firstDiff(got, want))
		}
		r.mu.Lock()
		t.Logf("killed after %d of %d messages; %d copies sent again and dropped by the receiver", killedAt, len(want), r.dups)
		r.mu.Unlock()
	})
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func ptr[T any](v T) *T { return &v }
