// Package dockerhub is the Docker Hub registry provider: repositories and
// tags of the configured namespaces through the Hub API v2
// (https://docs.docker.com/reference/api/hub/latest/), signed in with a
// username and a personal access token (POST /v2/auth/token, a JWT kept
// until shortly before its exp and renewed after a 401) or anonymous
// (public repositories only), and pulls from registry-1.docker.io, whose
// token service (auth.docker.io) go-containerregistry asks with the same
// credentials.
package dockerhub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/riskmap/riskmap/internal/fields"
	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/restapi"
)

// Name is the kind's name.
const Name = "dockerhub"

// Endpoints are where Docker Hub is: the Hub API and the registry host.
type Endpoints struct {
	Hub      string // https://hub.docker.com
	Registry string // registry-1.docker.io
}

// DefaultEndpoints are Docker Hub's own.
func DefaultEndpoints() Endpoints {
	return Endpoints{Hub: "https://hub.docker.com", Registry: "registry-1.docker.io"}
}

// pageSize is the Hub API's largest page.
const pageSize = 100

// Kind is the Docker Hub provider kind.
func Kind() provider.Kind { return KindAt(DefaultEndpoints()) }

// KindAt is the kind talking to Docker Hub at e (tests, mirrors of the
// Hub API).
func KindAt(e Endpoints) provider.Kind {
	return provider.Kind{
		Name:  Name,
		Title: "Docker Hub",
		Fields: []fields.Field{
			{Name: "username", Label: "Username", Type: "text", Help: "Docker ID; leave empty for anonymous access to public repositories"},
			{Name: "token", Label: "Personal access token", Type: "password", Secret: true, Help: "A read-only personal access token of the user (Account settings → Personal access tokens)"},
			{Name: "namespaces", Label: "Namespaces", Type: "text", Help: "Comma-separated users or organisations whose repositories are listed; the username by default"},
		},
		New: func(acct provider.Account) (provider.Registry, error) { return newHub(acct, e) },
	}
}

