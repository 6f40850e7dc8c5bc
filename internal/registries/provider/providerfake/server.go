package providerfake

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Failure is a failure mode a fake can be switched into with Fail.
type Failure struct {
	// Down closes each connection without an answer (the client sees a
	// network error).
	Down bool
	// Status is answered instead of the normal handling (500, 503, 429,
	// 401...), with the provider's own error body unless Body is set.
	Status     int
	RetryAfter string
	Body       string
	// Path, when set, limits the failure to requests whose path starts
	// with it.
	Path string
	// Times is how many requests fail; 0 means until Clear.
	Times int
}

// Request is a request a fake received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	// Auth is the Authorization scheme used ("Basic", "Bearer", "AWS4-HMAC-SHA256"...), "" for none.
	Auth string
}

// Image is a tag as a fake's API describes it.
type Image struct {
	Repo      string
	Tag       string
	Digest    string
	MediaType string
	Size      int64
	Pushed    time.Time
}

// Server is the part every fake shares: the loopback TLS server, failure
// modes, the catalogue its API lists, issued tokens, and a registry (a
// go-containerregistry pkg/registry back end behind the provider's own
// token exchange) serving /v2/.
type Server struct {
	srv      *httptest.Server
	mux      *http.ServeMux
	failBody func(status int) (contentType, body string)
	// pre, when set, sees each request before the mux and says whether
	// it answered (routes the mux's patterns cannot express).
	pre func(w http.ResponseWriter, r *http.Request) bool

	mu        sync.Mutex
	failure   *Failure
	requests  []Request
	pageLimit int
	repos     map[string][]Image
	tokens    map[string]issued
	now       func() time.Time
	tokenTTL  time.Duration

	reg *registry
}

type issued struct {
	kind    string
	subject string
	scopes  []string
	expires time.Time
}

func newServer(t testing.TB, failBody func(int) (string, string)) *Server {
	s := &Server{
		mux:      http.NewServeMux(),
		failBody: failBody,
		repos:    map[string][]Image{},
		tokens:   map[string]issued{},
		now:      time.Now,
		tokenTTL: 5 * time.Minute,
	}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	if t != nil {
		t.Cleanup(s.srv.Close)
	}
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	auth, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Auth: auth})
	f := s.failure
	if f != nil && (f.Path == "" || strings.HasPrefix(r.URL.Path, f.Path)) {
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.failure = nil
			}
		}
	} else {
		f = nil
	}
	s.mu.Unlock()
	if f != nil {
		if f.Down {
			hj, ok := w.(http.Hijacker)
			if ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		ct, body := "application/json", f.Body
		if body == "" && s.failBody != nil {
			ct, body = s.failBody(f.Status)
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(f.Status)
		w.Write([]byte(body))
		return
	}
	if s.pre != nil && s.pre(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// URL is the server's base URL (https://127.0.0.1:port).
func (s *Server) URL() string { return s.srv.URL }

// Host is the server's host:port, the registry host of image references.
func (s *Server) Host() string { return strings.TrimPrefix(s.srv.URL, "https://") }

// Client is an HTTP client trusting the server's certificate only: pass
// it as provider.Account.HTTP, and its Transport to go-containerregistry.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Fail switches the server into a failure mode.
func (s *Server) Fail(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failure = &f
}

// Clear ends any failure mode.
func (s *Server) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failure = nil
}

// Requests lists the requests received, failed ones included.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// SetPageLimit caps the page size the API answers with (as the real APIs
// cap it), so that a few entries span several pages.
func (s *Server) SetPageLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageLimit = n
}

// SetClock sets the fake's clock (token expiry).
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetTokenTTL sets the lifetime of the tokens the fake issues from now on.
func (s *Server) SetTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenTTL = d
}

// ExpireTokens makes every token issued so far invalid, as their expiry
// would (API tokens, refresh tokens, registry tokens).
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// Issued counts the tokens of a kind issued and still valid.
func (s *Server) Issued(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, t := range s.tokens {
		if t.kind == kind && s.now().Before(t.expires) {
			n++
		}
	}
	return n
}

// Add puts a tag into the catalogue the API lists (not into the
// registry: use Push for an image that can be pulled).
func (s *Server) Add(img Image) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tags := s.repos[img.Repo]
	for i, t := range tags {
		if t.Tag == img.Tag {
			tags[i] = img
			return
		}
	}
	s.repos[img.Repo] = append(tags, img)
}

// AddRepo puts an empty repository into the catalogue.
func (s *Server) AddRepo(repo string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.repos[repo]; !ok {
		s.repos[repo] = nil
	}
}

