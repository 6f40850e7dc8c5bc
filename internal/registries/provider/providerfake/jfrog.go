package providerfake

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// JFrog fakes JFrog Artifactory's REST API
// (https://jfrog.com/help/r/jfrog-rest-apis/artifactory-rest-apis) for
// Docker repositories, and the Docker registry at the host (repository
// path method: HOST/REPO-KEY/IMAGE:TAG) with Artifactory's token
// endpoint (realm /v2/token, service = the host).
//
//   - Credentials: "Authorization: Bearer <access token>", or Basic with
//     the user and an API key, a password or the access token; else 401
//     {"errors":[{"status":401,"message":"Bad credentials"}]} with
//     WWW-Authenticate: Basic realm="Artifactory Realm".
//   - GET /artifactory/api/repositories?type=local&packageType=docker →
//     [{"key","type":"LOCAL","description","url","packageType":"Docker"}]
//     (the first segment of each catalogue repository is a repository key).
//   - GET /artifactory/api/docker/{key}/v2/_catalog?n=&last= →
//     {"repositories":[...]} and .../v2/{image}/tags/list?n=&last= →
//     {"name","tags":[...]}, with Link rel="next" while more follow.
//   - GET /artifactory/api/storage/{key}/{image}/{tag}?list&deep=1[&listFolders=0]
//     (File List) → {"uri","created","files":[{"uri":"/manifest.json","size","lastModified","folder":false,"sha1","sha2"},
//     {"uri":"/sha256__...","size",...}]}; and without list, the
//     File Info of .../manifest.json → {"repo","path","created","lastModified","mimeType","size","checksums":{"sha1","md5","sha256"},...}.
//     Unknown paths: 404 {"errors":[{"status":404,"message":"Unable to find item"}]}.
type JFrog struct {
	*Server
	User, APIKey, AccessToken string
}

// NewJFrog starts an Artifactory fake with a user and API key, and an
// access token.
func NewJFrog(t testing.TB, user, apiKey, accessToken string) *JFrog {
	f := &JFrog{User: user, APIKey: apiKey, AccessToken: accessToken}
	f.Server = newServer(t, func(status int) (string, string) {
		return "application/json", fmt.Sprintf(`{"errors":[{"status":%d,"message":%q}]}`, status, http.StatusText(status))
	})
	f.serveRegistry(&registry{realmPath: "/v2/token", service: f.Host(), check: f.checkBasic,
		direct: func(r *http.Request) bool { return bearer(r) == f.AccessToken }}, true)
	f.mux.HandleFunc("GET /artifactory/api/repositories", f.handleRepositories)
	f.mux.HandleFunc("GET /artifactory/api/docker/{key}/v2/", f.handleDocker)
	f.mux.HandleFunc("GET /artifactory/api/storage/{key}/", f.handleStorage)
	return f
}

func (f *JFrog) checkBasic(r *http.Request) (string, bool) {
	u, p, ok := r.BasicAuth()
	return u, ok && u == f.User && (p == f.APIKey || p == f.AccessToken)
}

func jfrogError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"errors": []map[string]any{{"status": status, "message": msg}}})
}

