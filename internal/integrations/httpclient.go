package integrations

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/riskmap/riskmap/internal/fields"
)

// HTTPConfig shapes the HTTP clients destinations send with.
type HTTPConfig struct {
	// RootCAs are the trusted roots (nil: the system's). A destination's
	// own CA certificates are added to them.
	RootCAs *x509.CertPool
	// Timeout bounds one request, its answer read included (default 30 s).
	Timeout time.Duration
	// MaxResponseBytes bounds what is read of an answer (default 1 MiB);
	// reading past it fails the request.
	MaxResponseBytes int64
	// MaxRedirects is how many redirects to the same host are followed
	// (default 3); a redirect to another host, to plain HTTP or that
	// changes the method is refused.
	MaxRedirects int
}

func (c *HTTPConfig) fill() {
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = 1 << 20
	}
	if c.MaxRedirects <= 0 {
		c.MaxRedirects = 3
	}
}

// NewHTTPClient returns a client for one destination: TLS 1.2 or later,
// certificates verified against the roots of cfg plus caPEM, timeouts,
// redirects only to the same host over HTTPS with the same method, and
// answers bounded to cfg.MaxResponseBytes.
func NewHTTPClient(cfg HTTPConfig, caPEM string) (*http.Client, error) {
	cfg.fill()
	roots := cfg.RootCAs
	if caPEM != "" {
		certs, err := fields.Certificates(caPEM)
		if err != nil {
			return nil, fmt.Errorf("CA certificate: %w", err)
		}
		if roots == nil {
			if roots, err = x509.SystemCertPool(); err != nil || roots == nil {
				roots = x509.NewCertPool()
			}
		} else {
			roots = roots.Clone()
		}
		for _, c := range certs {
			roots.AddCert(c)
		}
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Timeout:   cfg.Timeout,
		Transport: boundedTransport{tr, cfg.MaxResponseBytes},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			first := via[0]
			switch {
			case len(via) > cfg.MaxRedirects:
				return fmt.Errorf("more than %d redirects", cfg.MaxRedirects)
			case req.URL.Scheme != "https":
				return fmt.Errorf("redirect to %s refused: not HTTPS", req.URL.Scheme)
			case req.URL.Host != first.URL.Host:
				return fmt.Errorf("redirect to another host (%s) refused", req.URL.Host)
			case req.Method != first.Method:
				return fmt.Errorf("redirect that turns %s into %s refused", first.Method, req.Method)
			}
			return nil
		},
	}, nil
}

// boundedTransport bounds the bodies of the answers.
type boundedTransport struct {
	rt  http.RoundTripper
	max int64
}

func (b boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > b.max {
		resp.Body.Close()
		return nil, fmt.Errorf("answer of %d bytes; at most %d are read", resp.ContentLength, b.max)
	}
	resp.Body = &boundedBody{rc: resp.Body, left: b.max}
	return resp, nil
}

// ErrResponseTooLarge is a read past the answer bound.
var ErrResponseTooLarge = errors.New("answer larger than the bound")

type boundedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells a body of exactly the bound from a longer one.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, ErrResponseTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *boundedBody) Close() error { return b.rc.Close() }
