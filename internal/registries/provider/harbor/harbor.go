// Package harbor is the Harbor registry provider: projects, repositories
// and artifacts with their tags through the Harbor API v2.0
// (goharbor/harbor api/v2.0/swagger.yaml), authenticated as a robot
// account (robot$... and its secret, HTTP Basic on every call), pages
// followed by their Link headers; pulls with the robot's credentials,
// which the registry's token service (/service/token) exchanges for pull
// tokens.
package harbor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/riskmap/riskmap/internal/fields"
	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/restapi"
)

// Name is the kind's name.
const Name = "harbor"

// pageSize is the API's largest page.
const pageSize = 100

// Kind is the Harbor provider kind.
func Kind() provider.Kind {
	return provider.Kind{
		Name:  Name,
		Title: "Harbor",
		Fields: []fields.Field{
			{Name: "url", Label: "Harbor URL", Type: "url", Required: true, Help: "https://harbor.example.com"},
			{Name: "username", Label: "Robot account", Type: "text", Required: true, Help: "The robot account's full name, robot$name or robot$project+name"},
			{Name: "secret", Label: "Robot secret", Type: "password", Required: true, Secret: true},
			{Name: "projects", Label: "Projects", Type: "text", Help: "Comma-separated projects to list; every project the robot sees when empty"},
		},
		New: func(acct provider.Account) (provider.Registry, error) { return newHarbor(acct) },
	}
}

// projectRE is a Harbor project name.
var projectRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

type harbor struct {
	base     *url.URL
	user     string
	secret   string
	projects []string
	api      *restapi.Client
}

func newHarbor(acct provider.Account) (*harbor, error) {
	var errs []error
	base, err := restapi.BaseURL("url", acct.Settings["url"])
	if err != nil {
		errs = append(errs, err)
	}
	h := &harbor{base: base, user: strings.TrimSpace(acct.Settings["username"]), secret: acct.Secrets["secret"]}
	if err := restapi.User("username", h.user, true); err != nil {
		errs = append(errs, err)
	}
	if h.secret == "" {
		errs = append(errs, errors.New("secret: required"))
	}
	h.projects, err = restapi.List("projects", acct.Settings["projects"], projectRE, "a Harbor project name")
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	h.api = &restapi.Client{HTTP: acct.HTTP, What: "Harbor API", Secrets: []string{h.secret}, Authorize: restapi.Basic(h.user, h.secret)}
	return h, nil
}

func (h *harbor) Host() string { return h.base.Host }

func (h *harbor) Check(ctx context.Context) error {
	if len(h.projects) == 0 {
		if _, err := h.api.Get(ctx, restapi.Join(h.base, "/api/v2.0/projects", url.Values{"page_size": {"1"}}), nil); err != nil {
			return fmt.Errorf("list projects: %w", err)
		}
		return nil
	}
	for _, p := range h.projects {
		if _, err := h.api.Get(ctx, restapi.Join(h.base, "/api/v2.0/projects/"+url.PathEscape(p)+"/repositories", url.Values{"page_size": {"1"}}), nil); err != nil {
			return fmt.Errorf("list repositories of project %s: %w", p, err)
		}
	}
	return nil
}

func (h *harbor) listProjects(ctx context.Context) ([]string, error) {
	if len(h.projects) > 0 {
		return h.projects, nil
	}
	var out []string
	err := restapi.LinkPages(ctx, h.api, restapi.Join(h.base, "/api/v2.0/projects", url.Values{"page_size": {fmt.Sprint(pageSize)}}), parseNames, func(names []string) error {
		out = append(out, names...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return out, nil
}

// parseNames reads a page of projects or repositories (their "name").
func parseNames(body []byte) ([]string, error) {
	var items []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(body, &items); err != nil {
		return nil, fmt.Errorf("decode list: %w", err)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		if it.Name != "" {
			out = append(out, it.Name)
		}
	}
	return out, nil
}

func (h *harbor) Repositories(ctx context.Context, fn func(page []string) error) error {
	projects, err := h.listProjects(ctx)
	if err != nil {
		return err
	}
	for _, p := range projects {
		u := restapi.Join(h.base, "/api/v2.0/projects/"+url.PathEscape(p)+"/repositories", url.Values{"page_size": {fmt.Sprint(pageSize)}})
		if err := restapi.LinkPages(ctx, h.api, u, parseNames, fn); err != nil {
			return fmt.Errorf("list repositories of project %s: %w", p, err)
		}
	}
	return nil
}

type artifactJSON struct {
	Digest            string `json:"digest"`
	Size              int64  `json:"size"`
	PushTime          string `json:"push_time"`
	ManifestMediaType string `json:"manifest_media_type"`
	MediaType         string `json:"media_type"`
	Tags              []struct {
		Name     string `json:"name"`
		PushTime string `json:"push_time"`
	} `json:"tags"`
}

// parseArtifacts reads a page of artifacts listed with_tag=true: one tag
// per tag of each artifact (untagged artifacts are not tags).
func parseArtifacts(body []byte) ([]provider.Tag, error) {
	var arts []artifactJSON
	if err := json.Unmarshal(body, &arts); err != nil {
		return nil, fmt.Errorf("decode artifacts: %w", err)
	}
	var out []provider.Tag
	for _, a := range arts {
		for _, t := range a.Tags {
			if t.Name == "" {
				continue
			}
			pushed := restapi.Time(t.PushTime)
			if pushed.IsZero() {
				pushed = restapi.Time(a.PushTime)
			}
			out = append(out, provider.Tag{Name: t.Name, Digest: a.Digest, Pushed: pushed, Size: max(a.Size, 0), MediaType: a.ManifestMediaType})
		}
	}
	return out, nil
}

func (h *harbor) Tags(ctx context.Context, repo string, fn func(page []provider.Tag) error) error {
	project, name, ok := strings.Cut(repo, "/")
	if !ok || project == "" || name == "" {
		return fmt.Errorf("tags of %q: want project/repository", repo)
	}
	// Harbor wants the repository name URL-encoded twice when it has a
	// slash (swagger: "If it contains slash, encode it twice over with URL encoding").
	enc := url.PathEscape(strings.ReplaceAll(name, "/", "%2F"))
	u := restapi.Join(h.base, "/api/v2.0/projects/"+url.PathEscape(project)+"/repositories/"+enc+"/artifacts",
		url.Values{"with_tag": {"true"}, "page_size": {fmt.Sprint(pageSize)}})
	if err := restapi.LinkPages(ctx, h.api, u, parseArtifacts, fn); err != nil {
		return fmt.Errorf("list tags of %s: %w", repo, err)
	}
	return nil
}

// Authenticator gives the registry's token service the robot's
// credentials.
func (h *harbor) Authenticator(context.Context) (authn.Authenticator, error) {
	return &authn.Basic{Username: h.user, Password: h.secret}, nil
}
