package registries

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/riskmap/riskmap/internal/fields"
	"github.com/riskmap/riskmap/internal/registries/provider"
)

// isLoopback reports whether a URL host (with or without a port) names
// this machine.
func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// conn is an account's connection: its provider's registry, the
// transport its pulls go through and the credentials they use.
type conn struct {
	reg       provider.Registry
	transport http.RoundTripper
	client    *http.Client
	close     func()
}

// transport is an account's HTTP transport: TLS 1.2 or later verified
// against the configured roots plus the account's CA certificates; plain
// HTTP refused unless the account is insecure and the request goes to
// this machine.
func (s *Service) transport(caPEM string, insecure bool) (*http.Transport, http.RoundTripper, error) {
	roots := s.cfg.RootCAs
	if caPEM != "" {
		certs, err := fields.Certificates(caPEM)
		if err != nil {
			return nil, nil, fmt.Errorf("caCert: %w", err)
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
	dialer := &net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: s.cfg.RequestTimeout,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return tr, plainGuard{rt: tr, insecure: insecure}, nil
}

// plainGuard refuses plain HTTP requests except to this machine for an
// insecure account (go-containerregistry would otherwise fall back to
// plain HTTP for private addresses).
type plainGuard struct {
	rt       http.RoundTripper
	insecure bool
}

// ErrPlainHTTP is a plain HTTP request an account does not allow.
var ErrPlainHTTP = errors.New("plain HTTP refused")

func (g plainGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && !(g.insecure && req.URL.Scheme == "http" && isLoopback(req.URL.Host)) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("%w: %s://%s (only HTTPS; plain HTTP only to this machine for an account marked insecure)", ErrPlainHTTP, req.URL.Scheme, req.URL.Host)
	}
	return g.rt.RoundTrip(req)
}

// connect opens an account's provider with its secrets.
func (s *Service) connect(a RegistryAccount, secrets map[string]string) (*conn, error) {
	k, ok := s.kinds[a.Kind]
	if !ok {
		return nil, fmt.Errorf("registry account %s: kind %q is not available in this console", a.ID, a.Kind)
	}
	tr, rt, err := s.transport(a.CACert, a.Settings["insecure"] == "true")
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: s.cfg.RequestTimeout, Transport: rt,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("more than 5 redirects")
			}
			return nil
		}}
	reg, err := k.New(provider.Account{Name: a.Name, Settings: a.Settings, Secrets: secrets, HTTP: client, Now: s.now})
	if err != nil {
		tr.CloseIdleConnections()
		return nil, fmt.Errorf("%w: settings: %w", ErrInvalid, err)
	}
	return &conn{reg: reg, transport: rt, client: client, close: tr.CloseIdleConnections}, nil
}

// keychain gives an account's pull credentials for its registry host and
// anonymous access elsewhere.
type keychain struct {
	host string
	auth authn.Authenticator
}

func (k keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if r.RegistryStr() == k.host {
		return k.auth, nil
	}
	return authn.Anonymous, nil
}

// testConn runs a provider's connection check and says how it went.
func testConn(ctx context.Context, c *conn, start time.Time) RegistryTestResult {
	err := c.reg.Check(ctx)
	res := RegistryTestResult{OK: err == nil, Host: c.reg.Host(), Millis: time.Since(start).Milliseconds()}
	if err != nil {
		res.Error = err.Error()
		res.Unauthorized = errors.Is(err, provider.ErrUnauthorized)
	}
	return res
}

// testOrHost tests an account being saved (unless skip) and returns its
// registry host.
func (s *Service) testOrHost(ctx context.Context, c input, skip bool) (string, error) {
	a := RegistryAccount{ID: "(new)", Kind: c.kind.Name, Name: c.name, Settings: c.settings, CACert: c.caCert}
	cn, err := s.connect(a, c.secrets)
	if err != nil {
		return "", err
	}
	defer cn.close()
	if skip {
		return cn.reg.Host(), nil
	}
	tctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	res := testConn(tctx, cn, time.Now())
	if !res.OK {
		return "", fmt.Errorf("%w: connection test failed: %s (fix the settings, or save with skipTest)", ErrInvalid, res.Error)
	}
	return res.Host, nil
}

// Test tests a saved account's connection, with changes (in, which may be
// empty) applied but not saved.
func (s *Service) Test(ctx context.Context, id string, in RegistryAccountInput) (RegistryTestResult, error) {
	was, err := getAccount(ctx, s.st.Read(), id)
	if err != nil {
		return RegistryTestResult{}, err
	}
	c, err := s.check(ctx, &was, in)
	if err != nil {
		return RegistryTestResult{}, err
	}
	return s.test(ctx, c)
}

// TestNew tests the connection of an account not saved yet.
func (s *Service) TestNew(ctx context.Context, in RegistryAccountInput) (RegistryTestResult, error) {
	c, err := s.check(ctx, nil, in)
	if err != nil {
		return RegistryTestResult{}, err
	}
	return s.test(ctx, c)
}

func (s *Service) test(ctx context.Context, c input) (RegistryTestResult, error) {
	start := time.Now()
	cn, err := s.connect(RegistryAccount{ID: "(test)", Kind: c.kind.Name, Name: c.name, Settings: c.settings, CACert: c.caCert}, c.secrets)
	if err != nil {
		return RegistryTestResult{OK: false, Error: err.Error(), Millis: time.Since(start).Milliseconds()}, nil
	}
	defer cn.close()
	tctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	return testConn(tctx, cn, start), nil
}
