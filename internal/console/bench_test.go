package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/store"
)

// benchServer is an in-process console on SQLite with an admin API key and
// an access token.
func benchServer(b *testing.B) (*console.Server, string, string) {
	cfg := testConfig(b)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: cfg.DataDir})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	srv, err := console.New(ctx, console.Options{Config: cfg, Store: st})
	if err != nil {
		b.Fatal(err)
	}
	u, err := st.RegisterFirstUser(ctx, "Bench", store.NewUser{Email: "admin@example.com", Name: "A", PasswordHash: "x"})
	if err != nil {
		b.Fatal(err)
	}
	key, _ := auth.NewSecret(auth.APIKeyPrefix)
	if _, err := st.SetAPIKey(ctx, u.ID, auth.HashSecret(key), "k"); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/api/v1/auth/token", stringsReader(`{"apiKey":"`+key+`"}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	var tok struct{ AccessToken string }
	if err := jsonDecode(rec.Body.Bytes(), &tok); err != nil || rec.Code != 200 {
		b.Fatalf("token exchange: %d %s", rec.Code, rec.Body)
	}
	return srv, key, tok.AccessToken
}

// BenchmarkAuthenticatedRequest measures GET /api/v1/me through the whole
// middleware chain (policy lookup, credential check against the store).
func BenchmarkAuthenticatedRequest(b *testing.B) {
	srv, key, access := benchServer(b)
	for _, tc := range []struct{ name, cred string }{{"api_key", key}, {"access_token", access}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("GET", "/api/v1/me", nil)
				req.Header.Set("Authorization", "Bearer "+tc.cred)
				rec := httptest.NewRecorder()
				srv.Handler().ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

// BenchmarkWrite measures an acknowledged write (create an invitation:
// fsynced SQLite commit plus the audit entry).
func BenchmarkWrite(b *testing.B) {
	srv, key, _ := benchServer(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		req := httptest.NewRequest("POST", "/api/v1/invitations", stringsReader(`{"email":"u`+itoa(i)+`@example.com","role":"read-only"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			b.Fatalf("status %d %s", rec.Code, rec.Body)
		}
	}
}
