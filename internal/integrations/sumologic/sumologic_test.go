package sumologic

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/fakes"
)

func newDest(t *testing.T, f *fakes.SumoLogic, settings map[string]string) dest.Destination {
	t.Helper()
	d, err := Kind().New(dest.Config{Settings: settings, Secrets: map[string]string{"url": f.SourceURL()}, HTTP: f.Client(), ConsoleURL: "https://console.example"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSend(t *testing.T) {
	f := fakes.NewSumoLogic(t)
	d := newDest(t, f, map[string]string{"category": "prod/security"})
	msgs := []dest.Message{fakes.FindingMessage(), fakes.FixedMessage(), fakes.TestMessage(), fakes.ScanFailedMessage()}
	if err := d.Send(context.Background(), msgs); err != nil {
		t.Fatalf("Send: %v (rejected %v)", err, f.Rejected())
	}
	lines := f.Lines()
	if len(lines) != 4 || f.Requests() != 1 {
		t.Fatalf("%d lines in %d requests", len(lines), f.Requests())
	}
	if l := lines[0]; l.Category != "prod/security" || l.Name != "riskmap" || l.Host != "console.example" {
		t.Errorf("metadata %+v", l)
	}
	if !strings.HasPrefix(string(lines[0].Line), `{"timestamp":"2026-12-01T09:30:00.000Z"`) {
		t.Errorf("line does not start with its timestamp: %s", lines[0].Line)
	}
	var l Line
	if err := json.Unmarshal(lines[1].Line, &l); err != nil || !l.Resolve || l.Finding == nil {
		t.Errorf("fixed line %+v %v", l, err)
	}
}

func TestSendDigest(t *testing.T) {
	f := fakes.NewSumoLogic(t)
	if err := newDest(t, f, nil).Send(context.Background(), []dest.Message{fakes.DigestMessage(10000)}); err != nil {
		t.Fatalf("Send: %v (rejected %v)", err, f.Rejected())
	}
	if n := len(f.Lines()); n != 10000 || f.Requests() < 2 {
		t.Errorf("%d lines in %d requests", n, f.Requests())
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name       string
		failure    fakes.Failure
		retryable  bool
		retryAfter time.Duration
	}{
		{"down", fakes.Failure{Down: true}, true, 0},
		{"throttled", fakes.Failure{Status: 429, RetryAfter: "60"}, true, time.Minute},
		{"timeout", fakes.Failure{Status: 408}, true, 0},
		{"unavailable", fakes.Failure{Status: 503}, true, 0},
		{"bad_token", fakes.Failure{Status: 401}, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := fakes.NewSumoLogic(t)
			f.Fail(tc.failure)
			err := newDest(t, f, nil).Send(context.Background(), []dest.Message{fakes.FindingMessage()})
			retry, after := dest.IsRetryable(err)
			if err == nil || retry != tc.retryable || after != tc.retryAfter {
				t.Fatalf("Send = %v; retryable %v after %v, want %v after %v", err, retry, after, tc.retryable, tc.retryAfter)
			}
			if strings.Contains(err.Error(), "/receiver/") {
				t.Errorf("error shows the source URL: %v", err)
			}
		})
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		url      string
		settings map[string]string
		want     string
	}{
		{"", nil, "url: required"},
		{"http://collectors.sumologic.com/receiver/v1/http/SECRET", nil, "url: must be https"},
		{"https://collectors.sumologic.com/receiver/v1/http/SECRET", map[string]string{"category": "a\nb"}, "category: must be one line"},
	} {
		_, err := New(dest.Config{Settings: tc.settings, Secrets: map[string]string{"url": tc.url}})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("New(%q) = %v, want %q without the secret", tc.url, err, tc.want)
		}
	}
}
