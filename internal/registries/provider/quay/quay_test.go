package quay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/providerfake"
)

const (
	oauth      = "QuayOAuthAppTokenValue0123456789abcdef"
	robotName  = "acme+scanner"
	robotToken = "ROBOTTOKEN0123456789QWERTY"
)

func connect(t *testing.T, f *providerfake.Quay, settings, secrets map[string]string) provider.Registry {
	t.Helper()
	s := map[string]string{"url": f.URL(), "namespaces": "acme"}
	for k, v := range settings {
		s[k] = v
	}
	reg, err := Kind().New(provider.Account{Settings: s, Secrets: secrets, HTTP: f.Client()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return reg
}

var good = map[string]string{"api_token": oauth}

func TestNewValidates(t *testing.T) {
	for _, tt := range []struct {
		name     string
		settings map[string]string
		secrets  map[string]string
		want     string
	}{
		{name: "no_namespace", want: "namespaces: required"},
		{name: "bad_namespace", settings: map[string]string{"namespaces": "Acme Corp"}, want: `namespaces: "Acme Corp"`},
		{name: "robot_without_token", settings: map[string]string{"namespaces": "a", "robot_username": "a+b"}, want: "robot_token: required"},
		{name: "robot_name", settings: map[string]string{"namespaces": "a", "robot_username": "b"}, secrets: map[string]string{"robot_token": "x"}, want: "robot_username: "},
		{name: "bad_url", settings: map[string]string{"namespaces": "a", "url": "quay.io"}, want: "url: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Kind().New(provider.Account{Settings: tt.settings, Secrets: tt.secrets})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error with %q", err, tt.want)
			}
		})
	}
	reg, err := Kind().New(provider.Account{Settings: map[string]string{"namespaces": "coreos"}})
	if err != nil || reg.Host() != "quay.io" {
		t.Errorf("default URL: %v, %v", reg, err)
	}
}

func TestCheck(t *testing.T) {
	f := providerfake.NewQuay(t, oauth, robotName, robotToken)
	ctx := context.Background()
	if err := connect(t, f, map[string]string{"robot_username": robotName}, map[string]string{"api_token": oauth, "robot_token": robotToken}).Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	err := connect(t, f, nil, map[string]string{"api_token": "WrongOAuthTokenValue"}).Check(ctx)
	if !errors.Is(err, provider.ErrUnauthorized) {
		t.Errorf("Check with a bad token = %v, want ErrUnauthorized", err)
	}
	providerfake.NoSecret(t, err, "WrongOAuthTokenValue", oauth)
}

func TestListing(t *testing.T) {
	f := providerfake.NewQuay(t, oauth, robotName, robotToken)
	f.SetPageLimit(2)
	start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var want []string
	for i := range 5 {
		repo := fmt.Sprintf("acme/app%d", i)
		f.AddRepo(repo)
		want = append(want, repo)
	}
	f.AddRepo("other/x")
	f.SetPublic("acme/app3")
	imgs := f.AddTags("acme/app0", 5, start)
	list := imgs[2]
	list.Tag, list.MediaType = "multi", "application/vnd.oci.image.index.v1+json"
	f.Add(list)
	ctx := context.Background()
	reg := connect(t, f, nil, good)
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
	tags, tagPages, err := providerfake.AllTags(ctx, reg, "acme/app0")
	if err != nil {
		t.Fatal(err)
	}
	var wantTags []provider.Tag
	for _, img := range append(imgs, list) {
		wantTags = append(wantTags, img.ProviderTag())
	}
	// Quay gives no media type; a manifest list has no size.
	for i := range wantTags {
		wantTags[i].MediaType = ""
	}
	wantTags[len(wantTags)-1].Size = 0
	slices.Reverse(wantTags) // newest first, as Quay lists them
	if diff := cmp.Diff(wantTags, tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{2, 2, 2}, tagPages); diff != "" {
		t.Errorf("tag pages (-want +got):\n%s", diff)
	}
	anon, _, err := providerfake.AllRepos(ctx, connect(t, f, nil, nil))
	if err != nil || !slices.Equal(anon, []string{"acme/app3"}) {
		t.Errorf("anonymous: %v, %v; want the public repository", anon, err)
	}
}

func TestUnavailable(t *testing.T) {
	f := providerfake.NewQuay(t, oauth, robotName, robotToken)
	f.AddTags("acme/app", 2, time.Now())
	reg := connect(t, f, nil, good)
	ctx := context.Background()
	for _, status := range []int{429, 500, 503} {
		f.Fail(providerfake.Failure{Status: status, Times: 1})
		_, _, err := providerfake.AllTags(ctx, reg, "acme/app")
		if !errors.Is(err, provider.ErrUnavailable) {
			t.Errorf("status %d: %v, want ErrUnavailable", status, err)
		}
		providerfake.NoSecret(t, err, oauth)
	}
}

func TestPull(t *testing.T) {
	f := providerfake.NewQuay(t, oauth, robotName, robotToken)
	img := f.Push(t, "acme/app", "v1")
	ctx := context.Background()
	got, err := providerfake.Pull(ctx, connect(t, f, map[string]string{"robot_username": robotName}, map[string]string{"api_token": oauth, "robot_token": robotToken}), f.Client(), "acme/app", "v1")
	if err != nil || got != img.Digest {
		t.Fatalf("pull = %q, %v; want %s", got, err, img.Digest)
	}
	bad := connect(t, f, map[string]string{"robot_username": robotName}, map[string]string{"robot_token": "WRONGROBOTTOKEN"})
	if _, err := providerfake.Pull(ctx, bad, f.Client(), "acme/app", "v1"); err == nil {
		t.Error("pull with a bad robot token succeeded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"repositories":[{"namespace":"a","name":"b"}],"next_page":"xyz"}`))
	f.Add([]byte(`{"tags":[{"name":"v1","start_ts":1717680780,"manifest_digest":"sha256:57","size":2275314,"last_modified":"Thu, 06 Jun 2024 13:33:00 -0000"},{"name":"l","size":null,"start_ts":-5}],"page":1,"has_additional":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if names, _, err := parseRepos(b); err == nil {
			for _, n := range names {
				if !strings.Contains(n, "/") {
					t.Fatalf("name %q", n)
				}
			}
		}
		if tags, _, err := parseTags(b); err == nil {
			for _, tg := range tags {
				if tg.Name == "" || tg.Size < 0 {
					t.Fatalf("tag %+v", tg)
				}
			}
		}
	})
}
