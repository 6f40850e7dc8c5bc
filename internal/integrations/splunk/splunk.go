// Package splunk sends destination messages to a Splunk HTTP Event
// Collector (HEC) with its JSON event protocol
// (https://help.splunk.com/splunk-enterprise/get-data-in/collect-http-event-data/format-events-for-http-event-collector):
// POST /services/collector/event with "Authorization: Splunk <token>",
// the events of a batch concatenated, each with time in epoch seconds,
// host, source, sourcetype and index metadata, and the message as the
// event. A digest becomes one event per finding, so that searches count
// findings. HEC's answer {"text", "code"} is checked (code 0 is success; 8
// and 9, an internal error and a busy server, are worth a retry; the
// others are not). Requests are kept under 1,000,000 bytes, the smallest
// max_content_length a HEC has.
//
// With indexer acknowledgement on (use_ack), requests carry a channel
// (X-Splunk-Request-Channel) and Send waits until
// /services/collector/ack confirms every request was indexed; one not
// confirmed in time is a retryable failure. HEC has no deduplication: a
// retry after a lost answer, or of a batch whose later request failed,
// indexes the earlier events again (at least once).
package splunk

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/httpsend"
	"github.com/riskmap/riskmap/internal/integrations/render"
)

// Name is the kind's name.
const Name = "splunk"

// MaxRequest is the most bytes sent in one request.
const MaxRequest = 1_000_000

// DefaultAckTimeout is how long Send waits for acknowledgements.
const DefaultAckTimeout = 60 * time.Second

// Kind is the Splunk HEC destination kind.
func Kind() dest.Kind {
	return dest.Kind{
		Name:  Name,
		Title: "Splunk HTTP Event Collector",
		Fields: []dest.Field{
			{Name: "url", Label: "HEC URL", Type: "url", Required: true,
				Help: "The collector's base URL, such as https://splunk.example:8088 or https://http-inputs-STACK.splunkcloud.com."},
			{Name: "token", Label: "HEC token", Type: "password", Required: true, Secret: true},
			{Name: "index", Label: "Index", Type: "text", Help: "Empty: the token's default index."},
			{Name: "sourcetype", Label: "Source type", Type: "text", Default: "riskmap:event"},
			{Name: "source", Label: "Source", Type: "text", Default: "riskmap"},
			{Name: "host", Label: "Host", Type: "text", Help: "Empty: the affected node's host, else the console's host name."},
			{Name: "use_ack", Label: "Wait for indexer acknowledgement", Type: "bool", Default: "false",
				Help: "Turn on when the token has indexer acknowledgement enabled."},
		},
		Batch: 100,
		New:   New,
	}
}

type destination struct {
	eventURL, ackURL                 string
	token, index, sourcetype, source string
	host, consoleHost                string
	channel                          string // with use_ack
	ackTimeout                       time.Duration
	client                           *http.Client
}

// New validates cfg and returns the destination.
func New(cfg dest.Config) (dest.Destination, error) {
	u, err := httpsend.CheckURL("url", cfg.Settings["url"], false, true)
	if err != nil {
		return nil, fmt.Errorf("splunk: %w", err)
	}
	base := strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/")
	for _, suffix := range []string{"/services/collector/event/1.0", "/services/collector/event", "/services/collector/raw", "/services/collector"} {
		base = strings.TrimSuffix(base, suffix)
	}
	tok := cfg.Secrets["token"]
	if tok == "" {
		return nil, fmt.Errorf("splunk: token: required")
	}
	if strings.ContainsAny(tok, " \r\n\t") {
		return nil, fmt.Errorf("splunk: token: must not contain spaces")
	}
	d := &destination{
		eventURL: base + "/services/collector/event", ackURL: base + "/services/collector/ack",
		token: tok, index: cfg.Settings["index"],
		sourcetype: cmp.Or(cfg.Settings["sourcetype"], "riskmap:event"),
		source:     cmp.Or(cfg.Settings["source"], "riskmap"),
		host:       cfg.Settings["host"], ackTimeout: DefaultAckTimeout, client: cfg.HTTP,
	}
	if c, err := url.Parse(cfg.ConsoleURL); err == nil {
		d.consoleHost = c.Hostname()
	}
	switch v := cfg.Settings["use_ack"]; v {
	case "", "false":
	case "true":
		d.channel = newChannel()
	default:
		return nil, fmt.Errorf("splunk: use_ack %q: true or false", v)
	}
	return d, nil
}

