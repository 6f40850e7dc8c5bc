package splunk

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/desttest"
	"github.com/riskmap/riskmap/internal/integrations/fakes"
)

func newDest(t *testing.T, f *fakes.Splunk, settings map[string]string) dest.Destination {
	t.Helper()
	s := map[string]string{"url": f.URL(), "index": "riskmap"}
	for k, v := range settings {
		s[k] = v
	}
	d, err := Kind().New(dest.Config{Settings: s, Secrets: map[string]string{"token": f.Token()}, HTTP: f.Client(), ConsoleURL: "https://console.example:8443"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func decode(t *testing.T, e fakes.HECEvent) Event {
	t.Helper()
	var ev Event
	if err := json.Unmarshal(e.Event, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestSendBatch(t *testing.T) {
	f := fakes.NewSplunk(t)
	d := newDest(t, f, map[string]string{"url": f.URL() + "/services/collector/event"})
	msgs := []dest.Message{fakes.FindingMessage(), fakes.FixedMessage(), fakes.TestMessage(), fakes.ScanFailedMessage()}
	if err := d.Send(context.Background(), msgs); err != nil {
		t.Fatalf("Send: %v (rejected %v)", err, f.Rejected())
	}
	evs := f.Events()
	if len(evs) != 4 || f.Requests() != 1 {
		t.Fatalf("%d events in %d requests", len(evs), f.Requests())
	}
	first := evs[0]
	if first.Time != float64(fakes.SampleTime.Unix()) || first.Host != "node-a.prod" || first.Index != "riskmap" ||
		first.Sourcetype != "riskmap:event" || first.Source != "riskmap" {
		t.Errorf("metadata %+v", first)
	}
	if ev := decode(t, first); ev.Finding == nil || ev.Finding.VulnID != "CVE-2024-3094" || ev.Key != msgs[0].Key {
		t.Errorf("event %+v", ev)
	}
	if ev := decode(t, evs[1]); !ev.Resolve || ev.Event != dest.EventFindingFixed {
		t.Errorf("fixed event %+v", ev)
	}
	if evs[2].Host != "console.example" {
		t.Errorf("test message host %q, want the console's", evs[2].Host)
	}
}

func TestSendDigestSplitsRequests(t *testing.T) {
	f := fakes.NewSplunk(t)
	if err := newDest(t, f, nil).Send(context.Background(), []dest.Message{fakes.DigestMessage(10000)}); err != nil {
		t.Fatalf("Send: %v (rejected %v)", err, f.Rejected())
	}
	evs := f.Events()
	if len(evs) != 10000 {
		t.Fatalf("%d events", len(evs))
	}
	if f.Requests() < 2 {
		t.Errorf("one request for 10,000 events: over %d bytes?", MaxRequest)
	}
	if ev := decode(t, evs[9999]); ev.DigestItem != 10000 || ev.DigestTotal != 10000 || ev.Finding.VulnID != "CVE-2026-09999" {
		t.Errorf("last event %+v", ev)
	}
}

func TestAck(t *testing.T) {
	f := fakes.NewSplunk(t)
	f.EnableAck(2)
	d := newDest(t, f, map[string]string{"use_ack": "true"})
	if err := d.Send(context.Background(), []dest.Message{fakes.FindingMessage()}); err != nil {
		t.Fatalf("Send: %v (rejected %v)", err, f.Rejected())
	}
	if f.AckChecks() != 3 {
		t.Errorf("%d ack queries, want 3", f.AckChecks())
	}
	if evs := f.Events(); len(evs) != 1 || evs[0].Channel == "" {
		t.Errorf("events %+v", evs)
	}

	d.(*destination).ackTimeout = 300 * time.Millisecond
	f.EnableAck(1000)
	err := d.Send(context.Background(), []dest.Message{fakes.FindingMessage()})
	if r, _ := dest.IsRetryable(err); err == nil || !r || !strings.Contains(err.Error(), "not acknowledged") {
		t.Errorf("Send without ack = %v, want retryable", err)
	}
}

func TestAckMismatch(t *testing.T) {
	f := fakes.NewSplunk(t)
	f.EnableAck(0)
	err := newDest(t, f, nil).Send(context.Background(), []dest.Message{fakes.TestMessage()})
	if r, _ := dest.IsRetryable(err); err == nil || r || !strings.Contains(err.Error(), "Data channel is missing") {
		t.Errorf("ack on, use_ack off: %v", err)
	}
	f2 := fakes.NewSplunk(t)
	err = newDest(t, f2, map[string]string{"use_ack": "true"}).Send(context.Background(), []dest.Message{fakes.TestMessage()})
	if r, _ := dest.IsRetryable(err); err == nil || r || !strings.Contains(err.Error(), "no ackId") {
		t.Errorf("ack off, use_ack on: %v", err)
	}
}

func TestErrors(t *testing.T) {
	desttest.Failures(t, func(t *testing.T) desttest.Setup {
		f := fakes.NewSplunk(t)
		return desttest.Setup{Fake: f.Server, Dest: newDest(t, f, nil), Secrets: []string{f.Token()}}
	},
		desttest.Case{Name: "busy", Failure: fakes.Failure{Status: 503, RetryAfter: "5"}, Retryable: true, RetryAfter: 5 * time.Second, Want: "Server is busy"},
		desttest.Case{Name: "busy_in_a_200", Failure: fakes.Failure{Status: 200, Body: `{"text":"Server is busy","code":9}`}, Retryable: true, Want: "code 9"},
		desttest.Case{Name: "invalid_token", Failure: fakes.Failure{Status: 403}, Want: "Invalid token"},
		desttest.Case{Name: "unreadable_answer", Failure: fakes.Failure{Status: 200, Body: "<html>"}, Want: "unreadable", Retryable: true},
	)
}

func TestIncorrectIndex(t *testing.T) {
	f := fakes.NewSplunk(t)
	err := newDest(t, f, map[string]string{"index": "secret-index"}).Send(context.Background(), []dest.Message{fakes.FindingMessage()})
	if r, _ := dest.IsRetryable(err); err == nil || r || !strings.Contains(err.Error(), "Incorrect index") || strings.Contains(err.Error(), f.Token()) {
		t.Fatalf("Send = %v, want a permanent incorrect index", err)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		settings map[string]string
		token    string
		want     string
	}{
		{map[string]string{}, "t", "url: required"},
		{map[string]string{"url": "splunk:8088"}, "t", "url"},
		{map[string]string{"url": "https://splunk:8088"}, "", "token: required"},
		{map[string]string{"url": "https://splunk:8088", "use_ack": "yes"}, "t", "use_ack"},
	} {
		desttest.CheckNew(t, Kind(), dest.Config{Settings: tc.settings, Secrets: map[string]string{"token": tc.token}}, tc.want)
	}
}

func FuzzParseAnswer(f *testing.F) {
	for _, s := range []string{`{"text":"Success","code":0}`, `{"text":"Success","code":0,"ackId":7}`,
		`{"text":"Invalid data format","code":6,"invalid-event-number":3}`, `{"code":"x"}`, ``, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAnswer(b)
		if err == nil && a.Code != 0 {
			t.Errorf("code %d accepted", a.Code)
		}
	})
}

func FuzzParseAckAnswer(f *testing.F) {
	for _, s := range []string{`{"acks":{"0":true,"1":false}}`, `{"acks":{"x":true}}`, `{"acks":[]}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseAckAnswer(b)
	})
}
