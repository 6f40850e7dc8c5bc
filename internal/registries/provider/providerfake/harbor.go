package providerfake

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Harbor fakes the Harbor API v2.0 (goharbor/harbor api/v2.0/swagger.yaml,
// https://goharbor.io/docs/main/working-with-projects/project-configuration/create-robot-accounts/)
// for a robot account, and the registry behind Harbor's token service
// (realm /service/token, service harbor-registry).
//
//   - Basic authentication with the robot's name (robot$...) and secret on
//     every API call; else 401 {"errors":[{"code":"UNAUTHORIZED","message":"unauthorized"}]}.
//   - GET /api/v2.0/projects?page=&page_size= (at most 100) →
//     [{"project_id","name","public","repo_count","creation_time",...}].
//   - GET /api/v2.0/projects/{project_name}/repositories?page=&page_size= →
//     [{"id","name":"project/repo","project_id","artifact_count",...}].
//   - GET /api/v2.0/projects/{p}/repositories/{r}/artifacts?with_tag=true&page=&page_size=
//     where r is the repository name without the project, URL-encoded
//     twice when it holds a slash (a%252Fb) →
//     [{"id","type":"IMAGE","digest","size","push_time","media_type","manifest_media_type","tags":[{"name","push_time",...}]}].
//   - Lists answer X-Total-Count and Link (rel="prev", rel="next").
//   - Unknown project or repository: 404 {"errors":[{"code":"NOT_FOUND",...}]};
//     a page_size over 100: 400 (the real one caps at 100).
type Harbor struct {
	*Server
	Robot, Secret string
}

// NewHarbor starts a Harbor fake with one robot account.
func NewHarbor(t testing.TB, robot, secret string) *Harbor {
	f := &Harbor{Robot: robot, Secret: secret}
	f.Server = newServer(t, func(status int) (string, string) {
		code := "INTERNAL_SERVER_ERROR"
		switch status {
		case http.StatusTooManyRequests:
			code = "TOO_MANY_REQUESTS"
		case http.StatusUnauthorized:
			code = "UNAUTHORIZED"
		case http.StatusServiceUnavailable:
			code = "SERVICE_UNAVAILABLE"
		}
		return "application/json", fmt.Sprintf(`{"errors":[{"code":%q,"message":%q}]}`, code, strings.ToLower(http.StatusText(status)))
	})
	f.serveRegistry(&registry{realmPath: "/service/token", service: "harbor-registry", check: f.checkBasic}, true)
	f.mux.HandleFunc("GET /api/v2.0/projects", f.handleProjects)
	f.mux.HandleFunc("GET /api/v2.0/projects/{project}/repositories", f.handleRepos)
	f.mux.HandleFunc("GET /api/v2.0/projects/{project}/repositories/{repo}/artifacts", f.handleArtifacts)
	return f
}

func (f *Harbor) checkBasic(r *http.Request) (string, bool) {
	u, p, ok := r.BasicAuth()
	return u, ok && u == f.Robot && p == f.Secret
}

func harborError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

func (f *Harbor) authorized(w http.ResponseWriter, r *http.Request) bool {
	if _, ok := f.checkBasic(r); !ok {
		harborError(w, http.StatusUnauthorized, "UNAUTHORIZED", "unauthorized")
		return false
	}
	return true
}

// paging reads page and page_size (default 10, at most 100).
func (f *Harbor) paging(w http.ResponseWriter, r *http.Request) (int, int, bool) {
	q := r.URL.Query()
	if v := q.Get("page_size"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n > 100 || n < 1 {
			harborError(w, http.StatusBadRequest, "BAD_REQUEST", "validation failure: page_size in query should be less than or equal to 100")
			return 0, 0, false
		}
	}
	size, _ := f.pageSize(q.Get("page_size"), 10, 100)
	p := 1
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			harborError(w, http.StatusBadRequest, "BAD_REQUEST", "validation failure: page in query should be greater than or equal to 1")
			return 0, 0, false
		}
		p = n
	}
	return p, size, true
}

// writePage answers a page of items with X-Total-Count and Link.
func writePage[T any](w http.ResponseWriter, r *http.Request, all []T, p, size int) {
	pg, more := page(all, p, size)
	var links []string
	link := func(n int, rel string) {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		q.Set("page_size", strconv.Itoa(size))
		links = append(links, fmt.Sprintf(`<%s?%s>; rel="%s"`, r.URL.EscapedPath(), q.Encode(), rel))
	}
	if p > 1 {
		link(p-1, "prev")
	}
	if more {
		link(p+1, "next")
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, " , "))
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(len(all)))
	writeJSON(w, http.StatusOK, pg)
}