// namespaceRE is a Docker Hub namespace (user or organisation).
var namespaceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,254}$`)

type hub struct {
	base       *url.URL
	registry   string
	user, pat  string
	namespaces []string
	api        *restapi.Client
	tokens     *restapi.TokenCache
	now        func() time.Time
}

func newHub(acct provider.Account, e Endpoints) (*hub, error) {
	base, err := restapi.BaseURL("hub", e.Hub)
	if err != nil {
		return nil, err
	}
	h := &hub{base: base, registry: e.Registry, now: time.Now,
		user: strings.TrimSpace(acct.Settings["username"]), pat: acct.Secrets["token"]}
	var errs []error
	switch {
	case h.user == "" && h.pat != "":
		errs = append(errs, errors.New("username: required with a token"))
	case h.user != "" && h.pat == "":
		errs = append(errs, errors.New("token: required with a username"))
	}
	h.namespaces, err = restapi.List("namespaces", acct.Settings["namespaces"], namespaceRE, "a Docker Hub namespace (lower-case letters, digits, _ and -)")
	if err != nil {
		errs = append(errs, err)
	}
	if len(h.namespaces) == 0 {
		if h.user == "" {
			errs = append(errs, errors.New("namespaces: required without a username"))
		} else {
			h.namespaces = []string{strings.ToLower(h.user)}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	h.tokens = &restapi.TokenCache{Fetch: h.login, Now: func() time.Time { return h.now() }}
	h.api = &restapi.Client{HTTP: acct.HTTP, What: "Docker Hub API", Secrets: []string{h.pat}}
	if h.user != "" {
		h.api.Authorize, h.api.Renew = restapi.BearerFrom(h.tokens.Get), h.tokens.Drop
	}
	return h, nil
}

func (h *hub) Host() string { return h.registry }

// login exchanges the personal access token for a JWT.
func (h *hub) login(ctx context.Context) (restapi.Token, error) {
	body, _ := json.Marshal(map[string]string{"identifier": h.user, "secret": h.pat})
	c := *h.api
	c.Authorize, c.Renew = nil, nil
	a, err := c.Do(ctx, restapi.Request{Method: http.MethodPost, URL: restapi.Join(h.base, "/v2/auth/token", nil),
		Header: http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}, Body: body})
	if err != nil {
		return restapi.Token{}, fmt.Errorf("sign in to Docker Hub as %s: %w", h.user, err)
	}
	tok, err := parseToken(a.Body)
	if err != nil {
		return restapi.Token{}, fmt.Errorf("sign in to Docker Hub as %s: %w", h.user, err)
	}
	return tok, nil
}

// parseToken reads the answer of /v2/auth/token ({"access_token"}) or
// /v2/users/login ({"token"}); the expiry is the JWT's exp claim when it
// has one.
func parseToken(body []byte) (restapi.Token, error) {
	return restapi.ParseToken(body, "access_token", "token")
}

func (h *hub) Check(ctx context.Context) error {
	if h.user != "" {
		if _, err := h.tokens.Get(ctx); err != nil {
			return err
		}
	}
	for _, ns := range h.namespaces {
		u := restapi.Join(h.base, "/v2/namespaces/"+url.PathEscape(ns)+"/repositories", url.Values{"page_size": {"1"}})
		if _, err := h.api.Get(ctx, u, nil); err != nil {
			return fmt.Errorf("list repositories of %s: %w", ns, err)
		}
	}
	return nil
}

// page is a Hub API list answer.
type page[T any] struct {
	Count   int    `json:"count"`
	Next    string `json:"next"`
	Results []T    `json:"results"`
}

type repoJSON struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

type tagJSON struct {
	Name          string `json:"name"`
	Digest        string `json:"digest"`
	FullSize      int64  `json:"full_size"`
	MediaType     string `json:"media_type"`
	LastUpdated   string `json:"last_updated"`
	TagLastPushed string `json:"tag_last_pushed"`
}

// parseRepos reads a page of /v2/namespaces/{ns}/repositories.
func parseRepos(ns string, body []byte) (names []string, next string, err error) {
	var p page[repoJSON]
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, "", fmt.Errorf("repositories of %s: %w", ns, err)
	}
	for _, r := range p.Results {
		if r.Name == "" {
			continue
		}
		owner := r.Namespace
		if owner == "" {
			owner = ns
		}
		names = append(names, owner+"/"+r.Name)
	}
	return names, p.Next, nil
}

// parseTags reads a page of /v2/namespaces/{ns}/repositories/{repo}/tags.
func parseTags(body []byte) (tags []provider.Tag, next string, err error) {
	var p page[tagJSON]
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, "", fmt.Errorf("tags: %w", err)
	}
	for _, t := range p.Results {
		if t.Name == "" {
			continue
		}
		pushed := restapi.Time(t.TagLastPushed)
		if pushed.IsZero() {
			pushed = restapi.Time(t.LastUpdated)
		}
		tags = append(tags, provider.Tag{Name: t.Name, Digest: t.Digest, Pushed: pushed, Size: max(t.FullSize, 0), MediaType: t.MediaType})
	}
	return tags, p.Next, nil
}

func (h *hub) Repositories(ctx context.Context, fn func(page []string) error) error {
	for _, ns := range h.namespaces {
		u := restapi.Join(h.base, "/v2/namespaces/"+url.PathEscape(ns)+"/repositories", url.Values{"page_size": {fmt.Sprint(pageSize)}})
		parse := func(b []byte) ([]string, string, error) { return parseRepos(ns, b) }
		if err := pages(ctx, h.api, u, parse, fn); err != nil {
			return fmt.Errorf("list repositories of %s: %w", ns, err)
		}
	}
	return nil
}

// pages GETs a Hub API list from u and its next pages (kept on the API's
// host), calling fn with the entries of each page parse finds some on.
func pages[T any](ctx context.Context, c *restapi.Client, u string, parse func([]byte) ([]T, string, error), fn func([]T) error) error {
	return restapi.Pages(ctx, u, func(u string) (string, error) {
		a, err := c.Get(ctx, u, nil)
		if err != nil {
			return "", err
		}
		items, next, err := parse(a.Body)
		if err == nil {
			next, err = restapi.Next(next, a.URL)
		}
		if err == nil && len(items) > 0 {
			err = fn(items)
		}
		return next, err
	})
}

func (h *hub) Tags(ctx context.Context, repo string, fn func(page []provider.Tag) error) error {
	ns, name, ok := strings.Cut(repo, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("tags of %q: want namespace/repository", repo)
	}
	u := restapi.Join(h.base, "/v2/namespaces/"+url.PathEscape(ns)+"/repositories/"+url.PathEscape(name)+"/tags",
		url.Values{"page_size": {fmt.Sprint(pageSize)}})
	if err := pages(ctx, h.api, u, parseTags, fn); err != nil {
		return fmt.Errorf("list tags of %s: %w", repo, err)
	}
	return nil
}

// Authenticator gives the registry's token service the username and the
// personal access token (go-containerregistry exchanges them for a pull
// token per repository), or nothing for anonymous pulls.
func (h *hub) Authenticator(context.Context) (authn.Authenticator, error) {
	if h.user == "" {
		return authn.Anonymous, nil
	}
	return &authn.Basic{Username: h.user, Password: h.pat}, nil
}
