package integrations_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/integrations"
	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/webhook"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/topology"
)

var allEvents = []string{dest.EventFindingNew, dest.EventKEVReachable, dest.EventFindingFixed, dest.EventScanFailed, dest.EventSensorOffline, dest.EventNodeExposed}

func addEstate(e *env) {
	e.nodes.add(topology.NodeContext{ID: "host-web", Kind: "host", Label: "web-1", Host: "web-1", Cluster: "prod", Internet: true})
	e.nodes.add(topology.NodeContext{ID: "host-db", Kind: "host", Label: "db-1", Host: "db-1", Cluster: "prod"})
	e.nodes.add(topology.NodeContext{ID: topology.HostNodeID("s9"), Kind: "host", Label: "batch-1", Host: "batch-1", Cluster: "staging"})
	e.nodes.add(topology.NodeContext{ID: "ctr-app", Kind: "container", Label: "app", Host: "web-1", Cluster: "prod", Namespace: "shop",
		Image: "ghcr.io/acme/app:1", Internet: true})
}

// TestRoutesEventsInOrder publishes every kind of event a rule can ask
// for and checks what arrives, in order, with the rule's filter applied:
// a KEV finding on a node the internet reaches is announced as such,
// findings below the rule's severity are left out, a cancelled scan is
// not a failure.
func TestRoutesEventsInOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		r := newReceiver(t)
		e := newEnv(t, newClock(), envOpts{url: url, roots: r.pool()})
		addEstate(e)
		d, _ := e.webhookDest(r, "soc", nil, integrations.RuleInput{Events: allEvents, Filter: integrations.Filter{MinSeverity: "high"}})
		e.publish(
			newFindings("host-web", finding("CVE-2026-0001", "critical", 95, true), finding("CVE-2026-0002", "low", 10, false), finding("CVE-2026-0003", "high", 70, false)),
			findings.FindingsFixed{ScanID: "scan-2", Target: findings.Target{NodeID: "host-web"}, Findings: []findings.FindingRef{finding("CVE-2026-0003", "high", 70, false)}},
			scans.ScanFailed{ScanID: "scan-3", Status: scans.StatusError, Message: "sensor lost the image", Target: findings.Target{NodeID: "host-db", Kind: "host"}},
			scans.ScanFailed{ScanID: "scan-4", Status: scans.StatusCancelled, Target: findings.Target{NodeID: "host-db", Kind: "host"}},
			topology.SensorOffline{SensorID: "s9", Hostname: "batch-1", LastReport: "2026-12-01T08:50:00Z"},
			topology.NodesExposed{Nodes: []topology.ExposedNode{{ID: "host-web", Kind: "host", Label: "web-1", Process: "nginx", Reason: "listens on a public address"}}},
		)
		waitFor(t, "six messages", func() bool { return r.count() >= 6 })
		got := r.messages()
		want := []string{
			"finding.kev_reachable finding/host-web/CVE-2026-0001/openssl@3.0.2",
			"finding.new finding/host-web/CVE-2026-0003/openssl@3.0.2",
			"finding.fixed finding/host-web/CVE-2026-0003/openssl@3.0.2",
			"scan.failed scan/scan-3",
			"sensor.offline sensor/s9",
			"node.exposed exposed/host-web",
		}
		if d := cmp.Diff(want, keys(got)); d != "" {
			t.Fatalf("messages (-want +got):\n%s", d)
		}
		kev := got[0]
		if !strings.Contains(kev.Title, "reachable from the internet") || kev.Node == nil || kev.Node.Name != "web-1" || !kev.Node.Internet ||
			kev.Findings[0].Node.Cluster != "prod" || kev.URL != "https://console.test/vulnerabilities?nodeId=host-web" || kev.Severity != "critical" {
			t.Errorf("KEV message: %+v", kev)
		}
		if !got[2].Resolve || got[1].Resolve {
			t.Errorf("resolve flags: new %v, fixed %v", got[1].Resolve, got[2].Resolve)
		}
		if got[4].Node == nil || got[4].Node.Cluster != "staging" || !strings.Contains(got[4].Title, "batch-1") {
			t.Errorf("sensor offline: %+v", got[4])
		}
		waitFor(t, "the history", func() bool { return delivered(history(t, e, d.ID)) == 6 })
		dd, err := e.svc.Destination(context.Background(), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if dd.Status.Pending != 0 || dd.Status.Failures != 0 || dd.Status.LastSuccessAt == nil {
			t.Errorf("status after delivery: %+v", dd.Status)
		}
		// Delivered again by the bus (as after a crash before it stored
		// its position): nothing is queued twice.
		if err := e.svc.Route(context.Background(), []events.Event{{Seq: 1, Type: findings.EventNew,
			Payload: []byte(`{"scanId":"x","target":{"nodeId":"host-web"},"findings":[{"vulnId":"CVE-2026-0001","severity":"critical","kev":true}]}`)}}); err != nil {
			t.Fatal(err)
		}
		if dd, _ := e.svc.Destination(context.Background(), d.ID); dd.Status.Pending != 0 {
			t.Errorf("an event routed twice: %d pending", dd.Status.Pending)
		}
	})
}

