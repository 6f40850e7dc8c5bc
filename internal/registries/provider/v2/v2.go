// Package v2 is the registry provider of any registry speaking the Docker
// Registry HTTP API v2 / OCI distribution spec (distribution, Harbor,
// Quay, GitLab, Artifactory, Nexus, zot... through their registry
// endpoint): the connection check on /v2/, repositories from `_catalog`
// (or a list the account gives, for registries that forbid the catalogue)
// and tags from `tags/list`, both paginated by `Link` headers, with
// anonymous, basic or bearer token authentication as the registry's
// WWW-Authenticate challenge asks (the Docker token authentication spec:
// realm, service, scope; tokens cached per scope until they expire).
//
// TLS is always verified (the account may add a CA); plain HTTP is allowed
// only for a registry on this machine (loopback) when the account says
// insecure.
package v2

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/riskmap/riskmap/internal/fields"
	"github.com/riskmap/riskmap/internal/registries/provider"
)

// Name is the kind's name.
const Name = "v2"

// PageSize is how many repositories or tags one page asks for.
const PageSize = 1000

// Limits of what is read from a registry.
const (
	maxPageBytes  = 16 << 20 // one _catalog or tags/list answer
	maxTokenBytes = 1 << 20  // one token answer
	maxErrorBytes = 4 << 10  // what an error answer contributes to a message
	maxPages      = 100_000
	maxRepoName   = 255
)

// Kind is the generic OCI distribution provider.
func Kind() provider.Kind {
	return provider.Kind{Name: Name, Title: "Docker Registry v2 / OCI distribution", Fields: Fields(), New: New}
}

// Fields are the kind's settings.
func Fields() []fields.Field {
	return []fields.Field{
		{Name: "url", Label: "Registry URL", Type: "url", Required: true,
			Help: "The registry's base URL, e.g. https://registry.example.com or https://registry.example.com:5000"},
		{Name: "username", Label: "Username", Type: "text", Help: "Empty for anonymous access"},
		{Name: "password", Label: "Password or token", Type: "password", Secret: true},
		{Name: "repositories", Label: "Repositories", Type: "textarea",
			Help: "One repository per line (e.g. library/debian). Empty: list the registry's catalogue (/v2/_catalog), which some registries do not allow"},
		{Name: "insecure", Label: "Allow plain HTTP", Type: "bool", Default: "false",
			Help: "Only for a registry on this machine (127.0.0.1, ::1 or localhost); any other registry must speak HTTPS"},
	}
}

