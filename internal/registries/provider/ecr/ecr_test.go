package ecr

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/providerfake"
	"github.com/riskmap/riskmap/internal/registries/provider/providertest"
)

const (
	region  = "eu-west-1"
	account = "123456789012"
	keyID   = "AKIAIOSFODNN7EXAMPLE"
	secret  = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	role    = "arn:aws:iam::123456789012:role/riskmap-ecr-read"
)

func newFake(t *testing.T) *providerfake.ECR {
	return providerfake.NewECR(t, region, account, keyID, secret, role)
}

func connect(t *testing.T, f *providerfake.ECR, settings map[string]string, sec string) *registry {
	s := map[string]string{"region": region, "registry_id": account, "access_key_id": keyID,
		"endpoint": f.URL(), "sts_endpoint": f.URL(), "registry": f.Host()}
	acct := provider.Account{Settings: s, Secrets: map[string]string{"secret_access_key": sec}, HTTP: f.Client()}
	return providertest.Connect(t, Kind(), acct, settings).(*registry)
}

const wrongSecret = "WRONGsecretKEYvalue0000000000000000000000"

var assume = map[string]string{"auth": "assume_role", "role_arn": role}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Provider{
		Start: func(t *testing.T) providertest.Setup {
			f := newFake(t)
			return providertest.Setup{Fake: f.Server,
				Good: []providertest.Account{
					{Name: "access_keys", Registry: connect(t, f, nil, secret)},
					{Name: "assume_role", Registry: connect(t, f, assume, secret)},
				},
				Bad: []providertest.Account{
					{Name: "wrong_secret", Registry: connect(t, f, nil, wrongSecret)},
					{Name: "unknown_key", Registry: connect(t, f, map[string]string{"access_key_id": "AKIAUNKNOWNKEY000000"}, secret)},
					{Name: "role_refused", Registry: connect(t, f, map[string]string{"auth": "assume_role", "role_arn": "arn:aws:iam::123456789012:role/other"}, secret)},
					{Name: "role_wrong_secret", Registry: connect(t, f, assume, wrongSecret)},
				},
			}
		},
		Repo:    "team/app",
		Repos:   []string{"team/svc0", "team/svc1"},
		Secrets: []string{secret, wrongSecret},
	})
}

func TestNewValidates(t *testing.T) {
	providertest.NewErrors(t, Kind(), []providertest.NewCase{
		{Name: "empty", Want: []string{"region: ", "registry_id: ", "access_key_id: required", "secret_access_key: required"}},
		{Name: "bad_role", Settings: map[string]string{"region": region, "registry_id": account, "auth": "assume_role", "role_arn": "arn:aws:iam::1:user/x"}, Want: []string{"role_arn: "}},
		{Name: "half_keys", Settings: map[string]string{"region": region, "registry_id": account, "auth": "assume_role", "role_arn": role, "access_key_id": keyID}, Want: []string{"secret_access_key: give both"}},
		{Name: "bad_endpoint", Settings: map[string]string{"region": region, "registry_id": account, "access_key_id": keyID, "endpoint": "api.ecr"}, Secrets: map[string]string{"secret_access_key": "x"}, Want: []string{"endpoint: "}},
	})
	reg, err := Kind().New(provider.Account{Settings: map[string]string{"region": region, "registry_id": account, "auth": "assume_role", "role_arn": role}})
	if err != nil || reg.Host() != "123456789012.dkr.ecr.eu-west-1.amazonaws.com" {
		t.Errorf("role from the default chain: %v, %v", reg, err)
	}
}

func TestListing(t *testing.T) {
	f := newFake(t)
	f.SetPageLimit(2)
	start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var want []string
	for i := range 5 {
		r := fmt.Sprintf("team/svc%d", i)
		f.AddRepo(r)
		want = append(want, r)
	}
	imgs := f.AddTags("team/svc2", 5, start)
	same := imgs[1]
	same.Tag = "stable"
	f.Add(same)
	reg := connect(t, f, assume, secret)
	providertest.Repos(t, reg, want, []int{2, 2, 1})
	wantImgs := slices.Insert(imgs, 2, same) // two tags of one image, together
	providertest.Tags(t, reg, "team/svc2", providertest.TagsOf(wantImgs, nil), []int{3, 2, 1})
	if _, _, err := providerfake.AllTags(context.Background(), reg, "missing"); err == nil || errors.Is(err, provider.ErrUnavailable) {
		t.Errorf("unknown repository: %v", err)
	}
	// Every API call was signed with SigV4 (the fake verified each
	// signature); the role was assumed once.
	for _, r := range f.Requests() {
		if r.Path == "/" && r.Auth != "AWS4-HMAC-SHA256" {
			t.Errorf("request with %q authorization", r.Auth)
		}
	}
	if f.Issued("session") != 1 {
		t.Errorf("%d sessions, want 1", f.Issued("session"))
	}
}

func TestThrottled(t *testing.T) {
	f := newFake(t)
	f.AddTags("app", 2, time.Now())
	f.Fail(providerfake.Failure{Status: 400, Body: `{"__type":"ThrottlingException","message":"Rate exceeded"}`, Times: 1})
	if _, _, err := providerfake.AllRepos(context.Background(), connect(t, f, nil, secret)); !errors.Is(err, provider.ErrUnavailable) {
		t.Errorf("throttled: %v, want ErrUnavailable", err)
	}
}

func TestTokenRenewal(t *testing.T) {
	f := newFake(t)
	f.Push(t, "app", "v1")
	now := time.Now()
	f.SetClock(func() time.Time { return now })
	f.SetTokenTTL(12 * time.Hour)
	reg := connect(t, f, nil, secret)
	reg.now = func() time.Time { return now }
	ctx := context.Background()
	calls := func() int { return f.Issued("ecr") }
	for range 2 {
		if _, err := reg.Authenticator(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if calls() != 1 {
		t.Fatalf("%d authorization tokens, want 1", calls())
	}
	// Within five minutes of its expiry, a new token is asked for.
	now = now.Add(12*time.Hour - 4*time.Minute)
	if _, err := reg.Authenticator(ctx); err != nil || calls() != 2 {
		t.Fatalf("near expiry: %v, %d tokens, want a second", err, calls())
	}
	if got, err := providerfake.Pull(ctx, reg, f.Client(), "app", "v1"); err != nil || got == "" {
		t.Errorf("pull with the renewed token: %q, %v", got, err)
	}
}

func TestImageTags(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	got := imageTags([]types.ImageDetail{
		{ImageDigest: aws.String("sha256:a"), ImageTags: []string{"v1", "", "latest"}, ImageSizeInBytes: aws.Int64(10), ImagePushedAt: &at, ImageManifestMediaType: aws.String("m")},
		{ImageDigest: aws.String("sha256:b"), ImageSizeInBytes: aws.Int64(-1)},
	})
	want := []provider.Tag{{Name: "v1", Digest: "sha256:a", Size: 10, Pushed: at, MediaType: "m"}, {Name: "latest", Digest: "sha256:a", Size: 10, Pushed: at, MediaType: "m"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("imageTags (-want +got):\n%s", diff)
	}
}

func FuzzParseAuthorizationToken(f *testing.F) {
	f.Add(base64.StdEncoding.EncodeToString([]byte("AWS:eyJwYXlsb2FkIjoi")))
	f.Add("QVdTOg==")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, tok string) {
		pw, err := parseAuthorizationToken(tok)
		if err == nil && pw == "" {
			t.Fatalf("parseAuthorizationToken(%q) = %q", tok, pw)
		}
	})
}
