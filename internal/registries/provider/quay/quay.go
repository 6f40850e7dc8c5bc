// Package quay is the Quay provider (quay.io and Red Hat Quay): the
// repositories of the configured namespaces and their active tags through
// the Quay API v1 (https://docs.quay.io/api/swagger/; Red Hat Quay API
// reference, listRepos and listRepoTags) with an OAuth application token
// (or anonymously, public repositories only), pages followed by next_page
// and has_additional; pulls with a robot account (org+name and its
// token), which Quay's /v2/auth exchanges for pull tokens.
package quay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/riskmap/riskmap/internal/fields"
	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/restapi"
)

// Name is the kind's name.
const Name = "quay"

// pageSize is the tag API's largest page.
const pageSize = 100

// Kind is the Quay provider kind.
func Kind() provider.Kind {
	return provider.Kind{
		Name:  Name,
		Title: "Quay",
		Fields: []fields.Field{
			{Name: "url", Label: "Quay URL", Type: "url", Default: "https://quay.io", Help: "https://quay.io or your Red Hat Quay"},
			{Name: "namespaces", Label: "Namespaces", Type: "text", Required: true, Help: "Comma-separated organisations or users whose repositories are listed"},
			{Name: "api_token", Label: "OAuth access token", Type: "password", Secret: true, Help: "An OAuth application token with repo:read (Organization → Applications); without it only public repositories are listed"},
			{Name: "robot_username", Label: "Robot account", Type: "text", Help: "org+name, for pulls"},
			{Name: "robot_token", Label: "Robot token", Type: "password", Secret: true},
		},
		New: func(acct provider.Account) (provider.Registry, error) { return newQuay(acct) },
	}
}

// namespaceRE is a Quay namespace.
var namespaceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,254}$`)

type quay struct {
	base                  *url.URL
	namespaces            []string
	robotUser, robotToken string
	api                   *restapi.Client
}

func newQuay(acct provider.Account) (*quay, error) {
	var errs []error
	base, err := restapi.BaseURLOr("url", acct.Settings["url"], "https://quay.io")
	if err != nil {
		errs = append(errs, err)
	}
	q := &quay{base: base, robotUser: strings.TrimSpace(acct.Settings["robot_username"]), robotToken: acct.Secrets["robot_token"]}
	q.namespaces, err = restapi.List("namespaces", acct.Settings["namespaces"], namespaceRE, "a Quay namespace")
	if err != nil {
		errs = append(errs, err)
	}
	if len(q.namespaces) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("namespaces: required"))
	}
	switch {
	case q.robotUser != "" && q.robotToken == "":
		errs = append(errs, errors.New("robot_token: required with a robot account"))
	case q.robotUser == "" && q.robotToken != "":
		errs = append(errs, errors.New("robot_username: required with a robot token"))
	case q.robotUser != "" && !strings.Contains(q.robotUser, "+"):
		errs = append(errs, fmt.Errorf("robot_username: %q: want namespace+name", q.robotUser))
	}
	token := acct.Secrets["api_token"]
	if strings.ContainsAny(token, " \r\n") {
		errs = append(errs, errors.New("api_token: one word"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	q.api = &restapi.Client{HTTP: acct.HTTP, What: "Quay API", Secrets: []string{token, q.robotToken}}
	if token != "" {
		q.api.Authorize = restapi.Bearer(token)
	}
	return q, nil
}

func (q *quay) Host() string { return q.base.Host }

func (q *quay) Check(ctx context.Context) error {
	for _, ns := range q.namespaces {
		if _, err := q.api.Get(ctx, restapi.Join(q.base, "/api/v1/repository", url.Values{"namespace": {ns}}), nil); err != nil {
			return fmt.Errorf("list repositories of %s: %w", ns, err)
		}
	}
	return nil
}

// parseRepos reads a page of GET /api/v1/repository.
func parseRepos(body []byte) (names []string, next string, err error) {
	var v struct {
		Repositories []struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
		} `json:"repositories"`
		NextPage string `json:"next_page"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, "", fmt.Errorf("decode repositories: %w", err)
	}
	for _, r := range v.Repositories {
		if r.Namespace != "" && r.Name != "" {
			names = append(names, r.Namespace+"/"+r.Name)
		}
	}
	return names, v.NextPage, nil
}

