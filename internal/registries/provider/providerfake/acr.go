package providerfake

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// ACR fakes Azure Container Registry with Microsoft Entra ID (AAD) on the
// same server, following Azure/acr docs/AAD-OAuth.md and the Container
// Registry REST reference (https://learn.microsoft.com/rest/api/containerregistry/):
//
//   - POST /{tenant}/oauth2/v2.0/token (the authority) with
//     grant_type=client_credentials, client_id, client_secret, scope →
//     {"token_type":"Bearer","expires_in","ext_expires_in","access_token"};
//     a wrong secret: 401 {"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided...","error_codes":[7000215],...};
//     an unknown client: 400 {"error":"unauthorized_client","error_description":"AADSTS700016: ..."}.
//   - POST /oauth2/exchange grant_type=access_token, service, tenant,
//     access_token (the AAD token) → {"refresh_token": JWT}; a bad AAD
//     token: 401 {"errors":[{"code":"UNAUTHORIZED",...}]}.
//   - POST /oauth2/token grant_type=refresh_token, service, scope,
//     refresh_token → {"access_token": JWT}; GET /oauth2/token?service&scope
//     with the admin user's Basic credentials → {"access_token","refresh_token"}.
//     Scopes: registry:catalog:*, repository:NAME:pull and
//     repository:NAME:metadata_read.
//   - GET /v2/_catalog?n=&last= → {"repositories":[...]} with Link
//     rel="next" (a bearer token with registry:catalog:*).
//   - GET /acr/v1/{name}/_tags?n=&last=&orderby= → {"registry","imageName","tags":[{"name","digest","createdTime","lastUpdateTime","signed","changeableAttributes":{...}}]}
//     with Link rel="next" (repository:NAME:metadata_read).
//   - 401s carry WWW-Authenticate: Bearer realm="https://HOST/oauth2/token",service="HOST",scope=...
type ACR struct {
	*Server
	Tenant, ClientID, ClientSecret string
	AdminUser, AdminPassword       string
}

// NewACR starts an ACR fake with one service principal and an admin user.
func NewACR(t testing.TB, tenant, clientID, clientSecret, adminUser, adminPassword string) *ACR {
	f := &ACR{Tenant: tenant, ClientID: clientID, ClientSecret: clientSecret, AdminUser: adminUser, AdminPassword: adminPassword}
	f.Server = newServer(t, func(status int) (string, string) {
		code := "UNKNOWN"
		if status == http.StatusTooManyRequests {
			code = "TOOMANYREQUESTS"
		}
		return "application/json", `{"errors":[{"code":"` + code + `","message":"` + http.StatusText(status) + `"}]}`
	})
	f.serveRegistry(&registry{realmPath: "/oauth2/token", service: f.Host(), check: f.checkAdmin}, false)
	// The authority's /{tenant}/oauth2/v2.0/token overlaps /v2/ as a
	// pattern; it is routed before the mux.
	f.pre = func(w http.ResponseWriter, r *http.Request) bool {
		tenant, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/oauth2/v2.0/token")
		if !ok || tenant == "" || strings.Contains(tenant, "/") || r.Method != http.MethodPost {
			return false
		}
		f.handleAAD(w, r, tenant)
		return true
	}
	f.mux.HandleFunc("POST /oauth2/exchange", f.handleExchange)
	f.mux.HandleFunc("/oauth2/token", f.handleToken)
	f.mux.HandleFunc("GET /v2/_catalog", f.handleCatalog)
	f.mux.HandleFunc("GET /acr/v1/", f.handleTags)
	return f
}

func (f *ACR) checkAdmin(r *http.Request) (string, bool) {
	u, p, ok := r.BasicAuth()
	return u, ok && f.AdminUser != "" && u == f.AdminUser && p == f.AdminPassword
}

func aadError(w http.ResponseWriter, status int, code, desc string, n int) {
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc, "error_codes": []int{n},
		"timestamp": "2026-12-01 12:00:00Z", "trace_id": "00000000-0000-0000-0000-000000000001", "correlation_id": "00000000-0000-0000-0000-000000000002"})
}

func (f *ACR) handleAAD(w http.ResponseWriter, r *http.Request, tenant string) {
	if err := r.ParseForm(); err != nil || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		aadError(w, http.StatusBadRequest, "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'grant_type'.", 900144)
		return
	}
	if tenant != f.Tenant {
		aadError(w, http.StatusBadRequest, "invalid_request", "AADSTS90002: Tenant '"+tenant+"' not found.", 90002)
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		aadError(w, http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.", 70003)
		return
	}
	if r.PostForm.Get("client_id") != f.ClientID {
		aadError(w, http.StatusBadRequest, "unauthorized_client", "AADSTS700016: Application with identifier '"+r.PostForm.Get("client_id")+"' was not found in the directory.", 700016)
		return
	}
	if r.PostForm.Get("client_secret") != f.ClientSecret {
		aadError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.", 7000215)
		return
	}
	if !strings.HasSuffix(r.PostForm.Get("scope"), "/.default") {
		aadError(w, http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid.", 1002012)
		return
	}
	tok, ttl := f.issueJWT("aad", f.ClientID, nil)
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": int(ttl.Seconds()), "ext_expires_in": int(ttl.Seconds()), "access_token": tok})
}

func (f *ACR) unauthorized(w http.ResponseWriter, r *http.Request, scope string) {
	ch := `Bearer realm="https://` + r.Host + `/oauth2/token",service="` + r.Host + `"`
	if scope != "" {
		ch += `,scope="` + scope + `"`
	}
	w.Header().Set("WWW-Authenticate", ch)
	registryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required, visit https://aka.ms/acr/authorization for more information.")
}

func (f *ACR) handleExchange(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		registryError(w, http.StatusBadRequest, "BAD_REQUEST", "bad form")
		return
	}
	form := r.PostForm
	if form.Get("grant_type") != "access_token" || form.Get("service") != r.Host {
		registryError(w, http.StatusBadRequest, "BAD_REQUEST", "grant_type access_token and service are required")
		return
	}
	if _, ok := f.valid("aad", form.Get("access_token")); !ok || form.Get("tenant") != f.Tenant {
		f.unauthorized(w, r, "")
		return
	}
	tok, _ := f.issueJWT("refresh", f.ClientID, nil)
	writeJSON(w, http.StatusOK, map[string]any{"refresh_token": tok})
}

