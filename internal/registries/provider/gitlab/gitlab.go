// Package gitlab is the GitLab container registry provider. With a
// personal, project or group access token it lists a project's or a
// group's registry repositories and their tags through the REST API v4
// (https://docs.gitlab.com/api/container_registry/: pages by X-Next-Page,
// each tag's digest, size and creation time from its details); with a
// deploy token, which the API refuses, it lists the configured
// repositories' tags through the registry itself (tags/list with a token
// from /jwt/auth). Pulls go through GitLab's token endpoint
// (/jwt/auth?service=container_registry&scope=repository:PATH:pull) with
// the username and token as Basic credentials.
package gitlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/riskmap/riskmap/internal/fields"
	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/restapi"
)

// Name is the kind's name.
const Name = "gitlab"

// perPage is the API's largest page.
const perPage = 100

// Kind is the GitLab provider kind.
func Kind() provider.Kind {
	return provider.Kind{
		Name:  Name,
		Title: "GitLab container registry",
		Fields: []fields.Field{
			{Name: "url", Label: "GitLab URL", Type: "url", Default: "https://gitlab.com"},
			{Name: "registry", Label: "Registry host", Type: "text", Help: "The registry's host[:port], as in image names (registry.gitlab.com for gitlab.com)"},
			{Name: "token_type", Label: "Token type", Type: "select", Options: []string{"access_token", "deploy_token"}, Default: "access_token",
				Help: "A personal, project or group access token with read_api and read_registry, or a deploy token with read_registry (no API: list its repositories below)"},
			{Name: "username", Label: "Username", Type: "text", Required: true, Help: "The token's user (personal access token), any name (project or group token), or the deploy token's username"},
			{Name: "token", Label: "Token", Type: "password", Required: true, Secret: true},
			{Name: "project", Label: "Project", Type: "text", Help: "Project id or path (group/project) whose repositories are listed"},
			{Name: "group", Label: "Group", Type: "text", Help: "Group id or path whose projects' repositories are listed"},
			{Name: "repositories", Label: "Repositories", Type: "text", Help: "Comma-separated repository paths (deploy tokens only)"},
		},
		New: func(acct provider.Account) (provider.Registry, error) { return newGitLab(acct) },
	}
}

// pathRE is a GitLab project, group or repository path (or a numeric id).
var pathRE = regexp.MustCompile(`^[A-Za-z0-9_.][A-Za-z0-9_.-]*(/[A-Za-z0-9_.][A-Za-z0-9_.-]*)*$`)

type gitlab struct {
	base     *url.URL
	registry string
	deploy   bool
	user     string
	token    string
	// scope is projects/ID or groups/ID, escaped.
	scope string
	repos []string
	api   *restapi.Client
	reg   *restapi.Client

	mu  sync.Mutex
	ids map[string]repoRef // repository path → ids, from the last listing
}

type repoRef struct{ project, id int }

