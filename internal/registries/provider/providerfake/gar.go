package providerfake

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// GAR fakes Google Artifact Registry and Container Registry on one
// server, with Google's OAuth 2.0 token endpoint:
//
//   - POST /token (the key's token_uri) with
//     grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer and an
//     RS256 assertion signed by the service account's key, iss its
//     client_email, aud the token URI, a scope, iat/exp at most an hour
//     apart (https://developers.google.com/identity/protocols/oauth2/service-account#httprest)
//     → {"access_token","expires_in","token_type":"Bearer"}; a bad
//     signature or unknown account: 400 {"error":"invalid_grant","error_description":"Invalid JWT Signature."}.
//   - Artifact Registry API v1 (https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.repositories.dockerImages/list):
//     GET /v1/projects/{p}/locations/{l}/repositories/{r}/dockerImages?pageSize=&pageToken=
//     → {"dockerImages":[{"name","uri","tags","imageSizeBytes":"123","uploadTime","mediaType","buildTime","updateTime"}],"nextPageToken"};
//     a bad token: 401 {"error":{"code":401,"message":"Request had invalid authentication credentials...","status":"UNAUTHENTICATED"}};
//     an unknown repository: 404 NOT_FOUND. Repositories of the catalogue
//     are PROJECT/REPOSITORY/IMAGE.
//   - The registry (LOCATION-docker.pkg.dev, gcr.io): /v2/token with Basic
//     oauth2accesstoken:ACCESS_TOKEN (service = the host); GCR's
//     /v2/_catalog and /v2/NAME/tags/list, whose answer carries
//     "manifest":{DIGEST:{"imageSizeBytes","layerId","mediaType","tag":[...],"timeCreatedMs","timeUploadedMs"}}
//     beside "name", "tags" and "child".
type GAR struct {
	*Server
	// KeyJSON is the service account's JSON key, its token_uri this fake.
	KeyJSON []byte
	Email   string
	key     *rsa.PrivateKey
}

// NewGAR starts a GAR/GCR fake with one service account of project.
func NewGAR(t testing.TB, project string) *GAR {
	key := rsaKeys()[0]
	f := &GAR{key: key, Email: "scanner@" + project + ".iam.gserviceaccount.com"}
	f.Server = newServer(t, func(status int) (string, string) {
		st := "INTERNAL"
		switch status {
		case http.StatusTooManyRequests:
			st = "RESOURCE_EXHAUSTED"
		case http.StatusServiceUnavailable:
			st = "UNAVAILABLE"
		}
		return "application/json", `{"error":{"code":` + strconv.Itoa(status) + `,"message":"` + http.StatusText(status) + `","status":"` + st + `"}}`
	})
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	f.KeyJSON, _ = json.Marshal(map[string]string{
		"type": "service_account", "project_id": project, "private_key_id": "0123456789abcdef",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": f.Email, "client_id": "100000000000000000001",
		"auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": f.URL() + "/token",
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs", "universe_domain": "googleapis.com",
	})
	f.serveRegistry(&registry{realmPath: "/v2/token", service: f.Host(), check: f.checkBasic}, false)
	f.mux.HandleFunc("GET /v2/token", f.handleRegistryToken)
	f.mux.HandleFunc("POST /token", f.handleToken)
	f.mux.HandleFunc("GET /v1/projects/{p}/locations/{l}/repositories/{r}/dockerImages", f.handleDockerImages)
	// GCR's listing answers, behind the registry's bearer tokens.
	f.pre = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !(r.URL.Path == "/v2/_catalog" || strings.HasSuffix(r.URL.Path, "/tags/list")) {
			return false
		}
		f.handleGCRList(w, r)
		return true
	}
	return f
}

// OtherKey is a JSON key of the same account and token URI signed with
// another private key (a revoked or forged key).
func (f *GAR) OtherKey(t testing.TB) []byte {
	other := rsaKeys()[1]
	var m map[string]string
	json.Unmarshal(f.KeyJSON, &m)
	der, _ := x509.MarshalPKCS8PrivateKey(other)
	m["private_key"] = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	b, _ := json.Marshal(m)
	return b
}

// rsaKeys are two RSA keys made once per test binary (2048-bit keys take
// a while on a loaded machine).
var rsaKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var keys [2]*rsa.PrivateKey
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

func (f *GAR) checkBasic(r *http.Request) (string, bool) {
	u, p, ok := r.BasicAuth()
	if !ok || u != "oauth2accesstoken" {
		return "", false
	}
	_, valid := f.valid("access", p)
	return f.Email, valid
}

func (f *GAR) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "bad form"})
		return
	}
	if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type", "error_description": "Invalid grant_type: " + r.PostForm.Get("grant_type")})
		return
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(r.PostForm.Get("assertion"), claims, func(*jwt.Token) (any, error) { return &f.key.PublicKey, nil },
		// The assertion's iat and exp are the client's wall clock, not the fake's.
		jwt.WithValidMethods([]string{"RS256"}))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
		return
	}
	iss, _ := claims["iss"].(string)
	aud, _ := claims["aud"].(string)
	scope, _ := claims["scope"].(string)
	iat, _ := claims["iat"].(float64)
	exp, _ := claims["exp"].(float64)
	switch {
	case iss != f.Email:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "Invalid grant: account not found"})
	case aud != f.URL()+"/token":
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."})
	case scope == "":
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_scope", "error_description": "Invalid OAuth scope or ID token audience provided."})
	case exp-iat > 3600 || exp <= iat:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."})
	default:
		tok, ttl := f.issue("access", iss, strings.Fields(scope))
		writeJSON(w, http.StatusOK, map[string]any{"access_token": "ya29." + tok, "expires_in": int(ttl.Seconds()), "token_type": "Bearer"})
		// Remember it with its prefix.
		f.mu.Lock()
		f.tokens["ya29."+tok] = f.tokens[tok]
		delete(f.tokens, tok)
		f.mu.Unlock()
	}
}