// repoName is the distribution spec's repository name grammar.
var repoName = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*$`)

// ValidRepository reports whether s is a repository name per the
// distribution spec.
func ValidRepository(s string) bool { return len(s) <= maxRepoName && repoName.MatchString(s) }

// IsLoopback reports whether host (a URL host, with or without a port)
// names this machine: localhost, 127.0.0.0/8 or ::1.
func IsLoopback(host string) bool {
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

// Registry is a connected v2 account.
type Registry struct {
	base     *url.URL
	user     string
	pass     string
	repos    []string
	insecure bool
	http     *http.Client

	mu        sync.Mutex
	challenge *Challenge // the registry's last challenge; nil before the first 401
	tokens    map[string]token
	now       func() time.Time
	pageSize  int
}

type token struct {
	value   string
	expires time.Time
}

// New checks an account's settings and returns its registry; it does not
// contact the registry.
func New(acct provider.Account) (provider.Registry, error) {
	return Open(acct)
}

// Open is New with the concrete type.
func Open(acct provider.Account) (*Registry, error) {
	s := acct.Settings
	raw := strings.TrimSpace(s["url"])
	if raw == "" {
		return nil, errors.New("url: required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	if u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("url: %q: want https://HOST[:PORT]", raw)
	}
	if u.User != nil {
		return nil, errors.New("url: credentials in the URL: put them in username and password")
	}
	if p := strings.TrimSuffix(u.Path, "/"); p != "" && p != "/v2" {
		return nil, fmt.Errorf("url: %q: give the registry's base URL, without a path", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("url: %q: no query or fragment", raw)
	}
	insecure := false
	switch v := s["insecure"]; v {
	case "", "false":
	case "true":
		insecure = true
	default:
		return nil, fmt.Errorf("insecure: %q is not true or false", v)
	}
	if u.Scheme == "http" {
		if !IsLoopback(u.Host) {
			return nil, fmt.Errorf("url: plain HTTP is allowed only for a registry on this machine (loopback); %s must use https://", u.Host)
		}
		if !insecure {
			return nil, fmt.Errorf("url: %s is plain HTTP: use https://, or set insecure for a registry on this machine", raw)
		}
	}
	r := &Registry{base: &url.URL{Scheme: u.Scheme, Host: u.Host}, user: s["username"], pass: acct.Secrets["password"],
		insecure: insecure, http: acct.HTTP, tokens: map[string]token{}, now: time.Now, pageSize: PageSize}
	if strings.ContainsAny(r.user, ":\r\n") {
		return nil, errors.New("username: no colons or line breaks")
	}
	if r.pass != "" && r.user == "" {
		return nil, errors.New("username: required with a password or token")
	}
	for i, line := range strings.Split(s["repositories"], "\n") {
		name := strings.TrimSpace(line)
		if name == "" || strings.HasPrefix(name, "#") {
			continue
		}
		if !ValidRepository(name) {
			return nil, fmt.Errorf("repositories: line %d: %q is not a repository name (lower case, digits, separators . _ - and /)", i+1, truncate(name, 100))
		}
		r.repos = append(r.repos, name)
	}
	if r.http == nil {
		r.http = &http.Client{Timeout: 60 * time.Second}
	}
	return r, nil
}

// Host is the registry's host (and port), as image references name it.
func (r *Registry) Host() string { return r.base.Host }

// Authenticator authorises pulls: the account's basic credentials, which
// the puller exchanges for a bearer token when the registry asks for one,
// or anonymous.
func (r *Registry) Authenticator(context.Context) (authn.Authenticator, error) {
	if r.user == "" && r.pass == "" {
		return authn.Anonymous, nil
	}
	return &authn.Basic{Username: r.user, Password: r.pass}, nil
}

// Check reaches /v2/ with the credentials, then lists one page of the
// catalogue (or of the first configured repository's tags).
func (r *Registry) Check(ctx context.Context) error {
	resp, err := r.do(ctx, r.base.JoinPath("/v2/").String(), "")
	if err != nil {
		return fmt.Errorf("check %s: %w", r.base, err)
	}
	drain(resp)
	if len(r.repos) == 0 {
		u := r.base.JoinPath("/v2/_catalog")
		u.RawQuery = "n=1"
		resp, err := r.do(ctx, u.String(), "registry:catalog:*")
		if err != nil {
			return fmt.Errorf("list the catalogue of %s: %w", r.base.Host, err)
		}
		drain(resp)
		return nil
	}
	u := r.base.JoinPath("/v2/", r.repos[0], "/tags/list")
	u.RawQuery = "n=1"
	resp, err = r.do(ctx, u.String(), "repository:"+r.repos[0]+":pull")
	if err != nil {
		return fmt.Errorf("list the tags of %s: %w", r.repos[0], err)
	}
	drain(resp)
	return nil
}

// Repositories lists the configured repositories, or the catalogue page
// by page.
func (r *Registry) Repositories(ctx context.Context, fn func(page []string) error) error {
	if len(r.repos) > 0 {
		return fn(append([]string(nil), r.repos...))
	}
	u := r.base.JoinPath("/v2/_catalog")
	u.RawQuery = "n=" + strconv.Itoa(r.pageSize)
	return r.pages(ctx, u, "registry:catalog:*", func(body []byte) error {
		var page struct {
			Repositories []string `json:"repositories"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("catalogue page: %w", err)
		}
		names := page.Repositories[:0]
		for _, n := range page.Repositories {
			if ValidRepository(n) {
				names = append(names, n)
			}
		}
		return fn(names)
	})
}

// Tags lists a repository's tags page by page (names only: the v2 API
// tells nothing else). A repository that does not exist (any more) has no
// tags.
func (r *Registry) Tags(ctx context.Context, repo string, fn func(page []provider.Tag) error) error {
	if !ValidRepository(repo) {
		return fmt.Errorf("tags of %q: not a repository name", truncate(repo, 100))
	}
	u := r.base.JoinPath("/v2/", repo, "/tags/list")
	u.RawQuery = "n=" + strconv.Itoa(r.pageSize)
	err := r.pages(ctx, u, "repository:"+repo+":pull", func(body []byte) error {
		var page struct {
			Name string   `json:"name"`
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("tags page of %s: %w", repo, err)
		}
		tags := make([]provider.Tag, 0, len(page.Tags))
		for _, t := range page.Tags {
			if validTag(t) {
				tags = append(tags, provider.Tag{Name: t})
			}
		}
		return fn(tags)
	})
	var st *statusError
	if errors.As(err, &st) && st.code == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tags of %s: %w", repo, err)
	}
	return nil
}

var tagName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

func validTag(s string) bool { return tagName.MatchString(s) }

