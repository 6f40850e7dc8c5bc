package slack

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/desttest"
	"github.com/riskmap/riskmap/internal/integrations/fakes"
)

func newDest(t *testing.T, f *fakes.Slack, settings map[string]string) dest.Destination {
	t.Helper()
	d, err := Kind().New(dest.Config{Name: "team", Settings: settings, Secrets: map[string]string{"webhook_url": f.WebhookURL()},
		HTTP: f.Client(), ConsoleURL: "https://console.example"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func send(t *testing.T, d dest.Destination, m dest.Message) {
	t.Helper()
	if err := d.Send(context.Background(), []dest.Message{m}); err != nil {
		t.Fatalf("Send(%s): %v", m.Event, err)
	}
}

// blockTypes lists a message's block types.
func blockTypes(m fakes.SlackMessage) []string {
	var out []string
	for _, b := range m.Blocks {
		out = append(out, b["type"].(string))
	}
	return out
}

func TestSendFinding(t *testing.T) {
	f := fakes.NewSlack(t)
	send(t, newDest(t, f, nil), fakes.FindingMessage())
	msgs := f.Messages()
	if len(msgs) != 1 {
		t.Fatalf("accepted %d messages, want 1 (rejected: %v)", len(msgs), f.Rejected())
	}
	got := msgs[0]
	if diff := cmp.Diff([]string{"header", "section", "context", "actions"}, blockTypes(got)); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
	raw := string(got.Raw)
	for _, want := range []string{"🔴 CVE-2024-3094 in xz-utils on web-7d9f", "*Known exploited*", "xz-utils 5.6.0-0.2 → 5.6.1+really5.4.5-1",
		"riskmap_open", "https://console.example/findings/CVE-2024-3094?node=container:4f2a9c", "<!date^"} {
		if !strings.Contains(raw, want) {
			t.Errorf("message lacks %q:\n%s", want, raw)
		}
	}
	if got.Text == "" {
		t.Error("no fallback text for notifications")
	}
}

func TestSendFixed(t *testing.T) {
	f := fakes.NewSlack(t)
	send(t, newDest(t, f, nil), fakes.FixedMessage())
	msgs := f.Messages()
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Text, "✅ Fixed:") {
		t.Fatalf("messages %+v, rejected %v", msgs, f.Rejected())
	}
}

func TestSendDigest(t *testing.T) {
	for _, tc := range []struct {
		name     string
		findings int
		top      string
		listed   int
	}{
		{"few", 3, "", 3},
		{"many", 5000, "", DefaultTopFindings},
		{"top_over_block_limit", 5000, "40", 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fakes.NewSlack(t)
			d := newDest(t, f, map[string]string{"top_findings": tc.top})
			m := fakes.DigestMessage(tc.findings)
			m.Text = strings.Repeat("long <text> & more ", 400) // over a section's 3000
			send(t, d, m)
			msgs := f.Messages()
			if len(msgs) != 1 {
				t.Fatalf("accepted %d, rejected %v", len(msgs), f.Rejected())
			}
			blocks := msgs[0].Blocks
			if len(blocks) > fakes.SlackMaxBlocks {
				t.Errorf("%d blocks", len(blocks))
			}
			listed := 0
			for _, b := range blocks {
				if b["type"] == "section" && strings.Contains(b["text"].(map[string]any)["text"].(string), "CVE-2026-") {
					listed++
				}
			}
			if listed != tc.listed {
				t.Errorf("listed %d findings, want %d", listed, tc.listed)
			}
			raw := string(msgs[0].Raw)
			if tc.findings > tc.listed && !strings.Contains(raw, "more findings") {
				t.Errorf("no count of the findings left out:\n%s", raw)
			}
			if !strings.Contains(raw, "lib\\u0026lt;") && !strings.Contains(raw, "lib&lt;") {
				t.Errorf("mrkdwn not escaped:\n%.2000s", raw)
			}
		})
	}
}

func TestSendTestAndOtherEvents(t *testing.T) {
	f := fakes.NewSlack(t)
	d := newDest(t, f, nil)
	send(t, d, fakes.TestMessage())
	send(t, d, fakes.ScanFailedMessage())
	m := fakes.ScanFailedMessage()
	m.Title = strings.Repeat("a very long title ", 30)
	m.URL = ""
	send(t, d, m)
	msgs := f.Messages()
	if len(msgs) != 3 {
		t.Fatalf("accepted %d, rejected %v", len(msgs), f.Rejected())
	}
	if !strings.HasPrefix(msgs[0].Text, "🧪 Riskmap test message") {
		t.Errorf("test message text %q", msgs[0].Text)
	}
	if !strings.Contains(string(msgs[1].Raw), "pull: 401 Unauthorized") {
		t.Errorf("fields not shown: %s", msgs[1].Raw)
	}
	if diff := cmp.Diff([]string{"header", "section", "context"}, blockTypes(msgs[2])); diff != "" {
		t.Errorf("no button without a URL (-want +got):\n%s", diff)
	}
}

func TestSendErrors(t *testing.T) {
	desttest.Failures(t, func(t *testing.T) desttest.Setup {
		f := fakes.NewSlack(t)
		return desttest.Setup{Fake: f.Server, Dest: newDest(t, f, nil), Secrets: []string{f.WebhookURL()[strings.LastIndex(f.WebhookURL(), "/")+1:], "/services/"}}
	}, desttest.Case{Name: "archived_channel", Failure: fakes.Failure{Status: 410}})
}

func TestNew(t *testing.T) {
	const secret = "XXXXsecretXXXX"
	tests := []struct {
		name     string
		url      string
		settings map[string]string
		want     string
	}{
		{"missing_url", "", nil, "webhook_url: required"},
		{"plain_http", "http://hooks.slack.com/services/T/B/" + secret, nil, "webhook_url: must be https"},
		{"not_a_url", "hooks/" + secret, nil, "webhook_url: not an absolute URL"},
		{"bad_top", "https://hooks.slack.com/services/T/B/" + secret, map[string]string{"top_findings": "0"}, "top_findings"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			desttest.CheckNew(t, Kind(), dest.Config{Settings: tc.settings, Secrets: map[string]string{"webhook_url": tc.url}}, tc.want, secret)
		})
	}
}

func TestEscape(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"a<b>&c", 100, "a&lt;b&gt;&amp;c"},
		{"a<b>&c", 5, "a…"},
		{"abcdef", 4, "abc…"},
		{"<<<<", 8, "&lt;…"},
	}
	for _, tc := range tests {
		if got := escape(tc.in, tc.max); got != tc.want {
			t.Errorf("escape(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestFormatIsValidJSON(t *testing.T) {
	m := fakes.DigestMessage(100)
	m.Title = "bad \xff utf-8"
	b, err := json.Marshal(Format(m, 10))
	if err != nil || !json.Valid(b) {
		t.Fatalf("Format: %v", err)
	}
}
