// Package client is the sensor's side of the console protocol
// (API-CONTRACT.md, "Sensor protocol"): it exchanges the sensor's API key
// for short-lived tokens and refreshes them, pushes gzip reports, polls for
// commands, reports scan status and uploads inventories. TLS is always
// verified: against the system roots (or a given CA), or, for a console
// with a self-signed certificate, against the pinned SHA-256 of its leaf
// certificate. There is no way to turn verification off. Responses are
// size-limited and validated; a malformed answer is an error, never a
// crash.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/tlspin"
)

// Config configures the client.
type Config struct {
	// ConsoleURL is the console's https:// base URL.
	ConsoleURL string
	// Key is the sensor's key (rmsk_...), from its enrolment; empty until
	// Enrol gives one.
	Key string
	// Version is the sensor's version, sent with token exchanges.
	Version string
	// PinSHA256 is the hex SHA-256 of the console's leaf certificate (DER),
	// as the console prints it. When set, the certificate must match it
	// exactly; otherwise it is verified against RootCAs.
	PinSHA256 string
	// RootCAs verifies the console when no pin is given (nil: system roots).
	RootCAs *x509.CertPool
	// Timeout bounds each request (default 30 s).
	Timeout time.Duration
	// MaxResponseBytes bounds response bodies (default 1 MiB).
	MaxResponseBytes int64
	// UserAgent is sent with every request.
	UserAgent string
	// NoStream sends each request (report, poll, scan status) as an HTTP
	// request instead of on the sensor stream (a WebSocket per console,
	// sensorproto.PathStream), which the client otherwise opens, falling
	// back to requests where the upgrade is refused (an older console, a
	// proxy that does not pass it).
	NoStream bool
	Logger   *slog.Logger
	Now      func() time.Time
}

// Client talks to one console. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base *url.URL
	http *http.Client
	tls  *tls.Config

	stream sensorStream

	mu       sync.Mutex
	key      string
	sensorID string
	access   string
	expires  time.Time
}

