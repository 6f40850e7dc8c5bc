package teams

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/desttest"
	"github.com/riskmap/riskmap/internal/integrations/fakes"
)

func newDest(t *testing.T, f *fakes.Teams, settings map[string]string) dest.Destination {
	t.Helper()
	d, err := Kind().New(dest.Config{Name: "sec", Settings: settings, Secrets: map[string]string{"webhook_url": f.WebhookURL()}, HTTP: f.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func sendOne(t *testing.T, f *fakes.Teams, m dest.Message) fakes.TeamsMessage {
	t.Helper()
	if err := newDest(t, f, nil).Send(context.Background(), []dest.Message{m}); err != nil {
		t.Fatalf("Send: %v (rejected %v)", err, f.Rejected())
	}
	msgs := f.Messages()
	if len(msgs) == 0 {
		t.Fatal("nothing accepted")
	}
	return msgs[len(msgs)-1]
}

func TestSendMessages(t *testing.T) {
	tests := []struct {
		name string
		msg  dest.Message
		want []string
	}{
		{"finding", fakes.FindingMessage(), []string{`"style":"attention"`, `"type":"FactSet"`, `"title":"Known exploited"`,
			`"type":"Action.OpenUrl"`, `"version":"1.4"`, "xz-utils 5.6.0-0.2 → 5.6.1+really5.4.5-1"}},
		{"fixed", fakes.FixedMessage(), []string{`"style":"good"`, "Fixed: CVE-2024-3094"}},
		{"test", fakes.TestMessage(), []string{`"style":"accent"`, "Riskmap test message"}},
		{"scan_failed", fakes.ScanFailedMessage(), []string{`"title":"error"`, "pull: 401 Unauthorized"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := fakes.NewTeams(t)
			got := sendOne(t, f, tc.msg)
			if len(got.Cards) != 1 {
				t.Fatalf("%d cards", len(got.Cards))
			}
			for _, w := range tc.want {
				if !strings.Contains(string(got.Raw), w) {
					t.Errorf("message lacks %s:\n%s", w, got.Raw)
				}
			}
		})
	}
}

func TestSendDigest(t *testing.T) {
	for _, n := range []int{5, 10000} {
		f := fakes.NewTeams(t)
		got := sendOne(t, f, fakes.DigestMessage(n))
		if len(got.Raw) > fakes.TeamsMaxMessage {
			t.Errorf("%d findings: %d bytes", n, len(got.Raw))
		}
		listed := strings.Count(string(got.Raw), "[CVE-2026-")
		if n == 5 && listed != 5 {
			t.Errorf("5 findings: listed %d", listed)
		}
		if n == 10000 && (listed == 0 || !strings.Contains(string(got.Raw), "more (2000 critical")) {
			t.Errorf("10000 findings: listed %d, raw %.3000s", listed, got.Raw)
		}
	}
}

func TestSendErrors(t *testing.T) {
	desttest.Failures(t, func(t *testing.T) desttest.Setup {
		f := fakes.NewTeams(t)
		return desttest.Setup{Fake: f.Server, Dest: newDest(t, f, nil), Secrets: []string{"sig=", "/workflows/"}}
	})
}

func TestWrongSignatureIsPermanent(t *testing.T) {
	f := fakes.NewTeams(t)
	d, err := New(dest.Config{Secrets: map[string]string{"webhook_url": f.WebhookURL() + "x"}, HTTP: f.Client()})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Send(context.Background(), []dest.Message{fakes.TestMessage()})
	var de *dest.Error
	if !errors.As(err, &de) || de.Retryable || de.Status != 401 {
		t.Fatalf("Send = %v, want a permanent 401", err)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct{ url, top, want string }{
		{"", "", "webhook_url: required"},
		{"http://x.example/workflows/1?sig=s3cr3t", "", "webhook_url: must be https"},
		{"https://x.example/workflows/1?sig=s3cr3t", "99", "top_findings"},
	} {
		desttest.CheckNew(t, Kind(), dest.Config{Secrets: map[string]string{"webhook_url": tc.url}, Settings: map[string]string{"top_findings": tc.top}}, tc.want, "s3cr3t")
	}
}