// TestOutageLosesNothing takes the destination down for five minutes of
// the test's clock while findings keep coming (one event a simulated 10
// s); the flush job backs off (few requests, none before its time); when
// the destination is back, every message arrives, in the order queued,
// each once, and the history shows the failures and the deliveries.
func TestOutageLosesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		r := newReceiver(t)
		clk := newClock()
		e := newEnv(t, clk, envOpts{url: url, roots: r.pool()})
		addEstate(e)
		d, _ := e.webhookDest(r, "outage", map[string]string{"batch": "5"}, integrations.RuleInput{Events: []string{dest.EventFindingNew, dest.EventFindingFixed}})
		r.set(func(r *receiver) { r.down = true })
		var want []string
		n := 0
		for step := 0; step < 30; step++ { // 30 × 10 s = 5 minutes
			n++
			v := fmt.Sprintf("CVE-2026-%04d", n)
			ev := events.Typed(newFindings("host-db", finding(v, "high", 50, false)))
			want = append(want, "finding.new finding/host-db/"+v+"/openssl@3.0.2")
			if step%7 == 6 { // now and then the previous one is fixed: same key, after it
				ev = findings.FindingsFixed{ScanID: "s", Target: findings.Target{NodeID: "host-db"}, Findings: []findings.FindingRef{finding(fmt.Sprintf("CVE-2026-%04d", n-1), "high", 50, false)}}
				want[len(want)-1] = fmt.Sprintf("finding.fixed finding/host-db/CVE-2026-%04d/openssl@3.0.2", n-1)
			}
			e.publish(ev)
			waitFor(t, "the event queued", func() bool {
				dd, _ := e.svc.Destination(context.Background(), d.ID)
				return dd.Status.Pending == len(want)
			})
			time.Sleep(20 * time.Millisecond) // a due attempt gets its chance
			clk.Advance(10 * time.Second)
		}
		during := r.requestCount()
		// Backoff from 2 s doubling to 5 minutes: about 8 attempts in 5
		// minutes, never one per event (30).
		if during < 3 || during > 12 {
			t.Errorf("%d requests during the outage; want a handful (backoff)", during)
		}
		dd, _ := e.svc.Destination(context.Background(), d.ID)
		if dd.Status.Failures == 0 || dd.Status.NextAttemptAt == nil || dd.Status.LastError == "" || dd.Status.Pending != len(want) {
			t.Errorf("status during the outage: %+v", dd.Status)
		}
		// Back up. The next attempt comes at its time (the clock moves on).
		r.set(func(r *receiver) { r.down = false })
		waitFor(t, "every message", func() bool {
			clk.Advance(5 * time.Second)
			time.Sleep(5 * time.Millisecond)
			return r.count() >= len(want)
		})
		// The clock keeps moving: a batch the receiver took but whose answer
		// the deliverer missed (a loaded machine's client timeout) is sent
		// again at its next attempt, and the receiver keeps it once.
		waitFor(t, "an empty outbox", func() bool {
			dd, _ := e.svc.Destination(context.Background(), d.ID)
			if dd.Status.Pending == 0 {
				return true
			}
			clk.Advance(5 * time.Second)
			time.Sleep(5 * time.Millisecond)
			return false
		})
		if d := cmp.Diff(want, keys(r.messages())); d != "" {
			t.Errorf("after the outage (-want +got):\n%s", d)
		}
		h := outcomes(history(t, e, d.ID))
		if h[integrations.OutcomeFailed] < 3 || delivered(history(t, e, d.ID)) != len(want) || h[integrations.OutcomeDead] != 0 {
			t.Errorf("history outcomes %v", h)
		}
		dd, _ = e.svc.Destination(context.Background(), d.ID)
		if dd.Status.Failures != 0 || dd.Status.LastError != "" || dd.Status.NextAttemptAt != nil {
			t.Errorf("status after recovery: %+v", dd.Status)
		}
	})
}

