package dockerhub

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/providerfake"
	"github.com/riskmap/riskmap/internal/registries/provider/providertest"
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
	kind := KindAt(Endpoints{Hub: f.URL(), Registry: f.Host()})
	return providertest.Connect(t, kind, provider.Account{Name: "hub", Secrets: secrets, HTTP: f.Client()}, settings).(*hub)
}

var (
	acme  = map[string]string{"username": user, "namespaces": "acme"}
	good  = map[string]string{"token": pat}
	wrong = map[string]string{"token": "dckr_pat_wrongWRONGwrong"}
)

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Provider{
		Start: func(t *testing.T) providertest.Setup {
			f := newFake(t)
			return providertest.Setup{Fake: f.Server,
				Good: []providertest.Account{
					{Name: "token", Registry: connect(t, f, acme, good)},
					{Name: "two_namespaces", Registry: connect(t, f, map[string]string{"username": user, "namespaces": "acme-ci, acme"}, good)},
					{Name: "anonymous", Registry: connect(t, f, map[string]string{"namespaces": "acme"}, nil)},
				},
				Bad: []providertest.Account{{Name: "wrong_token", Registry: connect(t, f, map[string]string{"username": user}, wrong)}},
			}
		},
		Repo:     "acme/app",
		Repos:    []string{"acme/svc0", "acme/svc1"},
		FailPath: "/v2/namespaces/",
		Secrets:  []string{pat, wrong["token"]},
	})
}

func TestNewValidates(t *testing.T) {
	providertest.NewErrors(t, Kind(), []providertest.NewCase{
		{Name: "anonymous_without_namespaces", Want: []string{"namespaces: required"}},
		{Name: "user_without_token", Settings: map[string]string{"username": "u"}, Want: []string{"token: required"}},
		{Name: "token_without_user", Secrets: map[string]string{"token": "x"}, Settings: map[string]string{"namespaces": "a"}, Want: []string{"username: required"}},
		{Name: "bad_namespace", Settings: map[string]string{"namespaces": "ok, Not/Valid"}, Want: []string{`namespaces: "Not/Valid"`}},
	})
	if _, err := Kind().New(provider.Account{Settings: map[string]string{"namespaces": "library"}}); err != nil {
		t.Errorf("anonymous with a namespace: %v", err)
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
	reg := connect(t, f, acme, good)
	providertest.Repos(t, reg, want, []int{3, 3, 1})
	providertest.Tags(t, reg, "acme/svc0", providertest.TagsOf(tags, nil), []int{3, 3, 2})
	// Anonymous callers do not see the private repository.
	providertest.Repos(t, connect(t, f, map[string]string{"namespaces": "acme"}, nil), want[:6], nil)
}

func TestTokenRenewal(t *testing.T) {
	f := newFake(t)
	f.AddTags("acme/app", 1, time.Now())
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	f.SetClock(func() time.Time { return now })
	reg := connect(t, f, acme, good)
	reg.now = func() time.Time { return now }
	ctx := context.Background()
	logins := func() int { return f.Count("/v2/auth/token") }
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

func TestPullPrivate(t *testing.T) {
	f := newFake(t)
	f.Push(t, "acme/app", "v1")
	pub := f.Push(t, "library/alpine", "3")
	f.SetPrivate("acme/app")
	ctx := context.Background()
	if _, err := providerfake.Pull(ctx, connect(t, f, acme, good), f.Client(), "acme/app", "v1"); err != nil {
		t.Errorf("pull of a private image: %v", err)
	}
	anon := connect(t, f, map[string]string{"namespaces": "library"}, nil)
	if got, err := providerfake.Pull(ctx, anon, f.Client(), "library/alpine", "3"); err != nil || got != pub.Digest {
		t.Errorf("anonymous pull of a public image = %q, %v", got, err)
	}
	if _, err := providerfake.Pull(ctx, anon, f.Client(), "acme/app", "v1"); err == nil {
		t.Error("anonymous pull of a private image succeeded")
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
