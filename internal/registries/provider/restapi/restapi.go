// Package restapi is the HTTP exchange the registry providers share with
// their vendors' APIs (Docker Hub, Harbor, Quay, GitLab, JFrog, ACR, GAR):
// one request with the account's client, the answer's status mapped to
// provider.ErrUnauthorized (401, 403) or provider.ErrUnavailable (429,
// 5xx, network failures), answers read to a bound, JSON decoded, next
// pages found in Link headers (RFC 8288) and kept on the API's host, and
// credentials kept out of every error: URLs lose their user information
// and query, and the values the caller names as secret are replaced in
// any text an error quotes.
//
// It also holds what every provider does the same way around those
// requests: following pages (Pages for tokens, numbers and next URLs,
// LinkPages for Link headers; at most MaxPages), authorizing (Basic,
// Bearer, BearerFrom a TokenCache), reading token answers (ParseToken,
// JWTExpiry) and times (Time), and reading the settings they share
// (BaseURL, BaseURLOr, List, User, IsHost). What a vendor's answers mean stays
// in its provider's package.
package restapi

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
	"strings"
	"unicode/utf8"

	"github.com/riskmap/riskmap/internal/registries/provider"
)

// MaxAnswer bounds the body of an answer that is read (a page of tags of
// 100 entries is a few tens of kilobytes).
const MaxAnswer = 8 << 20

// maxQuoted bounds the part of an error answer quoted in an error.
const maxQuoted = 300

// Client sends requests to one API.
type Client struct {
	// HTTP is the account's client (provider.Account.HTTP); nil means
	// http.DefaultClient.
	HTTP *http.Client
	// What names the API in errors ("Harbor API").
	What string
	// Authorize sets the request's credentials (nil: anonymous).
	Authorize func(ctx context.Context, req *http.Request) error
	// Renew, when set, is called after a 401 to an authorized request;
	// the request is then sent once more (an expired token).
	Renew func()
	// Secrets are values never shown in errors.
	Secrets []string
}

// Request is one request.
type Request struct {
	Method string // GET when empty
	URL    string
	Header http.Header
	Body   []byte
}

// Answer is a 2xx answer.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
	// URL is the request's URL (for resolving relative links).
	URL *url.URL
}

// Get sends a GET of rawURL and decodes the JSON answer into v.
func (c *Client) Get(ctx context.Context, rawURL string, v any) (*Answer, error) {
	a, err := c.Do(ctx, Request{URL: rawURL, Header: http.Header{"Accept": {"application/json"}}})
	if err != nil {
		return nil, err
	}
	if v != nil {
		if err := json.Unmarshal(a.Body, v); err != nil {
			return nil, fmt.Errorf("%s: decode answer of GET %s: %w", c.What, Redact(rawURL), err)
		}
	}
	return a, nil
}

// Do sends r, authorized, renewing the credentials once after a 401, and
// returns a 2xx answer or an error wrapping provider.ErrUnauthorized or
// provider.ErrUnavailable when the status or the failure says so.
func (c *Client) Do(ctx context.Context, r Request) (*Answer, error) {
	a, err := c.do(ctx, r)
	var se *StatusError
	if err != nil && c.Authorize != nil && c.Renew != nil && errors.As(err, &se) && se.Status == http.StatusUnauthorized {
		c.Renew()
		a, err = c.do(ctx, r)
	}
	return a, err
}

