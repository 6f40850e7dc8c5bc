// Package gar is the Google Artifact Registry and Container Registry
// provider. A service account's JSON key signs the OAuth 2.0 JWT bearer
// grant at the key's token_uri (golang.org/x/oauth2/google), and the
// access token, renewed before it expires, serves the API and, as the
// password of oauth2accesstoken, pulls. Artifact Registry repositories
// are listed with projects.locations.repositories.dockerImages.list
// (https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.repositories.dockerImages/list:
// uri, tags, imageSizeBytes, uploadTime, mediaType; pages by pageToken);
// Container Registry (gcr.io) through the registry's own _catalog and
// tags/list, whose "manifest" map gives each digest's size and upload
// time.
package gar

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
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/riskmap/riskmap/internal/fields"
	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/restapi"
)

// Name is the kind's name.
const Name = "gar"

// scope is what the access token may do: Artifact Registry and
// Container Registry reads.
const scope = "https://www.googleapis.com/auth/cloud-platform.read-only"

// pageSize is the dockerImages page asked for (the API's largest).
const pageSize = 1000

// listingTTL is how long one dockerImages listing serves Tags calls (a
// sync lists the repositories, then the tags of each, at once).
const listingTTL = 5 * time.Minute

// Kind is the Google Artifact Registry / Container Registry kind.
func Kind() provider.Kind {
	return provider.Kind{
		Name:  Name,
		Title: "Google Artifact Registry / Container Registry",
		Fields: []fields.Field{
			{Name: "key_json", Label: "Service account key (JSON)", Type: "textarea", Required: true, Secret: true, Help: "A key of a service account with Artifact Registry Reader (roles/artifactregistry.reader)"},
			{Name: "mode", Label: "Registry", Type: "select", Options: []string{"artifact_registry", "gcr"}, Default: "artifact_registry"},
			{Name: "project", Label: "Project", Type: "text", Help: "Project id; the key's project by default"},
			{Name: "location", Label: "Location", Type: "text", Help: "Artifact Registry location (us-central1, europe, us)"},
			{Name: "repository", Label: "Repository", Type: "text", Help: "Artifact Registry repository id"},
			{Name: "registry", Label: "Registry host", Type: "text", Help: "LOCATION-docker.pkg.dev by default; gcr.io, us.gcr.io, eu.gcr.io or asia.gcr.io for Container Registry"},
			{Name: "api_url", Label: "Artifact Registry API", Type: "url", Default: "https://artifactregistry.googleapis.com", Help: "Another endpoint (Private Service Connect)"},
		},
		New: func(acct provider.Account) (provider.Registry, error) { return newGAR(acct) },
	}
}

var (
	projectRE  = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$|^[a-z0-9.-]+:[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	locationRE = regexp.MustCompile(`^[a-z][a-z0-9-]{1,62}$`)
	repoIDRE   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
)

type gar struct {
	gcr        bool
	project    string
	location   string
	repository string
	registry   string
	apiBase    *url.URL
	http       *http.Client
	tokens     *restapi.TokenCache
	keyBits    []string // secret parts of the key, never in errors
	now        func() time.Time

	mu      sync.Mutex
	listed  time.Time
	byImage map[string][]provider.Tag // the last dockerImages listing
}

// keyFile is the part of a service account key New checks.
type keyFile struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	ClientEmail  string `json:"client_email"`
	PrivateKey   string `json:"private_key"`
	PrivateKeyID string `json:"private_key_id"`
	TokenURI     string `json:"token_uri"`
}

