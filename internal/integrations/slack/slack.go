// Package slack sends destination messages to a Slack incoming webhook
// (https://api.slack.com/messaging/webhooks) as Block Kit messages
// (https://api.slack.com/block-kit): a header, a section with the facts as
// fields, a context line, and a button opening the subject in the console.
// A digest shows its counts by severity, the findings that matter most,
// and how many more there are. Slack's documented limits are kept (50
// blocks, 150 characters in a header, 3000 in a section's text, 10 fields
// of 2000, 75 in a button's label, 3000 in its URL) by truncating at a
// character and saying so, never by letting Slack refuse the message.
//
// Plain net/http rather than slack-go/slack: a webhook is one JSON POST,
// and the Block Kit types we use are a few small structs.
package slack

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/httpsend"
	"github.com/riskmap/riskmap/internal/integrations/render"
)

// Name is the kind's name.
const Name = "slack"

// Slack's limits (https://api.slack.com/reference/block-kit/blocks).
const (
	maxBlocks      = 50
	maxHeader      = 150
	maxSectionText = 3000
	maxFields      = 10
	maxFieldText   = 2000
	maxContext     = 10
	maxButtonText  = 75
	maxButtonURL   = 3000
	maxFallback    = 3000 // the top-level text; Slack allows 40,000, notifications show far less
)

// DefaultTopFindings is how many findings a digest lists by default.
const DefaultTopFindings = 10

// Kind is the Slack destination kind.
func Kind() dest.Kind {
	return dest.Kind{
		Name:  Name,
		Title: "Slack",
		Fields: []dest.Field{
			{Name: "webhook_url", Label: "Webhook URL", Type: "url", Required: true, Secret: true,
				Help: "An incoming webhook of a Slack app (https://hooks.slack.com/services/...); it posts to the channel chosen when it was created."},
			{Name: "top_findings", Label: "Findings listed in a digest", Type: "number", Default: strconv.Itoa(DefaultTopFindings),
				Help: "The findings with the highest risk are listed, up to this number (at most 40); the rest are counted."},
		},
		Batch:     1,
		PerSecond: 1,
		New:       New,
	}
}

type destination struct {
	url     string
	client  *http.Client
	console string
	top     int
}

// New validates cfg and returns the destination.
func New(cfg dest.Config) (dest.Destination, error) {
	u := cfg.Secrets["webhook_url"]
	if _, err := httpsend.CheckURL("webhook_url", u, true, false); err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	top, err := render.TopFindings(cfg.Settings, DefaultTopFindings, 40)
	if err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	return &destination{url: u, client: cfg.HTTP, console: cfg.ConsoleURL, top: top}, nil
}

// Send posts each message. Slack webhooks have no idempotency key: a
// message whose post failed after Slack accepted it (a lost answer) shows
// twice.
func (d *destination) Send(ctx context.Context, msgs []dest.Message) error {
	err := httpsend.PostEach(ctx, d.client, d.url, msgs, func(m dest.Message) ([]byte, error) { return httpsend.JSON(Format(m, d.top)) })
	if err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	return nil
}

// Message is a webhook payload.
type Message struct {
	Text   string  `json:"text"`
	Blocks []Block `json:"blocks"`
}

// Block is a Block Kit layout block (the members the used types need).
type Block struct {
	Type     string    `json:"type"`
	Text     *Text     `json:"text,omitempty"`
	Fields   []Text    `json:"fields,omitempty"`
	Elements []Element `json:"elements,omitempty"`
}