// New validates cfg and returns a client; it does not connect yet.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.ConsoleURL)
	if err != nil {
		return nil, fmt.Errorf("console URL %q: %w", cfg.ConsoleURL, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("console URL %q: must be https://host[:port] (the sensor only speaks TLS)", cfg.ConsoleURL)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.RootCAs}
	if cfg.PinSHA256 != "" {
		pin, err := ParsePin(cfg.PinSHA256)
		if err != nil {
			return nil, err
		}
		now := cfg.Now
		if now == nil {
			now = time.Now
		}
		tlspin.Apply(tc, pin, now)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "riskmap-sensor"
	}
	tr := &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true,
		MaxIdleConns: 4, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout}
	u.Path = strings.TrimRight(u.Path, "/")
	return &Client{cfg: cfg, base: u, key: cfg.Key, tls: tc, stream: sensorStream{mu: make(chan struct{}, 1)}, http: &http.Client{Transport: tr, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

// ParsePin parses a SHA-256 fingerprint (see tlspin.Parse).
func ParsePin(s string) ([]byte, error) { return tlspin.Parse(s) }

// Fingerprint returns the pin of a DER certificate, as ParsePin reads it.
func Fingerprint(der []byte) string { return tlspin.Fingerprint(der) }

// PinnedTLS returns a TLS configuration that accepts exactly the
// certificate with the given fingerprint (for tools and tests that talk to
// a self-signed console).
func PinnedTLS(fingerprint string) (*tls.Config, error) { return tlspin.Config(fingerprint) }

// ErrPinMismatch is returned when the console presents another certificate.
var ErrPinMismatch = tlspin.ErrMismatch

// StatusError is a non-success answer from the console.
type StatusError struct {
	Op         string
	Code       int
	Detail     string
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s: console answered %d %s", e.Op, e.Code, http.StatusText(e.Code))
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// ErrNoKey means the client has no sensor key: the sensor must enrol.
var ErrNoKey = errors.New("no sensor key: enrol the sensor with an enrolment token first")

// token returns a valid access token, exchanging the sensor key when the
// last one is past 80% of its lifetime (or force).
func (c *Client) token(ctx context.Context, force bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	if !force && c.access != "" && now.Before(c.expires) {
		return c.access, nil
	}
	if c.key == "" {
		return "", ErrNoKey
	}
	var t sensorproto.SensorTokenResponse
	if err := c.postJSON(ctx, "exchange the sensor key", sensorproto.PathToken, "", sensorproto.SensorTokenRequest{Key: c.key, Version: c.cfg.Version}, &t); err != nil {
		c.access = ""
		return "", err
	}
	if t.AccessToken == "" || t.ExpiresIn <= 0 || (t.TokenType != "" && !strings.EqualFold(t.TokenType, "Bearer")) {
		c.access = ""
		return "", fmt.Errorf("token answer: %w: want a Bearer accessToken with a positive expiresIn, got type %q expiresIn %d", ErrMalformed, t.TokenType, t.ExpiresIn)
	}
	c.access, c.sensorID = t.AccessToken, t.SensorID
	c.expires = now.Add(time.Duration(float64(t.ExpiresIn)*0.8) * time.Second)
	return c.access, nil
}

// Key is the sensor's current key.
func (c *Client) Key() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.key
}

// SensorID is the sensor id the console named at the last token exchange
// or enrolment ("" before).
func (c *Client) SensorID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sensorID
}

// Enrol enrols the sensor with an enrolment token: the console answers
// with the sensor's id and key, which the client uses from then on. Keep
// the key where only the sensor can read it.
func (c *Client) Enrol(ctx context.Context, req sensorproto.EnrolRequest) (sensorproto.EnrolResponse, error) {
	var out sensorproto.EnrolResponse
	if err := c.postJSON(ctx, "enrol", sensorproto.PathEnrol, "", req, &out); err != nil {
		return out, err
	}
	if out.SensorID == "" || out.Key == "" {
		return out, fmt.Errorf("enrol: %w: no sensorId or key", ErrMalformed)
	}
	c.mu.Lock()
	c.key, c.sensorID, c.access = out.Key, out.SensorID, ""
	c.mu.Unlock()
	return out, nil
}

// RotateKey asks the console for a new key and uses it from then on (the
// old one keeps working for a few minutes, so requests under way finish).
// Store the returned key before the next restart.
func (c *Client) RotateKey(ctx context.Context) (string, error) {
	var out sensorproto.SensorKeyResponse
	if err := c.authed(ctx, "rotate the sensor key", http.MethodPost, sensorproto.PathKey, []byte("{}"), "", &out); err != nil {
		return "", err
	}
	if out.Key == "" {
		return "", fmt.Errorf("rotate the sensor key: %w: no key", ErrMalformed)
	}
	c.mu.Lock()
	c.key, c.access = out.Key, ""
	c.mu.Unlock()
	return out.Key, nil
}

func (c *Client) postJSON(ctx context.Context, op, path, tok string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return c.do(ctx, op, http.MethodPost, path, tok, b, "", out)
}

// do sends one request and decodes a JSON answer into out (nil: none).
func (c *Client) do(ctx context.Context, op, method, path, tok string, body []byte, encoding string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("%s: read answer: %w", op, err)
	}
	if int64(len(raw)) > c.cfg.MaxResponseBytes {
		return fmt.Errorf("%s: %w: more than %d bytes", op, ErrOversized, c.cfg.MaxResponseBytes)
	}
	return answer(op, resp.StatusCode, retryAfter(resp.Header.Get("Retry-After"), c.cfg.Now()), raw, out)
}

// answer turns a console's answer into out, or into a StatusError.
func answer(op string, status int, retry time.Duration, raw []byte, out any) error {
	if status < 200 || status > 299 {
		se := &StatusError{Op: op, Code: status, RetryAfter: retry}
		var prob struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		if json.Unmarshal(raw, &prob) == nil {
			se.Detail = strings.TrimSpace(prob.Title + ": " + prob.Detail)
			se.Detail = strings.Trim(se.Detail, ": ")
		}
		if len(se.Detail) > 300 {
			se.Detail = se.Detail[:300]
		}
		return se
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s: %w: %v", op, ErrMalformed, err)
	}
	return nil
}