func (f *Harbor) handleProjects(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	p, size, ok := f.paging(w, r)
	if !ok {
		return
	}
	type project struct {
		ProjectID    int    `json:"project_id"`
		Name         string `json:"name"`
		OwnerName    string `json:"owner_name"`
		RepoCount    int    `json:"repo_count"`
		CreationTime string `json:"creation_time"`
	}
	var all []project
	for i, name := range f.namespaces() {
		all = append(all, project{ProjectID: i + 1, Name: name, OwnerName: "admin", CreationTime: "2026-01-01T00:00:00.000Z"})
	}
	writePage(w, r, all, p, size)
}

func (f *Harbor) handleRepos(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	project := r.PathValue("project")
	if !slices.Contains(f.namespaces(), project) {
		harborError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("project %s not found", project))
		return
	}
	p, size, ok := f.paging(w, r)
	if !ok {
		return
	}
	type repo struct {
		ID            int    `json:"id"`
		Name          string `json:"name"`
		ProjectID     int    `json:"project_id"`
		ArtifactCount int    `json:"artifact_count"`
		PullCount     int    `json:"pull_count"`
		CreationTime  string `json:"creation_time"`
		UpdateTime    string `json:"update_time"`
	}
	var all []repo
	for i, n := range f.repoNames() {
		if strings.HasPrefix(n, project+"/") {
			tags, _ := f.tags(n)
			all = append(all, repo{ID: i + 1, Name: n, ProjectID: 1, ArtifactCount: len(tags), CreationTime: "2026-01-01T00:00:00.000Z", UpdateTime: "2026-01-01T00:00:00.000Z"})
		}
	}
	writePage(w, r, all, p, size)
}

func (f *Harbor) handleArtifacts(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	// The repository segment arrives once-decoded by the router: Harbor
	// wants a%252Fb, which is a%2Fb here.
	raw := r.PathValue("repo")
	name, err := url.PathUnescape(raw)
	if err != nil || (strings.Contains(name, "/") && !strings.Contains(raw, "%2F")) {
		harborError(w, http.StatusBadRequest, "BAD_REQUEST", "bad repository name")
		return
	}
	full := r.PathValue("project") + "/" + name
	tags, found := f.tags(full)
	if !found {
		harborError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("repository %s not found", full))
		return
	}
	if r.URL.Query().Get("with_tag") == "false" {
		harborError(w, http.StatusBadRequest, "BAD_REQUEST", "the fake lists artifacts with their tags only")
		return
	}
	p, size, ok := f.paging(w, r)
	if !ok {
		return
	}
	type tag struct {
		ID         int    `json:"id"`
		Name       string `json:"name"`
		PushTime   string `json:"push_time"`
		PullTime   string `json:"pull_time"`
		Immutable  bool   `json:"immutable"`
		ArtifactID int    `json:"artifact_id"`
	}
	type artifact struct {
		ID                int    `json:"id"`
		Type              string `json:"type"`
		MediaType         string `json:"media_type"`
		ManifestMediaType string `json:"manifest_media_type"`
		Digest            string `json:"digest"`
		Size              int64  `json:"size"`
		PushTime          string `json:"push_time"`
		PullTime          string `json:"pull_time"`
		RepositoryName    string `json:"repository_name"`
		Tags              []tag  `json:"tags"`
	}
	// One artifact per digest, its tags together, as Harbor keeps them.
	var all []artifact
	index := map[string]int{}
	for i, t := range tags {
		ts := t.Pushed.UTC().Format("2006-01-02T15:04:05.000Z")
		j, ok := index[t.Digest]
		if !ok {
			j = len(all)
			index[t.Digest] = j
			all = append(all, artifact{ID: i + 1, Type: "IMAGE", MediaType: "application/vnd.oci.image.config.v1+json",
				ManifestMediaType: t.MediaType, Digest: t.Digest, Size: t.Size, PushTime: ts, PullTime: "0001-01-01T00:00:00.000Z", RepositoryName: full})
		}
		all[j].Tags = append(all[j].Tags, tag{ID: i + 1, Name: t.Tag, PushTime: ts, PullTime: "0001-01-01T00:00:00.000Z", ArtifactID: all[j].ID})
	}
	writePage(w, r, all, p, size)
}