// Text is a text composition object.
type Text struct {
	Type  string `json:"type"` // plain_text or mrkdwn
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// Element is a context element (a text object) or a button.
type Element struct {
	Type     string `json:"type"`
	Text     any    `json:"text"` // string in a context's mrkdwn, *Text in a button
	URL      string `json:"url,omitempty"`
	ActionID string `json:"action_id,omitempty"`
	Style    string `json:"style,omitempty"`
}

func plain(s string, max int) *Text {
	return &Text{Type: "plain_text", Text: render.Truncate(s, max), Emoji: true}
}

func md(s string) Text { return Text{Type: "mrkdwn", Text: s} }

// Format renders m as a Block Kit message within Slack's limits, listing
// at most top findings of a digest.
func Format(m dest.Message, top int) Message {
	title := render.Title(m)
	out := Message{Text: render.Truncate(icon(m)+" "+title, maxFallback)}
	out.Blocks = append(out.Blocks, Block{Type: "header", Text: plain(icon(m)+" "+title, maxHeader)})

	section := Block{Type: "section"}
	for _, f := range render.Facts(m) {
		if len(section.Fields) < maxFields {
			section.Fields = append(section.Fields, md("*"+escape(f.Name, 100)+"*\n"+escape(f.Value, maxFieldText-110)))
		}
	}
	if t := render.Body(m); t != "" {
		section.Text = &Text{Type: "mrkdwn", Text: escape(t, maxSectionText)}
	}
	if section.Text != nil || len(section.Fields) > 0 {
		out.Blocks = append(out.Blocks, section)
	}

	// Blocks after the findings: context, and the button when there is a link.
	tail := 1
	link := m.URL
	if link != "" && (len(link) > maxButtonURL || !strings.HasPrefix(link, "http")) {
		link = ""
	}
	if link != "" {
		tail++
	}
	if m.Event == dest.EventDigest && len(m.Findings) > 0 {
		room := maxBlocks - len(out.Blocks) - tail - 2 // a divider, and the "more" line
		shown := render.Top(m.Findings, min(top, room))
		out.Blocks = append(out.Blocks, Block{Type: "divider"})
		for _, f := range shown {
			out.Blocks = append(out.Blocks, Block{Type: "section", Text: &Text{Type: "mrkdwn", Text: findingLine(f)}})
		}
		if more := len(m.Findings) - len(shown); more > 0 {
			out.Blocks = append(out.Blocks, Block{Type: "context", Elements: []Element{{Type: "mrkdwn",
				Text: fmt.Sprintf("…and %d more finding%s (%s in all).", more, plural(more), render.CountLine(m.Findings))}}})
		}
	}
	ctx := []Element{{Type: "mrkdwn", Text: "Riskmap · " + escape(m.Event, 100)}}
	if !m.Time.IsZero() {
		ctx = append(ctx, Element{Type: "mrkdwn", Text: slackDate(m.Time)})
	}
	out.Blocks = append(out.Blocks, Block{Type: "context", Elements: ctx[:min(len(ctx), maxContext)]})
	if link != "" {
		out.Blocks = append(out.Blocks, Block{Type: "actions", Elements: []Element{{
			Type: "button", Text: plain("Open in Riskmap", maxButtonText), URL: link, ActionID: "riskmap_open",
		}}})
	}
	return out
}

// findingLine is a finding of a digest in mrkdwn, its id linked when it
// has a URL.
func findingLine(f dest.Finding) string {
	id := escape(f.VulnID, 200)
	if f.URL != "" && len(f.URL) < 1000 && strings.HasPrefix(f.URL, "http") {
		id = "<" + linkURL(f.URL) + "|" + id + ">"
	}
	rest := strings.TrimPrefix(render.Finding(f), f.VulnID)
	return render.Truncate("*"+id+"*"+escape(rest, maxSectionText-len(id)-10), maxSectionText)
}

// icon marks the message's kind at a glance.
func icon(m dest.Message) string {
	switch {
	case m.Event == dest.EventTest:
		return "🧪"
	case m.Resolve || m.Event == dest.EventFindingFixed:
		return "✅"
	case m.Event == dest.EventDigest:
		return "📋"
	case m.Event == dest.EventScanFailed || m.Event == dest.EventSensorOffline:
		return "⚠️"
	}
	switch render.Rank(m.Severity) {
	case 0:
		return "🔴"
	case 1:
		return "🟠"
	case 2:
		return "🟡"
	}
	return "🔵"
}

// escape makes s safe as mrkdwn (&, < and > are control characters,
// https://api.slack.com/reference/surfaces/formatting#escaping) and at
// most max characters once escaped, never cutting an escape in two.
func escape(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	if e := esc.Replace(s); utf8.RuneCountInString(e) <= max {
		return e
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		piece := esc.Replace(string(r))
		w := utf8.RuneCountInString(piece)
		if n+w > max-1 {
			break
		}
		b.WriteString(piece)
		n += w
	}
	return strings.TrimRight(b.String(), " \n") + "…"
}

// linkURL keeps a URL from ending a <url|text> link early.
func linkURL(u string) string {
	return strings.NewReplacer("|", "%7C", ">", "%3E", "<", "%3C").Replace(u)
}

// slackDate shows t in the reader's time zone
// (https://api.slack.com/reference/surfaces/formatting#date-formatting).
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format(time.RFC3339))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
