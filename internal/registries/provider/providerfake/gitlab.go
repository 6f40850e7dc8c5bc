package providerfake

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// GitLab fakes the container registry API of GitLab REST v4
// (https://docs.gitlab.com/api/container_registry/) and its registry
// with GitLab's token endpoint (https://docs.gitlab.com/administration/packages/container_registry/:
// realm /jwt/auth, service container_registry).
//
//   - API calls carry PRIVATE-TOKEN (personal, project or group access
//     token); a wrong one: 401 {"message":"401 Unauthorized"}. Deploy
//     tokens are refused by the API (401), as by GitLab.
//   - GET /api/v4/projects/:id/registry/repositories and
//     /api/v4/groups/:id/registry/repositories (:id numeric or the
//     URL-encoded path), ?page=&per_page= (at most 100) →
//     [{"id","name","path","project_id","location","created_at","cleanup_policy_started_at"}],
//     with X-Page, X-Per-Page, X-Next-Page ("" on the last page),
//     X-Prev-Page, X-Total, X-Total-Pages and Link.
//   - GET /api/v4/projects/:id/registry/repositories/:repository_id/tags →
//     [{"name","path","location"}] by the same pagination;
//     .../tags/:tag_name → {"name","path","location","revision","short_revision","digest","created_at","total_size"}.
//   - GET /jwt/auth?service=container_registry&scope=repository:PATH:pull
//     with Basic username:token (an access token with any username that
//     is its user's, or a deploy token with its username) →
//     {"token": JWT}; wrong: 401 {"errors":[{"code":"UNAUTHORIZED","message":"HTTP Basic: Access denied..."}]}.
//
// A repository's project is its path's first two segments, its group the
// first; ids follow the sorted paths from 1.
type GitLab struct {
	*Server
	User, Token             string
	DeployUser, DeployToken string
}

// NewGitLab starts a GitLab fake with an access token of user and a
// deploy token.
func NewGitLab(t testing.TB, user, token, deployUser, deployToken string) *GitLab {
	f := &GitLab{User: user, Token: token, DeployUser: deployUser, DeployToken: deployToken}
	f.Server = newServer(t, func(status int) (string, string) {
		return "application/json", `{"message":"` + strconv.Itoa(status) + ` ` + http.StatusText(status) + `"}`
	})
	f.serveRegistry(&registry{realmPath: "/jwt/auth", service: "container_registry", check: f.checkBasic}, false)
	f.mux.HandleFunc("GET /jwt/auth", f.handleJWT)
	f.mux.HandleFunc("GET /api/v4/projects/{id}/registry/repositories", f.handleRepos)
	f.mux.HandleFunc("GET /api/v4/groups/{id}/registry/repositories", f.handleRepos)
	f.mux.HandleFunc("GET /api/v4/projects/{id}/registry/repositories/{rid}/tags", f.handleTags)
	f.mux.HandleFunc("GET /api/v4/projects/{id}/registry/repositories/{rid}/tags/{tag}", f.handleTag)
	return f
}

func (f *GitLab) checkBasic(r *http.Request) (string, bool) {
	u, p, ok := r.BasicAuth()
	if !ok {
		return "", false
	}
	return u, (u == f.User && p == f.Token) || (u == f.DeployUser && p == f.DeployToken)
}

