package registries_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/riskmap/riskmap/internal/registries"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

var t0 = time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)

// TestSyncAuthModes syncs a real registry with htpasswd and with token
// authentication, on both database back ends: repositories, tags, their
// digests as the registry answers them, creation times as push times,
// platforms and sizes, and a multi-arch index resolved per platform
// (its attestation manifest left out).
func TestSyncAuthModes(t *testing.T) {
	for _, b := range testenv.Backends {
		for _, mode := range []testenv.RegistryAuth{testenv.RegistryHtpasswd, testenv.RegistryToken} {
			t.Run(b.Name+"_"+string(mode), func(t *testing.T) {
				reg := testenv.Registry(t, mode)
				app1 := pushImage(t, reg, "team/app", "1.0", randomImage(t, t0))
				app2 := pushImage(t, reg, "team/app", "2.0", randomImage(t, t0.Add(time.Hour)))
				pushImage(t, reg, "team/app", "latest", randomImage(t, t0.Add(time.Hour)))
				idx, arch := pushIndex(t, reg, "base/multi", "v1", t0)
				e := newEnv(t, reg, envOpts{backend: b})
				a := e.account(reg, registries.RegistryAccountInput{})
				if a.Sync.Last == nil || a.Sync.Last.Status != registries.SyncComplete {
					t.Fatalf("first sync: %+v", a.Sync.Last)
				}
				if a.Host != reg.Host || a.Repositories != 2 || a.Tags != 4 {
					t.Errorf("account host %s, %d repositories, %d tags; want %s, 2, 4", a.Host, a.Repositories, a.Tags, reg.Host)
				}
				tags := e.tags(a.ID, false)
				got := map[string]string{}
				for k, tg := range tags {
					got[k] = tg.Digest
				}
				// The latest tag's digest, as the registry answers.
				ref, _ := name.ParseReference(reg.Host + "/team/app:latest")
				d, err := remote.Head(ref, reg.Remote(context.Background())...)
				if err != nil {
					t.Fatal(err)
				}
				want := map[string]string{"team/app:1.0": app1, "team/app:2.0": app2, "team/app:latest": d.Digest.String(), "base/multi:v1": idx}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("tag digests (-want +got):\n%s", diff)
				}
				one := tags["team/app:1.0"]
				if one.PushedAt == nil || !one.PushedAt.Equal(t0) || one.Size <= 0 || !slices.Equal(one.Platforms, []string{"linux/amd64"}) ||
					len(one.Images) != 1 || one.Images[0].Digest != app1 || !one.Images[0].Scannable || one.Reference != reg.Host+"/team/app:1.0" {
					t.Errorf("team/app:1.0: %+v", one)
				}
				multi := tags["base/multi:v1"]
				if !slices.Equal(multi.Platforms, []string{"linux/amd64", "linux/arm64"}) || len(multi.Images) != 2 {
					t.Fatalf("index tag: platforms %v, %d images; want linux/amd64 and linux/arm64", multi.Platforms, len(multi.Images))
				}
				for _, im := range multi.Images {
					if im.Digest != arch[strings.TrimPrefix(im.Platform, "linux/")] || im.ConfigDigest == "" {
						t.Errorf("index image %+v; want the digest of its platform %v", im, arch)
					}
				}
				// The history records the attempt.
				h, err := e.reg.History(context.Background(), a.ID, 0)
				if err != nil || len(h) != 1 || h[0].Tags != 4 || h[0].NewTags != 4 || h[0].Repositories != 2 || h[0].NewImages != 5 {
					t.Errorf("history %+v, %v; want one sync of 2 repositories, 4 new tags, 5 new images", h, err)
				}
				// A second sync finds nothing new; asked for, it is audited.
				a = e.sync(a.ID)
				if audit, _, err := e.st.FindAudit(context.Background(), store.AuditFilter{ActionPrefix: store.AuditRegistrySync}, store.Page{Limit: 10}); err != nil ||
					len(audit) != 1 || audit[0].Target != "registry account "+a.ID+" ("+a.Name+")" {
					t.Errorf("audit of the sync request: %+v, %v", audit, err)
				}
				if l := a.Sync.Last; l.Status != registries.SyncComplete || l.NewTags != 0 || l.ChangedTags != 0 || l.GoneTags != 0 || l.NewImages != 0 {
					t.Errorf("second sync: %+v", l)
				}
			})
		}
	}
}

