// Package teams sends destination messages to a Microsoft Teams channel or
// chat through a workflow (Power Automate's "When a Teams webhook request
// is received" trigger with "Post card in a chat or channel"), which
// replaced Office 365 connectors
// (https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook).
// The message is {"type":"message","attachments":[...]} with one Adaptive
// Card (application/vnd.microsoft.card.adaptive, version 1.4:
// https://adaptivecards.io/explorer/): a title in a container coloured by
// severity, the text, a FactSet of the facts, and an Action.OpenUrl to the
// console. A digest lists its counts by severity and the findings that
// matter most, dropping findings until the message fits Teams' 28 KB.
package teams

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/httpsend"
	"github.com/riskmap/riskmap/internal/integrations/render"
)

// Name is the kind's name.
const Name = "teams"

// CardVersion is the Adaptive Card version sent: the highest that every
// Teams client renders, and enough for every element used here.
const CardVersion = "1.4"

// MaxMessage is the size a message is kept under (Teams' limit is 28 KB;
// the margin covers the workflow's own wrapping).
const MaxMessage = 26 << 10

// maxFacts is the most facts a card shows, so that fields cannot push it
// over the size limit.
const maxFacts = 20

// DefaultTopFindings is how many findings a digest lists by default.
const DefaultTopFindings = 15

// Kind is the Teams destination kind.
func Kind() dest.Kind {
	return dest.Kind{
		Name:  Name,
		Title: "Microsoft Teams",
		Fields: []dest.Field{
			{Name: "webhook_url", Label: "Workflow URL", Type: "url", Required: true, Secret: true,
				Help: "The HTTP POST URL of a Teams workflow started by \"When a Teams webhook request is received\" that posts the card to a channel or chat."},
			{Name: "top_findings", Label: "Findings listed in a digest", Type: "number", Default: strconv.Itoa(DefaultTopFindings),
				Help: "The findings with the highest risk are listed, up to this number (at most 50) and Teams' message size; the rest are counted."},
		},
		Batch:     1,
		PerSecond: 1,
		New:       New,
	}
}

type destination struct {
	url    string
	client *http.Client
	top    int
}

// New validates cfg and returns the destination.
func New(cfg dest.Config) (dest.Destination, error) {
	u := cfg.Secrets["webhook_url"]
	if _, err := httpsend.CheckURL("webhook_url", u, true, false); err != nil {
		return nil, fmt.Errorf("teams: %w", err)
	}
	top, err := render.TopFindings(cfg.Settings, DefaultTopFindings, 50)
	if err != nil {
		return nil, fmt.Errorf("teams: %w", err)
	}
	return &destination{url: u, client: cfg.HTTP, top: top}, nil
}

// Send posts each message. A workflow has no idempotency key: a message
// whose answer was lost is posted again.
func (d *destination) Send(ctx context.Context, msgs []dest.Message) error {
	err := httpsend.PostEach(ctx, d.client, d.url, msgs, func(m dest.Message) ([]byte, error) { return Encode(m, d.top) })
	if err != nil {
		return fmt.Errorf("teams: %w", err)
	}
	return nil
}

// Message is the workflow's payload.
type Message struct {
	Type        string       `json:"type"`
	Attachments []Attachment `json:"attachments"`
}

// Attachment carries the card.
type Attachment struct {
	ContentType string  `json:"contentType"`
	ContentURL  *string `json:"contentUrl"`
	Content     Card    `json:"content"`
}

// Card is an Adaptive Card.
type Card struct {
	Schema  string         `json:"$schema"`
	Type    string         `json:"type"`
	Version string         `json:"version"`
	MSTeams map[string]any `json:"msteams,omitempty"`
	Body    []Element      `json:"body"`
	Actions []Action       `json:"actions,omitempty"`
}

// Element is a card element (the members of TextBlock, FactSet and
// Container that are used).
type Element struct {
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	Wrap     bool      `json:"wrap,omitempty"`
	Size     string    `json:"size,omitempty"`
	Weight   string    `json:"weight,omitempty"`
	Color    string    `json:"color,omitempty"`
	IsSubtle bool      `json:"isSubtle,omitempty"`
	Spacing  string    `json:"spacing,omitempty"`
	Facts    []Fact    `json:"facts,omitempty"`
	Style    string    `json:"style,omitempty"`
	Bleed    bool      `json:"bleed,omitempty"`
	Items    []Element `json:"items,omitempty"`
}

