// Package providertest is the conformance test every registry provider's
// tests run against the provider's providerfake fake (Run): good
// credentials pass Check and pull a manifest, refused ones are
// provider.ErrUnauthorized and pull nothing, 429 and 5xx answers and an
// unreachable API are provider.ErrUnavailable, listings follow every
// page, and no error shows a credential. It also holds the helpers the
// providers' own tests share: Connect, NewErrors, Repos, Tags.
package providertest

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/providerfake"
)

// Account is a registry connected to a fake with some credentials.
type Account struct {
	Name     string
	Registry provider.Registry
}

// Setup is a fresh fake and the accounts connected to it.
type Setup struct {
	Fake *providerfake.Server
	// Good accounts pass Check and pull; the first also lists, and is
	// the one the failure modes are tried on.
	Good []Account
	// Bad accounts' credentials are refused: Check is ErrUnauthorized
	// and pulls fail.
	Bad []Account
	// BadPull accounts may use the API, but their pull credentials are
	// wrong: pulls fail.
	BadPull []Account
}

// Provider is a provider under test.
type Provider struct {
	// Start starts a fake and connects the accounts to it; each subtest
	// starts its own.
	Start func(t *testing.T) Setup
	// Repo is a repository the good accounts see; Repos are more that
	// the first good account lists beside it.
	Repo  string
	Repos []string
	// Tag is what the provider reports of a tag the fake lists: the
	// image's ProviderTag less what the vendor's API does not say (nil:
	// all of it).
	Tag func(providerfake.Image) provider.Tag
	// FailPath limits the injected failures to requests under it (the
	// listing API, past a token exchange); empty: the first request.
	FailPath string
	// Secrets are the credentials, good and wrong, no error may show.
	Secrets []string
}

// Statuses are the answers that mean "unavailable, try later".
var Statuses = []int{429, 500, 502, 503}

// start is a listing time: whole seconds, as every vendor's API keeps.
var start = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

