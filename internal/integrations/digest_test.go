package integrations_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/integrations"
	"github.com/riskmap/riskmap/internal/integrations/dest"
)

// TestDigest: a digest rule holds what matches until its interval has
// passed, then sends one digest per kind of event (findings ranked by
// risk, each with its node), and holds nothing more; a digest too big
// for one message goes in parts.
func TestDigest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		r := newReceiver(t)
		clk := newClock()
		e := newEnv(t, clk, envOpts{url: url, roots: r.pool(), delivery: integrations.DeliveryConfig{BackoffBase: time.Second, BackoffMax: time.Minute,
			MaxDigestFindings: 4, Lease: 2 * time.Second}})
		addEstate(e)
		_, rule := e.webhookDest(r, "daily", nil, integrations.RuleInput{Events: []string{dest.EventFindingNew, dest.EventFindingFixed},
			Mode: integrations.ModeDigest, DigestMinutes: 60, Filter: integrations.Filter{MinSeverity: "medium"}})
		ctx := context.Background()
		e.publish(
			newFindings("host-web", finding("CVE-2026-0001", "medium", 40, false), finding("CVE-2026-0002", "low", 5, false), finding("CVE-2026-0003", "critical", 97, true)),
			newFindings("host-db", finding("CVE-2026-0004", "high", 60, false), finding("CVE-2026-0005", "high", 61, false), finding("CVE-2026-0006", "medium", 30, false)),
			findings.FindingsFixed{ScanID: "s", Target: findings.Target{NodeID: "host-db"}, Findings: []findings.FindingRef{finding("CVE-2026-0009", "high", 55, false)}},
		)
		pending := func() int {
			rs, err := e.svc.Rules(ctx, "")
			if err != nil || len(rs) != 1 {
				t.Fatalf("rules %v, %v", rs, err)
			}
			return rs[0].PendingDigest
		}
		waitFor(t, "the held messages", func() bool { return pending() == 6 })
		clk.Advance(30 * time.Minute)
		if n, err := e.svc.Digests(ctx); err != nil || n != 0 {
			t.Fatalf("a digest before its time: %d, %v", n, err)
		}
		clk.Advance(30 * time.Minute)
		n, err := e.svc.Digests(ctx)
		if err != nil || n != 3 {
			t.Fatalf("digests: %d messages, %v; want 2 parts of new findings and 1 of fixed", n, err)
		}
		waitFor(t, "the digests", func() bool { return r.count() == 3 })
		got := r.messages()
		var titles, order []string
		for _, m := range got {
			titles = append(titles, m.Title)
			if m.Event != dest.EventDigest || m.Fields["ruleId"] != rule.ID {
				t.Errorf("digest message %+v", m.Message)
			}
			for _, f := range m.Findings {
				order = append(order, f.VulnID+"@"+f.Node.ID)
			}
		}
		wantTitles := []string{
			"Riskmap digest: 5 new findings (1 critical, 2 high, 2 medium), part 1 of 2",
			"Riskmap digest: 5 new findings (1 critical, 2 high, 2 medium), part 2 of 2",
			"Riskmap digest: 1 fixed finding (1 high)",
		}
		if d := cmp.Diff(wantTitles, titles); d != "" {
			t.Errorf("titles (-want +got):\n%s", d)
		}
		wantOrder := []string{"CVE-2026-0003@host-web", "CVE-2026-0005@host-db", "CVE-2026-0004@host-db", "CVE-2026-0001@host-web", "CVE-2026-0006@host-db", "CVE-2026-0009@host-db"}
		if d := cmp.Diff(wantOrder, order); d != "" {
			t.Errorf("findings by risk (-want +got):\n%s", d)
		}
		if !strings.Contains(got[0].Text, "CVE-2026-0003 (critical, risk 97) in openssl 3.0.2 on web-1") {
			t.Errorf("digest text: %s", got[0].Text)
		}
		if pending() != 0 {
			t.Error("items held after the digest")
		}
		rs, _ := e.svc.Rules(ctx, "")
		if next := rs[0].NextDigestAt; next == nil || !next.Equal(clk.Now().Add(time.Hour)) {
			t.Errorf("next digest at %v; want an hour from now", next)
		}
		// Nothing held: no empty digest.
		clk.Advance(time.Hour)
		if n, err := e.svc.Digests(ctx); err != nil || n != 0 {
			t.Errorf("an empty digest: %d, %v", n, err)
		}
	})
}

// BenchmarkDigest10000 is the time to build and send a digest of 10,000
// findings (goal: under 5 s): from the digest job's pass over 10,000 held
// messages to the receiver's acknowledgement of the digest (the webhook,
// on loopback HTTPS). It reports s/digest and the digest's size.
func BenchmarkDigest10000(b *testing.B) {
	r := newReceiver(b)
	clk := newClock()
	e := newEnv(b, clk, envOpts{url: b.TempDir() + "/riskmap.db", roots: r.pool()})
	addEstate(e)
	e.webhookDest(r, "digest", nil, integrations.RuleInput{Events: []string{dest.EventFindingNew}, Mode: integrations.ModeDigest, DigestMinutes: 5})
	ctx := context.Background()
	var total time.Duration
	var size int
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		before := r.count()
		for batch := 0; batch < 100; batch++ {
			var fs []findings.FindingRef
			for j := 0; j < 100; j++ {
				n := batch*100 + j
				fs = append(fs, finding(fmt.Sprintf("CVE-%d-%05d", 2026+i, n), []string{"critical", "high", "medium", "low"}[n%4], float64(n%100), n%17 == 0))
			}
			node := []string{"host-web", "host-db", "ctr-app"}[batch%3]
			e.publish(newFindings(node, fs...))
		}
		waitFor(b, "10,000 held messages", func() bool {
			rs, _ := e.svc.Rules(ctx, "")
			return len(rs) == 1 && rs[0].PendingDigest == 10000
		})
		clk.Advance(5 * time.Minute)
		b.StartTimer()
		start := time.Now()
		if n, err := e.svc.Digests(ctx); err != nil || n != 1 {
			b.Fatalf("digest: %d, %v", n, err)
		}
		waitFor(b, "the digest", func() bool { return r.count() == before+1 })
		total += time.Since(start)
		b.StopTimer()
		m := r.messages()[before]
		if len(m.Findings) != 10000 || !slices.IsSortedFunc(m.Findings, func(a, b dest.Finding) int { return int(b.RiskScore - a.RiskScore) }) {
			b.Fatalf("digest of %d findings, sorted %v", len(m.Findings), false)
		}
		size = r.lastSize()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/digest")
	b.ReportMetric(float64(size)/(1<<20), "MiB/digest")
}
