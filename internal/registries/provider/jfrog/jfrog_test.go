package jfrog

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/providerfake"
	"github.com/riskmap/riskmap/internal/registries/provider/providertest"
)

const (
	user   = "ci-reader"
	apiKey = "AKCpSECRETapiKEY0123456789"
	access = "eyJ2ZXIiOiIyIiwidHlwIjoiSldUIn0.accessTOKENsecret"
)

func connect(t *testing.T, f *providerfake.JFrog, settings map[string]string, tok string) provider.Registry {
	return providertest.Connect(t, Kind(), provider.Account{Settings: map[string]string{"url": f.URL()},
		Secrets: map[string]string{"token": tok}, HTTP: f.Client()}, settings)
}

func TestConformance(t *testing.T) {
	withUser := map[string]string{"username": user}
	providertest.Run(t, providertest.Provider{
		Start: func(t *testing.T) providertest.Setup {
			f := newFake(t)
			return providertest.Setup{Fake: f.Server,
				Good: []providertest.Account{
					{Name: "access_token", Registry: connect(t, f, nil, access)},
					{Name: "api_key", Registry: connect(t, f, withUser, apiKey)},
					{Name: "configured_repository", Registry: connect(t, f, map[string]string{"repositories": "docker-local"}, access)},
				},
				Bad: []providertest.Account{
					{Name: "wrong_access_token", Registry: connect(t, f, nil, "wrong-access-token")},
					{Name: "wrong_api_key", Registry: connect(t, f, withUser, "wrong-api-key-value")},
				},
			}
		},
		Repo:     "docker-local/app",
		Repos:    []string{"docker-local/nested/svc0", "docker-local/svc1"},
		Tag:      apiTag,
		FailPath: "/artifactory/api/storage/",
		Secrets:  []string{access, apiKey, "wrong-access-token", "wrong-api-key-value"},
	})
}

// apiTag is a tag as Artifactory's File List tells it: without the
// manifest's media type.
func apiTag(img providerfake.Image) provider.Tag {
	t := img.ProviderTag()
	t.MediaType = ""
	return t
}

func TestNewValidates(t *testing.T) {
	providertest.NewErrors(t, Kind(), []providertest.NewCase{
		{Name: "no_url", Want: []string{"url: ", "token: required"}},
		{Name: "bad_key", Settings: map[string]string{"url": "https://a.jfrog.io", "repositories": "docker-local,bad key"}, Want: []string{`repositories: "bad key"`, "token: required"}},
	})
	reg, err := Kind().New(provider.Account{Settings: map[string]string{"url": "https://acme.jfrog.io/artifactory/"}, Secrets: map[string]string{"token": "x"}})
	if err != nil || reg.Host() != "acme.jfrog.io" || reg.(*jfrog).base.Path != "" {
		t.Errorf("URL with /artifactory: %v, %v", reg, err)
	}
}

func newFake(t *testing.T) *providerfake.JFrog { return providerfake.NewJFrog(t, user, apiKey, access) }

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
	reg := connect(t, f, nil, access)
	providertest.Repos(t, reg, want, []int{2, 2, 2, 1})
	providertest.Tags(t, reg, "docker-local/nested/app", providertest.TagsOf(imgs, apiTag), []int{2, 2, 1})
	providertest.Repos(t, connect(t, f, map[string]string{"repositories": "team-docker"}, access), want[4:], nil)
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
