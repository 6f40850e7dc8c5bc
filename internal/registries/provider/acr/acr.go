// Package acr is the Azure Container Registry provider. A service
// principal signs in to Microsoft Entra ID (client credentials at
// {authority}/{tenant}/oauth2/v2.0/token), exchanges the AAD token for an
// ACR refresh token (POST /oauth2/exchange) and that for access tokens
// per scope (POST /oauth2/token), following Azure/acr
// docs/AAD-OAuth.md; the admin user gets access tokens with Basic
// credentials instead. Repositories come from /v2/_catalog, tags with
// digest and times from /acr/v1/{name}/_tags, both by Link pages. Pulls
// use the refresh token as an identity token (go-containerregistry's
// OAuth2 refresh_token grant) or the admin user.
package acr

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
const Name = "acr"

// pageSize is the page asked of the catalogue and tag lists.
const pageSize = 100

// nullUser is the username that goes with an ACR refresh token.
const nullUser = "00000000-0000-0000-0000-000000000000"

// Kind is the ACR provider kind.
func Kind() provider.Kind {
	return provider.Kind{
		Name:  Name,
		Title: "Azure Container Registry",
		Fields: []fields.Field{
			{Name: "registry", Label: "Login server", Type: "text", Required: true, Help: "myregistry.azurecr.io"},
			{Name: "auth", Label: "Authentication", Type: "select", Options: []string{"service_principal", "admin_user"}, Default: "service_principal"},
			{Name: "tenant_id", Label: "Tenant ID", Type: "text", Help: "Directory (tenant) id of the service principal"},
			{Name: "client_id", Label: "Client ID", Type: "text", Help: "Application (client) id of a service principal with AcrPull (and Reader for listing)"},
			{Name: "client_secret", Label: "Client secret", Type: "password", Secret: true},
			{Name: "username", Label: "Admin username", Type: "text"},
			{Name: "password", Label: "Admin password", Type: "password", Secret: true},
			{Name: "authority", Label: "Entra ID authority", Type: "url", Default: "https://login.microsoftonline.com", Help: "Another cloud's authority (https://login.microsoftonline.us, https://login.chinacloudapi.cn)"},
		},
		New: func(acct provider.Account) (provider.Registry, error) { return newACR(acct) },
	}
}

