// Package webhook is the generic webhook destination: messages POSTed as
// JSON (schema version 1, docs/webhook.md and schema/webhook-v1.json) to
// an HTTPS endpoint, signed with HMAC-SHA256 over the timestamp and the
// body (the Riskmap-Signature header, as Stripe and GitHub sign theirs),
// with an Idempotency-Key header so that a receiver can drop the copies a
// retry sends again.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/integrations/dest"
)

// Name is the kind's name.
const Name = "webhook"

// SchemaVersion is the version of the body's schema (docs/webhook.md).
const SchemaVersion = "1"

// Headers the webhook sends.
const (
	HeaderSignature   = "Riskmap-Signature"
	HeaderIdempotency = "Idempotency-Key"
	HeaderEvent       = "Riskmap-Event"
)

// MaxBatch is the most messages one request carries.
const MaxBatch = 100

// MinSecretLen is the shortest signing secret accepted.
const MinSecretLen = 16

// Kind is the webhook destination kind.
func Kind() dest.Kind {
	return dest.Kind{
		Name:  Name,
		Title: "Webhook",
		Fields: []dest.Field{
			{Name: "url", Label: "Endpoint URL", Type: "url", Required: true, Secret: true,
				Help: "HTTPS URL the messages are POSTed to. Kept encrypted: such URLs often carry a token."},
			{Name: "secret", Label: "Signing secret", Type: "password", Required: true, Secret: true,
				Help: fmt.Sprintf("At least %d characters. Each request carries %s: t=<unix time>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">.", MinSecretLen, HeaderSignature)},
			{Name: "headers", Label: "Extra headers", Type: "textarea", Secret: true,
				Help: "One \"Name: value\" per line (an Authorization header, say). Kept encrypted."},
			{Name: "batch", Label: "Messages per request", Type: "number", Default: "1",
				Help: fmt.Sprintf("1 sends each message in its own request; up to %d gathers them in one.", MaxBatch)},
		},
		Batch: MaxBatch,
		New:   New,
	}
}

// Webhook is a configured webhook.
type Webhook struct {
	url     string
	secret  []byte
	headers http.Header
	batch   int
	client  *http.Client
	console string
	now     func() time.Time
}

// New checks cfg and returns the webhook.
func New(cfg dest.Config) (dest.Destination, error) {
	w := &Webhook{client: cfg.HTTP, console: cfg.ConsoleURL, now: time.Now, batch: 1, headers: http.Header{}}
	raw := strings.TrimSpace(cfg.Secrets["url"])
	if raw == "" {
		return nil, errors.New("url: required")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("url: not an absolute URL")
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("url: the scheme must be https (certificates are verified), not %q", u.Scheme)
	}
	if u.User != nil {
		return nil, errors.New("url: credentials in the URL are refused; use an Authorization header in headers")
	}
	w.url = u.String()
	if len(cfg.Secrets["secret"]) < MinSecretLen {
		return nil, fmt.Errorf("secret: at least %d characters", MinSecretLen)
	}
	w.secret = []byte(cfg.Secrets["secret"])
	if h := cfg.Secrets["headers"]; h != "" {
		if w.headers, err = ParseHeaders(h); err != nil {
			return nil, fmt.Errorf("headers: %w", err)
		}
	}
	if b := strings.TrimSpace(cfg.Settings["batch"]); b != "" {
		n, err := strconv.Atoi(b)
		if err != nil || n < 1 || n > MaxBatch {
			return nil, fmt.Errorf("batch: a whole number from 1 to %d, not %q", MaxBatch, b)
		}
		w.batch = n
	}
	if w.client == nil {
		w.client = &http.Client{Timeout: 30 * time.Second}
	}
	return w, nil
}

// reserved are headers the webhook sets itself.
var reserved = map[string]bool{"Content-Type": true, "Content-Length": true, "Host": true, "User-Agent": true,
	HeaderSignature: true, HeaderIdempotency: true, HeaderEvent: true, "Transfer-Encoding": true, "Connection": true}

// ParseHeaders reads "Name: value" lines (blank lines ignored).
func ParseHeaders(s string) (http.Header, error) {
	h := http.Header{}
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			return nil, fmt.Errorf("line %d: want \"Name: value\"", i+1)
		}
		if !validHeaderName(name) {
			return nil, fmt.Errorf("line %d: %q is not a header name", i+1, name)
		}
		if strings.ContainsAny(value, "\r\x00") {
			return nil, fmt.Errorf("line %d: control characters in the value of %s", i+1, name)
		}
		name = textproto.CanonicalMIMEHeaderKey(name)
		if reserved[name] {
			return nil, fmt.Errorf("line %d: %s is set by the webhook itself", i+1, name)
		}
		h.Add(name, value)
	}
	return h, nil
}

