package restapi

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/registries/provider"
)

func TestNextLink(t *testing.T) {
	req, _ := url.Parse("https://h.example/api/v2.0/projects?page=1&page_size=10")
	tests := []struct {
		name    string
		values  []string
		want    string
		wantErr bool
	}{
		{name: "none"},
		{name: "relative", values: []string{`</api/v2.0/projects?page=2&page_size=10>; rel="next"`}, want: "https://h.example/api/v2.0/projects?page=2&page_size=10"},
		{name: "prev_and_next", values: []string{`</a?page=1>; rel="prev" , </a?page=3>; rel="next"`}, want: "https://h.example/a?page=3"},
		{name: "absolute_same_host", values: []string{`<https://h.example/v2/_catalog?last=b&n=2>; rel=next`}, want: "https://h.example/v2/_catalog?last=b&n=2"},
		{name: "several_values", values: []string{`</x>; rel="last"`, `</y>; title="a;b,c"; rel="prev next"`}, want: "https://h.example/y"},
		{name: "only_last", values: []string{`</x>; rel="last"`}},
		{name: "other_host", values: []string{`<https://evil.example/steal>; rel="next"`}, wantErr: true},
		{name: "other_scheme", values: []string{`<http://h.example/a>; rel="next"`}, wantErr: true},
		{name: "no_brackets", values: []string{`/a; rel="next"`}, wantErr: true},
		{name: "unclosed_quote", values: []string{`</a>; rel="next`}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NextLink(tt.values, req)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NextLink(%q) error %v, want error %v", tt.values, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("NextLink(%q) = %q, want %q", tt.values, got, tt.want)
			}
		})
	}
}

func FuzzNextLink(f *testing.F) {
	f.Add(`</a?page=2>; rel="next", </a?page=9>; rel="last"`)
	f.Add(`<https://h.example/x>; rel=next; title="x,y"`)
	f.Add(`<`)
	req, _ := url.Parse("https://h.example/a?page=1")
	f.Fuzz(func(t *testing.T, v string) {
		got, err := NextLink([]string{v}, req)
		if err != nil || got == "" {
			return
		}
		u, perr := url.Parse(got)
		if perr != nil || u.Host != req.Host || u.Scheme != req.Scheme {
			t.Fatalf("NextLink(%q) = %q: leaves the host", v, got)
		}
	})
}

func TestClientStatuses(t *testing.T) {
	const secret = "s3cr3t-token-value"
	var status atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+secret {
			t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
		}
		w.WriteHeader(int(status.Load()))
		w.Write([]byte(`{"message":"bad token ` + secret + `"}`))
	}))
	defer srv.Close()
	c := &Client{HTTP: srv.Client(), What: "Test API", Secrets: []string{secret},
		Authorize: func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+secret)
			return nil
		}}
	for _, tt := range []struct {
		status int
		want   error
	}{{401, provider.ErrUnauthorized}, {403, provider.ErrUnauthorized}, {429, provider.ErrUnavailable}, {503, provider.ErrUnavailable}, {404, nil}} {
		status.Store(int32(tt.status))
		_, err := c.Get(context.Background(), srv.URL+"/x?token="+secret, nil)
		if err == nil {
			t.Fatalf("status %d: no error", tt.status)
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("status %d: %v, want %v", tt.status, err, tt.want)
		}
		if tt.want == nil && (errors.Is(err, provider.ErrUnauthorized) || errors.Is(err, provider.ErrUnavailable)) {
			t.Errorf("status %d: %v wraps a provider error", tt.status, err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("status %d: error shows the secret: %v", tt.status, err)
		}
	}
}

func TestClientRenewsOnce(t *testing.T) {
	var calls, renewals atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer fresh" {
			w.WriteHeader(401)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	cache := &TokenCache{Fetch: func(context.Context) (Token, error) {
		if renewals.Load() == 0 {
			return Token{Value: "stale"}, nil
		}
		return Token{Value: "fresh"}, nil
	}}
	c := &Client{HTTP: srv.Client(), What: "Test API",
		Authorize: func(ctx context.Context, r *http.Request) error {
			tok, err := cache.Get(ctx)
			r.Header.Set("Authorization", "Bearer "+tok)
			return err
		},
		Renew: func() { renewals.Add(1); cache.Drop() }}
	var v struct{ OK bool }
	if _, err := c.Get(context.Background(), srv.URL, &v); err != nil || !v.OK {
		t.Fatalf("Get = %v, %+v", err, v)
	}
	if calls.Load() != 2 || renewals.Load() != 1 {
		t.Errorf("calls %d renewals %d, want 2 and 1", calls.Load(), renewals.Load())
	}
}

func TestUnreachableIsUnavailable(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	u := srv.URL
	hc := srv.Client()
	srv.Close()
	c := &Client{HTTP: hc, What: "Test API"}
	_, err := c.Get(context.Background(), u, nil)
	if !errors.Is(err, provider.ErrUnavailable) {
		t.Errorf("closed server: %v, want ErrUnavailable", err)
	}
}

func TestUntrustedCertificateIsNotUnavailable(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	c := &Client{HTTP: &http.Client{}, What: "Test API"}
	_, err := c.Get(context.Background(), srv.URL, nil)
	if err == nil || errors.Is(err, provider.ErrUnavailable) {
		t.Errorf("untrusted certificate: %v, want a permanent error", err)
	}
}

func TestTokenCacheRenewsBeforeExpiry(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	c := &TokenCache{Now: func() time.Time { return now }, Fetch: func(context.Context) (Token, error) {
		n++
		return Token{Value: string(rune('a' + n)), Expires: now.Add(5 * time.Minute)}, nil
	}}
	a, _ := c.Get(context.Background())
	now = now.Add(4 * time.Minute)
	b, _ := c.Get(context.Background())
	now = now.Add(40 * time.Second)
	d, _ := c.Get(context.Background())
	if a != b || b == d || n != 2 {
		t.Errorf("tokens %q %q %q after %d fetches: want the first kept 4 min, renewed 30 s before expiry", a, b, d, n)
	}
}

func TestJWTExpiry(t *testing.T) {
	enc := base64.RawURLEncoding
	tok := "x." + enc.EncodeToString([]byte(`{"exp":1790000000}`)) + ".y"
	if got, ok := JWTExpiry(tok); !ok || got.Unix() != 1790000000 {
		t.Errorf("JWTExpiry = %v, %v", got, ok)
	}
	for _, bad := range []string{"", "a.b", "a.!!.c", "a." + enc.EncodeToString([]byte(`{"exp":"soon"}`)) + ".c", "a." + enc.EncodeToString([]byte(`{"exp":-1}`)) + ".c"} {
		if _, ok := JWTExpiry(bad); ok {
			t.Errorf("JWTExpiry(%q) ok", bad)
		}
	}
}

func FuzzJWTExpiry(f *testing.F) {
	f.Add("x." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":1790000000}`)) + ".y")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		if exp, ok := JWTExpiry(tok); ok && (exp.Unix() <= 0 || exp.Unix() > 1<<40) {
			t.Fatalf("JWTExpiry(%q) = %v", tok, exp)
		}
	})
}
