package fakes

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"sync"
	"testing"
)

// Slack's limits for messages and Block Kit, as documented
// (https://api.slack.com/reference/block-kit/blocks,
// https://api.slack.com/reference/block-kit/composition-objects#text,
// https://api.slack.com/reference/block-kit/block-elements#button).
const (
	SlackMaxBlocks         = 50
	SlackMaxText           = 40000 // the message's top-level text
	SlackMaxHeaderText     = 150
	SlackMaxSectionText    = 3000
	SlackMaxFields         = 10
	SlackMaxFieldText      = 2000
	SlackMaxContextItems   = 10
	SlackMaxActionElements = 25
	SlackMaxButtonText     = 75
	SlackMaxButtonURL      = 3000
	SlackMaxButtonValue    = 2000
	SlackMaxID             = 255 // block_id, action_id
)

// SlackMessage is a message a Slack fake accepted.
type SlackMessage struct {
	Raw    json.RawMessage
	Text   string
	Blocks []map[string]any
}

// Slack is an incoming webhook (https://api.slack.com/messaging/webhooks).
type Slack struct {
	*Server
	path string

	mu       sync.Mutex
	messages []SlackMessage
}

// NewSlack starts a Slack incoming webhook.
func NewSlack(t testing.TB) *Slack {
	s := &Slack{path: "/services/TFAKE0001/BFAKE0001/" + token(24)}
	s.Server = newServer(t, http.HandlerFunc(s.serve), func(status int) (string, string) {
		body := map[int]string{400: "invalid_payload", 403: "action_prohibited", 404: "no_service", 410: "channel_is_archived", 429: "rate_limited", 500: "rollup_error"}[status]
		if body == "" {
			body = http.StatusText(status)
		}
		return "text/html", body
	})
	return s
}

// WebhookURL is the webhook's secret URL.
func (s *Slack) WebhookURL() string { return s.URL() + s.path }

// Messages lists the accepted messages, oldest first.
func (s *Slack) Messages() []SlackMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SlackMessage(nil), s.messages...)
}

func (s *Slack) serve(w http.ResponseWriter, r *http.Request) {
	const ct = "text/html"
	if r.URL.Path != s.path {
		s.reject(w, http.StatusNotFound, ct, "no_service", "unknown webhook path")
		return
	}
	if r.Method != http.MethodPost {
		s.reject(w, http.StatusMethodNotAllowed, ct, "invalid_method", r.Method)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		s.reject(w, http.StatusBadRequest, ct, "invalid_payload", "Content-Type "+r.Header.Get("Content-Type"))
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.reject(w, http.StatusBadRequest, ct, "invalid_payload", err.Error())
		return
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		s.reject(w, http.StatusBadRequest, ct, "invalid_payload", err.Error())
		return
	}
	var c checker
	msg, ok := c.object("", v)
	if !ok {
		s.reject(w, http.StatusBadRequest, ct, "invalid_payload", c.String())
		return
	}
	text, hasText := c.str("", msg, "text", false, SlackMaxText)
	if !c.ok() {
		s.reject(w, http.StatusBadRequest, ct, "invalid_payload", c.String())
		return
	}
	_, hasBlocks := msg["blocks"]
	_, hasAttachments := msg["attachments"]
	if (!hasText || text == "") && !hasBlocks && !hasAttachments {
		s.reject(w, http.StatusBadRequest, ct, "no_text", "neither text nor blocks")
		return
	}
	var blocks []map[string]any
	if hasBlocks {
		blocks = checkSlackBlocks(&c, msg)
		if !c.ok() {
			s.reject(w, http.StatusBadRequest, ct, "invalid_blocks", c.String())
			return
		}
	}
	s.mu.Lock()
	s.messages = append(s.messages, SlackMessage{Raw: raw, Text: text, Blocks: blocks})
	s.mu.Unlock()
	w.Header().Set("Content-Type", ct)
	io.WriteString(w, "ok")
}

