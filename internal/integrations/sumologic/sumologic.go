// Package sumologic sends destination messages to a Sumo Logic HTTP Logs
// and Metrics Source
// (https://help.sumologic.com/docs/send-data/hosted-collectors/http-source/logs-metrics/upload-logs/):
// a gzip-compressed POST of newline-delimited JSON, one line per message
// (a digest: one per finding), each line starting with its timestamp so
// that Sumo's timestamp parsing finds it, under the X-Sumo-Category,
// X-Sumo-Name and X-Sumo-Host metadata headers. The source's URL is the
// secret that authenticates. Requests stay under 1 MB of uncompressed
// data, Sumo's limit. Sumo has no deduplication: a retry after a lost
// answer ingests the lines again.
package sumologic

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/httpsend"
	"github.com/riskmap/riskmap/internal/integrations/render"
)

// Name is the kind's name.
const Name = "sumologic"

// MaxRequest is the most uncompressed bytes sent in one request.
const MaxRequest = 1_000_000

// Kind is the Sumo Logic destination kind.
func Kind() dest.Kind {
	return dest.Kind{
		Name:  Name,
		Title: "Sumo Logic",
		Fields: []dest.Field{
			{Name: "url", Label: "HTTP source URL", Type: "url", Required: true, Secret: true,
				Help: "The upload URL of an HTTP Logs and Metrics Source (https://endpoint….sumologic.com/receiver/v1/http/…)."},
			{Name: "category", Label: "Source category", Type: "text", Default: "security/riskmap", Help: "Sent as X-Sumo-Category."},
			{Name: "name", Label: "Source name", Type: "text", Default: "riskmap", Help: "Sent as X-Sumo-Name."},
			{Name: "host", Label: "Source host", Type: "text", Help: "Sent as X-Sumo-Host; empty: the console's host name."},
		},
		Batch: 100,
		New:   New,
	}
}

type destination struct {
	url                  string
	category, name, host string
	client               *http.Client
}

// New validates cfg and returns the destination.
func New(cfg dest.Config) (dest.Destination, error) {
	u := cfg.Secrets["url"]
	if _, err := httpsend.CheckURL("url", u, true, false); err != nil {
		return nil, fmt.Errorf("sumologic: %w", err)
	}
	d := &destination{url: u, category: cmp.Or(cfg.Settings["category"], "security/riskmap"),
		name: cmp.Or(cfg.Settings["name"], "riskmap"), host: cfg.Settings["host"], client: cfg.HTTP}
	for k, v := range map[string]string{"category": d.category, "name": d.name, "host": d.host} {
		if strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("sumologic: %s: must be one line", k)
		}
	}
	if d.host == "" {
		if c, err := httpsend.CheckURL("console", cfg.ConsoleURL, false, true); err == nil {
			d.host = c.Hostname()
		}
	}
	return d, nil
}

// Line is one log line. Timestamp comes first for Sumo's timestamp
// detection.
type Line struct {
	Timestamp   string            `json:"timestamp"`
	Key         string            `json:"key"`
	Event       string            `json:"event"`
	Resolve     bool              `json:"resolve,omitempty"`
	Severity    string            `json:"severity,omitempty"`
	Title       string            `json:"title,omitempty"`
	Text        string            `json:"text,omitempty"`
	URL         string            `json:"url,omitempty"`
	Node        *dest.Node        `json:"node,omitempty"`
	Finding     *dest.Finding     `json:"finding,omitempty"`
	Fields      map[string]string `json:"fields,omitempty"`
	DigestItem  int               `json:"digest_item,omitempty"`
	DigestTotal int               `json:"digest_total,omitempty"`
}

// Lines are the lines of a message: one, or one per finding of a digest.
func Lines(m dest.Message) []Line {
	l := Line{Timestamp: m.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Key: m.Key, Event: m.Event, Resolve: m.Resolve,
		Severity: m.Severity, Title: m.Title, Text: m.Text, URL: m.URL, Node: m.Node, Fields: m.Fields}
	if m.Time.IsZero() {
		l.Timestamp = time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	var out []Line
	for _, r := range render.Records(m) {
		e := l
		e.Finding, e.Node, e.DigestItem, e.DigestTotal = r.Finding, r.Node, r.Item, r.Total
		if r.Item > 0 {
			e.Text = ""
		}
		out = append(out, e)
	}
	return out
}

// Send uploads the messages' lines in requests of at most MaxRequest
// uncompressed bytes.
func (d *destination) Send(ctx context.Context, msgs []dest.Message) error {
	batch := httpsend.Batch{Max: MaxRequest, Send: func(body []byte) error { return d.post(ctx, body) }}
	for _, m := range msgs {
		for _, l := range Lines(m) {
			b, err := httpsend.JSON(l)
			if err != nil {
				return dest.Permanent(fmt.Errorf("sumologic: encode %s: %w", m.Key, err))
			}
			if len(b)+1 > MaxRequest {
				return dest.Permanent(fmt.Errorf("sumologic: a line of %s is %d bytes, over %d", m.Key, len(b), MaxRequest))
			}
			if err := batch.Add(b); err != nil {
				return err
			}
		}
	}
	return batch.Flush()
}

func (d *destination) post(ctx context.Context, data []byte) error {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		return dest.Permanent(fmt.Errorf("sumologic: compress: %w", err))
	}
	h := http.Header{"Content-Type": {"application/x-ndjson"}, "Content-Encoding": {"gzip"},
		"X-Sumo-Category": {d.category}, "X-Sumo-Name": {d.name}}
	if d.host != "" {
		h.Set("X-Sumo-Host", d.host)
	}
	if _, err := httpsend.Do(ctx, d.client, httpsend.Request{URL: d.url, Header: h, Body: z.Bytes(), SecretURL: true}); err != nil {
		return fmt.Errorf("sumologic: upload %d bytes: %w", len(data), err)
	}
	return nil
}