// TestSyncFiltersAndGoneTags: repository globs, a tag regular
// expression and the latest N tags by push time select the catalogue;
// tags deleted from the registry, left out by a changed filter, moved to
// another image, and a repository removed, are marked as such.
func TestSyncFiltersAndGoneTags(t *testing.T) {
	reg := testenv.Registry(t, testenv.RegistryHtpasswd)
	for i := range 5 {
		pushImage(t, reg, "team/web", fmt.Sprintf("v%d", i), randomImage(t, t0.Add(time.Duration(i)*time.Hour)))
	}
	pushImage(t, reg, "team/web", "dev-build", randomImage(t, t0.Add(10*time.Hour)))
	pushImage(t, reg, "team/tmp-scratch", "v1", randomImage(t, t0))
	pushImage(t, reg, "other/db", "v1", randomImage(t, t0))
	pushImage(t, reg, "old/gone", "v1", randomImage(t, t0))
	e := newEnv(t, reg, envOpts{})
	a := e.account(reg, registries.RegistryAccountInput{Filters: &registries.RegistryFilters{Repositories: []string{"team/*", "old/**", "!team/tmp-*"},
		TagRegex: `v\d+`, LatestTags: 3}})
	names := func(m map[string]registries.RegistryTag) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	if diff := cmp.Diff([]string{"old/gone:v1", "team/web:v2", "team/web:v3", "team/web:v4"}, names(e.tags(a.ID, false))); diff != "" {
		t.Errorf("filtered catalogue (-want +got):\n%s", diff)
	}
	// The registry changes: a tag deleted, a tag moved to another image,
	// a repository removed from storage; the filter is widened to five
	// tags of any name.
	ref, _ := name.ParseReference(reg.Host + "/team/web:v3")
	desc, err := remote.Head(ref, reg.Remote(context.Background())...)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(ref.Context().Digest(desc.Digest.String()), reg.Remote(context.Background())...); err != nil {
		t.Fatalf("delete team/web:v3: %v", err)
	}
	moved := pushImage(t, reg, "team/web", "v4", randomImage(t, t0.Add(20*time.Hour)))
	if err := os.RemoveAll(filepath.Join(reg.Dir, "docker/registry/v2/repositories/old/gone")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Update(context.Background(), a.ID, registries.RegistryAccountInput{Filters: &registries.RegistryFilters{Repositories: []string{"team/*", "old/**", "!team/tmp-*"},
		TagRegex: `v[0-2]`}}); err != nil {
		t.Fatal(err)
	}
	a = e.sync(a.ID)
	all := e.tags(a.ID, true)
	want := map[string]string{
		"team/web:v0": "", "team/web:v1": "", "team/web:v2": "",
		"team/web:v3": "removed from the registry",
		"team/web:v4": "left out by the account's filters",
		"old/gone:v1": "repository removed from the registry",
	}
	got := map[string]string{}
	for k, tg := range all {
		got[k] = tg.GoneReason
		if (tg.GoneAt != nil) != (tg.GoneReason != "") {
			t.Errorf("%s: gone at %v, reason %q", k, tg.GoneAt, tg.GoneReason)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tags and why they are gone (-want +got):\n%s", diff)
	}
	if l := a.Sync.Last; l.NewTags != 2 || l.GoneTags != 3 {
		t.Errorf("second sync: %d new, %d gone; want 2 new (v0, v1), 3 gone", l.NewTags, l.GoneTags)
	}
	// v4 moved: the next sync with it selected again counts it changed.
	if _, err := e.reg.Update(context.Background(), a.ID, registries.RegistryAccountInput{Filters: &registries.RegistryFilters{Repositories: []string{"team/web"}}}); err != nil {
		t.Fatal(err)
	}
	a = e.sync(a.ID)
	v4 := e.tags(a.ID, false)["team/web:v4"]
	if v4.Digest != moved || v4.GoneAt != nil || a.Sync.Last.ChangedTags != 1 {
		t.Errorf("team/web:v4 after its move: digest %s (want %s), gone %v, %d changed (want 1)", v4.Digest, moved, v4.GoneAt, a.Sync.Last.ChangedTags)
	}
	repos, _, err := e.reg.Repositories(context.Background(), registries.RepositoryFilter{AccountID: a.ID, IncludeGone: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range repos {
		if (r.GoneAt == nil) != (r.Name == "team/web") {
			t.Errorf("repository %s gone %v", r.Name, r.GoneAt)
		}
	}
}
