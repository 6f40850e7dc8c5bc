package gar

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

const project = "acme-prod-1234"

func connect(t *testing.T, f *providerfake.GAR, settings map[string]string, key []byte) *gar {
	t.Helper()
	s := map[string]string{"location": "europe-west1", "repository": "images", "registry": f.Host(), "api_url": f.URL()}
	for k, v := range settings {
		s[k] = v
	}
	reg, err := Kind().New(provider.Account{Settings: s, Secrets: map[string]string{"key_json": string(key)}, HTTP: f.Client()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return reg.(*gar)
}

func TestNewValidates(t *testing.T) {
	f := providerfake.NewGAR(t, project)
	for _, tt := range []struct {
		name     string
		settings map[string]string
		key      string
		want     []string
	}{
		{name: "no_key", settings: map[string]string{"project": project, "location": "us", "repository": "r"}, want: []string{"key_json: required"}},
		{name: "not_json", key: `{"private_key":"-----BEGIN PRIVATE KEY-----SECRET`, want: []string{"key_json: not a JSON"}},
		{name: "user_key", key: `{"type":"authorized_user","project_id":"acme-prod-1234"}`, want: []string{`key_json: type "authorized_user"`}},
		{name: "ar_without_location", key: string(f.KeyJSON), want: []string{"location: ", "repository: "}},
		{name: "http_token_uri", key: strings.Replace(string(f.KeyJSON), `"token_uri":"https://`, `"token_uri":"http://`, 1), settings: map[string]string{"location": "us", "repository": "r"}, want: []string{"token_uri: want an https URL"}},
		{name: "bad_mode", key: string(f.KeyJSON), settings: map[string]string{"mode": "ecr"}, want: []string{"mode: "}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Kind().New(provider.Account{Settings: tt.settings, Secrets: map[string]string{"key_json": tt.key}})
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("New = %v, want an error with %q", err, w)
				}
			}
			providerfake.NoSecret(t, err, "SECRET")
		})
	}
	reg, err := Kind().New(provider.Account{Settings: map[string]string{"location": "us", "repository": "r"}, Secrets: map[string]string{"key_json": string(f.KeyJSON)}})
	if err != nil || reg.Host() != "us-docker.pkg.dev" || reg.(*gar).project != project {
		t.Errorf("defaults from the key: %v, %v", reg, err)
	}
	reg, err = Kind().New(provider.Account{Settings: map[string]string{"mode": "gcr"}, Secrets: map[string]string{"key_json": string(f.KeyJSON)}})
	if err != nil || reg.Host() != "gcr.io" {
		t.Errorf("gcr default host: %v, %v", reg, err)
	}
}

func TestCheck(t *testing.T) {
	f := providerfake.NewGAR(t, project)
	f.AddTags(project+"/images/app", 1, time.Now())
	ctx := context.Background()
	for _, mode := range []string{"artifact_registry", "gcr"} {
		if err := connect(t, f, map[string]string{"mode": mode}, f.KeyJSON).Check(ctx); err != nil {
			t.Errorf("%s: Check: %v", mode, err)
		}
		other := f.OtherKey(t)
		err := connect(t, f, map[string]string{"mode": mode}, other).Check(ctx)
		if !errors.Is(err, provider.ErrUnauthorized) {
			t.Errorf("%s: Check with another key = %v, want ErrUnauthorized", mode, err)
		}
		providerfake.NoSecret(t, err, "PRIVATE KEY", "0123456789abcdef")
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
	ctx := context.Background()
	reg := connect(t, f, nil, f.KeyJSON)
	repos, _, err := providerfake.AllRepos(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, repos); diff != "" {
		t.Errorf("repositories (-want +got):\n%s", diff)
	}
	var wantTags []provider.Tag
	for _, img := range imgs {
		wantTags = append(wantTags, img.ProviderTag())
	}
	tags, _, err := providerfake.AllTags(ctx, reg, project+"/images/team/api")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantTags, tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	pages := 0
	for _, r := range f.Requests() {
		if strings.HasSuffix(r.Path, "/dockerImages") {
			pages++
		}
	}
	// 11 images of 3 a page: 4 pages, once (Tags used the listing).
	if pages != 4 {
		t.Errorf("%d dockerImages pages, want 4", pages)
	}

	// GCR: the registry's catalogue and tags/list with its manifest map.
	gcr := connect(t, f, map[string]string{"mode": "gcr"}, f.KeyJSON)
	repos, _, err = providerfake.AllRepos(ctx, gcr)
	if err != nil || len(repos) != 5 {
		t.Fatalf("gcr repositories = %v, %v", repos, err)
	}
	tags, _, err = providerfake.AllTags(ctx, gcr, project+"/images/team/api")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantTags, tags); diff != "" {
		t.Errorf("gcr tags (-want +got):\n%s", diff)
	}
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
	grants := func() int {
		n := 0
		for _, r := range f.Requests() {
			if r.Path == "/token" {
				n++
			}
		}
		return n
	}
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

func TestUnavailable(t *testing.T) {
	f := providerfake.NewGAR(t, project)
	f.AddTags(project+"/images/app", 1, time.Now())
	ctx := context.Background()
	for _, status := range []int{429, 500, 503} {
		reg := connect(t, f, nil, f.KeyJSON)
		f.Fail(providerfake.Failure{Status: status, Path: "/v1/", Times: 1})
		if err := reg.Check(ctx); !errors.Is(err, provider.ErrUnavailable) {
			t.Errorf("API status %d: %v, want ErrUnavailable", status, err)
		}
		f.Fail(providerfake.Failure{Status: status, Path: "/token", Times: 1})
		err := connect(t, f, nil, f.KeyJSON).Check(ctx)
		if !errors.Is(err, provider.ErrUnavailable) {
			t.Errorf("token status %d: %v, want ErrUnavailable", status, err)
		}
		providerfake.NoSecret(t, err, "PRIVATE KEY")
	}
}

func TestPull(t *testing.T) {
	f := providerfake.NewGAR(t, project)
	img := f.Push(t, project+"/images/app", "v1")
	ctx := context.Background()
	got, err := providerfake.Pull(ctx, connect(t, f, nil, f.KeyJSON), f.Client(), project+"/images/app", "v1")
	if err != nil || got != img.Digest {
		t.Fatalf("pull = %q, %v; want %s", got, err, img.Digest)
	}
	if _, err := connect(t, f, nil, f.OtherKey(t)).Authenticator(ctx); !errors.Is(err, provider.ErrUnauthorized) {
		t.Errorf("Authenticator with another key = %v, want ErrUnauthorized", err)
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
