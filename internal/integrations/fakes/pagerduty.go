package fakes

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// PagerDuty Events API v2 limits
// (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/).
const (
	PagerDutyMaxSummary  = 1024
	PagerDutyMaxDedupKey = 255
	PagerDutyMaxEvent    = 512 << 10
)

// PagerDutyEvent is an event a PagerDuty fake accepted.
type PagerDutyEvent struct {
	Raw         json.RawMessage
	RoutingKey  string           `json:"routing_key"`
	EventAction string           `json:"event_action"`
	DedupKey    string           `json:"dedup_key"`
	Payload     PagerDutyPayload `json:"payload"`
	Client      string           `json:"client"`
	ClientURL   string           `json:"client_url"`
	Links       []struct {
		Href string `json:"href"`
		Text string `json:"text"`
	} `json:"links"`
}

// PagerDutyPayload is an event's payload.
type PagerDutyPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp"`
	Component     string         `json:"component"`
	Group         string         `json:"group"`
	Class         string         `json:"class"`
	CustomDetails map[string]any `json:"custom_details"`
}

// PagerDutyAlert is the state of the alert of a dedup key.
type PagerDutyAlert struct {
	Status string // triggered, acknowledged or resolved
	// Triggers counts the trigger events deduplicated into the alert.
	Triggers int
}

// PagerDuty is the Events API v2 (POST /v2/enqueue).
type PagerDuty struct {
	*Server
	routingKey string

	mu     sync.Mutex
	events []PagerDutyEvent
	alerts map[string]*PagerDutyAlert
	seq    int
}

// NewPagerDuty starts an Events API v2 endpoint with one integration.
func NewPagerDuty(t testing.TB) *PagerDuty {
	s := &PagerDuty{routingKey: token(32), alerts: map[string]*PagerDutyAlert{}}
	s.Server = newServer(t, http.HandlerFunc(s.serve), func(status int) (string, string) {
		if status >= 500 {
			return "application/json", `{"status":"Internal error","message":"The server experienced an error"}`
		}
		if status == 400 {
			return "application/json", `{"status":"invalid event","message":"Event object is invalid","errors":["invalid"]}`
		}
		return "text/plain", ""
	})
	return s
}

// EnqueueURL is the events endpoint.
func (s *PagerDuty) EnqueueURL() string { return s.URL() + "/v2/enqueue" }

// RoutingKey is the integration's key (a secret).
func (s *PagerDuty) RoutingKey() string { return s.routingKey }

// Events lists the accepted events, oldest first.
func (s *PagerDuty) Events() []PagerDutyEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]PagerDutyEvent(nil), s.events...)
}

// Alerts is the alert state by dedup key.
func (s *PagerDuty) Alerts() map[string]PagerDutyAlert {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]PagerDutyAlert{}
	for k, a := range s.alerts {
		out[k] = *a
	}
	return out
}

func (s *PagerDuty) serve(w http.ResponseWriter, r *http.Request) {
	const ct = "application/json"
	invalid := func(status int, msg string, errs ...string) {
		b, _ := json.Marshal(map[string]any{"status": "invalid event", "message": msg, "errors": errs})
		s.reject(w, status, ct, string(b), msg+": "+join("", errsString(errs)))
	}
	if r.URL.Path != "/v2/enqueue" {
		s.reject(w, http.StatusNotFound, ct, `{"status":"Not found","message":"Not found"}`, r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		s.reject(w, http.StatusMethodNotAllowed, ct, `{"status":"Method not allowed"}`, r.Method)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 2*PagerDutyMaxEvent))
	if err != nil {
		invalid(http.StatusBadRequest, "Event object is invalid", err.Error())
		return
	}
	if len(raw) > PagerDutyMaxEvent {
		invalid(http.StatusBadRequest, "Event object is invalid", "Event size over 512 KB")
		return
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		s.reject(w, http.StatusBadRequest, ct, `{"status":"Unrecognized object","message":"Event object format is unrecognized","errors":["JSON parse error"]}`, err.Error())
		return
	}
	var c checker
	o, ok := c.object("", v)
	if !ok {
		invalid(http.StatusBadRequest, "Event object format is unrecognized", c.errs...)
		return
	}
	key, _ := c.str("", o, "routing_key", true, 0)
	if c.ok() && len(key) != 32 {
		c.failf("routing_key", "Length of 'routing_key' is incorrect (should be 32 characters)")
	}
	action := c.enum("", o, "event_action", true, false, "trigger", "acknowledge", "resolve")
	dedup, _ := c.str("", o, "dedup_key", action != "trigger" && action != "", PagerDutyMaxDedupKey)
	if action == "trigger" {
		p, ok := c.object("payload", o["payload"])
		if ok {
			c.str("payload", p, "summary", true, PagerDutyMaxSummary)
			c.str("payload", p, "source", true, 255)
			c.enum("payload", p, "severity", true, false, "critical", "error", "warning", "info")
			if ts, there := c.str("payload", p, "timestamp", false, 0); there {
				if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
					c.failf("payload.timestamp", "%q is not an ISO 8601 date-time", ts)
				}
			}
			for _, k := range []string{"component", "group", "class"} {
				c.str("payload", p, k, false, 0)
			}
			if cd, there := p["custom_details"]; there {
				c.object("payload.custom_details", cd)
			}
		}
		c.absURL("", o, "client_url", false, 0)
		links, _ := c.array("", o, "links", false, 0, 0)
		for i, l := range links {
			if lo, ok := c.object(item("links", i), l); ok {
				c.absURL(item("links", i), lo, "href", true, 0)
				c.str(item("links", i), lo, "text", false, 0)
			}
		}
	}
	if !c.ok() {
		invalid(http.StatusBadRequest, "Event object is invalid", c.errs...)
		return
	}
	if key != s.routingKey {
		invalid(http.StatusBadRequest, "Event object is invalid", "Invalid routing key")
		return
	}
	var ev PagerDutyEvent
	json.Unmarshal(raw, &ev)
	ev.Raw = raw

	s.mu.Lock()
	if dedup == "" {
		s.seq++
		dedup = "pd-" + token(8)
		ev.DedupKey = dedup
	}
	s.events = append(s.events, ev)
	a := s.alerts[dedup]
	switch action {
	case "trigger":
		if a == nil || a.Status == "resolved" {
			a = &PagerDutyAlert{}
			s.alerts[dedup] = a
		}
		a.Status = "triggered"
		a.Triggers++
	case "acknowledge":
		if a != nil && a.Status == "triggered" {
			a.Status = "acknowledged"
		}
	case "resolve":
		if a != nil {
			a.Status = "resolved"
		}
	}
	s.mu.Unlock()
	b, _ := json.Marshal(map[string]string{"status": "success", "message": "Event processed", "dedup_key": dedup})
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusAccepted)
	w.Write(b)
}

func errsString(errs []string) string {
	b, _ := json.Marshal(errs)
	return string(b)
}