// Run runs the conformance subtests.
func Run(t *testing.T, p Provider) {
	ctx := context.Background()
	t.Run("check", func(t *testing.T) {
		s := p.Start(t)
		s.Fake.AddTags(p.Repo, 1, start)
		for _, a := range s.Good {
			if err := a.Registry.Check(ctx); err != nil {
				t.Errorf("%s: Check: %v", a.Name, err)
			}
		}
		for _, a := range s.Bad {
			err := a.Registry.Check(ctx)
			if !errors.Is(err, provider.ErrUnauthorized) {
				t.Errorf("%s: Check = %v, want ErrUnauthorized", a.Name, err)
			}
			providerfake.NoSecret(t, err, p.Secrets...)
		}
	})
	t.Run("unavailable", func(t *testing.T) {
		s := p.Start(t)
		s.Fake.AddTags(p.Repo, 2, start)
		for _, status := range Statuses {
			s.Fake.Fail(providerfake.Failure{Status: status, Path: p.FailPath, Times: 1})
			_, _, err := providerfake.AllTags(ctx, s.Good[0].Registry, p.Repo)
			if !errors.Is(err, provider.ErrUnavailable) {
				t.Errorf("status %d: %v, want ErrUnavailable", status, err)
			}
			providerfake.NoSecret(t, err, p.Secrets...)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		s := p.Start(t)
		s.Fake.Fail(providerfake.Failure{Down: true})
		err := s.Good[0].Registry.Check(ctx)
		if !errors.Is(err, provider.ErrUnavailable) {
			t.Errorf("Check of a closed connection = %v, want ErrUnavailable", err)
		}
		providerfake.NoSecret(t, err, p.Secrets...)
	})
	t.Run("paging", func(t *testing.T) {
		s := p.Start(t)
		s.Fake.SetPageLimit(2)
		imgs := s.Fake.AddTags(p.Repo, 5, start)
		for _, r := range p.Repos {
			s.Fake.AddTags(r, 1, start)
		}
		reg := s.Good[0].Registry
		repos, _, err := providerfake.AllRepos(ctx, reg)
		if err != nil {
			t.Fatal(err)
		}
		want := append([]string{p.Repo}, p.Repos...)
		slices.Sort(want)
		slices.Sort(repos)
		if diff := gocmp.Diff(want, repos); diff != "" {
			t.Errorf("repositories (-want +got):\n%s", diff)
		}
		tags, _, err := providerfake.AllTags(ctx, reg, p.Repo)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(tags, func(a, b provider.Tag) int { return cmp.Compare(a.Name, b.Name) })
		if diff := gocmp.Diff(TagsOf(imgs, p.Tag), tags); diff != "" {
			t.Errorf("tags (-want +got):\n%s", diff)
		}
	})
	t.Run("pull", func(t *testing.T) {
		s := p.Start(t)
		img := s.Fake.Push(t, p.Repo, "v1")
		for _, a := range s.Good {
			if got, err := providerfake.Pull(ctx, a.Registry, s.Fake.Client(), p.Repo, "v1"); err != nil || got != img.Digest {
				t.Errorf("%s: pull = %q, %v; want %s", a.Name, got, err, img.Digest)
			}
		}
		for _, a := range append(s.Bad, s.BadPull...) {
			if _, err := providerfake.Pull(ctx, a.Registry, s.Fake.Client(), p.Repo, "v1"); err == nil {
				t.Errorf("%s: pull succeeded", a.Name)
			}
		}
	})
}

// TagsOf is what a provider reports of imgs: tag of each, or all of it.
func TagsOf(imgs []providerfake.Image, tag func(providerfake.Image) provider.Tag) []provider.Tag {
	out := make([]provider.Tag, len(imgs))
	for i, img := range imgs {
		if tag != nil {
			out[i] = tag(img)
		} else {
			out[i] = img.ProviderTag()
		}
	}
	return out
}

// Connect is kind's registry for acct with settings laid over acct's
// own; New refusing fails t.
func Connect(t *testing.T, kind provider.Kind, acct provider.Account, settings map[string]string) provider.Registry {
	t.Helper()
	s := map[string]string{}
	for k, v := range acct.Settings {
		s[k] = v
	}
	for k, v := range settings {
		s[k] = v
	}
	acct.Settings = s
	reg, err := kind.New(acct)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return reg
}

// NewCase is an account New must refuse.
type NewCase struct {
	Name     string
	Settings map[string]string
	Secrets  map[string]string
	// Want are what the error must say (each starts with the setting's
	// name); Hidden what it must not show besides the secrets.
	Want   []string
	Hidden []string
}

// NewErrors checks that kind's New refuses each case with an error
// saying each of its Want and showing none of its secrets.
func NewErrors(t *testing.T, kind provider.Kind, cases []NewCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			_, err := kind.New(provider.Account{Settings: tt.Settings, Secrets: tt.Secrets})
			for _, w := range tt.Want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("New = %v, want an error with %q", err, w)
				}
			}
			var hidden []string
			for _, v := range tt.Secrets {
				if len(v) >= 4 {
					hidden = append(hidden, v)
				}
			}
			providerfake.NoSecret(t, err, append(hidden, tt.Hidden...)...)
		})
	}
}

// Repos lists reg's repositories and compares them with want, and the
// sizes of the pages with pages unless it is nil.
func Repos(t *testing.T, reg provider.Registry, want []string, pages []int) {
	t.Helper()
	got, gotPages, err := providerfake.AllRepos(context.Background(), reg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("repositories (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff(pages, gotPages); pages != nil && diff != "" {
		t.Errorf("repository pages (-want +got):\n%s", diff)
	}
}

// Tags lists repo's tags and compares them with want, and the sizes of
// the pages with pages unless it is nil.
func Tags(t *testing.T, reg provider.Registry, repo string, want []provider.Tag, pages []int) {
	t.Helper()
	got, gotPages, err := providerfake.AllTags(context.Background(), reg, repo)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("tags of %s (-want +got):\n%s", repo, diff)
	}
	if diff := gocmp.Diff(pages, gotPages); pages != nil && diff != "" {
		t.Errorf("tag pages of %s (-want +got):\n%s", repo, diff)
	}
}
