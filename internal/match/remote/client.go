package remote

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/tlspin"
)

// Config is how the CLI reaches a console.
type Config struct {
	// URL is the console's base URL (https://host:port).
	URL string
	// APIKey is a user's API key (any role; read-only suffices).
	APIKey string
	// CACertFile verifies the console against this PEM bundle instead of
	// the system roots.
	CACertFile string
	// Pin accepts exactly the certificate with this SHA-256 fingerprint
	// ("sha256:" prefix optional, hex with or without colons, as `riskmap
	// console` prints it): for a console's self-signed certificate.
	Pin string
	// Timeout bounds the whole request (default 5 minutes).
	Timeout time.Duration
	// MaxResponseBytes bounds the answer (default 1 GiB decompressed).
	MaxResponseBytes int64
	// UserAgent names the client.
	UserAgent string
}

// Client matches inventories against a console's knowledge base.
type Client struct {
	cfg  Config
	base *url.URL
	http *http.Client
}

// ErrPinMismatch is returned when the console presents another certificate
// than the pinned one.
var ErrPinMismatch = tlspin.ErrMismatch

// ParsePin reads a certificate fingerprint: an optional "sha256:" prefix,
// then 64 hex digits, colons and case ignored.
func ParsePin(s string) ([]byte, error) {
	b, err := tlspin.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("--pin: %w", err)
	}
	return b, nil
}

// New checks the configuration and builds the client. TLS is always
// verified: against the pin, the CA file, or the system roots.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("console URL %q: want https://HOST[:PORT]", cfg.URL)
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("console URL %q: the console serves HTTPS only; an API key is never sent in clear", cfg.URL)
	}
	if cfg.APIKey == "" {
		return nil, errors.New("no API key: give --api-key or set RISKMAP_API_KEY")
	}
	if cfg.Pin != "" && cfg.CACertFile != "" {
		return nil, errors.New("give --pin or --ca-cert, not both")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 1 << 30
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "riskmap-scan"
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case cfg.Pin != "":
		pin, err := ParsePin(cfg.Pin)
		if err != nil {
			return nil, err
		}
		tlspin.Apply(tc, pin, time.Now)
	case cfg.CACertFile != "":
		pem, err := os.ReadFile(cfg.CACertFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-cert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-cert %s: no PEM certificate in it", cfg.CACertFile)
		}
		tc.RootCAs = pool
	}
	tr := &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true,
		TLSHandshakeTimeout: 10 * time.Second}
	return &Client{cfg: cfg, base: u, http: &http.Client{Transport: tr, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

// StatusError is a refusal from the console.
type StatusError struct {
	Code   int
	Detail string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("console answered %d %s", e.Code, http.StatusText(e.Code))
	switch e.Code {
	case http.StatusUnauthorized:
		s += " (check the API key)"
	case http.StatusForbidden:
		s += " (the API key's user may not match inventories)"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Check verifies the connection and the API key (GET /api/v1/me) before a
// long inventory is built, so a wrong pin, CA or key fails fast.
func (c *Client) Check(ctx context.Context) error {
	u := *c.base
	u.Path += "/api/v1/me"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("reach console: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reach console %s: %w", c.base.Redacted(), c.hint(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reach console %s: %w", c.base.Redacted(), statusError(resp))
	}
	return nil
}

// hint explains a certificate the client could not verify.
func (c *Client) hint(err error) error {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &host) {
		return fmt.Errorf("%w (a console with its own self-signed certificate needs --pin sha256:FINGERPRINT as `riskmap console` prints it, or --ca-cert FILE)", err)
	}
	return err
}

func statusError(resp *http.Response) *StatusError {
	var p struct {
		Detail string `json:"detail"`
		Title  string `json:"title"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &p) != nil || p.Detail == "" {
		p.Detail = p.Title
	}
	return &StatusError{Code: resp.StatusCode, Detail: p.Detail}
}

// Match sends the inventory (gzip JSON) and returns the console's result.
func (c *Client) Match(ctx context.Context, inv *inventory.Inventory, opts match.Options) (*Response, error) {
	var body bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&body, gzip.BestSpeed)
	if err := json.NewEncoder(zw).Encode(inv); err != nil {
		return nil, fmt.Errorf("match on console: encode inventory: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("match on console: encode inventory: %w", err)
	}
	if body.Len() > MaxBodyBytes {
		return nil, fmt.Errorf("match on console: inventory is %d bytes compressed, the console takes at most %d", body.Len(), MaxBodyBytes)
	}
	u := *c.base
	u.Path += Path
	u.RawQuery = EncodeOptions(opts).Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), &body)
	if err != nil {
		return nil, fmt.Errorf("match on console: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("match on console %s: %w", c.base.Redacted(), c.hint(err))
	}
	defer resp.Body.Close()
	lr := &io.LimitedReader{R: resp.Body, N: c.cfg.MaxResponseBytes + 1}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("match on console %s: %w", c.base.Redacted(), statusError(resp))
	}
	var out Response
	dec := json.NewDecoder(lr)
	if err := dec.Decode(&out); err != nil {
		if lr.N <= 0 {
			return nil, fmt.Errorf("match on console: answer larger than %d bytes", c.cfg.MaxResponseBytes)
		}
		return nil, fmt.Errorf("match on console: decode answer: %w", err)
	}
	if out.Result == nil {
		return nil, errors.New("match on console: answer without a result")
	}
	if out.Result.Findings == nil {
		out.Result.Findings = []match.Finding{}
	}
	return &out, nil
}
