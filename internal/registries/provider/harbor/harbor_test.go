package harbor

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
	robot  = "robot$ci+scanner"
	secret = "Hx9secretROBOTvalue42"
)

func connect(t *testing.T, f *providerfake.Harbor, settings map[string]string, sec string) provider.Registry {
	t.Helper()
	s := map[string]string{"url": f.URL(), "username": robot}
	for k, v := range settings {
		s[k] = v
	}
	reg, err := Kind().New(provider.Account{Settings: s, Secrets: map[string]string{"secret": sec}, HTTP: f.Client()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return reg
}

func TestNewValidates(t *testing.T) {
	for _, tt := range []struct {
		name     string
		settings map[string]string
		secrets  map[string]string
		want     []string
	}{
		{name: "empty", want: []string{"url: ", "username: required", "secret: required"}},
		{name: "bad_url", settings: map[string]string{"url": "ftp://x", "username": robot}, secrets: map[string]string{"secret": "s"}, want: []string{"url: "}},
		{name: "bad_project", settings: map[string]string{"url": "https://h", "username": robot, "projects": "ok,Bad Name"}, secrets: map[string]string{"secret": "s"}, want: []string{`projects: "Bad Name"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Kind().New(provider.Account{Settings: tt.settings, Secrets: tt.secrets})
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("New = %v, want an error with %q", err, w)
				}
			}
		})
	}
}

func TestCheck(t *testing.T) {
	f := providerfake.NewHarbor(t, robot, secret)
	f.AddRepo("library/app")
	ctx := context.Background()
	if err := connect(t, f, nil, secret).Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	if err := connect(t, f, map[string]string{"projects": "library"}, secret).Check(ctx); err != nil {
		t.Errorf("Check of a project: %v", err)
	}
	err := connect(t, f, nil, "wrong-secret-value").Check(ctx)
	if !errors.Is(err, provider.ErrUnauthorized) {
		t.Errorf("Check with a bad secret = %v, want ErrUnauthorized", err)
	}
	providerfake.NoSecret(t, err, "wrong-secret-value", secret)
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
	ctx := context.Background()
	reg := connect(t, f, nil, secret)
	repos, pages, err := providerfake.AllRepos(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, repos); diff != "" {
		t.Errorf("repositories (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{2, 1, 2, 2, 2, 1}, pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	tags, tagPages, err := providerfake.AllTags(ctx, reg, "beta/team/nested/app")
	if err != nil {
		t.Fatal(err)
	}
	var wantTags []provider.Tag
	for _, img := range append(imgs, same) {
		wantTags = append(wantTags, img.ProviderTag())
	}
	if diff := cmp.Diff(wantTags, tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{2, 2, 2}, tagPages); diff != "" {
		t.Errorf("tag pages (-want +got):\n%s", diff)
	}
	// Only the configured projects.
	repos, _, err = providerfake.AllRepos(ctx, connect(t, f, map[string]string{"projects": "gamma"}, secret))
	if err != nil || len(repos) != 3 || repos[0] != "gamma/svc0" {
		t.Errorf("projects=gamma: %v, %v", repos, err)
	}
}

func TestUnavailable(t *testing.T) {
	f := providerfake.NewHarbor(t, robot, secret)
	f.AddTags("library/app", 2, time.Now())
	reg := connect(t, f, nil, secret)
	ctx := context.Background()
	for _, status := range []int{429, 500, 502, 503} {
		f.Fail(providerfake.Failure{Status: status, Times: 1})
		_, _, err := providerfake.AllTags(ctx, reg, "library/app")
		if !errors.Is(err, provider.ErrUnavailable) {
			t.Errorf("status %d: %v, want ErrUnavailable", status, err)
		}
		providerfake.NoSecret(t, err, secret)
	}
	f.Fail(providerfake.Failure{Down: true})
	if _, _, err := providerfake.AllRepos(ctx, reg); !errors.Is(err, provider.ErrUnavailable) {
		t.Errorf("down: %v, want ErrUnavailable", err)
	}
}

func TestPull(t *testing.T) {
	f := providerfake.NewHarbor(t, robot, secret)
	img := f.Push(t, "library/app", "v1")
	ctx := context.Background()
	got, err := providerfake.Pull(ctx, connect(t, f, nil, secret), f.Client(), "library/app", "v1")
	if err != nil || got != img.Digest {
		t.Fatalf("pull = %q, %v; want %s", got, err, img.Digest)
	}
	if _, err := providerfake.Pull(ctx, connect(t, f, nil, "wrong-secret-value"), f.Client(), "library/app", "v1"); err == nil {
		t.Error("pull with a bad secret succeeded")
	}
	// The tags the API lists are the registry's.
	tags, _, err := providerfake.AllTags(ctx, connect(t, f, nil, secret), "library/app")
	if err != nil || len(tags) != 1 || tags[0].Digest != img.Digest {
		t.Errorf("tags = %+v, %v", tags, err)
	}
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