// pages follows rel="next" links from u, on the registry's host only.
func (r *Registry) pages(ctx context.Context, u *url.URL, scope string, each func(body []byte) error) error {
	seen := map[string]bool{}
	for n := 0; ; n++ {
		if n == maxPages {
			return fmt.Errorf("more than %d pages", maxPages)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		seen[u.String()] = true
		resp, err := r.do(ctx, u.String(), scope)
		if err != nil {
			return err
		}
		body, err := readBounded(resp.Body, maxPageBytes)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%w: read %s: %w", provider.ErrUnavailable, u.Path, err)
		}
		next, err := NextLink(resp.Header.Values("Link"))
		if err != nil {
			return err
		}
		if err := each(body); err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		nu, err := u.Parse(next)
		if err != nil {
			return fmt.Errorf("next page link %q: %w", truncate(next, 200), err)
		}
		if nu.Host != r.base.Host || nu.Scheme != r.base.Scheme {
			return fmt.Errorf("next page link %q leaves the registry %s", truncate(next, 200), r.base.Host)
		}
		if seen[nu.String()] {
			return fmt.Errorf("next page link %q repeats an earlier page", truncate(next, 200))
		}
		u = nu
	}
}

// statusError is a registry answer that is not a success.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string {
	if e.msg == "" {
		return fmt.Sprintf("the registry answered %d %s", e.code, http.StatusText(e.code))
	}
	return fmt.Sprintf("the registry answered %d %s: %s", e.code, http.StatusText(e.code), e.msg)
}

// do sends an authorised GET for scope, answering the registry's
// challenge once; a success's response is returned, anything else is an
// error wrapping provider.ErrUnauthorized or ErrUnavailable when it is one.
func (r *Registry) do(ctx context.Context, target, scope string) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		if err := r.authorize(ctx, req, scope, attempt > 0); err != nil {
			return nil, err
		}
		resp, err := r.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("%w: %s: %w", provider.ErrUnavailable, req.URL.Redacted(), err)
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return resp, nil
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			cs, perr := ParseChallenges(resp.Header.Values("WWW-Authenticate"))
			drain(resp)
			if perr != nil {
				return nil, fmt.Errorf("%w: %w", provider.ErrUnauthorized, perr)
			}
			c := pick(cs)
			if c == nil {
				return nil, fmt.Errorf("%w: 401 without a Basic or Bearer challenge", provider.ErrUnauthorized)
			}
			if c.Scheme == "basic" && r.user == "" {
				return nil, fmt.Errorf("%w: the registry asks for a username and password", provider.ErrUnauthorized)
			}
			r.mu.Lock()
			r.challenge = c
			r.mu.Unlock()
			continue
		}
		return nil, answerError(resp)
	}
}

// pick prefers a Bearer challenge to a Basic one.
func pick(cs []Challenge) *Challenge {
	var basic *Challenge
	for i := range cs {
		switch cs[i].Scheme {
		case "bearer":
			return &cs[i]
		case "basic":
			if basic == nil {
				basic = &cs[i]
			}
		}
	}
	return basic
}

func answerError(resp *http.Response) error {
	b, _ := readBounded(resp.Body, maxErrorBytes)
	resp.Body.Close()
	msg := errorMessage(b)
	st := &statusError{code: resp.StatusCode, msg: msg}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%w: %w", provider.ErrUnauthorized, st)
	case resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w (the credentials may not list this; give the repositories in the settings when the catalogue is not allowed)", st)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("%w: %w", provider.ErrUnavailable, st)
	}
	return st
}

// errorMessage is the first error of a distribution error body. Other
// bodies are not repeated: an error reaches the user who configured the
// account, and the URL may be another service than a registry.
func errorMessage(b []byte) string {
	var e struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(b, &e) == nil && len(e.Errors) > 0 {
		msg := strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return ' '
			}
			return r
		}, e.Errors[0].Code+" "+e.Errors[0].Message)
		return truncate(strings.TrimSpace(msg), 300)
	}
	return ""
}

