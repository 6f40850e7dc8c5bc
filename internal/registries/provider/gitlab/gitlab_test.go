package gitlab

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/providerfake"
	"github.com/riskmap/riskmap/internal/registries/provider/providertest"
)

const (
	user        = "alice"
	token       = "glpat-SECRETvalue0123456789"
	deployUser  = "gitlab+deploy-token-7"
	deployToken = "gldt-DEPLOYsecret987654"
)

func connect(t *testing.T, f *providerfake.GitLab, settings map[string]string, tok string) provider.Registry {
	return providertest.Connect(t, Kind(), provider.Account{Settings: map[string]string{"url": f.URL(), "registry": f.Host(), "username": user},
		Secrets: map[string]string{"token": tok}, HTTP: f.Client()}, settings)
}

var (
	project = map[string]string{"project": "acme/web"}
	deploy  = map[string]string{"token_type": "deploy_token", "username": deployUser, "repositories": "acme/web"}
)

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Provider{
		Start: func(t *testing.T) providertest.Setup {
			f := newFake(t)
			return providertest.Setup{Fake: f.Server,
				Good: []providertest.Account{
					{Name: "access_token", Registry: connect(t, f, project, token)},
					{Name: "deploy_token", Registry: connect(t, f, deploy, deployToken)},
				},
				Bad: []providertest.Account{
					{Name: "wrong_access_token", Registry: connect(t, f, project, "glpat-WRONGwrongWRONG")},
					{Name: "wrong_deploy_token", Registry: connect(t, f, deploy, "gldt-WRONGwrongWRONG")},
				},
			}
		},
		Repo:     "acme/web",
		Repos:    []string{"acme/web/assets", "acme/web/nginx"},
		Tag:      apiTag,
		FailPath: "/api/v4/projects/1/registry/repositories/1/tags/",
		Secrets:  []string{token, deployToken, "glpat-WRONGwrongWRONG", "gldt-WRONGwrongWRONG"},
	})
}

// apiTag is a tag as GitLab's tag details tell it: without a media type.
func apiTag(img providerfake.Image) provider.Tag {
	t := img.ProviderTag()
	t.MediaType = ""
	return t
}

func TestNewValidates(t *testing.T) {
	x := map[string]string{"token": "x"}
	providertest.NewErrors(t, Kind(), []providertest.NewCase{
		{Name: "no_project_or_group", Settings: map[string]string{"username": "u"}, Secrets: x, Want: []string{"project: a project or a group is required"}},
		{Name: "both", Settings: map[string]string{"username": "u", "project": "a/b", "group": "a"}, Secrets: x, Want: []string{"not both"}},
		{Name: "self_managed_without_registry", Settings: map[string]string{"url": "https://git.example.com", "username": "u", "project": "1"}, Secrets: x, Want: []string{"registry: required"}},
		{Name: "deploy_without_repositories", Settings: map[string]string{"username": "u", "token_type": "deploy_token"}, Secrets: x, Want: []string{"repositories: required"}},
		{Name: "bad_type", Settings: map[string]string{"username": "u", "project": "1", "token_type": "oauth"}, Secrets: x, Want: []string{"token_type: "}},
		{Name: "no_username", Settings: map[string]string{"project": "1"}, Secrets: x, Want: []string{"username: required"}},
	})
	reg, err := Kind().New(provider.Account{Settings: map[string]string{"username": "u", "project": "a/b"}, Secrets: x})
	if err != nil || reg.Host() != "registry.gitlab.com" {
		t.Errorf("gitlab.com: %v, %v", reg, err)
	}
}

func newFake(t *testing.T) *providerfake.GitLab {
	return providerfake.NewGitLab(t, user, token, deployUser, deployToken)
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
	reg := connect(t, f, map[string]string{"group": "acme"}, token)
	providertest.Repos(t, reg, want, []int{2, 2, 1})
	providertest.Tags(t, reg, "acme/web/nginx", providertest.TagsOf(imgs, apiTag), []int{2, 2, 1})
	// A fresh registry finds the repository's ids itself.
	fresh := connect(t, f, project, token)
	providertest.Tags(t, fresh, "acme/web/nginx", providertest.TagsOf(imgs, apiTag), nil)
	if _, _, err := providerfake.AllTags(context.Background(), fresh, "other/x"); err == nil {
		t.Error("tags of a repository outside the project: no error")
	}
}

func TestDeployTokenListing(t *testing.T) {
	f := newFake(t)
	imgs := []providerfake.Image{f.Push(t, "acme/web", "v1"), f.Push(t, "acme/web", "v2")}
	reg := connect(t, f, deploy, deployToken)
	providertest.Repos(t, reg, []string{"acme/web"}, nil)
	providertest.Tags(t, reg, "acme/web", []provider.Tag{{Name: imgs[0].Tag}, {Name: imgs[1].Tag}}, nil)
	for _, r := range f.Requests() {
		if strings.HasPrefix(r.Path, "/api/") {
			t.Errorf("deploy token used the API: %s", r.Path)
		}
	}
}

func TestPullScope(t *testing.T) {
	f := newFake(t)
	f.Push(t, "acme/web", "v1")
	if _, err := providerfake.Pull(context.Background(), connect(t, f, project, token), f.Client(), "acme/web", "v1"); err != nil {
		t.Fatal(err)
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
