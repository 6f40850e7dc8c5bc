package quay

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/providerfake"
	"github.com/riskmap/riskmap/internal/registries/provider/providertest"
)

const (
	oauth      = "QuayOAuthAppTokenValue0123456789abcdef"
	robotName  = "acme+scanner"
	robotToken = "ROBOTTOKEN0123456789QWERTY"
)

func connect(t *testing.T, f *providerfake.Quay, settings, secrets map[string]string) provider.Registry {
	return providertest.Connect(t, Kind(), provider.Account{Settings: map[string]string{"url": f.URL(), "namespaces": "acme"},
		Secrets: secrets, HTTP: f.Client()}, settings)
}

var (
	good  = map[string]string{"api_token": oauth}
	robot = map[string]string{"robot_username": robotName}
)

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Provider{
		Start: func(t *testing.T) providertest.Setup {
			f := providerfake.NewQuay(t, oauth, robotName, robotToken)
			return providertest.Setup{Fake: f.Server,
				Good: []providertest.Account{{Name: "oauth_and_robot", Registry: connect(t, f, robot, map[string]string{"api_token": oauth, "robot_token": robotToken})}},
				Bad:  []providertest.Account{{Name: "wrong_oauth_token", Registry: connect(t, f, nil, map[string]string{"api_token": "WrongOAuthTokenValue"})}},
				BadPull: []providertest.Account{
					{Name: "wrong_robot_token", Registry: connect(t, f, robot, map[string]string{"api_token": oauth, "robot_token": "WRONGROBOTTOKEN"})},
				},
			}
		},
		Repo:    "acme/app",
		Repos:   []string{"acme/app1", "acme/svc"},
		Tag:     apiTag,
		Secrets: []string{oauth, robotToken, "WrongOAuthTokenValue", "WRONGROBOTTOKEN"},
	})
}

// apiTag is a tag as Quay's API tells it: without a media type.
func apiTag(img providerfake.Image) provider.Tag {
	t := img.ProviderTag()
	t.MediaType = ""
	return t
}

func TestNewValidates(t *testing.T) {
	providertest.NewErrors(t, Kind(), []providertest.NewCase{
		{Name: "no_namespace", Want: []string{"namespaces: required"}},
		{Name: "bad_namespace", Settings: map[string]string{"namespaces": "Acme Corp"}, Want: []string{`namespaces: "Acme Corp"`}},
		{Name: "robot_without_token", Settings: map[string]string{"namespaces": "a", "robot_username": "a+b"}, Want: []string{"robot_token: required"}},
		{Name: "robot_name", Settings: map[string]string{"namespaces": "a", "robot_username": "b"}, Secrets: map[string]string{"robot_token": "x"}, Want: []string{"robot_username: "}},
		{Name: "bad_url", Settings: map[string]string{"namespaces": "a", "url": "quay.io"}, Want: []string{"url: "}},
	})
	reg, err := Kind().New(provider.Account{Settings: map[string]string{"namespaces": "coreos"}})
	if err != nil || reg.Host() != "quay.io" {
		t.Errorf("default URL: %v, %v", reg, err)
	}
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
	reg := connect(t, f, nil, good)
	providertest.Repos(t, reg, want, []int{2, 2, 1})
	wantTags := providertest.TagsOf(append(imgs, list), apiTag)
	wantTags[len(wantTags)-1].Size = 0 // a manifest list has no size
	slices.Reverse(wantTags)           // newest first, as Quay lists them
	providertest.Tags(t, reg, "acme/app0", wantTags, []int{2, 2, 2})
	// Anonymous: the public repository only.
	providertest.Repos(t, connect(t, f, nil, nil), []string{"acme/app3"}, nil)
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
