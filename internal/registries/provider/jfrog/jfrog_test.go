package jfrog

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
	user   = "ci-reader"
	apiKey = "AKCpSECRETapiKEY0123456789"
	access = "eyJ2ZXIiOiIyIiwidHlwIjoiSldUIn0.accessTOKENsecret"
)

func connect(t *testing.T, f *providerfake.JFrog, settings map[string]string, tok string) provider.Registry {
	t.Helper()
	s := map[string]string{"url": f.URL()}
	for k, v := range settings {
		s[k] = v
	}
	reg, err := Kind().New(provider.Account{Settings: s, Secrets: map[string]string{"token": tok}, HTTP: f.Client()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return reg
}

func TestNewValidates(t *testing.T) {
	for _, tt := range []struct {
		name     string
		settings map[string]string
		want     string
	}{
		{name: "no_url", want: "url: "},
		{name: "bad_key", settings: map[string]string{"url": "https://a.jfrog.io", "repositories": "docker-local,bad key"}, want: `repositories: "bad key"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Kind().New(provider.Account{Settings: tt.settings})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "token: required") {
				t.Errorf("New = %v, want errors with %q and token", err, tt.want)
			}
		})
	}
	reg, err := Kind().New(provider.Account{Settings: map[string]string{"url": "https://acme.jfrog.io/artifactory/"}, Secrets: map[string]string{"token": "x"}})
	if err != nil || reg.Host() != "acme.jfrog.io" || reg.(*jfrog).base.Path != "" {
		t.Errorf("URL with /artifactory: %v, %v", reg, err)
	}
}

func newFake(t *testing.T) *providerfake.JFrog { return providerfake.NewJFrog(t, user, apiKey, access) }

func TestCheck(t *testing.T) {
	f := newFake(t)
	f.AddRepo("docker-local/app")
	ctx := context.Background()
	if err := connect(t, f, nil, access).Check(ctx); err != nil {
		t.Errorf("Check with an access token: %v", err)
	}
	if err := connect(t, f, map[string]string{"username": user}, apiKey).Check(ctx); err != nil {
		t.Errorf("Check with an API key: %v", err)
	}
	for _, tt := range []struct {
		settings map[string]string
		tok      string
	}{{nil, "wrong-access-token"}, {map[string]string{"username": user}, "wrong-api-key-value"}} {
		err := connect(t, f, tt.settings, tt.tok).Check(ctx)
		if !errors.Is(err, provider.ErrUnauthorized) {
			t.Errorf("Check with %q = %v, want ErrUnauthorized", tt.tok, err)
		}
		providerfake.NoSecret(t, err, tt.tok, access, apiKey)
	}
}

func TestListing(t *testing.T) {
	f := newFake(t)
	f.SetPageLimit(2)
	start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var want []string
	for _, k := range []string{"docker-local", "team-docker"} {
		for i := range 3 {
			r := fmt.Sprintf("%s/svc%d", k, i)
			f.AddRepo(r)
			want = append(want, r)
		}
	}
	f.AddRepo("docker-local/nested/app")
	want = append(want[:0:0], "docker-local/nested/app", want[0], want[1], want[2], want[3], want[4], want[5])
	imgs := f.AddTags("docker-local/nested/app", 5, start)
	ctx := context.Background()
	reg := connect(t, f, nil, access)
	repos, pages, err := providerfake.AllRepos(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, repos); diff != "" {
		t.Errorf("repositories (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{2, 2, 2, 1}, pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	tags, tagPages, err := providerfake.AllTags(ctx, reg, "docker-local/nested/app")
	if err != nil {
		t.Fatal(err)
	}
	var wantTags []provider.Tag
	for _, img := range imgs {
		tg := img.ProviderTag()
		tg.MediaType = ""
		wantTags = append(wantTags, tg)
	}
	if diff := cmp.Diff(wantTags, tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{2, 2, 1}, tagPages); diff != "" {
		t.Errorf("tag pages (-want +got):\n%s", diff)
	}
	repos, _, err = providerfake.AllRepos(ctx, connect(t, f, map[string]string{"repositories": "team-docker"}, access))
	if err != nil || len(repos) != 3 || repos[0] != "team-docker/svc0" {
		t.Errorf("configured repository: %v, %v", repos, err)
	}
}

func TestUnavailable(t *testing.T) {
	f := newFake(t)
	f.AddTags("docker-local/app", 2, time.Now())
	reg := connect(t, f, nil, access)
	ctx := context.Background()
	for _, status := range []int{429, 500, 503} {
		f.Fail(providerfake.Failure{Status: status, Path: "/artifactory/api/storage/", Times: 1})
		_, _, err := providerfake.AllTags(ctx, reg, "docker-local/app")
		if !errors.Is(err, provider.ErrUnavailable) {
			t.Errorf("status %d: %v, want ErrUnavailable", status, err)
		}
		providerfake.NoSecret(t, err, access)
	}
}

func TestPull(t *testing.T) {
	f := newFake(t)
	img := f.Push(t, "docker-local/app", "v1")
	ctx := context.Background()
	for _, tt := range []struct {
		name     string
		settings map[string]string
		tok      string
	}{{"access_token", nil, access}, {"api_key", map[string]string{"username": user}, apiKey}} {
		got, err := providerfake.Pull(ctx, connect(t, f, tt.settings, tt.tok), f.Client(), "docker-local/app", "v1")
		if err != nil || got != img.Digest {
			t.Errorf("%s: pull = %q, %v; want %s", tt.name, got, err, img.Digest)
		}
	}
	if _, err := providerfake.Pull(ctx, connect(t, f, map[string]string{"username": user}, "wrong"), f.Client(), "docker-local/app", "v1"); err == nil {
		t.Error("pull with a bad API key succeeded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"uri":"x","created":"2026-11-01T10:00:00.000Z","files":[{"uri":"/manifest.json","size":400,"lastModified":"2026-11-01T10:00:00.000Z","folder":false,"sha2":"`+strings.Repeat("a", 64)+`"},{"uri":"/sha256__x","size":"9"}]}`), "tags")
	f.Add([]byte(`{"repositories":["a","",null]}`), "repositories")
	f.Add([]byte(`[{"key":"docker-local","packageType":"Docker"},{"key":"bad key"}]`), "")
	f.Fuzz(func(t *testing.T, b []byte, member string) {
		if tg, err := parseFileList(b); err == nil {
			if tg.Size < 0 || (tg.Digest != "" && len(tg.Digest) != 71) {
				t.Fatalf("tag %+v", tg)
			}
		}
		if names, err := parseList(b, member); err == nil {
			for _, n := range names {
				if n == "" {
					t.Fatal("empty name")
				}
			}
		}
		if keys, err := parseRepositories(b); err == nil {
			for _, k := range keys {
				if !keyRE.MatchString(k) {
					t.Fatalf("key %q", k)
				}
			}
		}
	})
}