// ErrOversized and ErrMalformed mark console answers the sensor ignored.
var (
	ErrOversized = errors.New("oversized console answer")
	ErrMalformed = errors.New("malformed console answer")
)

func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, time.Hour)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), time.Hour)
	}
	return 0
}

// Authenticate exchanges the sensor key for a token now (the sensor does
// it at start-up, so a wrong key or certificate shows at once).
func (c *Client) Authenticate(ctx context.Context) error {
	_, err := c.token(ctx, true)
	return err
}

// authed runs a request with a token, re-exchanging the key once on 401:
// on the sensor stream, or as a request where there is none.
func (c *Client) authed(ctx context.Context, op, method, path string, body []byte, encoding string, out any) error {
	if streamed, err := c.streamCall(ctx, op, method, path, body, encoding, out); streamed {
		return err
	}
	tok, err := c.token(ctx, false)
	if err != nil {
		return err
	}
	err = c.do(ctx, op, method, path, tok, body, encoding, out)
	var se *StatusError
	if errors.As(err, &se) && se.Code == http.StatusUnauthorized {
		if tok, err = c.token(ctx, true); err != nil {
			return err
		}
		err = c.do(ctx, op, method, path, tok, body, encoding, out)
	}
	return err
}

// PushReport sends a gzip-compressed report.
func (c *Client) PushReport(ctx context.Context, gz []byte) (sensorproto.Ack, error) {
	var a sensorproto.Ack
	err := c.authed(ctx, "push report", http.MethodPost, sensorproto.PathReports, gz, "gzip", &a)
	if err != nil {
		return sensorproto.Ack{}, err
	}
	if err := a.Validate(); err != nil {
		return sensorproto.Ack{}, fmt.Errorf("push report: %w: %w", ErrMalformed, err)
	}
	return a, nil
}

// PollCommands asks for commands, offering freeSlots scan slots for scans
// of scanTypes (none: vulnerability only).
func (c *Client) PollCommands(ctx context.Context, sensorID string, freeSlots int, scanTypes ...string) ([]sensorproto.Command, error) {
	var out sensorproto.PollResponse
	b, _ := json.Marshal(sensorproto.PollRequest{SensorID: sensorID, FreeScanSlots: freeSlots, ScanTypes: scanTypes})
	if err := c.authed(ctx, "poll commands", http.MethodPost, sensorproto.PathPoll, b, "", &out); err != nil {
		return nil, err
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("poll commands: %w: %w", ErrMalformed, err)
	}
	return out.Commands, nil
}

// SetScanStatus reports a scan's status.
func (c *Client) SetScanStatus(ctx context.Context, scanID string, st sensorproto.ScanStatus) error {
	b, _ := json.Marshal(st)
	return c.authed(ctx, "scan "+scanID+" status", http.MethodPost, sensorproto.ScanStatusPath(url.PathEscape(scanID)), b, "", nil)
}

// UploadResults uploads the results of a scan of a type other than
// vulnerability, gzip-compressed.
func (c *Client) UploadResults(ctx context.Context, scanID string, res *sensorproto.Results) error {
	gz, err := sensorproto.EncodeResults(res)
	if err != nil {
		return fmt.Errorf("upload results of scan %s: %w", scanID, err)
	}
	return c.authed(ctx, "upload results of scan "+scanID, http.MethodPut, sensorproto.ResultsPath(url.PathEscape(scanID)), gz, "gzip", nil)
}

// UploadInventory uploads a scan's inventory, gzip-compressed.
func (c *Client) UploadInventory(ctx context.Context, scanID string, inv *inventory.Inventory) error {
	gz, err := sensorproto.EncodeInventory(inv)
	if err != nil {
		return fmt.Errorf("upload inventory of scan %s: %w", scanID, err)
	}
	return c.authed(ctx, "upload inventory of scan "+scanID, http.MethodPut, sensorproto.InventoryPath(url.PathEscape(scanID)), gz, "gzip", nil)
}