func (f *ACR) handleToken(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		if err := r.ParseForm(); err != nil {
			registryError(w, http.StatusBadRequest, "BAD_REQUEST", "bad form")
			return
		}
		form := r.PostForm
		if form.Get("grant_type") != "refresh_token" || form.Get("service") != r.Host {
			registryError(w, http.StatusBadRequest, "BAD_REQUEST", "grant_type refresh_token and service are required")
			return
		}
		t, ok := f.valid("refresh", form.Get("refresh_token"))
		if !ok {
			f.unauthorized(w, r, "")
			return
		}
		tok, _ := f.issueJWT("registry", t.subject, strings.Fields(form.Get("scope")))
		writeJSON(w, http.StatusOK, map[string]any{"access_token": tok})
	case http.MethodGet:
		user, ok := f.checkAdmin(r)
		if !ok || r.URL.Query().Get("service") != r.Host {
			f.unauthorized(w, r, "")
			return
		}
		tok, _ := f.issueJWT("registry", user, r.URL.Query()["scope"])
		refresh, _ := f.issueJWT("refresh", user, nil)
		writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "refresh_token": refresh})
	default:
		registryError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "method not allowed")
	}
}

// scoped checks the bearer token holds scope ("registry:catalog:*" or
// "repository:NAME:ACTION").
func (f *ACR) scoped(w http.ResponseWriter, r *http.Request, scope string) bool {
	t, ok := f.valid("registry", bearer(r))
	if ok {
		for _, sc := range t.scopes {
			if sc == scope || (strings.HasPrefix(scope, "repository:") && grants([]string{sc}, strings.Split(scope, ":")[1], strings.Split(scope, ":")[2])) {
				return true
			}
		}
	}
	f.unauthorized(w, r, scope)
	return false
}

// acrPage answers names after last, at most n (default 100), with Link.
func (f *ACR) acrPage(w http.ResponseWriter, r *http.Request, names []string) ([]string, bool) {
	q := r.URL.Query()
	n, err := f.pageSize(q.Get("n"), 100, 1000)
	if err != nil {
		registryError(w, http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", "invalid number of results requested")
		return nil, false
	}
	return afterLast(w, r, names, n, "orderby"), true
}

func (f *ACR) handleCatalog(w http.ResponseWriter, r *http.Request) {
	if !f.scoped(w, r, "registry:catalog:*") {
		return
	}
	pg, ok := f.acrPage(w, r, f.repoNames())
	if ok {
		writeJSON(w, http.StatusOK, map[string]any{"repositories": pg})
	}
}

func (f *ACR) handleTags(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/acr/v1/"), "/_tags")
	if !ok {
		registryError(w, http.StatusNotFound, "NOT_FOUND", "not found")
		return
	}
	if !f.scoped(w, r, "repository:"+name+":metadata_read") {
		return
	}
	tags, found := f.tags(name)
	if !found {
		registryError(w, http.StatusNotFound, "NAME_UNKNOWN", "repository name not known to registry")
		return
	}
	byName := map[string]Image{}
	var names []string
	for _, t := range tags {
		byName[t.Tag] = t
		names = append(names, t.Tag)
	}
	slices.Sort(names)
	pg, ok := f.acrPage(w, r, names)
	if !ok {
		return
	}
	type tag struct {
		Name                 string          `json:"name"`
		Digest               string          `json:"digest"`
		CreatedTime          string          `json:"createdTime"`
		LastUpdateTime       string          `json:"lastUpdateTime"`
		Signed               bool            `json:"signed"`
		ChangeableAttributes map[string]bool `json:"changeableAttributes"`
	}
	out := []tag{}
	for _, n := range pg {
		t := byName[n]
		ts := t.Pushed.UTC().Format("2006-01-02T15:04:05.0000000Z")
		out = append(out, tag{Name: n, Digest: t.Digest, CreatedTime: ts, LastUpdateTime: ts,
			ChangeableAttributes: map[string]bool{"deleteEnabled": true, "writeEnabled": true, "readEnabled": true, "listEnabled": true}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"registry": r.Host, "imageName": name, "tags": out})
}
