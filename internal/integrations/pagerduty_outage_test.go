package integrations_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/integrations"
	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/fakes"
	"github.com/riskmap/riskmap/internal/integrations/pagerduty"
)

// TestPagerDutyOutage: a real destination kind through the whole path
// (event, rule, outbox, flush job, PagerDuty's Events API v2 on a loopback
// fake that validates each event). PagerDuty answers 503 for five minutes
// while findings come and some are fixed; afterwards every alert exists
// once, triggered before it is resolved (a resend lands in the same alert), and the fixed ones are resolved.
func TestPagerDutyOutage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		pd := fakes.NewPagerDuty(t)
		clk := newClock()
		e := newEnv(t, clk, envOpts{url: url, roots: pd.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs})
		addEstate(e)
		d, err := e.svc.CreateDestination(context.Background(), integrations.DestinationInput{Kind: pagerduty.Name, Name: "on call",
			Settings: map[string]string{"events_url": pd.EnqueueURL()}, Secrets: map[string]string{"routing_key": pd.RoutingKey()}, RatePerMinute: 6000})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.CreateRule(context.Background(), integrations.RuleInput{DestinationID: d.ID, Name: "page",
			Events: []string{dest.EventFindingNew, dest.EventFindingFixed}}); err != nil {
			t.Fatal(err)
		}
		pd.Fail(fakes.Failure{Status: http.StatusServiceUnavailable})
		fixed := map[string]bool{}
		queued := 0
		for step := 1; step <= 30; step++ { // 30 × 10 s = 5 minutes
			if step%3 == 0 { // every third step the last new finding is fixed
				v := fmt.Sprintf("CVE-2026-%04d", step-1)
				fixed[v] = true
				e.publish(findings.FindingsFixed{ScanID: "s", Target: findings.Target{NodeID: "host-db"}, Findings: []findings.FindingRef{finding(v, "critical", 90, false)}})
			} else {
				e.publish(newFindings("host-db", finding(fmt.Sprintf("CVE-2026-%04d", step), "critical", 90, false)))
			}
			queued++
			waitFor(t, "the event queued", func() bool {
				dd, _ := e.svc.Destination(context.Background(), d.ID)
				return dd.Status.Pending == queued
			})
			time.Sleep(20 * time.Millisecond)
			clk.Advance(10 * time.Second)
		}
		if n := len(pd.Events()); n != 0 {
			t.Fatalf("%d events accepted while PagerDuty answered 503", n)
		}
		pd.Clear()
		// The clock moves on until the outbox is empty (PagerDuty's events
		// may count a resend, so their number does not say all went).
		waitFor(t, "an empty outbox", func() bool {
			clk.Advance(5 * time.Second)
			time.Sleep(5 * time.Millisecond)
			dd, _ := e.svc.Destination(context.Background(), d.ID)
			return dd.Status.Pending == 0
		})
		if n := len(pd.Events()); n < queued {
			t.Errorf("%d events accepted; want all %d", n, queued)
		}
		if r := pd.Rejected(); len(r) != 0 {
			t.Errorf("PagerDuty refused events: %+v", r)
		}
		alerts := pd.Alerts()
		if len(alerts) != 20 {
			t.Errorf("%d alerts; want 20 (one per new finding)", len(alerts))
		}
		// At least once: a send whose job lost its lease on the moving
		// clock may be resent; PagerDuty folds it into the same alert.
		resolved := 0
		triggered := map[string]bool{}
		for _, ev := range pd.Events() {
			if ev.EventAction == "resolve" && !triggered[ev.DedupKey] {
				t.Errorf("alert %s resolved before it was triggered", ev.DedupKey)
			}
			triggered[ev.DedupKey] = triggered[ev.DedupKey] || ev.EventAction == "trigger"
		}
		for k, a := range alerts {
			if a.Status == "resolved" {
				resolved++
			}
			if a.Triggers < 1 {
				t.Errorf("alert %s never triggered", k)
			}
		}
		if resolved != len(fixed) {
			t.Errorf("%d alerts resolved; want %d", resolved, len(fixed))
		}
	})
}