func (c *Client) do(ctx context.Context, r Request) (*Answer, error) {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	// A redirect would carry the Authorization header to wherever the
	// answer says only when the host stays; others are refused rather
	// than followed without credentials into a confusing 401.
	noRedirect := *hc
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.URL, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %s %s: invalid request", c.What, method, Redact(r.URL))
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	if c.Authorize != nil {
		if err := c.Authorize(ctx, req); err != nil {
			return nil, err
		}
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		return nil, c.transportError(method, r.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read answer of %s %s: %w: %w", c.What, method, Redact(r.URL), provider.ErrUnavailable, c.scrub(unwrapURL(err)))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.statusError(method, r.URL, resp, b)
	}
	if len(b) > MaxAnswer {
		return nil, fmt.Errorf("%s: answer of %s %s is larger than %d bytes", c.What, method, Redact(r.URL), MaxAnswer)
	}
	return &Answer{Status: resp.StatusCode, Header: resp.Header, Body: b, URL: req.URL}, nil
}

// StatusError is a non-2xx answer.
type StatusError struct {
	What   string
	Method string
	URL    string // redacted
	Status int
	// Message is the start of the answer's body, secrets removed.
	Message string
	kind    error
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s: %s %s: %d %s", e.What, e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.kind != nil {
		s += " (" + e.kind.Error() + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap gives provider.ErrUnauthorized, provider.ErrUnavailable or nil.
func (e *StatusError) Unwrap() error { return e.kind }

// Kind is the provider error a status means: 401 the credentials refused,
// 403 not permitted (which is also ErrUnauthorized), 429 and 5xx the
// registry unavailable for now.
func Kind(status int) error {
	switch {
	case status == http.StatusUnauthorized:
		return provider.ErrUnauthorized
	case status == http.StatusForbidden:
		return provider.ErrForbidden
	case status == http.StatusTooManyRequests || status >= 500:
		return provider.ErrUnavailable
	}
	return nil
}

func (c *Client) statusError(method, rawURL string, resp *http.Response, body []byte) error {
	return &StatusError{
		What: c.What, Method: method, URL: Redact(rawURL), Status: resp.StatusCode,
		Message: c.Quote(body), kind: Kind(resp.StatusCode),
	}
}

// Quote is the start of an answer's body fit for an error: valid UTF-8,
// one line, at most a few hundred bytes, the client's secrets removed.
func (c *Client) Quote(body []byte) string {
	s := strings.ToValidUTF8(string(body), "?")
	s = strings.Join(strings.Fields(s), " ")
	s = c.scrubString(s)
	if len(s) > maxQuoted {
		cut := maxQuoted
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func (c *Client) transportError(method, rawURL string, err error) error {
	err = unwrapURL(err)
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
	)
	if errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		// Waiting will not make a certificate trusted.
		return fmt.Errorf("%s: %s %s: %w", c.What, method, Redact(rawURL), c.scrub(err))
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %s %s: %w", c.What, method, Redact(rawURL), err)
	}
	return fmt.Errorf("%s: %s %s: %w: %w", c.What, method, Redact(rawURL), provider.ErrUnavailable, c.scrub(err))
}

// scrub returns err with the client's secrets removed from its text (the
// wrapped chain is kept for errors.Is only when nothing was removed).
func (c *Client) scrub(err error) error {
	s := err.Error()
	if t := c.scrubString(s); t != s {
		return errors.New(t)
	}
	return err
}

func (c *Client) scrubString(s string) string {
	for _, sec := range c.Secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// unwrapURL drops a *url.Error's quoting of the whole URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Redact is a URL as errors show it: no user information, no query.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	u.User = nil
	u.RawQuery = ""
	u.ForceQuery = false
	u.Fragment = ""
	return u.String()
}

// BaseURL parses an API base URL setting: absolute http(s), no user
// information, no query; the path kept without its trailing slash.
func BaseURL(field, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%s: %q: want an absolute http(s) URL", field, raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: credentials in the URL: put them in the secret fields", field)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s: %q: want a URL without query or fragment", field, Redact(raw))
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// EscapePath escapes each segment of a slash-separated path (a
// repository name with its namespaces) for Join.
func EscapePath(p string) string {
	seg := strings.Split(p, "/")
	for i, s := range seg {
		seg[i] = url.PathEscape(s)
	}
	return strings.Join(seg, "/")
}

// Join is base's URL with escapedPath (already escaped: a repository
// name that must stay one segment goes through url.PathEscape) and query
// appended.
func Join(base *url.URL, escapedPath string, query url.Values) string {
	s := base.Scheme + "://" + base.Host + base.EscapedPath() + escapedPath
	if len(query) > 0 {
		s += "?" + query.Encode()
	}
	return s
}
