package providerfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// DockerHub fakes the Docker Hub API v2 (https://docs.docker.com/reference/api/hub/latest/)
// and, on the same server, registry-1.docker.io with the token service of
// auth.docker.io (realm /token, service registry.docker.io).
//
//   - POST /v2/auth/token {"identifier","secret"} (a personal access
//     token) → {"access_token": JWT}; POST /v2/users/login
//     {"username","password"} → {"token": JWT} (the older form). Wrong
//     credentials: 401 {"detail":"Incorrect authentication credentials"}.
//     The JWT carries exp; it stops working at expiry or ExpireTokens.
//   - GET /v2/namespaces/{ns}/repositories?page=&page_size= (at most 100)
//     → {"count","next","previous","results":[{"name","namespace",
//     "repository_type","is_private","last_updated",...}]}; private
//     repositories are listed only with a token of a member of ns.
//   - GET /v2/namespaces/{ns}/repositories/{repo}/tags?page=&page_size=
//     → results of {"id","name","digest","full_size","media_type",
//     "content_type","last_updated","tag_last_pushed","tag_status",
//     "images":[...]}.
//   - A bad or expired bearer token: 401 {"message":"...","errinfo":{}}.
//     Unknown namespace or repository: 404 {"message":"object not found"}.
//
// Anonymous callers see public repositories and get registry tokens for
// them only.
type DockerHub struct {
	*Server
	User, Token string
	// Members are the namespaces User belongs to (User's own by default).
	Members map[string]bool
	private map[string]bool
}

// NewDockerHub starts a Docker Hub fake whose account is user with the
// personal access token pat.
func NewDockerHub(t testing.TB, user, pat string) *DockerHub {
	f := &DockerHub{User: user, Token: pat, Members: map[string]bool{user: true}, private: map[string]bool{}}
	f.Server = newServer(t, func(status int) (string, string) {
		switch status {
		case http.StatusTooManyRequests:
			return "application/json", `{"detail":"Rate limit exceeded","error":true}`
		case http.StatusUnauthorized:
			return "application/json", `{"message":"Authentication credentials were not provided.","errinfo":{}}`
		}
		return "application/json", `{"message":"Internal server error","errinfo":{}}`
	})
	f.serveRegistry(&registry{realmPath: "/token", service: "registry.docker.io", check: f.checkBasic, grant: f.grant}, true)
	f.mux.HandleFunc("POST /v2/auth/token", f.handleAuthToken)
	f.mux.HandleFunc("POST /v2/users/login", f.handleLogin)
	f.mux.HandleFunc("GET /v2/namespaces/{ns}/repositories", f.handleRepos)
	f.mux.HandleFunc("GET /v2/namespaces/{ns}/repositories/{repo}/tags", f.handleTags)
	return f
}

// SetPrivate marks a repository ("ns/name") private.
func (f *DockerHub) SetPrivate(repo string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.private[repo] = true
}

func (f *DockerHub) isPrivate(repo string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.private[repo]
}

func (f *DockerHub) checkBasic(r *http.Request) (string, bool) {
	u, p, ok := r.BasicAuth()
	if !ok {
		// Anonymous: allowed, for public repositories only.
		return "", r.Header.Get("Authorization") == ""
	}
	return u, u == f.User && p == f.Token
}

// grant keeps anonymous callers to public repositories.
func (f *DockerHub) grant(subject string, scopes []string) []string {
	if subject != "" {
		return scopes
	}
	var out []string
	for _, sc := range scopes {
		parts := strings.Split(sc, ":")
		if len(parts) == 3 && !f.isPrivate(parts[1]) {
			out = append(out, sc)
		}
	}
	return out
}

// jwt makes a JWT for the user, valid as an api token.
func (f *DockerHub) jwt() string {
	tok, _ := f.issueJWT("api", f.User, nil)
	return tok
}

func (f *DockerHub) handleAuthToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Identifier string `json:"identifier"`
		Secret     string `json:"secret"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&in); err != nil || in.Identifier == "" || in.Secret == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "identifier and secret are required", "errinfo": map[string]any{}})
		return
	}
	if in.Identifier != f.User || in.Secret != f.Token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"detail": "Incorrect authentication credentials", "message": "Incorrect authentication credentials"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": f.jwt()})
}

func (f *DockerHub) handleLogin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "invalid body", "errinfo": map[string]any{}})
		return
	}
	if in.Username != f.User || in.Password != f.Token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"detail": "Incorrect authentication credentials"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": f.jwt()})
}

// caller is the namespace member the request's token is for ("" for
// anonymous); ok false for a bad token, answered 401.
func (f *DockerHub) caller(w http.ResponseWriter, r *http.Request) (string, bool) {
	if r.Header.Get("Authorization") == "" {
		return "", true
	}
	t, ok := f.valid("api", bearer(r))
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="hub"`)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "invalid or expired token", "errinfo": map[string]any{}})
		return "", false
	}
	return t.subject, true
}