var (
	guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	// tenantRE: a GUID or a domain name (contoso.onmicrosoft.com).
	tenantRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,254}$`)
)

type acr struct {
	base      *url.URL // https://{registry}
	authority *url.URL
	admin     bool
	tenant    string
	clientID  string
	secret    string
	user      string
	password  string
	http      *http.Client
	now       func() time.Time

	refresh *restapi.TokenCache
	mu      sync.Mutex
	access  map[string]*restapi.TokenCache // by scope
}

func newACR(acct provider.Account) (*acr, error) {
	s := acct.Settings
	var errs []error
	a := &acr{http: acct.HTTP, now: time.Now, access: map[string]*restapi.TokenCache{},
		tenant: strings.TrimSpace(s["tenant_id"]), clientID: strings.TrimSpace(s["client_id"]), secret: acct.Secrets["client_secret"],
		user: strings.TrimSpace(s["username"]), password: acct.Secrets["password"]}
	reg := strings.ToLower(strings.TrimSpace(s["registry"]))
	reg = strings.TrimPrefix(reg, "https://")
	if reg == "" {
		errs = append(errs, errors.New("registry: required (the login server, myregistry.azurecr.io)"))
	} else if !restapi.IsHost(reg) {
		errs = append(errs, fmt.Errorf("registry: %q: want the login server's host name", s["registry"]))
	}
	a.base = &url.URL{Scheme: "https", Host: reg}
	auth := s["auth"]
	switch auth {
	case "", "service_principal":
		if !tenantRE.MatchString(a.tenant) {
			errs = append(errs, errors.New("tenant_id: required: the directory (tenant) id"))
		}
		if !guidRE.MatchString(a.clientID) {
			errs = append(errs, errors.New("client_id: required: the application (client) id, a GUID"))
		}
		if a.secret == "" {
			errs = append(errs, errors.New("client_secret: required"))
		}
	case "admin_user":
		a.admin = true
		if a.user == "" || strings.ContainsAny(a.user, ": \t") {
			errs = append(errs, errors.New("username: required: the admin user (no colons or spaces)"))
		}
		if a.password == "" {
			errs = append(errs, errors.New("password: required"))
		}
	default:
		errs = append(errs, fmt.Errorf("auth: %q: want service_principal or admin_user", auth))
	}
	au, err := restapi.BaseURLOr("authority", s["authority"], "https://login.microsoftonline.com")
	if err != nil {
		errs = append(errs, err)
	} else if au.Scheme != "https" {
		errs = append(errs, errors.New("authority: want https"))
	}
	a.authority = au
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	a.refresh = &restapi.TokenCache{Fetch: a.fetchRefresh, Now: func() time.Time { return a.now() }}
	return a, nil
}

func (a *acr) Host() string { return a.base.Host }

func (a *acr) client(what string) *restapi.Client {
	return &restapi.Client{HTTP: a.http, What: what, Secrets: []string{a.secret, a.password}}
}

// form posts a form and returns the answer.
func (a *acr) form(ctx context.Context, c *restapi.Client, u string, v url.Values) ([]byte, error) {
	ans, err := c.Do(ctx, restapi.Request{Method: http.MethodPost, URL: u, Body: []byte(v.Encode()),
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}}})
	if err != nil {
		return nil, err
	}
	return ans.Body, nil
}

// fetchRefresh signs in to Entra ID and exchanges the token for an ACR
// refresh token.
func (a *acr) fetchRefresh(ctx context.Context) (restapi.Token, error) {
	u := restapi.Join(a.authority, "/"+url.PathEscape(a.tenant)+"/oauth2/v2.0/token", nil)
	body, err := a.form(ctx, a.client("Entra ID"), u, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {a.clientID}, "client_secret": {a.secret},
		"scope": {"https://containerregistry.azure.net/.default"}})
	if err != nil {
		return restapi.Token{}, fmt.Errorf("sign in as %s: %w", a.clientID, aadError(err))
	}
	aad, err := parseAADToken(body, a.now())
	if err != nil {
		return restapi.Token{}, fmt.Errorf("sign in as %s: %w", a.clientID, err)
	}
	body, err = a.form(ctx, a.client("ACR token exchange"), restapi.Join(a.base, "/oauth2/exchange", nil), url.Values{
		"grant_type": {"access_token"}, "service": {a.base.Host}, "tenant": {a.tenant}, "access_token": {aad.Value}})
	if err != nil {
		return restapi.Token{}, fmt.Errorf("exchange the Entra ID token at %s: %w", a.base.Host, err)
	}
	tok, err := parseRegistryToken(body, "refresh_token")
	if err != nil {
		return restapi.Token{}, fmt.Errorf("exchange the Entra ID token at %s: %w", a.base.Host, err)
	}
	return tok, nil
}

// aadError makes Entra ID's 400 answers for a wrong client or tenant
// (invalid_client, unauthorized_client, AADSTS700016, AADSTS90002) mean
// refused credentials.
func aadError(err error) error {
	var se *restapi.StatusError
	if errors.As(err, &se) && se.Status == http.StatusBadRequest &&
		(strings.Contains(se.Message, "unauthorized_client") || strings.Contains(se.Message, "invalid_client") || strings.Contains(se.Message, "AADSTS90002")) {
		return fmt.Errorf("%w: %w", provider.ErrUnauthorized, err)
	}
	return err
}

// parseAADToken reads an Entra ID token answer.
func parseAADToken(body []byte, now time.Time) (restapi.Token, error) {
	var v struct {
		TokenType   string      `json:"token_type"`
		AccessToken string      `json:"access_token"`
		ExpiresIn   json.Number `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return restapi.Token{}, fmt.Errorf("decode token answer: %w", err)
	}
	if v.AccessToken == "" || strings.ContainsAny(v.AccessToken, " \r\n") {
		return restapi.Token{}, errors.New("no access_token in the answer")
	}
	t := restapi.Token{Value: v.AccessToken}
	if n, err := strconv.ParseInt(v.ExpiresIn.String(), 10, 64); err == nil && n > 0 && n < 1<<31 {
		t.Expires = now.Add(time.Duration(n) * time.Second)
	}
	return t, nil
}

// parseRegistryToken reads ACR's /oauth2/exchange or /oauth2/token
// answer: the member's token, its expiry its JWT exp.
func parseRegistryToken(body []byte, member string) (restapi.Token, error) {
	return restapi.ParseToken(body, member)
}

// accessToken is an access token for scope.
func (a *acr) accessToken(ctx context.Context, scope string) (string, error) {
	a.mu.Lock()
	c := a.access[scope]
	if c == nil {
		c = &restapi.TokenCache{Now: func() time.Time { return a.now() }, Fetch: func(ctx context.Context) (restapi.Token, error) {
			return a.fetchAccess(ctx, scope)
		}}
		a.access[scope] = c
	}
	a.mu.Unlock()
	return c.Get(ctx)
}