func (q *quay) Repositories(ctx context.Context, fn func(page []string) error) error {
	for _, ns := range q.namespaces {
		err := restapi.Pages(ctx, "", func(next string) (string, error) {
			v := url.Values{"namespace": {ns}}
			if next != "" {
				v.Set("next_page", next)
			}
			a, err := q.api.Get(ctx, restapi.Join(q.base, "/api/v1/repository", v), nil)
			if err != nil {
				return "", err
			}
			names, nextPage, err := parseRepos(a.Body)
			if err != nil || len(names) == 0 {
				return nextPage, err
			}
			return nextPage, fn(names)
		})
		if err != nil {
			return fmt.Errorf("list repositories of %s: %w", ns, err)
		}
	}
	return nil
}

// parseTags reads a page of GET /api/v1/repository/{repo}/tag/.
func parseTags(body []byte) (tags []provider.Tag, more bool, err error) {
	var v struct {
		Tags []struct {
			Name           string `json:"name"`
			StartTS        int64  `json:"start_ts"`
			ManifestDigest string `json:"manifest_digest"`
			IsManifestList bool   `json:"is_manifest_list"`
			Size           *int64 `json:"size"`
			LastModified   string `json:"last_modified"`
		} `json:"tags"`
		HasAdditional bool `json:"has_additional"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, false, fmt.Errorf("decode tags: %w", err)
	}
	for _, t := range v.Tags {
		if t.Name == "" {
			continue
		}
		tag := provider.Tag{Name: t.Name, Digest: t.ManifestDigest}
		if t.StartTS > 0 && t.StartTS < 1<<40 {
			tag.Pushed = time.Unix(t.StartTS, 0).UTC()
		} else if lm, err := time.Parse(time.RFC1123Z, t.LastModified); err == nil {
			tag.Pushed = lm.UTC()
		}
		if t.Size != nil && *t.Size > 0 {
			tag.Size = *t.Size
		}
		tags = append(tags, tag)
	}
	return tags, v.HasAdditional, nil
}

func (q *quay) Tags(ctx context.Context, repo string, fn func(page []provider.Tag) error) error {
	ns, name, ok := strings.Cut(repo, "/")
	if !ok || ns == "" || name == "" {
		return fmt.Errorf("tags of %q: want namespace/repository", repo)
	}
	path := "/api/v1/repository/" + url.PathEscape(ns) + "/" + url.PathEscape(name) + "/tag/"
	err := restapi.Pages(ctx, "1", func(page string) (string, error) {
		a, err := q.api.Get(ctx, restapi.Join(q.base, path, url.Values{
			"onlyActiveTags": {"true"}, "page": {page}, "limit": {strconv.Itoa(pageSize)}}), nil)
		if err != nil {
			return "", err
		}
		tags, more, err := parseTags(a.Body)
		if err != nil || len(tags) == 0 {
			return "", err
		}
		if err := fn(tags); err != nil || !more {
			return "", err
		}
		p, _ := strconv.Atoi(page)
		return strconv.Itoa(p + 1), nil
	})
	if err != nil {
		return fmt.Errorf("list tags of %s: %w", repo, err)
	}
	return nil
}

// Authenticator gives the registry's /v2/auth the robot's credentials,
// or nothing (public repositories) without a robot.
func (q *quay) Authenticator(context.Context) (authn.Authenticator, error) {
	if q.robotUser == "" {
		return authn.Anonymous, nil
	}
	return &authn.Basic{Username: q.robotUser, Password: q.robotToken}, nil
}