func (f *JFrog) authorized(w http.ResponseWriter, r *http.Request) bool {
	if _, ok := f.checkBasic(r); ok || (bearer(r) != "" && bearer(r) == f.AccessToken) {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="Artifactory Realm"`)
	jfrogError(w, http.StatusUnauthorized, "Bad credentials")
	return false
}

func (f *JFrog) handleRepositories(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	q := r.URL.Query()
	if t := q.Get("type"); t != "" && t != "local" {
		writeJSON(w, http.StatusOK, []any{})
		return
	}
	if p := q.Get("packageType"); p != "" && !strings.EqualFold(p, "docker") {
		writeJSON(w, http.StatusOK, []any{})
		return
	}
	type repo struct {
		Key         string `json:"key"`
		Type        string `json:"type"`
		Description string `json:"description"`
		URL         string `json:"url"`
		PackageType string `json:"packageType"`
	}
	out := []repo{}
	for _, k := range f.namespaces() {
		out = append(out, repo{Key: k, Type: "LOCAL", URL: "https://" + r.Host + "/artifactory/" + k, PackageType: "Docker"})
	}
	writeJSON(w, http.StatusOK, out)
}

// listPage answers names after last, n of them, with a Link to the rest.
func (f *JFrog) listPage(w http.ResponseWriter, r *http.Request, member string, names []string, extra map[string]any) {
	q := r.URL.Query()
	n, err := f.pageSize(q.Get("n"), 1000, 1000)
	if err != nil {
		jfrogError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := map[string]any{member: afterLast(w, r, names, n)}
	for k, v := range extra {
		out[k] = v
	}
	writeJSON(w, http.StatusOK, out)
}

func (f *JFrog) handleDocker(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	key := r.PathValue("key")
	rest := strings.TrimPrefix(r.URL.Path, "/artifactory/api/docker/"+key+"/v2/")
	if rest == "_catalog" {
		var names []string
		for _, n := range f.repoNames() {
			if img, ok := strings.CutPrefix(n, key+"/"); ok {
				names = append(names, img)
			}
		}
		f.listPage(w, r, "repositories", names, nil)
		return
	}
	img, ok := strings.CutSuffix(rest, "/tags/list")
	if !ok {
		jfrogError(w, http.StatusNotFound, "Not Found")
		return
	}
	tags, found := f.tags(key + "/" + img)
	if !found {
		writeJSON(w, http.StatusNotFound, map[string]any{"errors": []map[string]any{{"code": "NAME_UNKNOWN", "message": "Repository name not known to registry."}}})
		return
	}
	var names []string
	for _, t := range tags {
		names = append(names, t.Tag)
	}
	f.listPage(w, r, "tags", names, map[string]any{"name": img})
}

// layerSizes splits an image's size into a manifest, a config and a layer
// file, as Artifactory stores a tag's folder.
func layerSizes(total int64) []int64 {
	m := min(total, 400)
	c := min(total-m, 600)
	return []int64{m, c, total - m - c}
}

func (f *JFrog) handleStorage(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	key := r.PathValue("key")
	p := strings.Trim(strings.TrimPrefix(r.URL.Path, "/artifactory/api/storage/"+key), "/")
	_, list := r.URL.Query()["list"]
	file := ""
	if !list {
		j := strings.LastIndex(p, "/")
		if j < 0 {
			jfrogError(w, http.StatusNotFound, "Unable to find item")
			return
		}
		p, file = p[:j], p[j+1:]
	}
	i := strings.LastIndex(p, "/")
	if i < 0 {
		jfrogError(w, http.StatusNotFound, "Unable to find item")
		return
	}
	img, tagName := p[:i], p[i+1:]
	tags, _ := f.tags(key + "/" + img)
	idx := slices.IndexFunc(tags, func(t Image) bool { return t.Tag == tagName })
	if idx < 0 {
		jfrogError(w, http.StatusNotFound, "Unable to find item")
		return
	}
	t := tags[idx]
	manifest := "manifest.json"
	if strings.Contains(t.MediaType, "index") || strings.Contains(t.MediaType, "list") {
		manifest = "list.manifest.json"
	}
	ts := t.Pushed.UTC().Format("2006-01-02T15:04:05.000Z")
	sha2 := strings.TrimPrefix(t.Digest, "sha256:")
	if list {
		sizes := layerSizes(t.Size)
		files := []map[string]any{
			{"uri": "/" + manifest, "size": sizes[0], "lastModified": ts, "folder": false, "sha1": strings.Repeat("1", 40), "sha2": sha2},
			{"uri": "/sha256__" + hex.EncodeToString([]byte(tagName + "config"))[:16], "size": sizes[1], "lastModified": ts, "folder": false, "sha1": strings.Repeat("2", 40), "sha2": strings.Repeat("b", 64)},
			{"uri": "/sha256__" + hex.EncodeToString([]byte(tagName + "layer"))[:16], "size": sizes[2], "lastModified": ts, "folder": false, "sha1": strings.Repeat("3", 40), "sha2": strings.Repeat("c", 64)},
		}
		writeJSON(w, http.StatusOK, map[string]any{"uri": "https://" + r.Host + r.URL.Path, "created": ts, "files": files})
		return
	}
	if file != manifest {
		jfrogError(w, http.StatusNotFound, "Unable to find item")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"repo": key, "path": "/" + p + "/" + file, "created": ts, "createdBy": f.User, "lastModified": ts, "modifiedBy": f.User,
		"lastUpdated": ts, "downloadUri": "https://" + r.Host + "/artifactory/" + key + "/" + p + "/" + file,
		"mimeType": "application/json", "size": strconv.FormatInt(layerSizes(t.Size)[0], 10),
		"checksums":         map[string]string{"sha1": strings.Repeat("1", 40), "md5": strings.Repeat("0", 32), "sha256": sha2},
		"originalChecksums": map[string]string{"sha256": sha2},
		"uri":               "https://" + r.Host + r.URL.Path,
	})
}