// newChannel is a random GUID, the form HEC wants for a channel.
func newChannel() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Envelope is one event of the JSON event protocol.
type Envelope struct {
	Time       json.Number `json:"time"`
	Host       string      `json:"host,omitempty"`
	Source     string      `json:"source,omitempty"`
	Sourcetype string      `json:"sourcetype,omitempty"`
	Index      string      `json:"index,omitempty"`
	Event      Event       `json:"event"`
}

// Event is what a Splunk search sees of a message.
type Event struct {
	Key      string            `json:"key"`
	Event    string            `json:"event"`
	Resolve  bool              `json:"resolve,omitempty"`
	Time     string            `json:"time"`
	Severity string            `json:"severity,omitempty"`
	Title    string            `json:"title,omitempty"`
	Text     string            `json:"text,omitempty"`
	URL      string            `json:"url,omitempty"`
	Node     *dest.Node        `json:"node,omitempty"`
	Finding  *dest.Finding     `json:"finding,omitempty"`
	Fields   map[string]string `json:"fields,omitempty"`
	// Digest: the finding's place in it and its size.
	DigestItem  int `json:"digest_item,omitempty"`
	DigestTotal int `json:"digest_total,omitempty"`
}

// Envelopes are the events of a message: one, or one per finding of a
// digest.
func (d *destination) Envelopes(m dest.Message) []Envelope {
	ev := Event{Key: m.Key, Event: m.Event, Resolve: m.Resolve, Time: m.Time.UTC().Format(time.RFC3339Nano),
		Severity: m.Severity, Title: m.Title, Text: m.Text, URL: m.URL, Node: m.Node, Fields: m.Fields}
	env := func(e Event, node *dest.Node) Envelope {
		host := d.host
		if host == "" && node != nil {
			host = cmp.Or(node.Host, node.Name)
		}
		return Envelope{Time: epoch(m.Time), Host: cmp.Or(host, d.consoleHost), Source: d.source,
			Sourcetype: d.sourcetype, Index: d.index, Event: e}
	}
	var out []Envelope
	for _, r := range render.Records(m) {
		e := ev
		e.Finding, e.Node, e.DigestItem, e.DigestTotal = r.Finding, r.Node, r.Item, r.Total
		if r.Item > 0 {
			e.Text = ""
		}
		out = append(out, env(e, e.Node))
	}
	return out
}

// epoch is t in epoch seconds with milliseconds, HEC's time format.
func epoch(t time.Time) json.Number {
	if t.IsZero() {
		t = time.Now()
	}
	return json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64))
}

// Send posts the messages' events in requests of at most MaxRequest
// bytes, and with use_ack waits until they are indexed.
func (d *destination) Send(ctx context.Context, msgs []dest.Message) error {
	var acks []int64
	batch := httpsend.Batch{Max: MaxRequest, Send: func(body []byte) error {
		id, err := d.post(ctx, body)
		if id != nil {
			acks = append(acks, *id)
		}
		return err
	}}
	for _, m := range msgs {
		for _, e := range d.Envelopes(m) {
			b, err := httpsend.JSON(e)
			if err != nil {
				return dest.Permanent(fmt.Errorf("splunk: encode %s: %w", m.Key, err))
			}
			if len(b)+1 > MaxRequest {
				return dest.Permanent(fmt.Errorf("splunk: event of %s is %d bytes, over %d", m.Key, len(b), MaxRequest))
			}
			if err := batch.Add(b); err != nil {
				return err
			}
		}
	}
	if err := batch.Flush(); err != nil {
		return err
	}
	if d.channel != "" && len(acks) > 0 {
		return d.waitAcks(ctx, acks)
	}
	return nil
}