func newGitLab(acct provider.Account) (*gitlab, error) {
	var errs []error
	s := acct.Settings
	base, err := restapi.BaseURLOr("url", s["url"], "https://gitlab.com")
	if err != nil {
		errs = append(errs, err)
	}
	g := &gitlab{base: base, user: strings.TrimSpace(s["username"]), token: acct.Secrets["token"], registry: strings.TrimSpace(s["registry"]), ids: map[string]repoRef{}}
	switch s["token_type"] {
	case "", "access_token":
	case "deploy_token":
		g.deploy = true
	default:
		errs = append(errs, fmt.Errorf("token_type: %q: want access_token or deploy_token", s["token_type"]))
	}
	if err := restapi.User("username", g.user, true); err != nil {
		errs = append(errs, err)
	}
	if g.token == "" {
		errs = append(errs, errors.New("token: required"))
	}
	if g.registry == "" && base != nil {
		if base.Host == "gitlab.com" {
			g.registry = "registry.gitlab.com"
		} else {
			errs = append(errs, errors.New("registry: required for a self-managed GitLab (the registry's host, as in image names)"))
		}
	} else if g.registry != "" {
		if u, err := url.Parse("https://" + g.registry); err != nil || u.Host != g.registry {
			errs = append(errs, fmt.Errorf("registry: %q: want host[:port]", g.registry))
		}
	}
	project, group := strings.Trim(strings.TrimSpace(s["project"]), "/"), strings.Trim(strings.TrimSpace(s["group"]), "/")
	for _, r := range strings.Split(s["repositories"], ",") {
		if r = strings.Trim(strings.TrimSpace(r), "/"); r == "" {
			continue
		}
		if !pathRE.MatchString(r) {
			errs = append(errs, fmt.Errorf("repositories: %q is not a repository path", r))
			continue
		}
		g.repos = append(g.repos, strings.ToLower(r))
	}
	switch {
	case g.deploy && len(g.repos) == 0 && len(errs) == 0:
		errs = append(errs, errors.New("repositories: required with a deploy token (the API does not take deploy tokens)"))
	case !g.deploy && project != "" && group != "":
		errs = append(errs, errors.New("project: give a project or a group, not both"))
	case !g.deploy && project == "" && group == "":
		errs = append(errs, errors.New("project: a project or a group is required"))
	case !g.deploy && project != "":
		if !pathRE.MatchString(project) {
			errs = append(errs, fmt.Errorf("project: %q is not a project id or path", project))
		}
		g.scope = "projects/" + url.PathEscape(project)
	case !g.deploy:
		if !pathRE.MatchString(group) {
			errs = append(errs, fmt.Errorf("group: %q is not a group id or path", group))
		}
		g.scope = "groups/" + url.PathEscape(group)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	g.api = &restapi.Client{HTTP: acct.HTTP, What: "GitLab API", Secrets: []string{g.token},
		Authorize: func(_ context.Context, r *http.Request) error {
			r.Header.Set("PRIVATE-TOKEN", g.token)
			return nil
		}}
	g.reg = &restapi.Client{HTTP: acct.HTTP, What: "GitLab registry", Secrets: []string{g.token}, Authorize: restapi.Basic(g.user, g.token)}
	return g, nil
}

func (g *gitlab) Host() string { return g.registry }

func (g *gitlab) Check(ctx context.Context) error {
	if g.deploy {
		_, err := g.jwt(ctx, g.repos[0])
		return err
	}
	if _, err := g.api.Get(ctx, restapi.Join(g.base, "/api/v4/"+g.scope+"/registry/repositories", url.Values{"per_page": {"1"}}), nil); err != nil {
		return fmt.Errorf("list registry repositories of %s: %w", g.scope, err)
	}
	return nil
}

// jwt gets a pull token for repo from /jwt/auth.
func (g *gitlab) jwt(ctx context.Context, repo string) (string, error) {
	u := restapi.Join(g.base, "/jwt/auth", url.Values{"service": {"container_registry"}, "scope": {"repository:" + repo + ":pull"}})
	a, err := g.reg.Get(ctx, u, nil)
	if err != nil {
		return "", fmt.Errorf("registry token for %s: %w", repo, err)
	}
	tok, err := parseJWT(a.Body)
	if err != nil {
		return "", fmt.Errorf("registry token for %s: %w", repo, err)
	}
	return tok.Value, nil
}

// parseJWT reads the answer of /jwt/auth.
func parseJWT(body []byte) (restapi.Token, error) { return restapi.ParseToken(body, "token") }

// nextPage is the page X-Next-Page names (0: none).
func nextPage(h http.Header) (int, error) {
	v := strings.TrimSpace(h.Get("X-Next-Page"))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("X-Next-Page %q is not a page number", clip(v))
	}
	return n, nil
}

func clip(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

// pages GETs path page by page, by X-Next-Page.
func (g *gitlab) pages(ctx context.Context, path string, fn func(body []byte) error) error {
	return restapi.Pages(ctx, "1", func(page string) (string, error) {
		a, err := g.api.Get(ctx, restapi.Join(g.base, path, url.Values{"per_page": {strconv.Itoa(perPage)}, "page": {page}}), nil)
		if err != nil {
			return "", err
		}
		if err := fn(a.Body); err != nil {
			return "", err
		}
		next, err := nextPage(a.Header)
		if p, _ := strconv.Atoi(page); err == nil && next != 0 && next <= p {
			err = fmt.Errorf("X-Next-Page %d after page %d", next, p)
		}
		if err != nil || next == 0 {
			return "", err
		}
		return strconv.Itoa(next), nil
	})
}

type repoJSON struct {
	ID        int    `json:"id"`
	Path      string `json:"path"`
	ProjectID int    `json:"project_id"`
}

// parseRepos reads a page of registry repositories.
func parseRepos(body []byte) ([]repoJSON, error) {
	var v []repoJSON
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("decode repositories: %w", err)
	}
	out := v[:0]
	for _, r := range v {
		if r.Path != "" && r.ID > 0 && r.ProjectID > 0 {
			out = append(out, r)
		}
	}
	return out, nil
}

func (g *gitlab) Repositories(ctx context.Context, fn func(page []string) error) error {
	if g.deploy {
		return fn(g.repos)
	}
	err := g.pages(ctx, "/api/v4/"+g.scope+"/registry/repositories", func(b []byte) error {
		repos, err := parseRepos(b)
		if err != nil || len(repos) == 0 {
			return err
		}
		names := make([]string, len(repos))
		g.mu.Lock()
		for i, r := range repos {
			names[i] = r.Path
			g.ids[r.Path] = repoRef{project: r.ProjectID, id: r.ID}
		}
		g.mu.Unlock()
		return fn(names)
	})
	if err != nil {
		return fmt.Errorf("list registry repositories of %s: %w", g.scope, err)
	}
	return nil
}