// TestRetryAfterHonoured: a 429 with Retry-After: 120 holds the next
// attempt back until 120 s of the clock have passed, then it goes.
func TestRetryAfterHonoured(t *testing.T) {
	r := newReceiver(t)
	clk := newClock()
	e := newEnv(t, clk, envOpts{url: sqliteURL(t), roots: r.pool()})
	addEstate(e)
	e.webhookDest(r, "limited", nil, integrations.RuleInput{Events: []string{dest.EventFindingNew}})
	r.set(func(r *receiver) {
		r.next = append(r.next, func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusTooManyRequests)
		})
	})
	e.publish(newFindings("host-db", finding("CVE-2026-0001", "high", 50, false)))
	waitFor(t, "the first attempt", func() bool { return r.requestCount() == 1 })
	e.idle(t)
	for i := 0; i < 11; i++ { // 110 s: still before Retry-After
		clk.Advance(10 * time.Second)
		time.Sleep(30 * time.Millisecond)
	}
	if n := r.requestCount(); n != 1 {
		t.Fatalf("%d requests within Retry-After: 120", n)
	}
	clk.Advance(15 * time.Second)
	waitFor(t, "the retry", func() bool { return r.count() == 1 })
}

// TestPermanentFailureDeadLetteredAndRetried: a message the target
// refuses (400) goes to the dead letters and the messages after it go on
// (the batch it was in is split to find it); once the target accepts it,
// a retry from the list delivers it.
func TestPermanentFailureDeadLetteredAndRetried(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		r := newReceiver(t)
		e := newEnv(t, newClock(), envOpts{url: url, roots: r.pool()})
		addEstate(e)
		d, _ := e.webhookDest(r, "strict", map[string]string{"batch": "10"}, integrations.RuleInput{Events: []string{dest.EventFindingNew}})
		r.set(func(r *receiver) {
			r.refuse = func(m webhook.Message) bool { return strings.Contains(m.Key, "CVE-2026-0003") }
		})
		var fs []findings.FindingRef
		for i := 1; i <= 6; i++ {
			fs = append(fs, finding(fmt.Sprintf("CVE-2026-%04d", i), "high", float64(90-i), false))
		}
		e.publish(newFindings("host-db", fs...))
		waitFor(t, "five of six", func() bool { return r.count() == 5 })
		if got, want := vulns(r.messages()), []string{"CVE-2026-0001", "CVE-2026-0002", "CVE-2026-0004", "CVE-2026-0005", "CVE-2026-0006"}; !slices.Equal(got, want) {
			t.Errorf("delivered %v, want %v", got, want)
		}
		ctx := context.Background()
		var dead []integrations.DeadLetter
		waitFor(t, "the dead letter", func() bool {
			dead, _, _ = e.svc.DeadLetters(ctx, d.ID, integrations.Page{})
			return len(dead) == 1
		})
		if !strings.Contains(dead[0].Key, "CVE-2026-0003") || dead[0].Status != 400 || !strings.Contains(dead[0].Error, "refused") || dead[0].Title == "" {
			t.Errorf("dead letter %+v", dead[0])
		}
		if h := outcomes(history(t, e, d.ID)); h[integrations.OutcomeDead] != 1 {
			t.Errorf("history %v", h)
		}
		r.set(func(r *receiver) { r.refuse = nil })
		n, err := e.svc.RetryDead(ctx, d.ID, []string{dead[0].ID})
		if err != nil || n != 1 {
			t.Fatalf("retry: %d, %v", n, err)
		}
		waitFor(t, "the retried message", func() bool { return r.count() == 6 })
		if dead, _, _ := e.svc.DeadLetters(ctx, d.ID, integrations.Page{}); len(dead) != 0 {
			t.Errorf("dead letters after the retry: %+v", dead)
		}
		if _, err := e.svc.RetryDead(ctx, d.ID, []string{"no-such-id"}); err == nil {
			t.Error("retrying an unknown dead letter succeeded")
		}
	})
}