func newGAR(acct provider.Account) (*gar, error) {
	s := acct.Settings
	var errs []error
	g := &gar{http: acct.HTTP, now: time.Now, project: strings.TrimSpace(s["project"]),
		location: strings.TrimSpace(s["location"]), repository: strings.TrimSpace(s["repository"]), registry: strings.TrimSpace(s["registry"])}
	raw := []byte(acct.Secrets["key_json"])
	var key keyFile
	if len(raw) == 0 {
		errs = append(errs, errors.New("key_json: required"))
	} else if err := json.Unmarshal(raw, &key); err != nil {
		// json's error may quote the key: name only the problem's place.
		errs = append(errs, errors.New("key_json: not a JSON service account key"))
	} else {
		g.keyBits = []string{key.PrivateKey, key.PrivateKeyID}
		switch {
		case key.Type != "service_account":
			errs = append(errs, fmt.Errorf("key_json: type %q: want a service_account key", clip(key.Type)))
		case key.ClientEmail == "" || key.PrivateKey == "":
			errs = append(errs, errors.New("key_json: client_email and private_key are required"))
		}
		if key.TokenURI != "" {
			if u, err := url.Parse(key.TokenURI); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
				errs = append(errs, errors.New("key_json: token_uri: want an https URL"))
			}
		}
		if g.project == "" {
			g.project = key.ProjectID
		}
	}
	switch s["mode"] {
	case "", "artifact_registry":
	case "gcr":
		g.gcr = true
	default:
		errs = append(errs, fmt.Errorf("mode: %q: want artifact_registry or gcr", s["mode"]))
	}
	if !projectRE.MatchString(g.project) {
		errs = append(errs, fmt.Errorf("project: %q is not a project id", g.project))
	}
	if !g.gcr {
		if !locationRE.MatchString(g.location) {
			errs = append(errs, fmt.Errorf("location: %q: want a location such as us-central1", g.location))
		}
		if !repoIDRE.MatchString(g.repository) {
			errs = append(errs, fmt.Errorf("repository: %q is not a repository id", g.repository))
		}
		if g.registry == "" {
			g.registry = g.location + "-docker.pkg.dev"
		}
	} else if g.registry == "" {
		g.registry = "gcr.io"
	}
	if !restapi.IsHost(g.registry) {
		errs = append(errs, fmt.Errorf("registry: %q: want host[:port]", g.registry))
	}
	base, err := restapi.BaseURLOr("api_url", s["api_url"], "https://artifactregistry.googleapis.com")
	if err != nil {
		errs = append(errs, err)
	}
	g.apiBase = base
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cfg, err := google.JWTConfigFromJSON(raw, scope)
	if err != nil {
		return nil, errors.New("key_json: not a service account key")
	}
	hc := acct.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	// Each grant goes through the account's client with the caller's
	// context; the token is kept until shortly before it expires.
	g.tokens = &restapi.TokenCache{Now: func() time.Time { return g.now() }, Fetch: func(ctx context.Context) (restapi.Token, error) {
		t, err := cfg.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, hc)).Token()
		if err != nil {
			return restapi.Token{}, g.tokenError(err)
		}
		return restapi.Token{Value: t.AccessToken, Expires: t.Expiry}, nil
	}}
	return g, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func (g *gar) Host() string { return g.registry }

// accessToken is a current access token.
func (g *gar) accessToken(ctx context.Context) (string, error) {
	return g.tokens.Get(ctx)
}

// tokenError classes a token endpoint failure: a refused grant or
// client is refused credentials; 429 and 5xx, or no answer, unavailable.
func (g *gar) tokenError(err error) error {
	c := &restapi.Client{What: "Google OAuth", Secrets: g.keyBits}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		code, desc := parseOAuthError(re.Body)
		if code == "" {
			code, desc = re.ErrorCode, re.ErrorDescription
		}
		msg := code
		if desc != "" {
			msg += ": " + desc
		}
		kind := restapi.Kind(re.Response.StatusCode)
		if re.Response.StatusCode == http.StatusBadRequest && (code == "invalid_grant" || code == "invalid_client" || code == "unauthorized_client") {
			kind = provider.ErrUnauthorized
		}
		if kind != nil {
			return fmt.Errorf("access token for the service account: %d %s: %w", re.Response.StatusCode, c.Quote([]byte(msg)), kind)
		}
		return fmt.Errorf("access token for the service account: %d %s", re.Response.StatusCode, c.Quote([]byte(msg)))
	}
	// A transport failure (the message names the token URL, not a secret).
	return fmt.Errorf("access token for the service account: %w: %s", provider.ErrUnavailable, c.Quote([]byte(err.Error())))
}

// parseOAuthError reads an OAuth 2.0 error answer (RFC 6749 5.2).
func parseOAuthError(body []byte) (code, desc string) {
	var v struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if json.Unmarshal(body, &v) != nil {
		return "", ""
	}
	return v.Error, v.ErrorDescription
}

func (g *gar) bearerClient(what string) *restapi.Client {
	return &restapi.Client{HTTP: g.http, What: what, Secrets: g.keyBits, Authorize: restapi.BearerFrom(g.accessToken), Renew: g.tokens.Drop}
}

func (g *gar) Check(ctx context.Context) error {
	if g.gcr {
		_, err := g.registryToken(ctx, "registry:catalog:*")
		return err
	}
	_, err := g.bearerClient("Artifact Registry API").Get(ctx, g.imagesURL(""), nil)
	if err != nil {
		return fmt.Errorf("list images of %s: %w", g.repoPath(), err)
	}
	return nil
}

func (g *gar) repoPath() string {
	return "projects/" + g.project + "/locations/" + g.location + "/repositories/" + g.repository
}

