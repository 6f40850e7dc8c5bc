// Package jfrog is the JFrog Artifactory provider: the local Docker
// repositories (GET /artifactory/api/repositories?type=local&packageType=docker,
// or the configured ones), their images and tags through Artifactory's
// Docker Registry API (/artifactory/api/docker/{key}/v2/_catalog and
// tags/list, pages by Link), and each tag's digest, push time and size
// from the storage API's File List of the tag's folder (the manifest's
// sha2 and lastModified, the folder's files summed). Credentials are an
// access token (Bearer), or a user with an API key, a password or an
// access token (Basic), for the API and for pulls (repository path
// method: HOST/KEY/IMAGE:TAG). https://jfrog.com/help/r/jfrog-rest-apis/artifactory-rest-apis
package jfrog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/riskmap/riskmap/internal/fields"
	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/restapi"
)

// Name is the kind's name.
const Name = "jfrog"

// pageSize is the catalogue and tags/list page asked for.
const pageSize = 1000

// Kind is the JFrog Artifactory provider kind.
func Kind() provider.Kind {
	return provider.Kind{
		Name:  Name,
		Title: "JFrog Artifactory",
		Fields: []fields.Field{
			{Name: "url", Label: "Artifactory URL", Type: "url", Required: true, Help: "https://acme.jfrog.io (without /artifactory)"},
			{Name: "username", Label: "Username", Type: "text", Help: "With an API key or password; leave empty with an access token"},
			{Name: "token", Label: "Access token, API key or password", Type: "password", Required: true, Secret: true},
			{Name: "repositories", Label: "Docker repositories", Type: "text", Help: "Comma-separated repository keys; every local Docker repository when empty"},
		},
		New: func(acct provider.Account) (provider.Registry, error) { return newJFrog(acct) },
	}
}

// keyRE is an Artifactory repository key.
var keyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

type jfrog struct {
	base  *url.URL
	user  string
	token string
	keys  []string
	api   *restapi.Client
}

func newJFrog(acct provider.Account) (*jfrog, error) {
	var errs []error
	base, err := restapi.BaseURL("url", acct.Settings["url"])
	if err != nil {
		errs = append(errs, err)
	} else {
		base.Path = strings.TrimSuffix(base.Path, "/artifactory")
	}
	j := &jfrog{base: base, user: strings.TrimSpace(acct.Settings["username"]), token: acct.Secrets["token"]}
	if j.token == "" {
		errs = append(errs, errors.New("token: required"))
	}
	if err := restapi.User("username", j.user, false); err != nil {
		errs = append(errs, err)
	}
	j.keys, err = restapi.List("repositories", acct.Settings["repositories"], keyRE, "a repository key")
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	j.api = &restapi.Client{HTTP: acct.HTTP, What: "Artifactory API", Secrets: []string{j.token}, Authorize: restapi.Bearer(j.token)}
	if j.user != "" {
		j.api.Authorize = restapi.Basic(j.user, j.token)
	}
	return j, nil
}

func (j *jfrog) Host() string { return j.base.Host }

func (j *jfrog) Check(ctx context.Context) error {
	keys, err := j.repositoryKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		u := restapi.Join(j.base, "/artifactory/api/docker/"+url.PathEscape(k)+"/v2/_catalog", url.Values{"n": {"1"}})
		if _, err := j.api.Get(ctx, u, nil); err != nil {
			return fmt.Errorf("catalogue of %s: %w", k, err)
		}
	}
	return nil
}

// repositoryKeys is the configured keys or the local Docker repositories.
func (j *jfrog) repositoryKeys(ctx context.Context) ([]string, error) {
	if len(j.keys) > 0 {
		return j.keys, nil
	}
	a, err := j.api.Get(ctx, restapi.Join(j.base, "/artifactory/api/repositories", url.Values{"type": {"local"}, "packageType": {"docker"}}), nil)
	if err != nil {
		return nil, fmt.Errorf("list Docker repositories: %w", err)
	}
	keys, err := parseRepositories(a.Body)
	if err != nil {
		return nil, fmt.Errorf("list Docker repositories: %w", err)
	}
	return keys, nil
}