// TestOldMessagesExpire: a message that waited longer than MaxAge (the
// destination down all along) is set aside as expired, not sent late.
func TestOldMessagesExpire(t *testing.T) {
	r := newReceiver(t)
	clk := newClock()
	e := newEnv(t, clk, envOpts{url: sqliteURL(t), roots: r.pool(),
		delivery: integrations.DeliveryConfig{BackoffBase: time.Second, BackoffMax: time.Minute, MaxAge: 10 * time.Minute, Lease: 2 * time.Second}})
	addEstate(e)
	d, _ := e.webhookDest(r, "gone", nil, integrations.RuleInput{Events: []string{dest.EventFindingNew}})
	r.set(func(r *receiver) { r.down = true })
	e.publish(newFindings("host-db", finding("CVE-2026-0001", "high", 50, false)))
	waitFor(t, "a first attempt", func() bool { return r.requestCount() >= 1 })
	for i := 0; i < 11; i++ {
		clk.Advance(time.Minute)
		time.Sleep(30 * time.Millisecond)
	}
	var dead []integrations.DeadLetter
	waitFor(t, "the expired message", func() bool {
		clk.Advance(10 * time.Second) // the next attempt comes at its time
		time.Sleep(10 * time.Millisecond)
		dead, _, _ = e.svc.DeadLetters(context.Background(), d.ID, integrations.Page{})
		return len(dead) == 1
	})
	if !strings.Contains(dead[0].Error, "not delivered within") {
		t.Errorf("expired dead letter: %+v", dead[0])
	}
	if h := outcomes(history(t, e, d.ID)); h[integrations.OutcomeExpired] != 1 {
		t.Errorf("history %v", h)
	}
}

// TestRateLimit: at 60 messages a minute (bursts of 10), the eleventh
// waits for the clock.
func TestRateLimit(t *testing.T) {
	r := newReceiver(t)
	clk := newClock()
	e := newEnv(t, clk, envOpts{url: sqliteURL(t), roots: r.pool()})
	addEstate(e)
	d, _ := e.webhookDest(r, "slow", nil, integrations.RuleInput{Events: []string{dest.EventFindingNew}})
	if _, err := e.svc.UpdateDestination(context.Background(), d.ID, integrations.DestinationInput{RatePerMinute: 60}); err != nil {
		t.Fatal(err)
	}
	var fs []findings.FindingRef
	for i := 1; i <= 15; i++ {
		fs = append(fs, finding(fmt.Sprintf("CVE-2026-%04d", i), "high", 50, false))
	}
	e.publish(newFindings("host-db", fs...))
	waitFor(t, "the burst", func() bool { return r.count() == 10 })
	time.Sleep(100 * time.Millisecond)
	if n := r.count(); n != 10 {
		t.Fatalf("%d requests without the clock moving; the burst is 10", n)
	}
	clk.Advance(5 * time.Second)
	waitFor(t, "the rest", func() bool { return r.count() == 15 })
}

func sqliteURL(t *testing.T) string { return t.TempDir() + "/riskmap.db" }

// TestStreamSentByOneJob: while its outbox keeps getting messages, a
// destination's flush job lingers and is woken by the router: one job
// sends the stream (no claim and completion per event).
func TestStreamSentByOneJob(t *testing.T) {
	r := newReceiver(t)
	e := newEnv(t, newClock(), envOpts{url: sqliteURL(t), roots: r.pool(),
		delivery: integrations.DeliveryConfig{BackoffBase: time.Second, BackoffMax: time.Minute, Lease: 2 * time.Second, Linger: time.Minute}})
	addEstate(e)
	e.webhookDest(r, "stream", nil, integrations.RuleInput{Events: []string{dest.EventFindingNew}})
	for i := 1; i <= 5; i++ {
		e.publish(newFindings("host-db", finding(fmt.Sprintf("CVE-2026-%04d", i), "high", 50, false)))
		waitFor(t, "the message", func() bool { return r.count() == i })
	}
	js, err := e.q.List(context.Background(), jobs.Filter{Kind: integrations.KindDeliver})
	if err != nil || len(js) != 1 || js[0].State != jobs.Running {
		t.Errorf("flush jobs: %d (%v); want one, still running", len(js), err)
	}
}

