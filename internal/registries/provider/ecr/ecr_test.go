package ecr

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/providerfake"
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
	t.Helper()
	s := map[string]string{"region": region, "registry_id": account, "access_key_id": keyID,
		"endpoint": f.URL(), "sts_endpoint": f.URL(), "registry": f.Host()}
	for k, v := range settings {
		s[k] = v
	}
	reg, err := Kind().New(provider.Account{Settings: s, Secrets: map[string]string{"secret_access_key": sec}, HTTP: f.Client()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return reg.(*registry)
}

func TestNewValidates(t *testing.T) {
	for _, tt := range []struct {
		name     string
		settings map[string]string
		secret   string
		want     []string
	}{
		{name: "empty", want: []string{"region: ", "registry_id: ", "access_key_id: required", "secret_access_key: required"}},
		{name: "bad_role", settings: map[string]string{"region": region, "registry_id": account, "auth": "assume_role", "role_arn": "arn:aws:iam::1:user/x"}, want: []string{"role_arn: "}},
		{name: "half_keys", settings: map[string]string{"region": region, "registry_id": account, "auth": "assume_role", "role_arn": role, "access_key_id": keyID}, want: []string{"secret_access_key: give both"}},
		{name: "bad_endpoint", settings: map[string]string{"region": region, "registry_id": account, "access_key_id": keyID, "endpoint": "api.ecr"}, secret: "x", want: []string{"endpoint: "}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Kind().New(provider.Account{Settings: tt.settings, Secrets: map[string]string{"secret_access_key": tt.secret}})
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("New = %v, want an error with %q", err, w)
				}
			}
		})
	}
	reg, err := Kind().New(provider.Account{Settings: map[string]string{"region": region, "registry_id": account, "auth": "assume_role", "role_arn": role}})
	if err != nil || reg.Host() != "123456789012.dkr.ecr.eu-west-1.amazonaws.com" {
		t.Errorf("role from the default chain: %v, %v", reg, err)
	}
}

func TestCheck(t *testing.T) {
	f := newFake(t)
	f.AddRepo("app")
	ctx := context.Background()
	if err := connect(t, f, nil, secret).Check(ctx); err != nil {
		t.Errorf("Check with access keys: %v", err)
	}
	assume := map[string]string{"auth": "assume_role", "role_arn": role}
	if err := connect(t, f, assume, secret).Check(ctx); err != nil {
		t.Errorf("Check assuming a role: %v", err)
	}
	for _, tt := range []struct {
		name     string
		settings map[string]string
		secret   string
	}{
		{"wrong_secret", nil, "WRONGsecretKEYvalue0000000000000000000000"},
		{"unknown_key", map[string]string{"access_key_id": "AKIAUNKNOWNKEY000000"}, secret},
		{"role_refused", map[string]string{"auth": "assume_role", "role_arn": "arn:aws:iam::123456789012:role/other"}, secret},
		{"role_wrong_secret", assume, "WRONGsecretKEYvalue0000000000000000000000"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := connect(t, f, tt.settings, tt.secret).Check(ctx)
			if !errors.Is(err, provider.ErrUnauthorized) {
				t.Errorf("Check = %v, want ErrUnauthorized", err)
			}
			providerfake.NoSecret(t, err, secret, tt.secret)
		})
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
	ctx := context.Background()
	reg := connect(t, f, map[string]string{"auth": "assume_role", "role_arn": role}, secret)
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
	tags, tagPages, err := providerfake.AllTags(ctx, reg, "team/svc2")
	if err != nil {
		t.Fatal(err)
	}
	var wantTags []provider.Tag
	for i, img := range imgs {
		wantTags = append(wantTags, img.ProviderTag())
		if i == 1 {
			wantTags = append(wantTags, same.ProviderTag())
		}
	}
	if diff := cmp.Diff(wantTags, tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{3, 2, 1}, tagPages); diff != "" {
		t.Errorf("tag pages (-want +got):\n%s", diff)
	}
	if _, _, err := providerfake.AllTags(ctx, reg, "missing"); err == nil || errors.Is(err, provider.ErrUnavailable) {
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

func TestUnavailable(t *testing.T) {
	f := newFake(t)
	f.AddTags("app", 2, time.Now())
	reg := connect(t, f, nil, secret)
	ctx := context.Background()
	for _, status := range []int{429, 500, 503} {
		f.Fail(providerfake.Failure{Status: status, Times: 1})
		_, _, err := providerfake.AllTags(ctx, reg, "app")
		if !errors.Is(err, provider.ErrUnavailable) {
			t.Errorf("status %d: %v, want ErrUnavailable", status, err)
		}
		providerfake.NoSecret(t, err, secret)
	}
	f.Fail(providerfake.Failure{Status: 400, Body: `{"__type":"ThrottlingException","message":"Rate exceeded"}`, Times: 1})
	if _, _, err := providerfake.AllRepos(ctx, reg); !errors.Is(err, provider.ErrUnavailable) {
		t.Errorf("throttled: %v, want ErrUnavailable", err)
	}
	f.Fail(providerfake.Failure{Down: true})
	if err := connect(t, f, nil, secret).Check(ctx); !errors.Is(err, provider.ErrUnavailable) {
		t.Errorf("down: %v, want ErrUnavailable", err)
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

func TestPull(t *testing.T) {
	f := newFake(t)
	img := f.Push(t, "team/app", "v1")
	ctx := context.Background()
	for _, settings := range []map[string]string{nil, {"auth": "assume_role", "role_arn": role}} {
		got, err := providerfake.Pull(ctx, connect(t, f, settings, secret), f.Client(), "team/app", "v1")
		if err != nil || got != img.Digest {
			t.Errorf("%v: pull = %q, %v; want %s", settings, got, err, img.Digest)
		}
	}
	if _, err := connect(t, f, nil, "WRONGsecretKEYvalue0000000000000000000000").Authenticator(ctx); !errors.Is(err, provider.ErrUnauthorized) {
		t.Errorf("Authenticator with a wrong secret = %v, want ErrUnauthorized", err)
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