func validHeaderName(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return s != ""
}

// Body is what a request carries (schema version 1).
type Body struct {
	SchemaVersion string `json:"schemaVersion" enum:"1" doc:"The version of this schema"`
	Source        string `json:"source" enum:"riskmap"`
	ConsoleURL    string `json:"consoleUrl,omitempty" doc:"The console's public URL"`
	SentAt        string `json:"sentAt" format:"date-time" doc:"When this request was sent (RFC 3339); the signature's timestamp is the same second"`
	// Messages are in the order they were queued.
	Messages []Message `json:"messages" minItems:"1" maxItems:"100" nullable:"false" doc:"The messages, in the order they were queued (1 unless the destination gathers several per request)"`
}

// Message is one message of a body: the message with the key a receiver
// deduplicates it by.
type Message struct {
	IdempotencyKey string `json:"idempotencyKey" doc:"event:key, the same in every request that carries this message (retries included)"`
	dest.Message
}

// IdempotencyKey is a message's identity across retries: its event and
// key.
func IdempotencyKey(m dest.Message) string { return m.Event + ":" + m.Key }

// Send POSTs msgs, w.batch at a time, in order; it stops at the first
// failure (the core sends them all again later: receivers deduplicate by
// Idempotency-Key).
func (w *Webhook) Send(ctx context.Context, msgs []dest.Message) error {
	for start := 0; start < len(msgs); start += w.batch {
		if err := w.post(ctx, msgs[start:min(start+w.batch, len(msgs))]); err != nil {
			return err
		}
	}
	return nil
}

func (w *Webhook) post(ctx context.Context, msgs []dest.Message) error {
	now := w.now()
	b := Body{SchemaVersion: SchemaVersion, Source: "riskmap", ConsoleURL: w.console, SentAt: now.UTC().Format(time.RFC3339), Messages: make([]Message, len(msgs))}
	keys := make([]string, len(msgs))
	for i, m := range msgs {
		keys[i] = IdempotencyKey(m)
		b.Messages[i] = Message{IdempotencyKey: keys[i], Message: m}
	}
	body, err := json.Marshal(b)
	if err != nil {
		return dest.Permanent(fmt.Errorf("encode webhook body: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return dest.Permanent(fmt.Errorf("webhook request: %w", err))
	}
	for k, v := range w.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "riskmap-webhook/"+SchemaVersion)
	req.Header.Set(HeaderSignature, Sign(w.secret, now, body))
	key := keys[0]
	event := msgs[0].Event
	if len(keys) > 1 {
		sum := sha256.Sum256([]byte(strings.Join(keys, "\n")))
		key, event = "batch:"+hex.EncodeToString(sum[:16]), "batch"
	}
	req.Header.Set(HeaderIdempotency, key)
	req.Header.Set(HeaderEvent, event)
	resp, err := w.client.Do(req)
	if err != nil {
		// The URL (whose path may hold a token) stays out of the error.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("POST to the webhook (%s): %w", redact(w.url), err)
	}
	defer resp.Body.Close()
	if err := dest.CheckResponse(resp); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return nil
}

// redact shows a URL's scheme and host only (its path may hold a token).
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the URL"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// Sign is the Riskmap-Signature header of body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("no valid v1 signature")
	ErrOldSignature = errors.New("signature timestamp outside the tolerance")
)

// Verify checks a Riskmap-Signature header against body as a receiver
// does: a v1 signature made with secret over the header's timestamp and
// the body, and a timestamp within tolerance of now (replays of an old
// request are refused). Several v1 entries are allowed (one matching
// suffices), so that a sender can sign with two secrets while they are
// rotated.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q", ErrNoSignature, ts)
	}
	want := mac(secret, ts, body)
	ok := false
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			ok = true
		}
	}
	if !ok {
		return ErrNoSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s from now", ErrOldSignature, d.Round(time.Second))
	}
	return nil
}
