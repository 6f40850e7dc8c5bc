package providerfake

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// Quay fakes the Quay API v1 (https://docs.quay.io/api/swagger/,
// Red Hat Quay API reference: listRepos, listRepoTags) with an OAuth
// application token, and the registry behind Quay's token endpoint
// (realm /v2/auth, service = the host) for robot accounts (org+name).
//
//   - Authorization: Bearer <OAuth token> on API calls; a wrong one: 401
//     {"detail":"...","error_message":"...","error_type":"invalid_token","title":"invalid_token","type":".../api/v1/error/invalid_token","status":401}.
//     Without one, only public repositories are listed.
//   - GET /api/v1/repository?namespace=NS[&next_page=TOKEN] →
//     {"repositories":[{"namespace","name","description","is_public","kind":"image","state":"NORMAL"}],"next_page":TOKEN}
//     (next_page only when more follow; 100 a page). A request naming
//     none of namespace, starred or public: 400.
//   - GET /api/v1/repository/{ns}/{repo}/tag/?onlyActiveTags=true&page=N&limit=L
//     (limit at most 100) → {"tags":[{"name","reversion","start_ts","manifest_digest","is_manifest_list","size","last_modified"}],"page":N,"has_additional":bool};
//     last_modified is RFC 1123 with a numeric zone ("Thu, 06 Jun 2024 13:33:00 -0000").
type Quay struct {
	*Server
	// OAuthToken is the API token; RobotName/RobotToken the pull robot.
	OAuthToken            string
	RobotName, RobotToken string
	public                map[string]bool
}

// NewQuay starts a Quay fake.
func NewQuay(t testing.TB, oauthToken, robotName, robotToken string) *Quay {
	f := &Quay{OAuthToken: oauthToken, RobotName: robotName, RobotToken: robotToken, public: map[string]bool{}}
	f.Server = newServer(t, func(status int) (string, string) {
		if status == http.StatusTooManyRequests {
			return "application/json", `{"detail":"Too many requests","error_message":"Too many requests","error_type":"too_many_requests","title":"too_many_requests","status":429}`
		}
		return "text/html", "<html><body><h1>" + strconv.Itoa(status) + " " + http.StatusText(status) + "</h1></body></html>"
	})
	f.serveRegistry(&registry{realmPath: "/v2/auth", service: f.Host(), check: f.checkRobot}, true)
	f.mux.HandleFunc("GET /api/v1/repository", f.handleRepos)
	f.mux.HandleFunc("GET /api/v1/repository/{ns}/{repo}/tag/", f.handleTags)
	return f
}

// SetPublic marks a repository ("ns/name") public.
func (f *Quay) SetPublic(repo string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.public[repo] = true
}

func (f *Quay) isPublic(repo string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.public[repo]
}

func (f *Quay) checkRobot(r *http.Request) (string, bool) {
	u, p, ok := r.BasicAuth()
	return u, ok && u == f.RobotName && p == f.RobotToken
}

func quayError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, map[string]any{"detail": msg, "error_message": msg, "error_type": typ, "title": typ,
		"type": "https://quay.io/api/v1/error/" + typ, "status": status})
}

// caller: true for the OAuth token, false for anonymous; ok false (401
// answered) for a wrong token.
func (f *Quay) caller(w http.ResponseWriter, r *http.Request) (authed, ok bool) {
	if r.Header.Get("Authorization") == "" {
		return false, true
	}
	if bearer(r) != f.OAuthToken {
		quayError(w, http.StatusUnauthorized, "invalid_token", "The access token provided is invalid")
		return false, false
	}
	return true, true
}

func (f *Quay) handleRepos(w http.ResponseWriter, r *http.Request) {
	authed, ok := f.caller(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	ns := q.Get("namespace")
	if ns == "" && q.Get("starred") != "true" && q.Get("public") != "true" {
		quayError(w, http.StatusBadRequest, "invalid_request", "You must specify either a namespace, starred or public")
		return
	}
	type repo struct {
		Namespace   string  `json:"namespace"`
		Name        string  `json:"name"`
		Description *string `json:"description"`
		IsPublic    bool    `json:"is_public"`
		Kind        string  `json:"kind"`
		State       string  `json:"state"`
		IsStarred   bool    `json:"is_starred"`
	}
	var all []repo
	for _, n := range f.repoNames() {
		rns, name, _ := strings.Cut(n, "/")
		if rns != ns || (!authed && !f.isPublic(n)) {
			continue
		}
		all = append(all, repo{Namespace: rns, Name: name, IsPublic: f.isPublic(n), Kind: "image", State: "NORMAL"})
	}
	// next_page is an opaque token; here the base64 of the offset.
	offset := 0
	if tok := q.Get("next_page"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			quayError(w, http.StatusBadRequest, "invalid_request", "Invalid page token")
			return
		}
		offset, err = strconv.Atoi(string(b))
		if err != nil || offset < 0 {
			quayError(w, http.StatusBadRequest, "invalid_request", "Invalid page token")
			return
		}
	}
	size, _ := f.pageSize("", 100, 100)
	out := map[string]any{"repositories": []repo{}}
	if offset < len(all) {
		end := min(offset+size, len(all))
		out["repositories"] = all[offset:end]
		if end < len(all) {
			out["next_page"] = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (f *Quay) handleTags(w http.ResponseWriter, r *http.Request) {
	authed, ok := f.caller(w, r)
	if !ok {
		return
	}
	full := r.PathValue("ns") + "/" + r.PathValue("repo")
	tags, found := f.tags(full)
	if !found || (!authed && !f.isPublic(full)) {
		quayError(w, http.StatusNotFound, "not_found", "Not Found")
		return
	}
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 100 {
			quayError(w, http.StatusBadRequest, "invalid_request", "Limit must be between 1 and 100")
			return
		}
	}
	size, _ := f.pageSize(q.Get("limit"), 50, 100)
	p := 1
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			quayError(w, http.StatusBadRequest, "invalid_request", "Invalid page")
			return
		}
		p = n
	}
	type tag struct {
		Name           string `json:"name"`
		Reversion      bool   `json:"reversion"`
		StartTS        int64  `json:"start_ts"`
		ManifestDigest string `json:"manifest_digest"`
		IsManifestList bool   `json:"is_manifest_list"`
		Size           *int64 `json:"size"`
		LastModified   string `json:"last_modified"`
	}
	var all []tag
	// Quay lists the most recent first.
	for i := len(tags) - 1; i >= 0; i-- {
		t := tags[i]
		list := strings.Contains(t.MediaType, "index") || strings.Contains(t.MediaType, "list")
		tg := tag{Name: t.Tag, StartTS: t.Pushed.Unix(), ManifestDigest: t.Digest, IsManifestList: list,
			LastModified: t.Pushed.UTC().Format("Mon, 02 Jan 2006 15:04:05 -0700")}
		if !list {
			size := t.Size
			tg.Size = &size
		}
		all = append(all, tg)
	}
	pg, more := page(all, p, size)
	writeJSON(w, http.StatusOK, map[string]any{"tags": pg, "page": p, "has_additional": more})
}