func (a *acr) fetchAccess(ctx context.Context, scope string) (restapi.Token, error) {
	u := restapi.Join(a.base, "/oauth2/token", nil)
	var body []byte
	if a.admin {
		c := a.client("ACR token")
		c.Authorize = restapi.Basic(a.user, a.password)
		ans, err := c.Get(ctx, restapi.Join(a.base, "/oauth2/token", url.Values{"service": {a.base.Host}, "scope": {scope}}), nil)
		if err != nil {
			return restapi.Token{}, fmt.Errorf("access token for %s: %w", scope, err)
		}
		body = ans.Body
	} else {
		refresh, err := a.refresh.Get(ctx)
		if err != nil {
			return restapi.Token{}, err
		}
		body, err = a.form(ctx, a.client("ACR token"), u, url.Values{
			"grant_type": {"refresh_token"}, "service": {a.base.Host}, "scope": {scope}, "refresh_token": {refresh}})
		if err != nil {
			var se *restapi.StatusError
			if errors.As(err, &se) && se.Status == http.StatusUnauthorized {
				a.refresh.Drop() // expired or revoked: a new one next time
			}
			return restapi.Token{}, fmt.Errorf("access token for %s: %w", scope, err)
		}
	}
	tok, err := parseRegistryToken(body, "access_token")
	if err != nil {
		return restapi.Token{}, fmt.Errorf("access token for %s: %w", scope, err)
	}
	return tok, nil
}

// api is a client whose requests carry an access token for scope; a 401
// drops the cached tokens and tries once more.
func (a *acr) api(scope string) *restapi.Client {
	c := a.client("ACR API")
	c.Authorize = restapi.BearerFrom(func(ctx context.Context) (string, error) { return a.accessToken(ctx, scope) })
	c.Renew = func() {
		a.mu.Lock()
		delete(a.access, scope)
		a.mu.Unlock()
		a.refresh.Drop()
	}
	return c
}

func (a *acr) Check(ctx context.Context) error {
	if _, err := a.api("registry:catalog:*").Get(ctx, restapi.Join(a.base, "/v2/_catalog", url.Values{"n": {"1"}}), nil); err != nil {
		return fmt.Errorf("catalogue of %s: %w", a.base.Host, err)
	}
	return nil
}

// parseCatalog reads a /v2/_catalog page.
func parseCatalog(body []byte) ([]string, error) {
	var v struct {
		Repositories []string `json:"repositories"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("decode catalogue: %w", err)
	}
	return slices.DeleteFunc(v.Repositories, func(r string) bool { return r == "" }), nil
}

func (a *acr) Repositories(ctx context.Context, fn func(page []string) error) error {
	u := restapi.Join(a.base, "/v2/_catalog", url.Values{"n": {strconv.Itoa(pageSize)}})
	if err := restapi.LinkPages(ctx, a.api("registry:catalog:*"), u, parseCatalog, fn); err != nil {
		return fmt.Errorf("catalogue of %s: %w", a.base.Host, err)
	}
	return nil
}

// parseTags reads an /acr/v1/{name}/_tags page.
func parseTags(body []byte) ([]provider.Tag, error) {
	var v struct {
		Tags []struct {
			Name           string `json:"name"`
			Digest         string `json:"digest"`
			CreatedTime    string `json:"createdTime"`
			LastUpdateTime string `json:"lastUpdateTime"`
		} `json:"tags"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("decode tags: %w", err)
	}
	var out []provider.Tag
	for _, t := range v.Tags {
		if t.Name == "" {
			continue
		}
		tag := provider.Tag{Name: t.Name, Digest: t.Digest}
		// The tag was last pushed when it last changed.
		for _, ts := range []string{t.LastUpdateTime, t.CreatedTime} {
			if p, err := time.Parse(time.RFC3339Nano, ts); err == nil {
				tag.Pushed = p.UTC()
				break
			}
		}
		out = append(out, tag)
	}
	return out, nil
}

func (a *acr) Tags(ctx context.Context, repo string, fn func(page []provider.Tag) error) error {
	if repo == "" || strings.Contains(repo, "..") {
		return fmt.Errorf("tags of %q: not a repository name", repo)
	}
	u := restapi.Join(a.base, "/acr/v1/"+restapi.EscapePath(repo)+"/_tags", url.Values{"n": {strconv.Itoa(pageSize)}})
	if err := restapi.LinkPages(ctx, a.api("repository:"+repo+":metadata_read"), u, parseTags, fn); err != nil {
		return fmt.Errorf("list tags of %s: %w", repo, err)
	}
	return nil
}

// Authenticator: the admin user's Basic credentials, or a current refresh
// token as the identity token go-containerregistry trades for pull tokens.
func (a *acr) Authenticator(ctx context.Context) (authn.Authenticator, error) {
	if a.admin {
		return &authn.Basic{Username: a.user, Password: a.password}, nil
	}
	tok, err := a.refresh.Get(ctx)
	if err != nil {
		return nil, err
	}
	return authn.FromConfig(authn.AuthConfig{Username: nullUser, IdentityToken: tok}), nil
}