// authorize sets the request's Authorization for the registry's
// challenge: basic credentials, or a bearer token for scope (fetched, or
// refreshed when fresh is set).
func (r *Registry) authorize(ctx context.Context, req *http.Request, scope string, fresh bool) error {
	r.mu.Lock()
	c := r.challenge
	r.mu.Unlock()
	if c == nil {
		return nil
	}
	switch c.Scheme {
	case "basic":
		if r.user != "" {
			req.SetBasicAuth(r.user, r.pass)
		}
	case "bearer":
		tok, err := r.token(ctx, c, scope, fresh)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return nil
}

// token returns a bearer token for scope from the challenge's realm.
func (r *Registry) token(ctx context.Context, c *Challenge, scope string, fresh bool) (string, error) {
	key := c.Params["realm"] + "\x00" + c.Params["service"] + "\x00" + scope
	r.mu.Lock()
	t, ok := r.tokens[key]
	r.mu.Unlock()
	if ok && !fresh && r.now().Before(t.expires) {
		return t.value, nil
	}
	realm, err := url.Parse(c.Params["realm"])
	if err != nil || realm.Host == "" {
		return "", fmt.Errorf("%w: the registry's token realm %q is not an absolute URL", provider.ErrUnauthorized, truncate(c.Params["realm"], 200))
	}
	if err := checkRealm(realm, r.base.Host, r.insecure); err != nil {
		return "", fmt.Errorf("%w: %w", provider.ErrUnauthorized, err)
	}
	q := realm.Query()
	if s := c.Params["service"]; s != "" {
		q.Set("service", s)
	}
	if scope != "" {
		q.Set("scope", scope)
	}
	realm.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil)
	if err != nil {
		return "", err
	}
	if r.user != "" {
		req.SetBasicAuth(r.user, r.pass)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("%w: token from %s: %w", provider.ErrUnavailable, realm.Host, err)
	}
	if resp.StatusCode != http.StatusOK {
		err := answerError(resp)
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return "", fmt.Errorf("%w: token from %s: %w", provider.ErrUnauthorized, realm.Host, err)
		}
		return "", fmt.Errorf("token from %s: %w", realm.Host, err)
	}
	body, err := readBounded(resp.Body, maxTokenBytes)
	resp.Body.Close()
	if err != nil {
		return "", fmt.Errorf("%w: token from %s: %w", provider.ErrUnavailable, realm.Host, err)
	}
	tr, err := ParseTokenResponse(body)
	if err != nil {
		return "", fmt.Errorf("token from %s: %w", realm.Host, err)
	}
	// Renew a little before the registry would refuse it.
	exp := r.now().Add(time.Duration(tr.ExpiresIn)*time.Second - 10*time.Second)
	r.mu.Lock()
	if len(r.tokens) > 1000 {
		clear(r.tokens)
	}
	r.tokens[key] = token{value: tr.Token, expires: exp}
	r.mu.Unlock()
	return tr.Token, nil
}

// checkRealm refuses token realms the account's credentials must not be
// sent to: plain HTTP (unless the account is insecure and the realm on
// this machine), and IP literals of private, loopback or link-local
// addresses (a cloud's metadata service) other than the registry's own
// host and port, as go-containerregistry, which pulls the images, does.
func checkRealm(realm *url.URL, registryHost string, insecure bool) error {
	switch {
	case realm.Scheme == "https":
	case realm.Scheme == "http" && insecure && IsLoopback(realm.Host):
	default:
		return fmt.Errorf("the registry's token realm %s is not HTTPS (plain HTTP only on this machine with insecure set)", realm.Redacted())
	}
	if realm.Host == registryHost {
		return nil
	}
	if ip := net.ParseIP(strings.Trim(realm.Hostname(), "[]")); ip != nil &&
		(ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified()) {
		return fmt.Errorf("the registry's token realm %s is a private, loopback or link-local address other than the registry's", realm.Redacted())
	}
	return nil
}

// TokenResponse is a token endpoint's answer (Docker token
// authentication spec).
type TokenResponse struct {
	Token     string
	ExpiresIn int // seconds, at least 60
}

// ParseTokenResponse reads a token endpoint's JSON answer: token or
// access_token (OAuth 2 style), and expires_in (default and minimum 60 s,
// as the spec says).
func ParseTokenResponse(b []byte) (TokenResponse, error) {
	var raw struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return TokenResponse{}, fmt.Errorf("token answer: %w", err)
	}
	t := raw.Token
	if t == "" {
		t = raw.AccessToken
	}
	if t == "" {
		return TokenResponse{}, errors.New("token answer without a token")
	}
	if len(t) > 64<<10 || strings.ContainsAny(t, " \t\r\n\x00") {
		return TokenResponse{}, errors.New("token answer: the token is not a single header-safe value")
	}
	exp := raw.ExpiresIn
	if exp < 60 {
		exp = 60
	}
	if exp > 24*3600 {
		exp = 24 * 3600
	}
	return TokenResponse{Token: t, ExpiresIn: int(exp)}, nil
}

func readBounded(r io.Reader, n int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, n+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > n {
		return nil, fmt.Errorf("answer larger than %d bytes", n)
	}
	return b, nil
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