func (d *destination) header() http.Header {
	h := http.Header{"Authorization": {"Splunk " + d.token}, "Content-Type": {"application/json"}}
	if d.channel != "" {
		h.Set("X-Splunk-Request-Channel", d.channel)
	}
	return h
}

// post sends one request and returns its ackId, if any.
func (d *destination) post(ctx context.Context, body []byte) (*int64, error) {
	a, err := httpsend.Do(ctx, d.client, httpsend.Request{URL: d.eventURL, Header: d.header(), Body: body})
	if err != nil {
		return nil, fmt.Errorf("splunk: post events: %w", err)
	}
	ans, err := ParseAnswer(a.Body)
	if err != nil {
		return nil, fmt.Errorf("splunk: post events: %w", err)
	}
	if d.channel != "" && ans.AckID == nil {
		return nil, dest.Permanent(fmt.Errorf("splunk: post events: no ackId in the answer: is indexer acknowledgement off for this token? (use_ack)"))
	}
	return ans.AckID, nil
}

// Answer is HEC's answer to a request.
type Answer struct {
	Text               string `json:"text"`
	Code               int    `json:"code"`
	AckID              *int64 `json:"ackId"`
	InvalidEventNumber *int   `json:"invalid-event-number"`
}

// ParseAnswer reads HEC's answer to a 2xx: code 0 is success; codes 8
// and 9 (internal error, busy) are retryable; others are not.
func ParseAnswer(b []byte) (Answer, error) {
	var a Answer
	if err := json.Unmarshal(b, &a); err != nil {
		return a, &dest.Error{Retryable: true, Err: fmt.Errorf("unreadable answer: %w", err)}
	}
	if a.Code == 0 {
		return a, nil
	}
	err := fmt.Errorf("HEC code %d: %s", a.Code, a.Text)
	if a.InvalidEventNumber != nil {
		err = fmt.Errorf("%w (event %d of the request)", err, *a.InvalidEventNumber)
	}
	if a.Code == 8 || a.Code == 9 {
		return a, &dest.Error{Retryable: true, Err: err}
	}
	return a, dest.Permanent(err)
}

// AckAnswer is the answer of /services/collector/ack.
type AckAnswer struct {
	Acks map[string]bool `json:"acks"`
}

// ParseAckAnswer returns the acknowledged ids.
func ParseAckAnswer(b []byte) (map[int64]bool, error) {
	var a AckAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("unreadable ack answer: %w", err)
	}
	out := make(map[int64]bool, len(a.Acks))
	for k, v := range a.Acks {
		id, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("ack answer: id %q: %w", k, err)
		}
		out[id] = v
	}
	return out, nil
}

// waitAcks polls until every id is acknowledged or the ack timeout ends.
func (d *destination) waitAcks(ctx context.Context, ids []int64) error {
	ctx, cancel := context.WithTimeout(ctx, d.ackTimeout)
	defer cancel()
	wait := 100 * time.Millisecond
	left := ids
	for {
		q, _ := json.Marshal(map[string][]int64{"acks": left})
		a, err := httpsend.Do(ctx, d.client, httpsend.Request{URL: d.ackURL, Header: d.header(), Body: q})
		if err == nil {
			var got map[int64]bool
			if got, err = ParseAckAnswer(a.Body); err == nil {
				var still []int64
				for _, id := range left {
					if !got[id] {
						still = append(still, id)
					}
				}
				if left = still; len(left) == 0 {
					return nil
				}
			}
		}
		if err != nil {
			if r, _ := dest.IsRetryable(err); !r {
				return fmt.Errorf("splunk: query acks: %w", err)
			}
		}
		select {
		case <-ctx.Done():
			return &dest.Error{Retryable: true, Err: fmt.Errorf("splunk: %d of %d requests not acknowledged as indexed within %v", len(left), len(ids), d.ackTimeout)}
		case <-time.After(wait):
		}
		wait = min(wait*2, 2*time.Second)
	}
}