// Fact is a FactSet's row.
type Fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// Action is an Action.OpenUrl.
type Action struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Encode renders m and encodes it, listing as many of the top findings of
// a digest as fit MaxMessage.
func Encode(m dest.Message, top int) ([]byte, error) {
	for n := top; ; n = n * 3 / 4 {
		b, err := httpsend.JSON(Format(m, n))
		if err != nil || len(b) <= MaxMessage || n == 0 {
			return b, err
		}
	}
}

// Format renders m as a message with one card, listing at most top
// findings of a digest.
func Format(m dest.Message, top int) Message {
	head := Element{Type: "Container", Style: style(m), Bleed: true, Items: []Element{
		{Type: "TextBlock", Text: text(render.Title(m), 300), Size: "Large", Weight: "Bolder", Wrap: true},
		{Type: "TextBlock", Text: subtitle(m), IsSubtle: true, Spacing: "None", Wrap: true},
	}}
	body := []Element{head}
	if t := render.Body(m); t != "" {
		body = append(body, Element{Type: "TextBlock", Text: text(t, 2000), Wrap: true})
	}
	var facts []Fact
	for _, f := range render.Facts(m) {
		if len(facts) < maxFacts {
			facts = append(facts, Fact{Title: text(f.Name, 100), Value: text(f.Value, 500)})
		}
	}
	if len(facts) > 0 {
		body = append(body, Element{Type: "FactSet", Facts: facts})
	}
	if m.Event == dest.EventDigest && len(m.Findings) > 0 {
		shown := render.Top(m.Findings, top)
		var items []Element
		for _, f := range shown {
			line := text(render.Finding(f), 400)
			if f.URL != "" {
				line = "[" + text(f.VulnID, 100) + "](" + f.URL + ")" + text(strings.TrimPrefix(render.Finding(f), f.VulnID), 400)
			}
			items = append(items, Element{Type: "TextBlock", Text: line, Wrap: true, Spacing: "Small"})
		}
		if more := len(m.Findings) - len(shown); more > 0 {
			items = append(items, Element{Type: "TextBlock", Text: fmt.Sprintf("…and %d more (%s in all).", more, render.CountLine(m.Findings)), IsSubtle: true, Wrap: true})
		}
		if len(items) > 0 {
			body = append(body, Element{Type: "Container", Spacing: "Medium", Items: items})
		}
	}
	card := Card{Schema: "http://adaptivecards.io/schemas/adaptive-card.json", Type: "AdaptiveCard", Version: CardVersion,
		MSTeams: map[string]any{"width": "Full"}, Body: body}
	if strings.HasPrefix(m.URL, "http") {
		card.Actions = []Action{{Type: "Action.OpenUrl", Title: "Open in Riskmap", URL: m.URL}}
	}
	return Message{Type: "message", Attachments: []Attachment{{ContentType: "application/vnd.microsoft.card.adaptive", Content: card}}}
}

func subtitle(m dest.Message) string {
	s := "Riskmap · " + m.Event
	if !m.Time.IsZero() {
		s += " · " + m.Time.UTC().Format(time.RFC3339)
	}
	return s
}

// style colours the title's container by what the message says.
func style(m dest.Message) string {
	switch {
	case m.Resolve || m.Event == dest.EventFindingFixed:
		return "good"
	case m.Event == dest.EventTest:
		return "accent"
	case m.Event == dest.EventScanFailed || m.Event == dest.EventSensorOffline:
		return "warning"
	}
	switch render.Rank(m.Severity) {
	case 0, 1:
		return "attention"
	case 2:
		return "warning"
	}
	return "emphasis"
}

// text is s truncated. It is not escaped: Teams' Adaptive Card markdown
// has no documented escape, and a stray * or _ in a package name shows as
// emphasis at worst.
func text(s string, max int) string { return render.Truncate(s, max) }