func (f *GitLab) handleJWT(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.checkBasic(r); !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="GitLab"`)
		registryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "HTTP Basic: Access denied. If a password was provided for Git authentication, the password was incorrect or you're required to use a token instead of a password.")
		return
	}
	if r.URL.Query().Get("service") != "container_registry" {
		registryError(w, http.StatusForbidden, "DENIED", "access forbidden")
		return
	}
	tok, ttl := f.issue("registry", "", r.URL.Query()["scope"])
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "expires_in": int(ttl.Seconds())})
}

func (f *GitLab) authorized(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("PRIVATE-TOKEN") != f.Token {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized"})
		return false
	}
	return true
}

type gitlabRepo struct {
	ID        int     `json:"id"`
	Name      string  `json:"name"`
	Path      string  `json:"path"`
	ProjectID int     `json:"project_id"`
	Location  string  `json:"location"`
	CreatedAt string  `json:"created_at"`
	Cleanup   *string `json:"cleanup_policy_started_at"`
}

// layout is every repository with its ids, and the project paths.
func (f *GitLab) layout(host string) ([]gitlabRepo, []string) {
	var repos []gitlabRepo
	var projects []string
	for i, p := range f.repoNames() {
		seg := strings.Split(p, "/")
		if len(seg) < 2 {
			continue
		}
		proj := seg[0] + "/" + seg[1]
		if !slices.Contains(projects, proj) {
			projects = append(projects, proj)
		}
		name := strings.Join(seg[2:], "/")
		repos = append(repos, gitlabRepo{ID: i + 1, Name: name, Path: p, ProjectID: slices.Index(projects, proj) + 1,
			Location: host + "/" + p, CreatedAt: "2026-01-01T00:00:00.000Z"})
	}
	return repos, projects
}

// matches says whether repo belongs to the project or group id (numeric
// or path) of the request.
func matches(r *http.Request, repo gitlabRepo, projects []string) bool {
	id := r.PathValue("id")
	group := strings.HasPrefix(r.URL.Path, "/api/v4/groups/")
	proj := projects[repo.ProjectID-1]
	if n, err := strconv.Atoi(id); err == nil {
		if group {
			return false // the fake's groups have paths only
		}
		return n == repo.ProjectID
	}
	if group {
		return strings.HasPrefix(proj, id+"/")
	}
	return proj == id
}

// gitlabPaging reads page/per_page (default 20, at most 100).
func (f *GitLab) gitlabPaging(r *http.Request) (int, int) {
	q := r.URL.Query()
	per, err := f.pageSize(q.Get("per_page"), 20, 100)
	if err != nil {
		per, _ = f.pageSize("", 20, 100)
	}
	p, err := strconv.Atoi(q.Get("page"))
	if err != nil || p < 1 {
		p = 1
	}
	return p, per
}

func writeGitLabPage[T any](w http.ResponseWriter, r *http.Request, all []T, p, per int) {
	pg, more := page(all, p, per)
	total := (len(all) + per - 1) / per
	h := w.Header()
	h.Set("X-Page", strconv.Itoa(p))
	h.Set("X-Per-Page", strconv.Itoa(per))
	h.Set("X-Total", strconv.Itoa(len(all)))
	h.Set("X-Total-Pages", strconv.Itoa(total))
	h.Set("X-Next-Page", "")
	h.Set("X-Prev-Page", "")
	var links []string
	link := func(n int, rel string) {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		q.Set("per_page", strconv.Itoa(per))
		links = append(links, "<https://"+r.Host+r.URL.EscapedPath()+"?"+q.Encode()+`>; rel="`+rel+`"`)
	}
	if more {
		h.Set("X-Next-Page", strconv.Itoa(p+1))
		link(p+1, "next")
	}
	if p > 1 {
		h.Set("X-Prev-Page", strconv.Itoa(p-1))
		link(p-1, "prev")
	}
	link(1, "first")
	link(max(total, 1), "last")
	h.Set("Link", strings.Join(links, ", "))
	writeJSON(w, http.StatusOK, pg)
}

func (f *GitLab) handleRepos(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	repos, projects := f.layout(r.Host)
	var all []gitlabRepo
	for _, repo := range repos {
		if matches(r, repo, projects) {
			all = append(all, repo)
		}
	}
	if all == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Project Not Found"})
		return
	}
	p, per := f.gitlabPaging(r)
	writeGitLabPage(w, r, all, p, per)
}

// repoOfRequest is the repository of :id and :repository_id.
func (f *GitLab) repoOfRequest(w http.ResponseWriter, r *http.Request) (gitlabRepo, bool) {
	repos, projects := f.layout(r.Host)
	rid, _ := strconv.Atoi(r.PathValue("rid"))
	for _, repo := range repos {
		if repo.ID == rid && matches(r, repo, projects) {
			return repo, true
		}
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Repository Not Found"})
	return gitlabRepo{}, false
}

func (f *GitLab) handleTags(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	repo, ok := f.repoOfRequest(w, r)
	if !ok {
		return
	}
	tags, _ := f.tags(repo.Path)
	type tag struct {
		Name     string `json:"name"`
		Path     string `json:"path"`
		Location string `json:"location"`
	}
	// GitLab sorts tags by name.
	slices.SortFunc(tags, func(a, b Image) int { return strings.Compare(a.Tag, b.Tag) })
	all := []tag{}
	for _, t := range tags {
		all = append(all, tag{Name: t.Tag, Path: repo.Path + ":" + t.Tag, Location: repo.Location + ":" + t.Tag})
	}
	p, per := f.gitlabPaging(r)
	writeGitLabPage(w, r, all, p, per)
}

func (f *GitLab) handleTag(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	repo, ok := f.repoOfRequest(w, r)
	if !ok {
		return
	}
	tags, _ := f.tags(repo.Path)
	for _, t := range tags {
		if t.Tag == r.PathValue("tag") {
			rev := strings.TrimPrefix(t.Digest, "sha256:")
			writeJSON(w, http.StatusOK, map[string]any{
				"name": t.Tag, "path": repo.Path + ":" + t.Tag, "location": repo.Location + ":" + t.Tag,
				"revision": rev, "short_revision": rev[:min(9, len(rev))], "digest": t.Digest,
				"created_at": t.Pushed.UTC().Format("2006-01-02T15:04:05.000+00:00"), "total_size": t.Size,
			})
			return
		}
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Tag Not Found"})
}
