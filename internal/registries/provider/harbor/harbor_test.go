package harbor

import (
	"fmt"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/providerfake"
	"github.com/riskmap/riskmap/internal/registries/provider/providertest"
)

const (
	robot  = "robot$ci+scanner"
	secret = "Hx9secretROBOTvalue42"
)

func connect(t *testing.T, f *providerfake.Harbor, settings map[string]string, sec string) provider.Registry {
	return providertest.Connect(t, Kind(), provider.Account{Settings: map[string]string{"url": f.URL(), "username": robot},
		Secrets: map[string]string{"secret": sec}, HTTP: f.Client()}, settings)
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Provider{
		Start: func(t *testing.T) providertest.Setup {
			f := providerfake.NewHarbor(t, robot, secret)
			return providertest.Setup{Fake: f.Server,
				Good: []providertest.Account{
					{Name: "robot", Registry: connect(t, f, nil, secret)},
					{Name: "one_project", Registry: connect(t, f, map[string]string{"projects": "library"}, secret)},
				},
				Bad: []providertest.Account{{Name: "wrong_secret", Registry: connect(t, f, nil, "wrong-secret-value")}},
			}
		},
		Repo:    "library/app",
		Repos:   []string{"library/svc0", "library/team/svc1"},
		Secrets: []string{secret, "wrong-secret-value"},
	})
}

func TestNewValidates(t *testing.T) {
	providertest.NewErrors(t, Kind(), []providertest.NewCase{
		{Name: "empty", Want: []string{"url: ", "username: required", "secret: required"}},
		{Name: "bad_url", Settings: map[string]string{"url": "ftp://x", "username": robot}, Secrets: map[string]string{"secret": "s"}, Want: []string{"url: "}},
		{Name: "bad_project", Settings: map[string]string{"url": "https://h", "username": robot, "projects": "ok,Bad Name"}, Secrets: map[string]string{"secret": "s"}, Want: []string{`projects: "Bad Name"`}},
	})
}

func TestListing(t *testing.T) {
	f := providerfake.NewHarbor(t, robot, secret)
	f.SetPageLimit(2)
	start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var want []string
	for _, p := range []string{"alpha", "beta", "gamma"} {
		for i := range 3 {
			repo := fmt.Sprintf("%s/svc%d", p, i)
			f.AddRepo(repo)
			want = append(want, repo)
		}
	}
	f.AddRepo("beta/team/nested/app")
	want = append(want[:6], append([]string{"beta/team/nested/app"}, want[6:]...)...)
	imgs := f.AddTags("beta/team/nested/app", 5, start)
	// Two tags of one artifact.
	same := imgs[4]
	same.Tag = "latest"
	f.Add(same)
	reg := connect(t, f, nil, secret)
	providertest.Repos(t, reg, want, []int{2, 1, 2, 2, 2, 1})
	providertest.Tags(t, reg, "beta/team/nested/app", providertest.TagsOf(append(imgs, same), nil), []int{2, 2, 2})
	// Only the configured projects.
	providertest.Repos(t, connect(t, f, map[string]string{"projects": "gamma"}, secret), want[7:], nil)
}

func TestPull(t *testing.T) {
	f := providerfake.NewHarbor(t, robot, secret)
	img := f.Push(t, "library/app", "v1")
	// The tags the API lists are the registry's.
	providertest.Tags(t, connect(t, f, nil, secret), "library/app", []provider.Tag{img.ProviderTag()}, nil)
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`[{"digest":"sha256:ab","size":10,"push_time":"2026-11-01T10:00:00.000Z","manifest_media_type":"application/vnd.oci.image.manifest.v1+json","tags":[{"name":"v1","push_time":"2026-11-01T10:00:00.000Z"}]}]`))
	f.Add([]byte(`[{"name":"library/app"},{"name":""}]`))
	f.Add([]byte(`[{"tags":[{"name":""}],"size":-1}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if tags, err := parseArtifacts(b); err == nil {
			for _, tg := range tags {
				if tg.Name == "" || tg.Size < 0 {
					t.Fatalf("tag %+v", tg)
				}
			}
		}
		if names, err := parseNames(b); err == nil {
			for _, n := range names {
				if n == "" {
					t.Fatal("empty name")
				}
			}
		}
	})
}
