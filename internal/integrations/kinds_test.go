package integrations_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/integrations"
	"github.com/riskmap/riskmap/internal/integrations/dest"
)

// fakeTarget is a destination kind's far end: it records what each Send
// was given, and answers what the test sets for the next calls.
type fakeTarget struct {
	mu      sync.Mutex
	batches [][]string // the VulnIDs of each Send
	answers []error    // the next Sends' answers (then nil)
}

func (f *fakeTarget) kind(name string, batch int, perSecond float64, events []string) dest.Kind {
	return dest.Kind{Name: name, Title: strings.ToUpper(name[:1]) + name[1:], Batch: batch, PerSecond: perSecond, Events: events,
		New: func(dest.Config) (dest.Destination, error) { return f, nil }}
}

func (f *fakeTarget) Send(_ context.Context, msgs []dest.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, m := range msgs {
		for _, fd := range m.Findings {
			ids = append(ids, fd.VulnID)
		}
	}
	f.batches = append(f.batches, ids)
	if len(f.answers) == 0 {
		return nil
	}
	err := f.answers[0]
	f.answers = f.answers[1:]
	return err
}

func (f *fakeTarget) sent() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.batches...)
}

func (f *fakeTarget) count() int {
	n := 0
	for _, b := range f.sent() {
		n += len(b)
	}
	return n
}

func (e *env) fakeDest(kind, name string, rate int, rule integrations.RuleInput) (integrations.Destination, error) {
	d, err := e.svc.CreateDestination(context.Background(), integrations.DestinationInput{Kind: kind, Name: name, RatePerMinute: rate})
	if err != nil {
		e.t.Fatal(err)
	}
	rule.DestinationID = d.ID
	rule.Name = name + " rule"
	_, err = e.svc.CreateRule(context.Background(), rule)
	return d, err
}

func manyVulns(n int) ([]findings.FindingRef, []string) {
	var fs []findings.FindingRef
	var ids []string
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("CVE-2026-%04d", i)
		fs = append(fs, finding(id, "high", 50, false))
		ids = append(ids, id)
	}
	return fs, ids
}

// TestPartlyDeliveredBatch: a bulk destination that says the first two
// messages of a batch of five landed before it failed gets only the other
// three again, and the history counts five delivered.
func TestPartlyDeliveredBatch(t *testing.T) {
	f := &fakeTarget{answers: []error{&dest.Error{Retryable: true, Status: 503, Delivered: 2, Err: errors.New("bulk: 3 of 5 refused")}}}
	clk := newClock()
	e := newEnv(t, clk, envOpts{url: sqliteURL(t), kinds: []dest.Kind{f.kind("bulk", 5, 0, nil)}})
	addEstate(e)
	d, err := e.fakeDest("bulk", "siem", 6000, integrations.RuleInput{Events: []string{dest.EventFindingNew}})
	if err != nil {
		t.Fatal(err)
	}
	fs, ids := manyVulns(5)
	e.publish(newFindings("host-db", fs...))
	waitFor(t, "the failed batch", func() bool { return len(f.sent()) == 1 })
	e.idle(t)
	waitFor(t, "the retry", func() bool {
		clk.Advance(5 * time.Second)
		time.Sleep(5 * time.Millisecond)
		return len(f.sent()) == 2
	})
	if diff := cmp.Diff([][]string{ids, ids[2:]}, f.sent()); diff != "" {
		t.Errorf("batches sent (-want +got):\n%s", diff)
	}
	waitFor(t, "an empty outbox", func() bool {
		dd, _ := e.svc.Destination(context.Background(), d.ID)
		return dd.Status.Pending == 0
	})
	h := history(t, e, d.ID)
	if n := delivered(h); n != 5 {
		t.Errorf("history: %d delivered, want 5 (%v)", n, outcomes(h))
	}
	if o := outcomes(h); o[integrations.OutcomeFailed] != 1 || o[integrations.OutcomeDead] != 0 {
		t.Errorf("history outcomes %v; want one failure, no dead letter", o)
	}
}

// TestKindRateCaps: a destination set to 600 messages a minute whose kind
// documents one a second (Slack webhooks) sends at the kind's rate: a
// burst of 10 (a sixth of 60), then one a second.
func TestKindRateCaps(t *testing.T) {
	f := &fakeTarget{}
	clk := newClock()
	e := newEnv(t, clk, envOpts{url: sqliteURL(t), kinds: []dest.Kind{f.kind("chat", 1, 1, nil)}})
	addEstate(e)
	if _, err := e.fakeDest("chat", "team", 600, integrations.RuleInput{Events: []string{dest.EventFindingNew}}); err != nil {
		t.Fatal(err)
	}
	fs, _ := manyVulns(15)
	e.publish(newFindings("host-db", fs...))
	waitFor(t, "the burst", func() bool { return f.count() == 10 })
	time.Sleep(100 * time.Millisecond)
	if n := f.count(); n != 10 {
		t.Fatalf("%d sent without the clock moving; the kind's burst is 10", n)
	}
	clk.Advance(2 * time.Second)
	waitFor(t, "two more", func() bool { return f.count() == 12 })
	time.Sleep(100 * time.Millisecond)
	if n := f.count(); n != 12 {
		t.Fatalf("%d sent 2 s later; one a second means 12", n)
	}
	clk.Advance(5 * time.Second)
	waitFor(t, "the rest", func() bool { return f.count() == 15 })
}

// TestKindEvents: a rule asking a kind for events or digests it does not
// take is refused with a reason; the one it takes is stored.
func TestKindEvents(t *testing.T) {
	f := &fakeTarget{}
	e := newEnv(t, newClock(), envOpts{url: sqliteURL(t), kinds: []dest.Kind{f.kind("tracker", 1, 0, []string{dest.EventFindingNew, dest.EventTest})}})
	for _, c := range []struct {
		rule integrations.RuleInput
		want string
	}{
		{integrations.RuleInput{Events: []string{dest.EventFindingNew, dest.EventSensorOffline}}, `do not take "sensor.offline"`},
		{integrations.RuleInput{Events: []string{dest.EventFindingNew}, Mode: integrations.ModeDigest, DigestMinutes: 60}, "take no digests"},
	} {
		_, err := e.fakeDest("tracker", c.want, 60, c.rule)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("rule %+v: %v; want an error saying %s", c.rule, err, c.want)
		}
	}
	if _, err := e.fakeDest("tracker", "ok", 60, integrations.RuleInput{Events: []string{dest.EventFindingNew}}); err != nil {
		t.Errorf("a rule the kind takes: %v", err)
	}
}
