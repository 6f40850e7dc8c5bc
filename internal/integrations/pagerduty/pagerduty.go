// Package pagerduty sends destination messages to PagerDuty's Events API
// v2 (https://developer.pagerduty.com/docs/events-api-v2/overview/): a
// trigger event per message, deduplicated by a dedup_key derived from
// Message.Key, and a resolve event with the same key when the message ends
// what an earlier one started (Message.Resolve: a fixed finding). A retry
// after a lost answer therefore updates the same alert instead of opening
// another. The payload follows the event format
// (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/):
// summary (at most 1024 characters), source, severity (critical, error,
// warning or info), timestamp, component, group, class, custom_details,
// and links to the console. A test message triggers an alert and resolves
// it at once.
//
// Plain net/http rather than PagerDuty/go-pagerduty: the Events API is one
// JSON POST, and the library's event type would still need our mapping.
package pagerduty

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/httpsend"
	"github.com/riskmap/riskmap/internal/integrations/render"
)

// Name is the kind's name.
const Name = "pagerduty"

// DefaultURL is the Events API v2 endpoint (the EU service is
// https://events.eu.pagerduty.com/v2/enqueue).
const DefaultURL = "https://events.pagerduty.com/v2/enqueue"

// Limits of the Events API v2.
const (
	maxSummary  = 1024
	maxDedupKey = 255
	maxDigest   = 25 // findings listed in a digest's custom details
)

// Kind is the PagerDuty destination kind.
func Kind() dest.Kind {
	return dest.Kind{
		Name:  Name,
		Title: "PagerDuty",
		Fields: []dest.Field{
			{Name: "routing_key", Label: "Integration key", Type: "password", Required: true, Secret: true,
				Help: "The 32-character Integration Key of an Events API V2 integration on a PagerDuty service."},
			{Name: "events_url", Label: "Events API URL", Type: "url", Default: DefaultURL,
				Help: "https://events.eu.pagerduty.com/v2/enqueue for an account in the EU service region."},
			{Name: "source", Label: "Source", Type: "text",
				Help: "The alert's source; by default the affected host or node, or \"riskmap\"."},
		},
		Batch: 1,
		Dedup: true,
		New:   New,
	}
}

type destination struct {
	key, url, source, console string
	client                    *http.Client
}

// New validates cfg and returns the destination.
func New(cfg dest.Config) (dest.Destination, error) {
	key := cfg.Secrets["routing_key"]
	if key == "" {
		return nil, fmt.Errorf("pagerduty: routing_key: required")
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("pagerduty: routing_key: must be 32 characters, is %d", len(key))
	}
	u := cmp.Or(cfg.Settings["events_url"], DefaultURL)
	if _, err := httpsend.CheckURL("events_url", u, false, false); err != nil {
		return nil, fmt.Errorf("pagerduty: %w", err)
	}
	return &destination{key: key, url: u, source: cfg.Settings["source"], console: cfg.ConsoleURL, client: cfg.HTTP}, nil
}

// Event is an Events API v2 event.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"` // trigger, acknowledge, resolve
	DedupKey    string   `json:"dedup_key"`
	Payload     *Payload `json:"payload,omitempty"`
	Client      string   `json:"client,omitempty"`
	ClientURL   string   `json:"client_url,omitempty"`
	Links       []Link   `json:"links,omitempty"`
}

// Payload is a trigger event's payload.
type Payload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// Link is a link shown on the alert.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Send sends each message's events in order.
func (d *destination) Send(ctx context.Context, msgs []dest.Message) error {
	for _, m := range msgs {
		for _, ev := range d.Events(m) {
			if err := d.post(ctx, ev); err != nil {
				return fmt.Errorf("pagerduty: %s %s: %w", ev.EventAction, ev.DedupKey, err)
			}
		}
	}
	return nil
}

func (d *destination) post(ctx context.Context, ev Event) error {
	body, err := httpsend.JSON(ev)
	if err != nil {
		return dest.Permanent(err)
	}
	a, err := httpsend.Do(ctx, d.client, httpsend.Request{
		URL:    d.url,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   body,
	})
	if err != nil {
		return err
	}
	return ParseAnswer(a.Body)
}

// Answer is the Events API's answer.
type Answer struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key"`
	Errors   []string `json:"errors"`
}

