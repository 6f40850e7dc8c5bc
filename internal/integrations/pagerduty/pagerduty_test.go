package pagerduty

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/desttest"
	"github.com/riskmap/riskmap/internal/integrations/fakes"
)

func newDest(t *testing.T, f *fakes.PagerDuty) dest.Destination {
	t.Helper()
	d, err := Kind().New(dest.Config{Secrets: map[string]string{"routing_key": f.RoutingKey()},
		Settings: map[string]string{"events_url": f.EnqueueURL()}, HTTP: f.Client(), ConsoleURL: "https://console.example"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func send(t *testing.T, d dest.Destination, f *fakes.PagerDuty, msgs ...dest.Message) {
	t.Helper()
	if err := d.Send(context.Background(), msgs); err != nil {
		t.Fatalf("Send: %v (rejected %v)", err, f.Rejected())
	}
}

func TestTriggerRetryResolve(t *testing.T) {
	f := fakes.NewPagerDuty(t)
	d := newDest(t, f)
	m := fakes.FindingMessage()
	send(t, d, f, m)
	send(t, d, f, m) // a retry after a lost answer
	key := DedupKey(m.Key)
	if diff := cmp.Diff(map[string]fakes.PagerDutyAlert{key: {Status: "triggered", Triggers: 2}}, f.Alerts()); diff != "" {
		t.Errorf("alerts after two triggers (-want +got):\n%s", diff)
	}
	ev := f.Events()[0]
	p := ev.Payload
	if p.Severity != "critical" || p.Source != "node-a.prod" || p.Class != "finding.new" || p.Group != "prod-eu/shop" ||
		p.Component != "xz-utils 5.6.0-0.2" || p.Timestamp != "2026-12-01T09:30:00Z" || p.CustomDetails["kev"] != true {
		t.Errorf("payload %+v", p)
	}
	if len(ev.Links) != 1 || ev.Links[0].Href != m.URL || ev.ClientURL != "https://console.example" {
		t.Errorf("links %+v client_url %q", ev.Links, ev.ClientURL)
	}

	send(t, d, f, fakes.FixedMessage())
	if got := f.Alerts()[key].Status; got != "resolved" {
		t.Errorf("after the fixed message the alert is %s", got)
	}
	if last := f.Events()[2]; last.EventAction != "resolve" || last.DedupKey != key {
		t.Errorf("resolve event %+v", last)
	}
}

func TestDigestAndLongSummary(t *testing.T) {
	f := fakes.NewPagerDuty(t)
	d := newDest(t, f)
	m := fakes.DigestMessage(10000)
	m.Title = strings.Repeat("é", 3000)
	send(t, d, f, m)
	ev := f.Events()[0]
	if n := utf8.RuneCountInString(ev.Payload.Summary); n != maxSummary {
		t.Errorf("summary of %d characters", n)
	}
	if got := ev.Payload.CustomDetails["findings_total"]; got != float64(10000) {
		t.Errorf("findings_total %v", got)
	}
	if top := ev.Payload.CustomDetails["top_findings"].([]any); len(top) != maxDigest {
		t.Errorf("%d top findings", len(top))
	}
}

func TestTestMessageTriggersAndResolves(t *testing.T) {
	f := fakes.NewPagerDuty(t)
	send(t, newDest(t, f), f, fakes.TestMessage(), fakes.ScanFailedMessage())
	evs := f.Events()
	if len(evs) != 3 || evs[0].EventAction != "trigger" || evs[0].Payload.Severity != "info" || evs[1].EventAction != "resolve" {
		t.Fatalf("events %+v", evs)
	}
	if evs[2].Payload.Severity != "error" || evs[2].Payload.CustomDetails["error"] != "pull: 401 Unauthorized" {
		t.Errorf("scan failed event %+v", evs[2].Payload)
	}
}

func TestLongKey(t *testing.T) {
	long := strings.Repeat("k", 300)
	if k := DedupKey(long); len(k) > maxDedupKey || k != DedupKey(long) || k == DedupKey(long+"x") {
		t.Errorf("DedupKey of a long key: %q", k)
	}
	f := fakes.NewPagerDuty(t)
	m := fakes.FindingMessage()
	m.Key = long
	send(t, newDest(t, f), f, m)
}

func TestErrors(t *testing.T) {
	desttest.Failures(t, func(t *testing.T) desttest.Setup {
		f := fakes.NewPagerDuty(t)
		return desttest.Setup{Fake: f.Server, Dest: newDest(t, f), Secrets: []string{f.RoutingKey()}}
	},
		desttest.Case{Name: "success_status_missing", Failure: fakes.Failure{Status: 202, Body: `{"status":"invalid event","message":"no"}`}},
		desttest.Case{Name: "unreadable_answer", Failure: fakes.Failure{Status: 202, Body: `<html>`}, Retryable: true},
	)
}

func TestWrongKeyRefused(t *testing.T) {
	f := fakes.NewPagerDuty(t)
	d, err := New(dest.Config{Secrets: map[string]string{"routing_key": strings.Repeat("0", 32)},
		Settings: map[string]string{"events_url": f.EnqueueURL()}, HTTP: f.Client()})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Send(context.Background(), []dest.Message{fakes.FindingMessage()})
	if r, _ := dest.IsRetryable(err); err == nil || r || !strings.Contains(err.Error(), "Invalid routing key") {
		t.Fatalf("Send = %v, want a permanent invalid routing key", err)
	}
	if strings.Contains(err.Error(), strings.Repeat("0", 32)) {
		t.Errorf("error shows the routing key: %v", err)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct{ key, url, want string }{
		{"", "", "routing_key: required"},
		{"short-secret", "", "routing_key: must be 32 characters"},
		{strings.Repeat("a", 32), "http://events.pagerduty.com/v2/enqueue", "events_url"},
	} {
		desttest.CheckNew(t, Kind(), dest.Config{Secrets: map[string]string{"routing_key": tc.key}, Settings: map[string]string{"events_url": tc.url}}, tc.want)
	}
}

func FuzzParseAnswer(f *testing.F) {
	for _, s := range []string{``, `{"status":"success","message":"Event processed","dedup_key":"k"}`,
		`{"status":"invalid event","message":"Event object is invalid","errors":["x"]}`, `{"status":1}`, `[`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := ParseAnswer(b)
		if err != nil {
			dest.IsRetryable(err)
			_ = err.Error()
		}
	})
}
