package providerfake

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/riskmap/riskmap/internal/registries/provider"
)

// Helpers for providers' tests.

// Pull fetches repo:tag's manifest from reg.Host() through go-containerregistry
// with reg's Authenticator and the transport of client, and returns its
// digest.
func Pull(ctx context.Context, reg provider.Registry, client *http.Client, repo, tag string) (string, error) {
	auth, err := reg.Authenticator(ctx)
	if err != nil {
		return "", err
	}
	ref, err := name.ParseReference(reg.Host() + "/" + repo + ":" + tag)
	if err != nil {
		return "", err
	}
	desc, err := remote.Get(ref, remote.WithAuth(auth), remote.WithTransport(client.Transport), remote.WithContext(ctx))
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}

// AllRepos lists reg's repositories, returning them and the page sizes.
func AllRepos(ctx context.Context, reg provider.Registry) (repos []string, pages []int, err error) {
	err = reg.Repositories(ctx, func(p []string) error {
		repos = append(repos, p...)
		pages = append(pages, len(p))
		return nil
	})
	return repos, pages, err
}

// AllTags lists a repository's tags, returning them and the page sizes.
func AllTags(ctx context.Context, reg provider.Registry, repo string) (tags []provider.Tag, pages []int, err error) {
	err = reg.Tags(ctx, repo, func(p []provider.Tag) error {
		tags = append(tags, p...)
		pages = append(pages, len(p))
		return nil
	})
	return tags, pages, err
}

// NoSecret fails t when err's text shows any of secrets.
func NoSecret(t testing.TB, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error shows a credential: %v", err)
		}
	}
}

// ProviderTag is img as a provider.Tag (what a provider whose API tells all of it
// should return).
func (img Image) ProviderTag() provider.Tag {
	return provider.Tag{Name: img.Tag, Digest: img.Digest, Pushed: img.Pushed, Size: img.Size, MediaType: img.MediaType}
}
