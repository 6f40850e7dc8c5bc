package dockerhub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/providerfake"
)

const (
	user = "acme-ci"
	pat  = "dckr_pat_Zq8xY3v0secretTOKENvalue"
)

func newFake(t *testing.T) *providerfake.DockerHub {
	f := providerfake.NewDockerHub(t, user, pat)
	f.Members["acme"] = true
	return f
}

func connect(t *testing.T, f *providerfake.DockerHub, settings, secrets map[string]string) *hub {
	t.Helper()
	reg, err := KindAt(Endpoints{Hub: f.URL(), Registry: f.Host()}).New(provider.Account{Name: "hub", Settings: settings, Secrets: secrets, HTTP: f.Client()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return reg.(*hub)
}

func TestNewValidates(t *testing.T) {
	for _, tt := range []struct {
		name     string
		settings map[string]string
		secrets  map[string]string
		want     string
	}{
		{name: "anonymous_without_namespaces", want: "namespaces: required"},
		{name: "user_without_token", settings: map[string]string{"username": "u"}, want: "token: required"},
		{name: "token_without_user", secrets: map[string]string{"token": "x"}, settings: map[string]string{"namespaces": "a"}, want: "username: required"},
		{name: "bad_namespace", settings: map[string]string{"namespaces": "ok, Not/Valid"}, want: `namespaces: "Not/Valid"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Kind().New(provider.Account{Settings: tt.settings, Secrets: tt.secrets})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error with %q", err, tt.want)
			}
		})
	}
	if _, err := Kind().New(provider.Account{Settings: map[string]string{"namespaces": "library"}}); err != nil {
		t.Errorf("anonymous with a namespace: %v", err)
	}
}

func TestCheck(t *testing.T) {
	f := newFake(t)
	ctx := context.Background()
	good := connect(t, f, map[string]string{"username": user, "namespaces": "acme-ci, acme"}, map[string]string{"token": pat})
	if err := good.Check(ctx); err != nil {
		t.Fatalf("Check with good credentials: %v", err)
	}
	bad := connect(t, f, map[string]string{"username": user}, map[string]string{"token": "dckr_pat_wrongWRONGwrong"})
	err := bad.Check(ctx)
	if !errors.Is(err, provider.ErrUnauthorized) {
		t.Fatalf("Check with a bad token = %v, want ErrUnauthorized", err)
	}
	providerfake.NoSecret(t, err, "dckr_pat_wrongWRONGwrong", pat)
	anon := connect(t, f, map[string]string{"namespaces": "acme"}, nil)
	if err := anon.Check(ctx); err != nil {
		t.Errorf("anonymous Check: %v", err)
	}
}

func TestListing(t *testing.T) {
	f := newFake(t)
	f.SetPageLimit(3)
	start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var want []string
	for i := range 7 {
		repo := fmt.Sprintf("acme/svc%d", i)
		f.AddTags(repo, 1, start)
		want = append(want, repo)
	}
	f.SetPrivate("acme/svc6")
	tags := f.AddTags("acme/svc0", 8, start)
	ctx := context.Background()
	reg := connect(t, f, map[string]string{"username": user, "namespaces": "acme"}, map[string]string{"token": pat})

	repos, pages, err := providerfake.AllRepos(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, repos); diff != "" {
		t.Errorf("repositories (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{3, 3, 1}, pages); diff != "" {
		t.Errorf("repository pages (-want +got):\n%s", diff)
	}

	got, tagPages, err := providerfake.AllTags(ctx, reg, "acme/svc0")
	if err != nil {
		t.Fatal(err)
	}
	var wantTags []provider.Tag
	for _, img := range tags {
		wantTags = append(wantTags, img.ProviderTag())
	}
	if diff := cmp.Diff(wantTags, got); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if len(tagPages) != 3 {
		t.Errorf("tag pages %v, want 3", tagPages)
	}

	// Anonymous callers do not see the private repository.
	anon := connect(t, f, map[string]string{"namespaces": "acme"}, nil)
	repos, _, err = providerfake.AllRepos(ctx, anon)
	if err != nil || len(repos) != 6 {
		t.Errorf("anonymous listing = %v, %v; want the 6 public repositories", repos, err)
	}
}

func TestUnavailable(t *testing.T) {
	f := newFake(t)
	f.AddTags("acme/app", 2, time.Now())
	reg := connect(t, f, map[string]string{"username": user, "namespaces": "acme"}, map[string]string{"token": pat})
	ctx := context.Background()
	for _, status := range []int{429, 500, 503} {
		f.Fail(providerfake.Failure{Status: status, Path: "/v2/namespaces/", Times: 1})
		if _, _, err := providerfake.AllTags(ctx, reg, "acme/app"); !errors.Is(err, provider.ErrUnavailable) {
			t.Errorf("status %d: %v, want ErrUnavailable", status, err)
		}
	}
	f.Fail(providerfake.Failure{Down: true})
	err := reg.Check(ctx)
	if !errors.Is(err, provider.ErrUnavailable) {
		t.Errorf("down: %v, want ErrUnavailable", err)
	}
	providerfake.NoSecret(t, err, pat)
}

func TestTokenRenewal(t *testing.T) {
	f := newFake(t)
	f.AddTags("acme/app", 1, time.Now())
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	f.SetClock(func() time.Time { return now })
	reg := connect(t, f, map[string]string{"username": user, "namespaces": "acme"}, map[string]string{"token": pat})
	reg.now = func() time.Time { return now }
	ctx := context.Background()
	logins := func() int {
		n := 0
		for _, r := range f.Requests() {
			if r.Path == "/v2/auth/token" {
				n++
			}
		}
		return n
	}
	if _, _, err := providerfake.AllRepos(ctx, reg); err != nil {
		t.Fatal(err)
	}
	if _, _, err := providerfake.AllRepos(ctx, reg); err != nil || logins() != 1 {
		t.Fatalf("second listing: %v after %d sign-ins, want the JWT reused", err, logins())
	}
	// Before exp: renewed without a refused request.
	now = now.Add(5*time.Minute - 10*time.Second)
	if _, _, err := providerfake.AllRepos(ctx, reg); err != nil || logins() != 2 {
		t.Fatalf("near expiry: %v after %d sign-ins, want a new JWT", err, logins())
	}
	// Revoked early: the 401 makes it sign in again.
	f.ExpireTokens()
	if _, _, err := providerfake.AllRepos(ctx, reg); err != nil || logins() != 3 {
		t.Fatalf("after expiry: %v after %d sign-ins, want a renewal", err, logins())
	}
}

func TestPull(t *testing.T) {
	f := newFake(t)
	img := f.Push(t, "acme/app", "v1")
	pub := f.Push(t, "library/alpine", "3")
	f.SetPrivate("acme/app")
	ctx := context.Background()
	reg := connect(t, f, map[string]string{"username": user, "namespaces": "acme"}, map[string]string{"token": pat})
	got, err := providerfake.Pull(ctx, reg, f.Client(), "acme/app", "v1")
	if err != nil || got != img.Digest {
		t.Fatalf("pull = %q, %v; want %s", got, err, img.Digest)
	}
	anon := connect(t, f, map[string]string{"namespaces": "library"}, nil)
	if got, err := providerfake.Pull(ctx, anon, f.Client(), "library/alpine", "3"); err != nil || got != pub.Digest {
		t.Errorf("anonymous pull of a public image = %q, %v", got, err)
	}
	if _, err := providerfake.Pull(ctx, anon, f.Client(), "acme/app", "v1"); err == nil {
		t.Error("anonymous pull of a private image succeeded")
	}
	bad := connect(t, f, map[string]string{"username": user}, map[string]string{"token": "dckr_pat_wrongWRONGwrong"})
	if _, err := providerfake.Pull(ctx, bad, f.Client(), "acme/app", "v1"); err == nil {
		t.Error("pull with a bad token succeeded")
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add([]byte(`{"access_token":"a.eyJleHAiOjE3OTAwMDAwMDB9.c"}`))
	f.Add([]byte(`{"token":"abc"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := parseToken(b)
		if err == nil && (tok.Value == "" || strings.ContainsAny(tok.Value, " \r\n")) {
			t.Fatalf("parseToken(%q) = %q without error", b, tok.Value)
		}
	})
}

func FuzzParsePages(f *testing.F) {
	f.Add([]byte(`{"count":1,"next":"https://hub.docker.com/v2/x?page=2","results":[{"name":"app","namespace":"acme","digest":"sha256:ab","full_size":12,"tag_last_pushed":"2026-11-01T10:00:00.123456Z"}]}`))
	f.Add([]byte(`{"results":[{"name":""},{"full_size":-3,"name":"x","last_updated":"bad"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		names, _, err := parseRepos("ns", b)
		if err == nil {
			for _, n := range names {
				if !strings.Contains(n, "/") {
					t.Fatalf("repository %q without namespace", n)
				}
			}
		}
		tags, _, err := parseTags(b)
		if err == nil {
			for _, tg := range tags {
				if tg.Name == "" || tg.Size < 0 {
					t.Fatalf("tag %+v", tg)
				}
			}
		}
	})
}