// TestChangeRetriesAtOnce: a destination waiting after a failure is tried
// again as soon as an admin changes it (the change may be the fix), not
// at the end of its backoff.
func TestChangeRetriesAtOnce(t *testing.T) {
	r := newReceiver(t)
	clk := newClock()
	e := newEnv(t, clk, envOpts{url: sqliteURL(t), roots: r.pool(),
		delivery: integrations.DeliveryConfig{BackoffBase: time.Hour, BackoffMax: time.Hour, Lease: 2 * time.Second}})
	addEstate(e)
	d, _ := e.webhookDest(r, "fixed", nil, integrations.RuleInput{Events: []string{dest.EventFindingNew}})
	r.set(func(r *receiver) { r.down = true })
	e.publish(newFindings("host-db", finding("CVE-2026-0001", "high", 50, false)))
	waitFor(t, "the failed attempt", func() bool { return r.requestCount() == 1 })
	e.idle(t)
	r.set(func(r *receiver) { r.down = false })
	if _, err := e.svc.UpdateDestination(context.Background(), d.ID, integrations.DestinationInput{Name: "fixed now"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the message, with the clock still", func() bool { return r.count() == 1 })
}

// TestNoOutboxStranded races queueing with flush jobs ending: events come
// one by one while jobs (which do not linger here) keep finishing with an
// empty outbox. Whichever commits first, a queued message always has a
// job: every message arrives.
func TestNoOutboxStranded(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		r := newReceiver(t)
		e := newEnv(t, newClock(), envOpts{url: url, roots: r.pool()})
		addEstate(e)
		e.webhookDest(r, "race", nil, integrations.RuleInput{Events: []string{dest.EventFindingNew}})
		const n = 150
		for i := 1; i <= n; i++ {
			e.publish(newFindings("host-db", finding(fmt.Sprintf("CVE-2026-%04d", i), "high", 50, false)))
			if i%10 == 0 {
				time.Sleep(time.Duration(i%7) * time.Millisecond)
			}
		}
		waitFor(t, "every message", func() bool { return r.count() == n })
	})
}

// TestTypedFindingMessages: findings of a secret scan reach a webhook as
// messages of their type: the type and subject in the finding, a title
// naming the rule and the place, one message per place (two matches of a
// rule in one file are two messages), and their fix resolves each.
func TestTypedFindingMessages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		r := newReceiver(t)
		e := newEnv(t, newClock(), envOpts{url: url, roots: r.pool()})
		addEstate(e)
		e.webhookDest(r, "soc", nil, integrations.RuleInput{Events: allEvents})
		secret := func(line int) findings.FindingRef {
			return findings.FindingRef{ID: fmt.Sprintf("f-%d", line), Type: "secret", VulnID: "aws-access-token", Package: "/app/.env",
				Subject: fmt.Sprintf("/app/.env:%d", line), Severity: "critical", RiskScore: 76}
		}
		nf := newFindings("host-web", secret(3), secret(9))
		nf.Type = "secret"
		e.publish(nf, findings.FindingsFixed{ScanID: "scan-2", Type: "secret", Target: findings.Target{NodeID: "host-web"},
			Findings: []findings.FindingRef{secret(9)}})
		waitFor(t, "three messages", func() bool { return r.count() >= 3 })
		got := r.messages()
		want := []string{
			"finding.new finding/host-web/secret/aws-access-token//app/.env:3",
			"finding.new finding/host-web/secret/aws-access-token//app/.env:9",
			"finding.fixed finding/host-web/secret/aws-access-token//app/.env:9",
		}
		if d := cmp.Diff(want, keys(got)); d != "" {
			t.Fatalf("messages (-want +got):\n%s", d)
		}
		m := got[0]
		if f := m.Findings[0]; f.Type != "secret" || f.Subject != "/app/.env:3" || f.VulnID != "aws-access-token" ||
			f.URL != "https://console.test/vulnerabilities?nodeId=host-web&type=secret" {
			t.Errorf("finding %+v", f)
		}
		if m.Title != "Secret aws-access-token (critical) in /app/.env:3 on host web-1" || !strings.Contains(m.Text, "reachable from the internet") {
			t.Errorf("title %q, text %q", m.Title, m.Text)
		}
		if !got[2].Resolve || got[2].Title != "Fixed: secret aws-access-token in /app/.env:9 on host web-1" {
			t.Errorf("fixed message %+v", got[2])
		}
	})
}
