package providerfake

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// registry is the /v2/ side of a fake: go-containerregistry's in-memory
// registry behind the authentication of the Docker Registry token
// specification (https://distribution.github.io/distribution/spec/auth/token/):
// a request without a valid bearer token gets 401 with
//
//	WWW-Authenticate: Bearer realm="https://HOST/REALM",service="SERVICE",scope="repository:NAME:pull"
//
// and the client fetches a token from the realm with the provider's
// credentials (GET with Basic authentication and scope/service query
// parameters; or, where the provider takes it, a POST of an OAuth2
// refresh_token grant, https://distribution.github.io/distribution/spec/auth/oauth/).
// With basic set (ECR), the challenge is Basic and the credentials are
// checked on every request instead.
type registry struct {
	backend   http.Handler
	realmPath string
	service   string
	basic     bool
	// check says whether a token request's (or, with basic, a registry
	// request's) credentials are good, and for whom.
	check func(r *http.Request) (subject string, ok bool)
	// direct, when set, accepts a registry request's own credentials
	// (an access token sent as a bearer token without an exchange).
	direct func(r *http.Request) bool
	// grant, when set, keeps the scopes subject may have ("" is anonymous).
	grant func(subject string, scopes []string) []string
}

// serveRegistry mounts the registry at /v2/ and its token endpoint at
// realmPath (unless the provider serves it itself: tokenHandler false).
func (s *Server) serveRegistry(reg *registry, tokenHandler bool) {
	reg.backend = ggcrregistry.New(ggcrregistry.Logger(nopLogger()))
	s.reg = reg
	s.mux.HandleFunc("/v2/", s.handleV2)
	if tokenHandler && !reg.basic {
		s.mux.HandleFunc(reg.realmPath, s.handleRegistryToken)
	}
}

func (s *Server) handleV2(w http.ResponseWriter, r *http.Request) {
	reg := s.reg
	repo := repoOf(r.URL.Path)
	if reg.basic {
		if _, ok := reg.check(r); !ok {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Basic realm="https://%s/",service=%q`, r.Host, reg.service))
			registryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return
		}
		reg.backend.ServeHTTP(w, r)
		return
	}
	t, ok := s.valid("registry", bearer(r))
	if ok && repo != "" && !grants(t.scopes, repo, "pull") {
		ok = false
	}
	if !ok && reg.direct != nil && reg.direct(r) {
		ok = true
	}
	if !ok {
		ch := fmt.Sprintf(`Bearer realm="https://%s%s",service=%q`, r.Host, reg.realmPath, reg.service)
		if repo != "" {
			ch += fmt.Sprintf(`,scope="repository:%s:pull"`, repo)
		}
		w.Header().Set("WWW-Authenticate", ch)
		registryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return
	}
	reg.backend.ServeHTTP(w, r)
}

// handleRegistryToken is the token endpoint of the token specification:
// GET ?service=&scope=... with Basic credentials.
func (s *Server) handleRegistryToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		registryError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "GET only")
		return
	}
	subject, ok := s.reg.check(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Basic realm="https://%s%s"`, r.Host, s.reg.realmPath))
		registryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return
	}
	if svc := r.URL.Query().Get("service"); svc != "" && svc != s.reg.service {
		registryError(w, http.StatusBadRequest, "INVALID_REQUEST", "unknown service "+svc)
		return
	}
	scopes := r.URL.Query()["scope"]
	if s.reg.grant != nil {
		scopes = s.reg.grant(subject, scopes)
	}
	s.writeRegistryToken(w, subject, scopes)
}

// writeRegistryToken answers a token request: token and access_token (both
// are in use), expires_in and issued_at.
func (s *Server) writeRegistryToken(w http.ResponseWriter, subject string, scopes []string) {
	tok, ttl := s.issue("registry", subject, scopes)
	writeJSON(w, http.StatusOK, map[string]any{
		"token": tok, "access_token": tok,
		"expires_in": int(ttl.Seconds()), "issued_at": s.now().UTC().Format("2006-01-02T15:04:05Z"),
	})
}

// grants reports whether scopes ("repository:NAME:pull,push") grant
// action on repo.
func grants(scopes []string, repo, action string) bool {
	for _, sc := range scopes {
		for _, one := range strings.Fields(sc) {
			parts := strings.Split(one, ":")
			if len(parts) < 3 || parts[0] != "repository" {
				continue
			}
			name := strings.Join(parts[1:len(parts)-1], ":")
			if name != repo {
				continue
			}
			for _, a := range strings.Split(parts[len(parts)-1], ",") {
				if a == action || a == "*" {
					return true
				}
			}
		}
	}
	return false
}

// repoOf is the repository name of a /v2/NAME/{manifests,blobs,tags}/...
// path ("" for /v2/ and /v2/_catalog).
func repoOf(path string) string {
	p := strings.TrimPrefix(path, "/v2/")
	for _, sep := range []string{"/manifests/", "/blobs/", "/tags/"} {
		if i := strings.LastIndex(p, sep); i > 0 {
			return p[:i]
		}
	}
	return ""
}

func registryError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"errors": []map[string]any{{"code": code, "message": msg, "detail": nil}}})
}

// Push writes a small random image to repo:tag in the registry, bypassing
// authentication, and adds it to the catalogue with its digest, media
// type, size (config and layers) and the fake's time as push time.
func (s *Server) Push(t testing.TB, repo, tag string) Image {
	t.Helper()
	if s.reg == nil {
		t.Fatal("providerfake: this fake has no registry")
	}
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference("fake.invalid/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithTransport(handlerTransport{s.reg.backend}), remote.WithContext(context.Background())); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, _ := img.Digest()
	m, _ := img.Manifest()
	mt, _ := img.MediaType()
	size := m.Config.Size
	for _, l := range m.Layers {
		size += l.Size
	}
	s.mu.Lock()
	now := s.now().UTC().Truncate(time.Second)
	s.mu.Unlock()
	out := Image{Repo: repo, Tag: tag, Digest: d.String(), MediaType: string(mt), Size: size, Pushed: now}
	s.Add(out)
	return out
}

// handlerTransport serves requests with a handler in process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	if r.Body == nil {
		r.Body = http.NoBody
	}
	t.h.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = r // the writer resolves upload locations against it
	return resp, nil
}

func nopLogger() *log.Logger { return log.New(io.Discard, "", 0) }