// lookup finds repo's ids, listing the repositories when not yet known.
func (g *gitlab) lookup(ctx context.Context, repo string) (repoRef, error) {
	g.mu.Lock()
	ref, ok := g.ids[repo]
	g.mu.Unlock()
	if ok {
		return ref, nil
	}
	if err := g.Repositories(ctx, func([]string) error { return nil }); err != nil {
		return repoRef{}, err
	}
	g.mu.Lock()
	ref, ok = g.ids[repo]
	g.mu.Unlock()
	if !ok {
		return repoRef{}, fmt.Errorf("repository %s is not in %s", repo, g.scope)
	}
	return ref, nil
}

// parseTagNames reads a page of tags (names only).
func parseTagNames(body []byte) ([]string, error) {
	var v []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("decode tags: %w", err)
	}
	out := make([]string, 0, len(v))
	for _, t := range v {
		if t.Name != "" {
			out = append(out, t.Name)
		}
	}
	return out, nil
}

// parseTagDetails reads a tag's details.
func parseTagDetails(body []byte) (provider.Tag, error) {
	var v struct {
		Name      string `json:"name"`
		Digest    string `json:"digest"`
		CreatedAt string `json:"created_at"`
		TotalSize int64  `json:"total_size"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return provider.Tag{}, fmt.Errorf("decode tag: %w", err)
	}
	if v.Name == "" {
		return provider.Tag{}, errors.New("tag without a name")
	}
	t := provider.Tag{Name: v.Name, Digest: v.Digest, Size: max(v.TotalSize, 0)}
	if c, err := time.Parse(time.RFC3339Nano, v.CreatedAt); err == nil {
		t.Pushed = c.UTC()
	}
	return t, nil
}

func (g *gitlab) Tags(ctx context.Context, repo string, fn func(page []provider.Tag) error) error {
	if g.deploy {
		return g.registryTags(ctx, repo, fn)
	}
	ref, err := g.lookup(ctx, repo)
	if err != nil {
		return fmt.Errorf("list tags of %s: %w", repo, err)
	}
	path := fmt.Sprintf("/api/v4/projects/%d/registry/repositories/%d/tags", ref.project, ref.id)
	err = g.pages(ctx, path, func(b []byte) error {
		names, err := parseTagNames(b)
		if err != nil || len(names) == 0 {
			return err
		}
		tags := make([]provider.Tag, 0, len(names))
		for _, n := range names {
			if err := ctx.Err(); err != nil {
				return err
			}
			a, err := g.api.Get(ctx, restapi.Join(g.base, path+"/"+url.PathEscape(n), nil), nil)
			if err != nil {
				return fmt.Errorf("tag %s: %w", n, err)
			}
			t, err := parseTagDetails(a.Body)
			if err != nil {
				return fmt.Errorf("tag %s: %w", n, err)
			}
			tags = append(tags, t)
		}
		return fn(tags)
	})
	if err != nil {
		return fmt.Errorf("list tags of %s: %w", repo, err)
	}
	return nil
}

// registryTags lists a repository's tags through the registry's
// tags/list (names only: the module reads digests from the registry).
func (g *gitlab) registryTags(ctx context.Context, repo string, fn func(page []provider.Tag) error) error {
	tok, err := g.jwt(ctx, repo)
	if err != nil {
		return fmt.Errorf("list tags of %s: %w", repo, err)
	}
	c := *g.reg
	c.Authorize = restapi.Bearer(tok)
	regBase := &url.URL{Scheme: g.base.Scheme, Host: g.registry}
	u := restapi.Join(regBase, "/v2/"+repo+"/tags/list", url.Values{"n": {strconv.Itoa(perPage)}})
	err = restapi.LinkPages(ctx, &c, u, parseTagList, func(names []string) error {
		tags := make([]provider.Tag, len(names))
		for i, n := range names {
			tags[i] = provider.Tag{Name: n}
		}
		return fn(tags)
	})
	if err != nil {
		return fmt.Errorf("list tags of %s: %w", repo, err)
	}
	return nil
}

// parseTagList reads a registry's tags/list answer.
func parseTagList(body []byte) ([]string, error) {
	var v struct {
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("decode tags/list: %w", err)
	}
	return slices.DeleteFunc(v.Tags, func(t string) bool { return t == "" }), nil
}

// Authenticator gives /jwt/auth the username and token.
func (g *gitlab) Authenticator(context.Context) (authn.Authenticator, error) {
	return &authn.Basic{Username: g.user, Password: g.token}, nil
}
