package console_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/store"
)

// FuzzRequestBodies sends arbitrary bodies to every route that takes one
// (enumerated from the router, so new routes are fuzzed too), as an admin
// holding an API key, and requires a problem document and a status below
// 500 for anything refused: bad input is the caller's error, never a crash.
func FuzzRequestBodies(f *testing.F) {
	cfg := testConfig(f)
	cfg.LoginAddressLimit, cfg.LoginAccountLimit = 1<<30, 1<<30
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: cfg.DataDir})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	srv, err := console.New(ctx, console.Options{Config: cfg, Store: st})
	if err != nil {
		f.Fatal(err)
	}
	u, err := st.RegisterFirstUser(ctx, "Fuzz", store.NewUser{Email: "admin@example.com", Name: "A", PasswordHash: "x"})
	if err != nil {
		f.Fatal(err)
	}
	key, _ := auth.NewSecret(auth.APIKeyPrefix)
	if _, err := st.SetAPIKey(ctx, u.ID, auth.HashSecret(key), "k"); err != nil {
		f.Fatal(err)
	}
	var targets []route
	_ = chi.Walk(srv.Router(), func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		// Resetting the API key would lock the fuzzer out; it reads no body.
		if pattern == "/api/v1/me/api-key" {
			return nil
		}
		if method == http.MethodPost || method == http.MethodPatch || method == http.MethodPut {
			targets = append(targets, route{method, pattern})
		}
		return nil
	})
	if len(targets) < 10 {
		f.Fatalf("only %d body routes found", len(targets))
	}
	seeds := []string{
		`{}`, `null`, `[]`, `""`, `0`, `{"email":1}`, `{"email":"a@b.c","password":"` + strings.Repeat("p", 300) + `"}`,
		`{"apiKey":"rmk_` + strings.Repeat("A", 43) + `"}`, `{"refreshToken":"rmr_x"}`, `{"role":"root"}`, `{"disabled":"yes"}`,
		`{"token":"rmp_x","newPassword":"long enough password"}`, `{"name":"x","password":"long enough password","extra":1}`,
		`{"a":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`, "\xff\xfe\x00", `{"email":"\ud800"}`, `{"email":"a@b.c"`,
	}
	for i := range targets {
		for _, s := range seeds {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, idx uint8, body []byte) {
		rt := targets[int(idx)%len(targets)]
		path := concretePath(rt.pattern)
		if strings.Contains(rt.pattern, "{id}") {
			path = strings.Replace(rt.pattern, "{id}", u.ID, 1)
		}
		req := httptest.NewRequest(rt.method, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s with %q: status %d %s", rt.method, path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") {
			t.Fatalf("%s %s with %q: status %d with Content-Type %q", rt.method, path, body, rec.Code, rec.Header().Get("Content-Type"))
		}
	})
}

// FuzzRequestTargets sends arbitrary path parameters, query strings,
// Authorization headers and cookies to every route: the authentication
// layer and the path/query decoders must answer 4xx problems, never 500.
func FuzzRequestTargets(f *testing.F) {
	cfg := testConfig(f)
	cfg.LoginAddressLimit = 1 << 30
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: cfg.DataDir})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	srv, err := console.New(ctx, console.Options{Config: cfg, Store: st})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := st.RegisterFirstUser(ctx, "Fuzz", store.NewUser{Email: "admin@example.com", Name: "A", PasswordHash: "x"}); err != nil {
		f.Fatal(err)
	}
	var targets []route
	_ = chi.Walk(srv.Router(), func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		targets = append(targets, route{method, pattern})
		return nil
	})
	for i := range targets {
		f.Add(uint8(i), "x", "limit=5&cursor=abc", "Bearer rmk_x", "riskmap_session=rms_x")
	}
	f.Add(uint8(0), "%ff", "limit=-1", "Bearer eyJhbGciOiJub25lIn0.e30.", "riskmap_session=;riskmap_csrf=\x00")
	f.Add(uint8(1), strings.Repeat("a", 300), "limit=99999&cursor=%00", "bearer  ", "")
	f.Add(uint8(2), "..", "cursor="+strings.Repeat("Q", 500), "Basic Zm9vOmJhcg==", "riskmap_session=rms_"+strings.Repeat("A", 43))
	f.Fuzz(func(t *testing.T, idx uint8, param, query, authz, cookie string) {
		rt := targets[int(idx)%len(targets)]
		path := paramRE.ReplaceAllString(rt.pattern, url.PathEscape(param))
		path = strings.ReplaceAll(path, "*", url.PathEscape(param))
		req, err := http.NewRequest(rt.method, "https://console.test"+path+"?"+url.PathEscape(query), nil)
		if err != nil {
			return
		}
		req.URL.RawQuery = query
		req.RemoteAddr = "192.0.2.1:4444"
		if authz != "" && validHeader(authz) {
			req.Header.Set("Authorization", authz)
		}
		if cookie != "" && validHeader(cookie) {
			req.Header.Set("Cookie", cookie)
		}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s?%s (Authorization %q, Cookie %q): status %d %s", rt.method, path, query, authz, cookie, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") {
			t.Fatalf("%s %s: status %d with Content-Type %q", rt.method, path, rec.Code, rec.Header().Get("Content-Type"))
		}
	})
}

func validHeader(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
