package gitlab

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/providerfake"
)

const (
	user        = "alice"
	token       = "glpat-SECRETvalue0123456789"
	deployUser  = "gitlab+deploy-token-7"
	deployToken = "gldt-DEPLOYsecret987654"
)

func connect(t *testing.T, f *providerfake.GitLab, settings map[string]string, tok string) provider.Registry {
	t.Helper()
	s := map[string]string{"url": f.URL(), "registry": f.Host(), "username": user}
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
		{name: "no_project_or_group", settings: map[string]string{"username": "u"}, want: "project: a project or a group is required"},
		{name: "both", settings: map[string]string{"username": "u", "project": "a/b", "group": "a"}, want: "not both"},
		{name: "self_managed_without_registry", settings: map[string]string{"url": "https://git.example.com", "username": "u", "project": "1"}, want: "registry: required"},
		{name: "deploy_without_repositories", settings: map[string]string{"username": "u", "token_type": "deploy_token"}, want: "repositories: required"},
		{name: "bad_type", settings: map[string]string{"username": "u", "project": "1", "token_type": "oauth"}, want: "token_type: "},
		{name: "no_username", settings: map[string]string{"project": "1"}, want: "username: required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Kind().New(provider.Account{Settings: tt.settings, Secrets: map[string]string{"token": "x"}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error with %q", err, tt.want)
			}
		})
	}
	reg, err := Kind().New(provider.Account{Settings: map[string]string{"username": "u", "project": "a/b"}, Secrets: map[string]string{"token": "x"}})
	if err != nil || reg.Host() != "registry.gitlab.com" {
		t.Errorf("gitlab.com: %v, %v", reg, err)
	}
}

func newFake(t *testing.T) *providerfake.GitLab {
	return providerfake.NewGitLab(t, user, token, deployUser, deployToken)
}

func TestCheck(t *testing.T) {
	f := newFake(t)
	f.AddRepo("acme/web")
	ctx := context.Background()
	if err := connect(t, f, map[string]string{"project": "acme/web"}, token).Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	err := connect(t, f, map[string]string{"project": "acme/web"}, "glpat-WRONGwrongWRONG").Check(ctx)
	if !errors.Is(err, provider.ErrUnauthorized) {
		t.Errorf("Check with a bad token = %v, want ErrUnauthorized", err)
	}
	providerfake.NoSecret(t, err, "glpat-WRONGwrongWRONG", token)
	deploy := map[string]string{"token_type": "deploy_token", "username": deployUser, "repositories": "acme/web"}
	if err := connect(t, f, deploy, deployToken).Check(ctx); err != nil {
		t.Errorf("Check with a deploy token: %v", err)
	}
	err = connect(t, f, deploy, "gldt-WRONGwrongWRONG").Check(ctx)
	if !errors.Is(err, provider.ErrUnauthorized) {
		t.Errorf("Check with a bad deploy token = %v, want ErrUnauthorized", err)
	}
	providerfake.NoSecret(t, err, "gldt-WRONGwrongWRONG")
}

