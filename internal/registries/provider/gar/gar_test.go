package gar

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/providerfake"
	"github.com/riskmap/riskmap/internal/registries/provider/providertest"
)

const project = "acme-prod-1234"

func connect(t *testing.T, f *providerfake.GAR, settings map[string]string, key []byte) *gar {
	s := map[string]string{"location": "europe-west1", "repository": "images", "registry": f.Host(), "api_url": f.URL()}
	acct := provider.Account{Settings: s, Secrets: map[string]string{"key_json": string(key)}, HTTP: f.Client()}
	return providertest.Connect(t, Kind(), acct, settings).(*gar)
}

var gcr = map[string]string{"mode": "gcr"}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Provider{
		Start: func(t *testing.T) providertest.Setup {
			f := providerfake.NewGAR(t, project)
			other := f.OtherKey(t)
			return providertest.Setup{Fake: f.Server,
				Good: []providertest.Account{
					{Name: "artifact_registry", Registry: connect(t, f, nil, f.KeyJSON)},
					{Name: "gcr", Registry: connect(t, f, gcr, f.KeyJSON)},
				},
				Bad: []providertest.Account{
					{Name: "artifact_registry_other_key", Registry: connect(t, f, nil, other)},
					{Name: "gcr_other_key", Registry: connect(t, f, gcr, other)},
				},
			}
		},
		Repo:     project + "/images/app",
		Repos:    []string{project + "/images/svc0", project + "/images/team/api"},
		FailPath: "/v1/",
		Secrets:  []string{"PRIVATE KEY", "0123456789abcdef"},
	})
}

func TestNewValidates(t *testing.T) {
	f := providerfake.NewGAR(t, project)
	key := func(k string) map[string]string { return map[string]string{"key_json": k} }
	providertest.NewErrors(t, Kind(), []providertest.NewCase{
		{Name: "no_key", Settings: map[string]string{"project": project, "location": "us", "repository": "r"}, Want: []string{"key_json: required"}},
		{Name: "not_json", Secrets: key(`{"private_key":"-----BEGIN PRIVATE KEY-----SECRET`), Want: []string{"key_json: not a JSON"}, Hidden: []string{"SECRET"}},
		{Name: "user_key", Secrets: key(`{"type":"authorized_user","project_id":"acme-prod-1234"}`), Want: []string{`key_json: type "authorized_user"`}},
		{Name: "ar_without_location", Secrets: key(string(f.KeyJSON)), Want: []string{"location: ", "repository: "}},
		{Name: "http_token_uri", Secrets: key(strings.Replace(string(f.KeyJSON), `"token_uri":"https://`, `"token_uri":"http://`, 1)), Settings: map[string]string{"location": "us", "repository": "r"}, Want: []string{"token_uri: want an https URL"}},
		{Name: "bad_mode", Secrets: key(string(f.KeyJSON)), Settings: map[string]string{"mode": "ecr"}, Want: []string{"mode: "}},
	})
	reg, err := Kind().New(provider.Account{Settings: map[string]string{"location": "us", "repository": "r"}, Secrets: key(string(f.KeyJSON))})
	if err != nil || reg.Host() != "us-docker.pkg.dev" || reg.(*gar).project != project {
		t.Errorf("defaults from the key: %v, %v", reg, err)
	}
	reg, err = Kind().New(provider.Account{Settings: gcr, Secrets: key(string(f.KeyJSON))})
	if err != nil || reg.Host() != "gcr.io" {
		t.Errorf("gcr default host: %v, %v", reg, err)
	}
}

func TestListing(t *testing.T) {
	f := providerfake.NewGAR(t, project)
	start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var want []string
	for i := range 3 {
		r := fmt.Sprintf("%s/images/svc%d", project, i)
		want = append(want, r)
		f.AddTags(r, 2, start)
	}
	f.AddTags(project+"/other/x", 1, start)
	imgs := f.AddTags(project+"/images/team/api", 5, start)
	want = append(want, project+"/images/team/api")
	f.SetPageLimit(3)
	reg := connect(t, f, nil, f.KeyJSON)
	providertest.Repos(t, reg, want, nil)
	providertest.Tags(t, reg, project+"/images/team/api", providertest.TagsOf(imgs, nil), nil)
	// 11 images of 3 a page: 4 pages, once (Tags used the listing).
	if pages := f.Count("/v1/projects/" + project + "/locations/europe-west1/repositories/images/dockerImages"); pages != 4 {
		t.Errorf("%d dockerImages pages, want 4", pages)
	}

	// GCR: the registry's catalogue and tags/list with its manifest map.
	reg = connect(t, f, gcr, f.KeyJSON)
	providertest.Repos(t, reg, append(want, project+"/other/x"), nil)
	providertest.Tags(t, reg, project+"/images/team/api", providertest.TagsOf(imgs, nil), nil)
}

func TestTokenRenewal(t *testing.T) {
	f := providerfake.NewGAR(t, project)
	f.AddTags(project+"/images/app", 1, time.Now())
	now := time.Now()
	f.SetClock(func() time.Time { return now })
	f.SetTokenTTL(time.Hour)
	reg := connect(t, f, nil, f.KeyJSON)
	reg.now = func() time.Time { return now }
	ctx := context.Background()
	grants := func() int { return f.Count("/token") }
	for range 2 {
		if err := reg.Check(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if grants() != 1 {
		t.Fatalf("%d grants for two checks, want 1", grants())
	}
	now = now.Add(time.Hour)
	if err := reg.Check(ctx); err != nil || grants() != 2 {
		t.Fatalf("after expiry: %v, %d grants", err, grants())
	}
	f.ExpireTokens()
	if err := reg.Check(ctx); err != nil || grants() != 3 {
		t.Fatalf("after revocation: %v, %d grants", err, grants())
	}
}

func TestTokenEndpointUnavailable(t *testing.T) {
	f := providerfake.NewGAR(t, project)
	for _, status := range providertest.Statuses {
		f.Fail(providerfake.Failure{Status: status, Path: "/token", Times: 1})
		err := connect(t, f, nil, f.KeyJSON).Check(context.Background())
		if !errors.Is(err, provider.ErrUnavailable) {
			t.Errorf("token status %d: %v, want ErrUnavailable", status, err)
		}
		providerfake.NoSecret(t, err, "PRIVATE KEY")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"dockerImages":[{"uri":"europe-west1-docker.pkg.dev/p/r/app@sha256:ab","tags":["v1"],"imageSizeBytes":"12","uploadTime":"2026-11-01T10:00:00.123456Z","mediaType":"application/vnd.oci.image.manifest.v1+json"}],"nextPageToken":"x"}`))
	f.Add([]byte(`{"name":"p/app","tags":["v1","v2"],"manifest":{"sha256:ab":{"imageSizeBytes":"10","mediaType":"m","tag":["v1"],"timeUploadedMs":"1700000000000"}},"repositories":["p/app","q/x"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if imgs, _, err := parseDockerImages(b); err == nil {
			for name, tags := range imgs {
				for _, tg := range tags {
					if name == "" || tg.Name == "" || tg.Size < 0 {
						t.Fatalf("%q %+v", name, tg)
					}
				}
			}
		}
		if tags, err := parseGCRTags(b); err == nil {
			for _, tg := range tags {
				if tg.Name == "" || tg.Size < 0 {
					t.Fatalf("%+v", tg)
				}
			}
		}
		parseOAuthError(b)
		if names, err := parseCatalog(b, "p"); err == nil {
			for _, n := range names {
				if !strings.HasPrefix(n, "p/") {
					t.Fatalf("%q", n)
				}
			}
		}
	})
}