// AddTags adds n synthetic tags t000.. to repo, pushed a minute apart
// from start, with made-up digests and sizes.
func (s *Server) AddTags(repo string, n int, start time.Time) []Image {
	var out []Image
	for i := range n {
		img := Image{
			Repo: repo, Tag: fmt.Sprintf("t%03d", i),
			Digest:    fmt.Sprintf("sha256:%064x", i+1),
			MediaType: "application/vnd.oci.image.manifest.v1+json",
			Size:      int64(1000 + i), Pushed: start.Add(time.Duration(i) * time.Minute).UTC(),
		}
		s.Add(img)
		out = append(out, img)
	}
	return out
}

// Count is how many requests of path arrived, failed ones included.
func (s *Server) Count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Path == path {
			n++
		}
	}
	return n
}

// namespaces is the first path segments of the catalogue's repositories
// (Harbor projects, Artifactory repository keys), sorted.
func (s *Server) namespaces() []string {
	var out []string
	for _, n := range s.repoNames() {
		ns, _, _ := strings.Cut(n, "/")
		if !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out
}

// afterLast pages names the way the distribution spec's _catalog and
// tags/list do: sorted, the n after the query's last, and while more
// follow a Link rel="next" with n, last and the query's keep parameters.
func afterLast(w http.ResponseWriter, r *http.Request, names []string, n int, keep ...string) []string {
	slices.Sort(names)
	q := r.URL.Query()
	i := 0
	if last := q.Get("last"); last != "" {
		i, _ = slices.BinarySearch(names, last)
		if i < len(names) && names[i] == last {
			i++
		}
	}
	end := min(i+n, len(names))
	pg := append([]string{}, names[i:end]...)
	if end < len(names) {
		nq := url.Values{"n": {strconv.Itoa(n)}, "last": {pg[len(pg)-1]}}
		for _, k := range keep {
			if v := q.Get(k); v != "" {
				nq.Set(k, v)
			}
		}
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.EscapedPath(), nq.Encode()))
	}
	return pg
}

// repoNames is the catalogue's repositories, sorted.
func (s *Server) repoNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.repos))
	for n := range s.repos {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// tags is a repository's tags in insertion order; ok false when the
// repository is unknown.
func (s *Server) tags(repo string) ([]Image, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.repos[repo]
	return slices.Clone(t), ok
}

// pageSize is the page size to answer with: the requested one (or def),
// at most max and the page limit.
func (s *Server) pageSize(requested string, def, max int) (int, error) {
	n := def
	if requested != "" {
		v, err := strconv.Atoi(requested)
		if err != nil || v < 1 {
			return 0, fmt.Errorf("invalid page size %q", requested)
		}
		n = v
	}
	n = min(n, max)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pageLimit > 0 {
		n = min(n, s.pageLimit)
	}
	return n, nil
}

// page cuts items[(page-1)*size : page*size] and says whether more follow.
func page[T any](items []T, pageNum, size int) ([]T, bool) {
	start := (pageNum - 1) * size
	if start >= len(items) || pageNum < 1 {
		return []T{}, false
	}
	end := min(start+size, len(items))
	return items[start:end], end < len(items)
}

// issue makes a token of kind for subject and scopes, valid for the TTL.
func (s *Server) issue(kind, subject string, scopes []string) (string, time.Duration) {
	b := make([]byte, 24)
	rand.Read(b)
	tok := kind + "-" + hex.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = issued{kind: kind, subject: subject, scopes: scopes, expires: s.now().Add(s.tokenTTL)}
	return tok, s.tokenTTL
}

// issueJWT is issue with the token shaped as a JWT whose claims carry
// sub, exp and iat (not signed: clients only read its lifetime).
func (s *Server) issueJWT(kind, subject string, scopes []string) (string, time.Duration) {
	tok, ttl := s.issue(kind, subject, scopes)
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[tok]
	enc := base64.RawURLEncoding
	p, _ := json.Marshal(map[string]any{"sub": subject, "exp": t.expires.Unix(), "iat": s.now().Unix(), "jti": tok})
	jwt := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString(p) + "." + enc.EncodeToString([]byte(tok))
	delete(s.tokens, tok)
	s.tokens[jwt] = t
	return jwt, ttl
}

// valid looks up an unexpired token of kind.
func (s *Server) valid(kind, tok string) (issued, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[tok]
	if !ok || t.kind != kind || !s.now().Before(t.expires) {
		return issued{}, false
	}
	return t, true
}

// bearer is the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) string {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