// parseRepositories reads GET /api/repositories: the keys of Docker ones.
func parseRepositories(body []byte) ([]string, error) {
	var v []struct {
		Key         string `json:"key"`
		PackageType string `json:"packageType"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("decode repositories: %w", err)
	}
	var out []string
	for _, r := range v {
		if keyRE.MatchString(r.Key) && (r.PackageType == "" || strings.EqualFold(r.PackageType, "docker")) {
			out = append(out, r.Key)
		}
	}
	return out, nil
}

// list GETs a Docker API list and the pages its Link headers name,
// calling fn with the names under member.
func (j *jfrog) list(ctx context.Context, u, member string, fn func([]string) error) error {
	return restapi.LinkPages(ctx, j.api, u, func(b []byte) ([]string, error) { return parseList(b, member) }, fn)
}

// parseList reads a _catalog ("repositories") or tags/list ("tags") answer.
func parseList(body []byte, member string) ([]string, error) {
	var v map[string]json.RawMessage
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("decode list: %w", err)
	}
	var names []string
	if raw, ok := v[member]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &names); err != nil {
			return nil, fmt.Errorf("decode %s: %w", member, err)
		}
	}
	return slices.DeleteFunc(names, func(n string) bool { return n == "" }), nil
}

func (j *jfrog) Repositories(ctx context.Context, fn func(page []string) error) error {
	keys, err := j.repositoryKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		u := restapi.Join(j.base, "/artifactory/api/docker/"+url.PathEscape(k)+"/v2/_catalog", url.Values{"n": {strconv.Itoa(pageSize)}})
		err := j.list(ctx, u, "repositories", func(names []string) error {
			page := make([]string, len(names))
			for i, n := range names {
				page[i] = k + "/" + n
			}
			return fn(page)
		})
		if err != nil {
			return fmt.Errorf("catalogue of %s: %w", k, err)
		}
	}
	return nil
}

func (j *jfrog) Tags(ctx context.Context, repo string, fn func(page []provider.Tag) error) error {
	key, img, ok := strings.Cut(repo, "/")
	if !ok || key == "" || img == "" {
		return fmt.Errorf("tags of %q: want repository-key/image", repo)
	}
	u := restapi.Join(j.base, "/artifactory/api/docker/"+url.PathEscape(key)+"/v2/"+restapi.EscapePath(img)+"/tags/list", url.Values{"n": {strconv.Itoa(pageSize)}})
	err := j.list(ctx, u, "tags", func(names []string) error {
		tags := make([]provider.Tag, 0, len(names))
		for _, n := range names {
			if err := ctx.Err(); err != nil {
				return err
			}
			t, err := j.tagInfo(ctx, key, img, n)
			if err != nil {
				return err
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

// tagInfo reads a tag folder's File List: the manifest's digest and
// time, the folder's size.
func (j *jfrog) tagInfo(ctx context.Context, key, img, tag string) (provider.Tag, error) {
	u := restapi.Join(j.base, "/artifactory/api/storage/"+url.PathEscape(key)+"/"+restapi.EscapePath(img)+"/"+url.PathEscape(tag), nil) + "?list&deep=1&listFolders=0"
	a, err := j.api.Get(ctx, u, nil)
	if err != nil {
		return provider.Tag{}, fmt.Errorf("tag %s: %w", tag, err)
	}
	t, err := parseFileList(a.Body)
	if err != nil {
		return provider.Tag{}, fmt.Errorf("tag %s: %w", tag, err)
	}
	t.Name = tag
	return t, nil
}

// parseFileList reads a tag folder's File List.
func parseFileList(body []byte) (provider.Tag, error) {
	var v struct {
		Created string `json:"created"`
		Files   []struct {
			URI          string      `json:"uri"`
			Size         json.Number `json:"size"`
			LastModified string      `json:"lastModified"`
			Folder       bool        `json:"folder"`
			SHA2         string      `json:"sha2"`
		} `json:"files"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return provider.Tag{}, fmt.Errorf("decode file list: %w", err)
	}
	var t provider.Tag
	found := false
	for _, f := range v.Files {
		if f.Folder {
			continue
		}
		if n, err := f.Size.Int64(); err == nil && n > 0 && t.Size <= 1<<62-n {
			t.Size += n
		}
		name := strings.TrimPrefix(f.URI, "/")
		if name != "manifest.json" && name != "list.manifest.json" {
			continue
		}
		found = true
		if len(f.SHA2) == 64 && strings.Trim(strings.ToLower(f.SHA2), "0123456789abcdef") == "" {
			t.Digest = "sha256:" + strings.ToLower(f.SHA2)
		}
		if m, err := time.Parse(time.RFC3339Nano, f.LastModified); err == nil {
			t.Pushed = m.UTC()
		}
		if name == "list.manifest.json" {
			t.MediaType = "" // an index: Docker list or OCI index, the registry says which
		}
	}
	if !found {
		return provider.Tag{}, errors.New("no manifest.json in the tag's folder")
	}
	if t.Pushed.IsZero() {
		if c, err := time.Parse(time.RFC3339Nano, v.Created); err == nil {
			t.Pushed = c.UTC()
		}
	}
	return t, nil
}

// Authenticator: an access token alone goes to the registry as a bearer
// token; with a user, Basic credentials for the token endpoint.
func (j *jfrog) Authenticator(context.Context) (authn.Authenticator, error) {
	if j.user == "" {
		return authn.FromConfig(authn.AuthConfig{RegistryToken: j.token}), nil
	}
	return &authn.Basic{Username: j.user, Password: j.token}, nil
}