func (g *gar) imagesURL(pageToken string) string {
	v := url.Values{"pageSize": {strconv.Itoa(pageSize)}}
	if pageToken != "" {
		v.Set("pageToken", pageToken)
	}
	return restapi.Join(g.apiBase, "/v1/projects/"+url.PathEscape(g.project)+"/locations/"+url.PathEscape(g.location)+
		"/repositories/"+url.PathEscape(g.repository)+"/dockerImages", v)
}

// parseDockerImages reads a dockerImages.list page: tags by image name
// (the part of the uri after LOCATION-docker.pkg.dev/), and the next page
// token.
func parseDockerImages(body []byte) (map[string][]provider.Tag, string, error) {
	var v struct {
		DockerImages []struct {
			URI            string      `json:"uri"`
			Tags           []string    `json:"tags"`
			ImageSizeBytes json.Number `json:"imageSizeBytes"`
			UploadTime     string      `json:"uploadTime"`
			MediaType      string      `json:"mediaType"`
		} `json:"dockerImages"`
		NextPageToken string `json:"nextPageToken"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, "", fmt.Errorf("decode dockerImages: %w", err)
	}
	out := map[string][]provider.Tag{}
	for _, im := range v.DockerImages {
		_, rest, ok := strings.Cut(im.URI, "/")
		name, digest, ok2 := strings.Cut(rest, "@")
		if !ok || !ok2 || name == "" {
			continue
		}
		size, _ := strconv.ParseInt(im.ImageSizeBytes.String(), 10, 64)
		pushed, _ := time.Parse(time.RFC3339Nano, im.UploadTime)
		if !pushed.IsZero() {
			pushed = pushed.UTC()
		}
		if _, seen := out[name]; !seen {
			out[name] = nil
		}
		for _, t := range im.Tags {
			if t != "" {
				out[name] = append(out[name], provider.Tag{Name: t, Digest: digest, Pushed: pushed, Size: max(size, 0), MediaType: im.MediaType})
			}
		}
	}
	return out, v.NextPageToken, nil
}

// listImages lists the repository's docker images, grouped by image.
func (g *gar) listImages(ctx context.Context) (map[string][]provider.Tag, error) {
	c := g.bearerClient("Artifact Registry API")
	all := map[string][]provider.Tag{}
	err := restapi.Pages(ctx, "", func(token string) (string, error) {
		a, err := c.Get(ctx, g.imagesURL(token), nil)
		if err != nil {
			return "", err
		}
		page, next, err := parseDockerImages(a.Body)
		for k, v := range page {
			all[k] = append(all[k], v...)
		}
		return next, err
	})
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.byImage, g.listed = all, g.now()
	g.mu.Unlock()
	return all, nil
}

func (g *gar) Repositories(ctx context.Context, fn func(page []string) error) error {
	if g.gcr {
		parse := func(b []byte) ([]string, error) { return parseCatalog(b, g.project) }
		return gcrList(ctx, g, "/v2/_catalog", "registry:catalog:*", parse, fn)
	}
	all, err := g.listImages(ctx)
	if err != nil {
		return fmt.Errorf("list images of %s: %w", g.repoPath(), err)
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	slices.Sort(names)
	for len(names) > 0 {
		k := min(len(names), 100)
		if err := fn(names[:k]); err != nil {
			return err
		}
		names = names[k:]
	}
	return nil
}

func (g *gar) Tags(ctx context.Context, repo string, fn func(page []provider.Tag) error) error {
	if g.gcr {
		return g.gcrTags(ctx, repo, fn)
	}
	g.mu.Lock()
	all, fresh := g.byImage, g.byImage != nil && g.now().Sub(g.listed) < listingTTL
	g.mu.Unlock()
	if !fresh {
		var err error
		if all, err = g.listImages(ctx); err != nil {
			return fmt.Errorf("list tags of %s: %w", repo, err)
		}
	}
	tags, ok := all[repo]
	if !ok {
		return fmt.Errorf("list tags of %s: no such image in %s", repo, g.repoPath())
	}
	for len(tags) > 0 {
		k := min(len(tags), 100)
		if err := fn(tags[:k]); err != nil {
			return err
		}
		tags = tags[k:]
	}
	return nil
}

// registryToken gets a registry token for scope from the registry's
// /v2/token with oauth2accesstoken and the access token.
func (g *gar) registryToken(ctx context.Context, regScope string) (string, error) {
	tok, err := g.accessToken(ctx)
	if err != nil {
		return "", err
	}
	c := &restapi.Client{HTTP: g.http, What: "registry token", Secrets: append([]string{tok}, g.keyBits...), Authorize: restapi.Basic("oauth2accesstoken", tok)}
	a, err := c.Get(ctx, restapi.Join(&url.URL{Scheme: "https", Host: g.registry}, "/v2/token", url.Values{"service": {g.registry}, "scope": {regScope}}), nil)
	if err != nil {
		return "", fmt.Errorf("registry token for %s: %w", regScope, err)
	}
	t, err := restapi.ParseToken(a.Body, "token", "access_token")
	if err != nil {
		return "", fmt.Errorf("registry token for %s: %w", regScope, err)
	}
	return t.Value, nil
}

// gcrList GETs a registry list and its Link pages with a registry token,
// calling fn with the entries of each page parse finds some on.
func gcrList[T any](ctx context.Context, g *gar, path, regScope string, parse func([]byte) ([]T, error), fn func([]T) error) error {
	tok, err := g.registryToken(ctx, regScope)
	if err != nil {
		return err
	}
	c := &restapi.Client{HTTP: g.http, What: "Container Registry", Secrets: []string{tok}, Authorize: restapi.Bearer(tok)}
	return restapi.LinkPages(ctx, c, restapi.Join(&url.URL{Scheme: "https", Host: g.registry}, path, url.Values{"n": {"1000"}}), parse, fn)
}

// parseCatalog reads a GCR _catalog page, keeping the project's images.
func parseCatalog(body []byte, project string) ([]string, error) {
	var v struct {
		Repositories []string `json:"repositories"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("decode catalogue: %w", err)
	}
	var out []string
	for _, r := range v.Repositories {
		if strings.HasPrefix(r, project+"/") && len(r) > len(project)+1 {
			out = append(out, r)
		}
	}
	return out, nil
}