// checkSlackBlocks checks the blocks of a message.
func checkSlackBlocks(c *checker, msg map[string]any) []map[string]any {
	arr, ok := c.array("", msg, "blocks", true, 0, SlackMaxBlocks)
	if !ok {
		return nil
	}
	ids := map[string]bool{}
	var out []map[string]any
	for i, v := range arr {
		path := item("blocks", i)
		b, ok := c.object(path, v)
		if !ok {
			continue
		}
		out = append(out, b)
		if id, ok := c.str(path, b, "block_id", false, SlackMaxID); ok {
			if ids[id] {
				c.failf(join(path, "block_id"), "duplicate %q", id)
			}
			ids[id] = true
		}
		switch typ, _ := c.str(path, b, "type", true, 0); typ {
		case "header":
			c.only(path, b, "type", "block_id", "text")
			slackText(c, join(path, "text"), b["text"], true, SlackMaxHeaderText, true)
		case "section":
			c.only(path, b, "type", "block_id", "text", "fields", "accessory", "expand")
			_, hasText := b["text"]
			_, hasFields := b["fields"]
			if !hasText && !hasFields {
				c.failf(path, "a section needs text or fields")
			}
			if hasText {
				slackText(c, join(path, "text"), b["text"], true, SlackMaxSectionText, false)
			}
			if fs, ok := c.array(path, b, "fields", false, 1, SlackMaxFields); ok {
				for j, f := range fs {
					slackText(c, item(join(path, "fields"), j), f, true, SlackMaxFieldText, false)
				}
			}
			if a, there := b["accessory"]; there {
				slackButton(c, join(path, "accessory"), a)
			}
			c.boolean(path, b, "expand")
		case "context":
			c.only(path, b, "type", "block_id", "elements")
			els, _ := c.array(path, b, "elements", true, 1, SlackMaxContextItems)
			for j, e := range els {
				ep := item(join(path, "elements"), j)
				o, ok := c.object(ep, e)
				if !ok {
					continue
				}
				if o["type"] == "image" {
					c.only(ep, o, "type", "image_url", "alt_text")
					c.absURL(ep, o, "image_url", true, 3000)
					c.str(ep, o, "alt_text", true, 2000)
					continue
				}
				slackText(c, ep, e, true, SlackMaxSectionText, false)
			}
		case "actions":
			c.only(path, b, "type", "block_id", "elements")
			els, _ := c.array(path, b, "elements", true, 1, SlackMaxActionElements)
			for j, e := range els {
				slackButton(c, item(join(path, "elements"), j), e)
			}
		case "divider":
			c.only(path, b, "type", "block_id")
		case "":
		default:
			// Known to Slack but not used by Riskmap (image, rich_text,
			// input, file, video, markdown...) or unknown: refused here.
			c.failf(join(path, "type"), "block type %q is not supported by this fake", typ)
		}
	}
	return out
}

// slackText checks a text composition object.
func slackText(c *checker, path string, v any, required bool, max int, plainOnly bool) {
	o, ok := c.object(path, v)
	if !ok {
		return
	}
	typ := c.enum(path, o, "type", true, false, "plain_text", "mrkdwn")
	if plainOnly && typ == "mrkdwn" {
		c.failf(join(path, "type"), "must be plain_text")
	}
	switch typ {
	case "plain_text":
		c.only(path, o, "type", "text", "emoji")
		c.boolean(path, o, "emoji")
	case "mrkdwn":
		c.only(path, o, "type", "text", "verbatim")
		c.boolean(path, o, "verbatim")
	}
	c.str(path, o, "text", required, max)
}

// slackButton checks a button element.
func slackButton(c *checker, path string, v any) {
	o, ok := c.object(path, v)
	if !ok {
		return
	}
	if typ, _ := c.str(path, o, "type", true, 0); typ != "button" && typ != "" {
		c.failf(join(path, "type"), "element type %q is not supported by this fake", typ)
		return
	}
	c.only(path, o, "type", "text", "action_id", "url", "value", "style", "confirm", "accessibility_label")
	slackText(c, join(path, "text"), o["text"], true, SlackMaxButtonText, true)
	c.str(path, o, "action_id", false, SlackMaxID)
	c.absURL(path, o, "url", false, SlackMaxButtonURL)
	c.str(path, o, "value", false, SlackMaxButtonValue)
	c.enum(path, o, "style", false, false, "primary", "danger")
}
