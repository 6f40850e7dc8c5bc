// Package httpsend is the HTTP exchange the HTTP destinations (Slack,
// Teams, PagerDuty, Splunk HEC, Sumo Logic, Elasticsearch/OpenSearch)
// share: it sends one request with the configured client, keeps secret
// URLs out of transport errors, bounds the answer it reads, and turns every
// failure into a *dest.Error that says whether to retry (dest.CheckResponse
// for HTTP statuses; network failures retryable; certificate failures
// permanent, since they will not heal by waiting). PostEach is the
// one-request-a-message loop of the chat webhooks; Batch packs NDJSON
// lines into request bodies under a target's size limit.
package httpsend

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/riskmap/riskmap/internal/integrations/dest"
)

// MaxAnswer is the most of a successful answer's body that is read.
const MaxAnswer = 1 << 20

// Answer is a 2xx answer.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Request is one request to send.
type Request struct {
	Method string // POST when empty
	URL    string
	Header http.Header
	Body   []byte
	// SecretURL says the URL itself is a secret (a Slack, Teams or Sumo
	// Logic webhook): errors then name only its scheme and host.
	SecretURL bool
}

// Do sends r with c. It returns the answer when the status is 2xx, and
// otherwise a *dest.Error: the status's (dest.CheckResponse), or a
// transport failure's (retryable, except certificate failures).
func Do(ctx context.Context, c *http.Client, r Request) (*Answer, error) {
	if c == nil {
		c = http.DefaultClient
	}
	// Redirects are not followed: a 301/302 would turn the POST into a GET
	// that "succeeds" without delivering; the 3xx goes to CheckResponse and
	// fails permanently, naming the status.
	noRedirect := *c
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c = &noRedirect
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		// NewRequest's errors quote the URL.
		return nil, dest.Permanent(fmt.Errorf("new request to %s: invalid URL", Redact(r.URL, r.SecretURL)))
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, transportError(err, r.URL, r.SecretURL)
	}
	defer resp.Body.Close()
	if err := dest.CheckResponse(resp); err != nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer))
	if err != nil {
		return nil, &dest.Error{Retryable: true, Status: resp.StatusCode, Err: fmt.Errorf("read answer of %s: %w", Redact(r.URL, r.SecretURL), stripURL(err))}
	}
	return &Answer{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// transportError is a failed exchange: the URL replaced by its redacted
// form; retryable unless the server's certificate was refused.
func transportError(err error, rawURL string, secret bool) error {
	e := fmt.Errorf("%s %s: %w", "send to", Redact(rawURL, secret), stripURL(err))
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
	)
	if errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return dest.Permanent(e)
	}
	return &dest.Error{Retryable: true, Err: e}
}

// stripURL unwraps a *url.Error, whose message quotes the whole URL.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// JSON encodes v without escaping <, > and & (targets show them as
// typed; Slack's mrkdwn escapes are already entities).
func JSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Redact is the URL as errors may show it: without user information,
// and, when secret, without path and query.
func Redact(rawURL string, secret bool) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	if secret {
		return u.Scheme + "://" + u.Host + "/…"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

// CheckURL validates a destination's URL setting: absolute, https (http
// only when allowHTTP, for servers on a private network), with a host.
// The error names the field and never the value when secret.
func CheckURL(field, rawURL string, secret, allowHTTP bool) (*url.URL, error) {
	show := func() string {
		if secret {
			return ""
		}
		return fmt.Sprintf(" %q", rawURL)
	}
	if rawURL == "" {
		return nil, fmt.Errorf("%s: required", field)
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%s%s: not an absolute URL", field, show())
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowHTTP {
			return nil, fmt.Errorf("%s%s: must be https", field, show())
		}
	default:
		return nil, fmt.Errorf("%s%s: must be https", field, show())
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: credentials belong in their own settings, not in the URL", field)
	}
	return u, nil
}

// PostEach posts each message as JSON, encoded by encode, to a secret
// URL (a chat webhook or workflow), one request a message, in order; the
// first failure ends the batch.
func PostEach(ctx context.Context, c *http.Client, rawURL string, msgs []dest.Message, encode func(dest.Message) ([]byte, error)) error {
	for _, m := range msgs {
		body, err := encode(m)
		if err != nil {
			return dest.Permanent(fmt.Errorf("encode message %s: %w", m.Key, err))
		}
		_, err = Do(ctx, c, Request{
			URL:       rawURL,
			Header:    http.Header{"Content-Type": {"application/json; charset=utf-8"}},
			Body:      body,
			SecretURL: true,
		})
		if err != nil {
			return fmt.Errorf("post message %s: %w", m.Key, err)
		}
	}
	return nil
}

// Batch packs NDJSON lines into request bodies of at most Max bytes and
// hands each full body to Send.
type Batch struct {
	Max  int
	Send func(body []byte) error
	body bytes.Buffer
}

// Add appends lines, each ended by a newline, as one unit: when they
// would take the body over Max, the body so far is sent first (a unit
// over Max on its own is a body of its own).
func (b *Batch) Add(lines ...[]byte) error {
	n := 0
	for _, l := range lines {
		n += len(l) + 1
	}
	if b.body.Len() > 0 && b.body.Len()+n > b.Max {
		if err := b.Flush(); err != nil {
			return err
		}
	}
	for _, l := range lines {
		b.body.Write(l)
		b.body.WriteByte('\n')
	}
	return nil
}

// Flush sends what the batch holds, if anything.
func (b *Batch) Flush() error {
	if b.body.Len() == 0 {
		return nil
	}
	err := b.Send(b.body.Bytes())
	b.body.Reset()
	return err
}