func (f *DockerHub) pageParams(w http.ResponseWriter, r *http.Request) (pageNum, size int, ok bool) {
	q := r.URL.Query()
	size, err := f.pageSize(q.Get("page_size"), 10, 100)
	if err == nil && q.Get("page") != "" {
		pageNum, err = strconv.Atoi(q.Get("page"))
		if pageNum < 1 {
			err = fmt.Errorf("invalid page")
		}
	} else if err == nil {
		pageNum = 1
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": err.Error(), "errinfo": map[string]any{}})
		return 0, 0, false
	}
	return pageNum, size, true
}

func (f *DockerHub) nextURL(r *http.Request, pageNum, size int, more bool) any {
	if !more {
		return nil
	}
	q := r.URL.Query()
	q.Set("page", strconv.Itoa(pageNum+1))
	q.Set("page_size", strconv.Itoa(size))
	return (&url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}).String()
}

func (f *DockerHub) handleRepos(w http.ResponseWriter, r *http.Request) {
	who, ok := f.caller(w, r)
	if !ok {
		return
	}
	ns := r.PathValue("ns")
	pageNum, size, ok := f.pageParams(w, r)
	if !ok {
		return
	}
	member := who != "" && f.Members[ns]
	type repo struct {
		Name           string `json:"name"`
		Namespace      string `json:"namespace"`
		RepositoryType string `json:"repository_type"`
		Status         int    `json:"status"`
		IsPrivate      bool   `json:"is_private"`
		StarCount      int    `json:"star_count"`
		PullCount      int    `json:"pull_count"`
		LastUpdated    string `json:"last_updated"`
	}
	var all []repo
	known := false
	for _, name := range f.repoNames() {
		n, rest, _ := strings.Cut(name, "/")
		if n != ns {
			continue
		}
		known = true
		if f.isPrivate(name) && !member {
			continue
		}
		last := ""
		if tags, _ := f.tags(name); len(tags) > 0 {
			last = tags[len(tags)-1].Pushed.Format("2006-01-02T15:04:05.000000Z")
		}
		all = append(all, repo{Name: rest, Namespace: ns, RepositoryType: "image", Status: 1, IsPrivate: f.isPrivate(name), LastUpdated: last})
	}
	if !known && !f.Members[ns] {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "object not found", "errinfo": map[string]any{}})
		return
	}
	pg, more := page(all, pageNum, size)
	writeJSON(w, http.StatusOK, map[string]any{"count": len(all), "next": f.nextURL(r, pageNum, size, more), "previous": nil, "results": pg})
}

func (f *DockerHub) handleTags(w http.ResponseWriter, r *http.Request) {
	who, ok := f.caller(w, r)
	if !ok {
		return
	}
	full := r.PathValue("ns") + "/" + r.PathValue("repo")
	tags, found := f.tags(full)
	if !found || (f.isPrivate(full) && (who == "" || !f.Members[r.PathValue("ns")])) {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "object not found", "errinfo": map[string]any{}})
		return
	}
	pageNum, size, ok := f.pageParams(w, r)
	if !ok {
		return
	}
	type image struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Digest       string `json:"digest"`
		Size         int64  `json:"size"`
		Status       string `json:"status"`
		LastPushed   string `json:"last_pushed"`
	}
	type tag struct {
		ID            int     `json:"id"`
		Name          string  `json:"name"`
		Digest        string  `json:"digest"`
		FullSize      int64   `json:"full_size"`
		MediaType     string  `json:"media_type"`
		ContentType   string  `json:"content_type"`
		LastUpdated   string  `json:"last_updated"`
		TagLastPushed string  `json:"tag_last_pushed"`
		TagLastPulled *string `json:"tag_last_pulled"`
		TagStatus     string  `json:"tag_status"`
		V2            bool    `json:"v2"`
		Repository    int     `json:"repository"`
		Images        []image `json:"images"`
	}
	var all []tag
	for i, t := range tags {
		ts := t.Pushed.UTC().Format("2006-01-02T15:04:05.000000Z")
		all = append(all, tag{ID: i + 1, Name: t.Tag, Digest: t.Digest, FullSize: t.Size, MediaType: t.MediaType,
			ContentType: "image", LastUpdated: ts, TagLastPushed: ts, TagStatus: "active", V2: true, Repository: 1,
			Images: []image{{Architecture: "amd64", OS: "linux", Digest: t.Digest, Size: t.Size, Status: "active", LastPushed: ts}}})
	}
	pg, more := page(all, pageNum, size)
	writeJSON(w, http.StatusOK, map[string]any{"count": len(all), "next": f.nextURL(r, pageNum, size, more), "previous": nil, "results": pg})
}