// ParseAnswer checks a 2xx answer says "success". An answer that cannot be
// read is taken as accepted when empty (a proxy's 202) and as a failure
// worth retrying otherwise.
func ParseAnswer(body []byte) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	var a Answer
	if err := json.Unmarshal(body, &a); err != nil {
		return &dest.Error{Retryable: true, Err: fmt.Errorf("unreadable answer: %w", err)}
	}
	if a.Status != "success" {
		return dest.Permanent(fmt.Errorf("answer %q: %s %s", a.Status, a.Message, strings.Join(a.Errors, "; ")))
	}
	return nil
}

// DedupKey is the alert's key for a message key: the key itself when it
// fits, otherwise a digest of it.
func DedupKey(key string) string {
	if key != "" && len(key) <= maxDedupKey {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "riskmap:" + hex.EncodeToString(sum[:])
}

// Severity maps a Riskmap severity to PagerDuty's.
func Severity(m dest.Message) string {
	switch m.Event {
	case dest.EventTest:
		return "info"
	case dest.EventSensorOffline:
		if m.Severity == "" {
			return "warning"
		}
	}
	switch strings.ToLower(m.Severity) {
	case "critical":
		return "critical"
	case "high":
		return "error"
	case "medium":
		return "warning"
	}
	return "info"
}

// Events are the events a message becomes: a trigger, or a resolve when
// m.Resolve; a test message triggers and resolves.
func (d *destination) Events(m dest.Message) []Event {
	key := DedupKey(m.Key)
	if m.Resolve {
		return []Event{{RoutingKey: d.key, EventAction: "resolve", DedupKey: key}}
	}
	ev := Event{RoutingKey: d.key, EventAction: "trigger", DedupKey: key, Client: "Riskmap", Payload: d.payload(m)}
	if strings.HasPrefix(d.console, "http") {
		ev.ClientURL = d.console
	}
	if strings.HasPrefix(m.URL, "http") {
		ev.Links = append(ev.Links, Link{Href: m.URL, Text: "Open in Riskmap"})
	}
	if len(m.Findings) == 1 && strings.HasPrefix(m.Findings[0].URL, "http") && m.Findings[0].URL != m.URL {
		ev.Links = append(ev.Links, Link{Href: m.Findings[0].URL, Text: m.Findings[0].VulnID})
	}
	if m.Event == dest.EventTest {
		return []Event{ev, {RoutingKey: d.key, EventAction: "resolve", DedupKey: key}}
	}
	return []Event{ev}
}

func (d *destination) payload(m dest.Message) *Payload {
	p := &Payload{
		Summary:  render.Truncate(render.Title(m), maxSummary),
		Source:   render.Truncate(cmp.Or(d.source, nodeSource(m.Node), "riskmap"), 255),
		Severity: Severity(m),
		Class:    m.Event,
	}
	if !m.Time.IsZero() {
		p.Timestamp = m.Time.UTC().Format(time.RFC3339)
	}
	if m.Node != nil {
		p.Group = strings.Trim(m.Node.Cluster+"/"+m.Node.Namespace, "/")
	}
	details := map[string]any{"event": m.Event}
	if m.Text != "" {
		details["description"] = render.Truncate(m.Text, 4000)
	}
	if m.Node != nil {
		details["node"] = m.Node
	}
	for k, v := range m.Fields {
		if _, taken := details[k]; !taken {
			details[k] = v
		}
	}
	switch {
	case m.Event == dest.EventDigest:
		details["findings_total"] = len(m.Findings)
		details["findings_by_severity"] = render.CountLine(m.Findings)
		var top []string
		for _, f := range render.Top(m.Findings, maxDigest) {
			top = append(top, render.Finding(f))
		}
		details["top_findings"] = top
	case len(m.Findings) == 1:
		f := m.Findings[0]
		p.Component = render.Truncate(strings.TrimSpace(f.Package+" "+f.Version), 255)
		details["vulnerability"] = f.VulnID
		details["aliases"] = f.Aliases
		details["package"] = f.Package
		details["version"] = f.Version
		details["ecosystem"] = f.Ecosystem
		details["fixed_version"] = f.FixedVersion
		details["severity"] = f.Severity
		details["cvss"] = f.CVSS
		details["epss"] = f.EPSS
		details["kev"] = f.KEV
		details["risk_score"] = f.RiskScore
		if f.Summary != "" {
			details["summary"] = render.Truncate(f.Summary, 4000)
		}
	}
	p.CustomDetails = details
	return p
}

// nodeSource is the affected system: its host, else its name.
func nodeSource(n *dest.Node) string {
	if n == nil {
		return ""
	}
	return cmp.Or(n.Host, n.Name, n.ID)
}