func TestListing(t *testing.T) {
	f := newFake(t)
	f.SetPageLimit(2)
	start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	want := []string{"acme/api", "acme/api/worker", "acme/web", "acme/web/assets", "acme/web/nginx"}
	for _, r := range append(want, "other/x") {
		f.AddRepo(r)
	}
	imgs := f.AddTags("acme/web/nginx", 5, start)
	ctx := context.Background()
	reg := connect(t, f, map[string]string{"group": "acme"}, token)
	repos, pages, err := providerfake.AllRepos(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, repos); diff != "" {
		t.Errorf("repositories (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{2, 2, 1}, pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	tags, tagPages, err := providerfake.AllTags(ctx, reg, "acme/web/nginx")
	if err != nil {
		t.Fatal(err)
	}
	var wantTags []provider.Tag
	for _, img := range imgs {
		tg := img.ProviderTag()
		tg.MediaType = "" // GitLab does not say
		wantTags = append(wantTags, tg)
	}
	if diff := cmp.Diff(wantTags, tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{2, 2, 1}, tagPages); diff != "" {
		t.Errorf("tag pages (-want +got):\n%s", diff)
	}
	// A fresh registry finds the repository's ids itself.
	fresh := connect(t, f, map[string]string{"project": "acme/web"}, token)
	if tags, _, err := providerfake.AllTags(ctx, fresh, "acme/web/nginx"); err != nil || len(tags) != 5 {
		t.Errorf("tags without a listing first: %d, %v", len(tags), err)
	}
	if _, _, err := providerfake.AllTags(ctx, fresh, "other/x"); err == nil {
		t.Error("tags of a repository outside the project: no error")
	}
}

func TestDeployTokenListing(t *testing.T) {
	f := newFake(t)
	imgs := []providerfake.Image{f.Push(t, "acme/web", "v1"), f.Push(t, "acme/web", "v2")}
	reg := connect(t, f, map[string]string{"token_type": "deploy_token", "username": deployUser, "repositories": "acme/web"}, deployToken)
	ctx := context.Background()
	repos, _, err := providerfake.AllRepos(ctx, reg)
	if err != nil || !slices.Equal(repos, []string{"acme/web"}) {
		t.Errorf("repositories = %v, %v", repos, err)
	}
	tags, _, err := providerfake.AllTags(ctx, reg, "acme/web")
	if err != nil || len(tags) != 2 || tags[0].Name != imgs[0].Tag || tags[1].Name != imgs[1].Tag {
		t.Errorf("tags = %+v, %v", tags, err)
	}
	for _, r := range f.Requests() {
		if strings.HasPrefix(r.Path, "/api/") {
			t.Errorf("deploy token used the API: %s", r.Path)
		}
	}
}

func TestUnavailable(t *testing.T) {
	f := newFake(t)
	f.AddTags("acme/web", 3, time.Now())
	reg := connect(t, f, map[string]string{"project": "acme/web"}, token)
	ctx := context.Background()
	for _, status := range []int{429, 500, 503} {
		f.Fail(providerfake.Failure{Status: status, Path: "/api/v4/projects/1/registry/repositories/1/tags/", Times: 1})
		_, _, err := providerfake.AllTags(ctx, reg, "acme/web")
		if !errors.Is(err, provider.ErrUnavailable) {
			t.Errorf("status %d: %v, want ErrUnavailable", status, err)
		}
		providerfake.NoSecret(t, err, token)
	}
}

func TestPull(t *testing.T) {
	f := newFake(t)
	img := f.Push(t, "acme/web", "v1")
	ctx := context.Background()
	for _, tt := range []struct {
		name     string
		settings map[string]string
		tok      string
	}{
		{"access_token", map[string]string{"project": "acme/web"}, token},
		{"deploy_token", map[string]string{"token_type": "deploy_token", "username": deployUser, "repositories": "acme/web"}, deployToken},
	} {
		got, err := providerfake.Pull(ctx, connect(t, f, tt.settings, tt.tok), f.Client(), "acme/web", "v1")
		if err != nil || got != img.Digest {
			t.Errorf("%s: pull = %q, %v; want %s", tt.name, got, err, img.Digest)
		}
	}
	if _, err := providerfake.Pull(ctx, connect(t, f, map[string]string{"project": "acme/web"}, "glpat-WRONG"), f.Client(), "acme/web", "v1"); err == nil {
		t.Error("pull with a bad token succeeded")
	}
	if !slices.ContainsFunc(f.Requests(), func(r providerfake.Request) bool {
		return r.Path == "/jwt/auth" && r.Query.Get("scope") == "repository:acme/web:pull" && r.Query.Get("service") == "container_registry"
	}) {
		t.Error("no /jwt/auth request for the pull scope")
	}
}

func TestNextPage(t *testing.T) {
	for _, tt := range []struct {
		v       string
		want    int
		wantErr bool
	}{{"", 0, false}, {"3", 3, false}, {" 2 ", 2, false}, {"x", 0, true}, {"-1", 0, true}} {
		h := http.Header{}
		h.Set("X-Next-Page", tt.v)
		got, err := nextPage(h)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("nextPage(%q) = %d, %v", tt.v, got, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`[{"id":1,"name":"","path":"a/b","project_id":2}]`), "2")
	f.Add([]byte(`{"name":"v1","digest":"sha256:ab","created_at":"2026-11-01T10:00:00.000+00:00","total_size":-5}`), "")
	f.Add([]byte(`{"token":"eyJ"}`), "x")
	f.Add([]byte(`{"name":"a","tags":["v1",""]}`), "9")
	f.Fuzz(func(t *testing.T, b []byte, next string) {
		if repos, err := parseRepos(b); err == nil {
			for _, r := range repos {
				if r.Path == "" || r.ID <= 0 {
					t.Fatalf("repo %+v", r)
				}
			}
		}
		if tg, err := parseTagDetails(b); err == nil && (tg.Name == "" || tg.Size < 0) {
			t.Fatalf("tag %+v", tg)
		}
		if tok, err := parseJWT(b); err == nil && tok.Value == "" {
			t.Fatal("empty token")
		}
		parseTagNames(b)
		if names, err := parseTagList(b); err == nil && slices.Contains(names, "") {
			t.Fatal("empty tag name")
		}
		h := http.Header{}
		h.Set("X-Next-Page", next)
		if n, err := nextPage(h); err == nil && n < 0 {
			t.Fatalf("page %d", n)
		}
	})
}