// parseGCRTags reads GCR's tags/list: each tag with its digest's size,
// upload time and media type from the "manifest" map.
func parseGCRTags(body []byte) ([]provider.Tag, error) {
	var v struct {
		Tags     []string `json:"tags"`
		Manifest map[string]struct {
			ImageSizeBytes json.Number `json:"imageSizeBytes"`
			MediaType      string      `json:"mediaType"`
			Tag            []string    `json:"tag"`
			TimeUploadedMs json.Number `json:"timeUploadedMs"`
			TimeCreatedMs  json.Number `json:"timeCreatedMs"`
		} `json:"manifest"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("decode tags/list: %w", err)
	}
	byTag := map[string]provider.Tag{}
	for digest, m := range v.Manifest {
		size, _ := strconv.ParseInt(m.ImageSizeBytes.String(), 10, 64)
		var pushed time.Time
		if ms, err := strconv.ParseInt(m.TimeUploadedMs.String(), 10, 64); err == nil && ms > 0 && ms < 1<<50 {
			pushed = time.UnixMilli(ms).UTC()
		}
		for _, t := range m.Tag {
			byTag[t] = provider.Tag{Name: t, Digest: digest, Pushed: pushed, Size: max(size, 0), MediaType: m.MediaType}
		}
	}
	var out []provider.Tag
	for _, t := range v.Tags {
		if t == "" {
			continue
		}
		tag, ok := byTag[t]
		if !ok {
			tag = provider.Tag{Name: t}
		}
		out = append(out, tag)
	}
	return out, nil
}

func (g *gar) gcrTags(ctx context.Context, repo string, fn func(page []provider.Tag) error) error {
	if !strings.HasPrefix(repo, g.project+"/") || strings.Contains(repo, "..") {
		return fmt.Errorf("list tags of %s: not an image of project %s", repo, g.project)
	}
	if err := gcrList(ctx, g, "/v2/"+repo+"/tags/list", "repository:"+repo+":pull", parseGCRTags, fn); err != nil {
		return fmt.Errorf("list tags of %s: %w", repo, err)
	}
	return nil
}

// Authenticator gives the registry oauth2accesstoken and a current access
// token, asked anew each time go-containerregistry needs credentials (a
// long pull outlives a token).
func (g *gar) Authenticator(ctx context.Context) (authn.Authenticator, error) {
	if _, err := g.accessToken(ctx); err != nil {
		return nil, err
	}
	return tokenAuth{g}, nil
}

type tokenAuth struct{ g *gar }

// Authorization is for callers without a context; go-containerregistry
// calls AuthorizationContext.
func (a tokenAuth) Authorization() (*authn.AuthConfig, error) {
	return a.AuthorizationContext(context.TODO())
}

func (a tokenAuth) AuthorizationContext(ctx context.Context) (*authn.AuthConfig, error) {
	tok, err := a.g.accessToken(ctx)
	if err != nil {
		return nil, err
	}
	return &authn.AuthConfig{Username: "oauth2accesstoken", Password: tok}, nil
}