func googleError(w http.ResponseWriter, status int, st, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": status, "message": msg, "status": st}})
}

func (f *GAR) handleDockerImages(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.valid("access", bearer(r)); !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/"`)
		googleError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	p, l, repo := r.PathValue("p"), r.PathValue("l"), r.PathValue("r")
	prefix := p + "/" + repo + "/"
	type image struct {
		Name           string   `json:"name"`
		URI            string   `json:"uri"`
		Tags           []string `json:"tags,omitempty"`
		ImageSizeBytes string   `json:"imageSizeBytes"`
		UploadTime     string   `json:"uploadTime"`
		MediaType      string   `json:"mediaType"`
		BuildTime      string   `json:"buildTime,omitempty"`
		UpdateTime     string   `json:"updateTime"`
	}
	var all []image
	found := false
	for _, n := range f.repoNames() {
		imgName, ok := strings.CutPrefix(n, prefix)
		if !ok {
			continue
		}
		found = true
		tags, _ := f.tags(n)
		index := map[string]int{}
		for _, t := range tags {
			if i, ok := index[t.Digest]; ok {
				all[i].Tags = append(all[i].Tags, t.Tag)
				continue
			}
			index[t.Digest] = len(all)
			ts := t.Pushed.UTC().Format("2006-01-02T15:04:05.000000Z")
			all = append(all, image{
				Name:           "projects/" + p + "/locations/" + l + "/repositories/" + repo + "/dockerImages/" + url.PathEscape(imgName) + "@" + t.Digest,
				URI:            l + "-docker.pkg.dev/" + n + "@" + t.Digest,
				Tags:           []string{t.Tag},
				ImageSizeBytes: strconv.FormatInt(t.Size, 10), UploadTime: ts, MediaType: t.MediaType, UpdateTime: ts,
			})
		}
	}
	if !found {
		googleError(w, http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.")
		return
	}
	q := r.URL.Query()
	size, err := f.pageSize(q.Get("pageSize"), 1000, 1000)
	if err != nil {
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid pageSize")
		return
	}
	offset := 0
	if tok := q.Get("pageToken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err == nil {
			offset, err = strconv.Atoi(string(b))
		}
		if err != nil || offset < 0 || offset > len(all) {
			googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid page token")
			return
		}
	}
	end := min(offset+size, len(all))
	out := map[string]any{"dockerImages": all[offset:end]}
	if end < len(all) {
		out["nextPageToken"] = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
	}
	writeJSON(w, http.StatusOK, out)
}

// handleGCRList serves GCR's _catalog and tags/list (with the manifest map).
func (f *GAR) handleGCRList(w http.ResponseWriter, r *http.Request) {
	repo := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v2/"), "/tags/list")
	scope := "repository:" + repo + ":pull"
	t, ok := f.valid("registry", bearer(r))
	if r.URL.Path == "/v2/_catalog" {
		scope = "registry:catalog:*"
		ok = ok && slices.Contains(t.scopes, scope)
	} else {
		ok = ok && grants(t.scopes, repo, "pull")
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://`+r.Host+`/v2/token",service="`+r.Host+`",scope="`+scope+`"`)
		registryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "Unauthorized access.")
		return
	}
	q := r.URL.Query()
	n, err := f.pageSize(q.Get("n"), 10000, 10000)
	if err != nil {
		registryError(w, http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", "invalid n")
		return
	}
	var names []string
	var extra map[string]any
	if r.URL.Path == "/v2/_catalog" {
		names = f.repoNames()
	} else {
		tags, found := f.tags(repo)
		if !found {
			registryError(w, http.StatusNotFound, "NAME_UNKNOWN", "Repository not found.")
			return
		}
		manifest := map[string]any{}
		for _, t := range tags {
			names = append(names, t.Tag)
			m, _ := manifest[t.Digest].(map[string]any)
			if m == nil {
				ms := strconv.FormatInt(t.Pushed.UnixMilli(), 10)
				m = map[string]any{"imageSizeBytes": strconv.FormatInt(t.Size, 10), "layerId": "", "mediaType": t.MediaType,
					"tag": []string{}, "timeCreatedMs": ms, "timeUploadedMs": ms}
				manifest[t.Digest] = m
			}
			m["tag"] = append(m["tag"].([]string), t.Tag)
		}
		extra = map[string]any{"name": repo, "child": []string{}, "manifest": manifest}
	}
	member := "tags"
	if r.URL.Path == "/v2/_catalog" {
		member = "repositories"
	}
	out := map[string]any{member: afterLast(w, r, names, n)}
	for k, v := range extra {
		out[k] = v
	}
	writeJSON(w, http.StatusOK, out)
}
