package acr

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
	tenant    = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	clientID  = "0f3c2d1e-aaaa-4bbb-8ccc-123456789abc"
	secret    = "Q~8secretCLIENTvalue.xyz"
	adminUser = "myregistry"
	adminPass = "ADMINpassSECRET+value="
)

func newFake(t *testing.T) *providerfake.ACR {
	return providerfake.NewACR(t, tenant, clientID, secret, adminUser, adminPass)
}

func connect(t *testing.T, f *providerfake.ACR, settings, secrets map[string]string) *acr {
	t.Helper()
	s := map[string]string{"registry": f.Host(), "authority": f.URL(), "tenant_id": tenant, "client_id": clientID}
	for k, v := range settings {
		s[k] = v
	}
	reg, err := Kind().New(provider.Account{Settings: s, Secrets: secrets, HTTP: f.Client()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return reg.(*acr)
}

var sp = map[string]string{"client_secret": secret}

func TestNewValidates(t *testing.T) {
	for _, tt := range []struct {
		name     string
		settings map[string]string
		secrets  map[string]string
		want     []string
	}{
		{name: "empty", want: []string{"registry: required", "tenant_id: required", "client_id: required", "client_secret: required"}},
		{name: "admin", settings: map[string]string{"registry": "r.azurecr.io", "auth": "admin_user"}, want: []string{"username: required", "password: required"}},
		{name: "bad_client_id", settings: map[string]string{"registry": "r.azurecr.io", "tenant_id": tenant, "client_id": "not-a-guid"}, secrets: sp, want: []string{"client_id: "}},
		{name: "http_authority", settings: map[string]string{"registry": "r.azurecr.io", "tenant_id": tenant, "client_id": clientID, "authority": "http://login.example"}, secrets: sp, want: []string{"authority: want https"}},
		{name: "bad_registry", settings: map[string]string{"registry": "r.azurecr.io/x", "tenant_id": tenant, "client_id": clientID}, secrets: sp, want: []string{"registry: "}},
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
	f := newFake(t)
	f.AddRepo("app")
	ctx := context.Background()
	if err := connect(t, f, nil, sp).Check(ctx); err != nil {
		t.Errorf("Check (service principal): %v", err)
	}
	if err := connect(t, f, map[string]string{"auth": "admin_user", "username": adminUser}, map[string]string{"password": adminPass}).Check(ctx); err != nil {
		t.Errorf("Check (admin user): %v", err)
	}
	for _, tt := range []struct {
		name     string
		settings map[string]string
		secrets  map[string]string
	}{
		{"wrong_secret", nil, map[string]string{"client_secret": "Q~WRONGsecretVALUE"}},
		{"unknown_client", map[string]string{"client_id": "11111111-2222-3333-4444-555555555555"}, sp},
		{"unknown_tenant", map[string]string{"tenant_id": "contoso.onmicrosoft.com"}, sp},
		{"wrong_admin_password", map[string]string{"auth": "admin_user", "username": adminUser}, map[string]string{"password": "WRONGadminPASSWORD"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := connect(t, f, tt.settings, tt.secrets).Check(ctx)
			if !errors.Is(err, provider.ErrUnauthorized) {
				t.Errorf("Check = %v, want ErrUnauthorized", err)
			}
			providerfake.NoSecret(t, err, secret, adminPass, "Q~WRONGsecretVALUE", "WRONGadminPASSWORD")
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
	imgs := f.AddTags("team/svc1", 5, start)
	ctx := context.Background()
	reg := connect(t, f, nil, sp)
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
	tags, tagPages, err := providerfake.AllTags(ctx, reg, "team/svc1")
	if err != nil {
		t.Fatal(err)
	}
	var wantTags []provider.Tag
	for _, img := range imgs {
		wantTags = append(wantTags, provider.Tag{Name: img.Tag, Digest: img.Digest, Pushed: img.Pushed})
	}
	if diff := cmp.Diff(wantTags, tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{2, 2, 1}, tagPages); diff != "" {
		t.Errorf("tag pages (-want +got):\n%s", diff)
	}
	// One Entra ID sign-in and one exchange served all of it.
	if n := countPaths(f, "/oauth2/exchange"); n != 1 {
		t.Errorf("%d exchanges, want 1", n)
	}
}

func countPaths(f *providerfake.ACR, suffix string) int {
	n := 0
	for _, r := range f.Requests() {
		if strings.HasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}

func TestTokenRenewal(t *testing.T) {
	f := newFake(t)
	f.AddTags("app", 1, time.Now())
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	f.SetClock(func() time.Time { return now })
	f.SetTokenTTL(10 * time.Minute)
	reg := connect(t, f, nil, sp)
	reg.now = func() time.Time { return now }
	ctx := context.Background()
	if _, _, err := providerfake.AllRepos(ctx, reg); err != nil {
		t.Fatal(err)
	}
	// Past the tokens' lifetime, they are renewed before use.
	now = now.Add(10 * time.Minute)
	if _, _, err := providerfake.AllRepos(ctx, reg); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if n := countPaths(f, "/oauth2/exchange"); n != 2 {
		t.Errorf("%d exchanges, want 2 (renewed at expiry)", n)
	}
	// Revoked early: the 401 leads to a new sign-in.
	f.ExpireTokens()
	if _, _, err := providerfake.AllTags(ctx, reg, "app"); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
	if n := countPaths(f, "/oauth2/v2.0/token"); n != 3 {
		t.Errorf("%d Entra ID sign-ins, want 3", n)
	}
}

func TestUnavailable(t *testing.T) {
	f := newFake(t)
	f.AddTags("app", 2, time.Now())
	reg := connect(t, f, nil, sp)
	ctx := context.Background()
	for _, status := range []int{429, 500, 503} {
		f.Fail(providerfake.Failure{Status: status, Path: "/acr/v1/", Times: 1})
		_, _, err := providerfake.AllTags(ctx, reg, "app")
		if !errors.Is(err, provider.ErrUnavailable) {
			t.Errorf("status %d: %v, want ErrUnavailable", status, err)
		}
		providerfake.NoSecret(t, err, secret)
	}
	f.Fail(providerfake.Failure{Status: 503, Path: "/" + tenant + "/oauth2/v2.0/token"})
	reg = connect(t, f, nil, sp)
	err := reg.Check(ctx)
	if !errors.Is(err, provider.ErrUnavailable) {
		t.Errorf("Entra ID down: %v, want ErrUnavailable", err)
	}
	providerfake.NoSecret(t, err, secret)
}

func TestPull(t *testing.T) {
	f := newFake(t)
	img := f.Push(t, "team/app", "v1")
	ctx := context.Background()
	for _, tt := range []struct {
		name     string
		settings map[string]string
		secrets  map[string]string
	}{
		{"service_principal", nil, sp},
		{"admin_user", map[string]string{"auth": "admin_user", "username": adminUser}, map[string]string{"password": adminPass}},
	} {
		got, err := providerfake.Pull(ctx, connect(t, f, tt.settings, tt.secrets), f.Client(), "team/app", "v1")
		if err != nil || got != img.Digest {
			t.Errorf("%s: pull = %q, %v; want %s", tt.name, got, err, img.Digest)
		}
	}
	if !slices.ContainsFunc(f.Requests(), func(r providerfake.Request) bool { return r.Method == "POST" && r.Path == "/oauth2/token" }) {
		t.Error("the service principal's pull did not use the refresh_token grant")
	}
	bad := connect(t, f, map[string]string{"auth": "admin_user", "username": adminUser}, map[string]string{"password": "nope"})
	if _, err := providerfake.Pull(ctx, bad, f.Client(), "team/app", "v1"); err == nil {
		t.Error("pull with a wrong admin password succeeded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0"}`))
	f.Add([]byte(`{"refresh_token":"a.b.c"}`))
	f.Add([]byte(`{"repositories":["a",""]}`))
	f.Add([]byte(`{"registry":"r","imageName":"a","tags":[{"name":"v1","digest":"sha256:1","createdTime":"2018-09-06T06:17:21.0856539Z","lastUpdateTime":"bad"}]}`))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		if tok, err := parseAADToken(b, now); err == nil && (tok.Value == "" || (!tok.Expires.IsZero() && !tok.Expires.After(now))) {
			t.Fatalf("AAD token %+v", tok)
		}
		for _, m := range []string{"refresh_token", "access_token"} {
			if tok, err := parseRegistryToken(b, m); err == nil && tok.Value == "" {
				t.Fatal("empty token")
			}
		}
		if names, err := parseCatalog(b); err == nil && slices.Contains(names, "") {
			t.Fatal("empty name")
		}
		if tags, err := parseTags(b); err == nil {
			for _, tg := range tags {
				if tg.Name == "" {
					t.Fatal("empty tag")
				}
			}
		}
	})
}
