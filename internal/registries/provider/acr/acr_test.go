package acr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/providerfake"
	"github.com/riskmap/riskmap/internal/registries/provider/providertest"
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
	s := map[string]string{"registry": f.Host(), "authority": f.URL(), "tenant_id": tenant, "client_id": clientID}
	return providertest.Connect(t, Kind(), provider.Account{Settings: s, Secrets: secrets, HTTP: f.Client()}, settings).(*acr)
}

var (
	sp    = map[string]string{"client_secret": secret}
	admin = map[string]string{"auth": "admin_user", "username": adminUser}
)

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Provider{
		Start: func(t *testing.T) providertest.Setup {
			f := newFake(t)
			return providertest.Setup{Fake: f.Server,
				Good: []providertest.Account{
					{Name: "service_principal", Registry: connect(t, f, nil, sp)},
					{Name: "admin_user", Registry: connect(t, f, admin, map[string]string{"password": adminPass})},
				},
				Bad: []providertest.Account{
					{Name: "wrong_secret", Registry: connect(t, f, nil, map[string]string{"client_secret": "Q~WRONGsecretVALUE"})},
					{Name: "unknown_client", Registry: connect(t, f, map[string]string{"client_id": "11111111-2222-3333-4444-555555555555"}, sp)},
					{Name: "unknown_tenant", Registry: connect(t, f, map[string]string{"tenant_id": "contoso.onmicrosoft.com"}, sp)},
					{Name: "wrong_admin_password", Registry: connect(t, f, admin, map[string]string{"password": "WRONGadminPASSWORD"})},
				},
			}
		},
		Repo:  "team/app",
		Repos: []string{"team/svc0", "team/svc1"},
		// The _tags API tells digest and times only.
		Tag: func(img providerfake.Image) provider.Tag {
			return provider.Tag{Name: img.Tag, Digest: img.Digest, Pushed: img.Pushed}
		},
		FailPath: "/acr/v1/",
		Secrets:  []string{secret, adminPass, "Q~WRONGsecretVALUE", "WRONGadminPASSWORD"},
	})
}

func TestNewValidates(t *testing.T) {
	providertest.NewErrors(t, Kind(), []providertest.NewCase{
		{Name: "empty", Want: []string{"registry: required", "tenant_id: required", "client_id: required", "client_secret: required"}},
		{Name: "admin", Settings: map[string]string{"registry": "r.azurecr.io", "auth": "admin_user"}, Want: []string{"username: required", "password: required"}},
		{Name: "bad_client_id", Settings: map[string]string{"registry": "r.azurecr.io", "tenant_id": tenant, "client_id": "not-a-guid"}, Secrets: sp, Want: []string{"client_id: "}},
		{Name: "http_authority", Settings: map[string]string{"registry": "r.azurecr.io", "tenant_id": tenant, "client_id": clientID, "authority": "http://login.example"}, Secrets: sp, Want: []string{"authority: want https"}},
		{Name: "bad_registry", Settings: map[string]string{"registry": "r.azurecr.io/x", "tenant_id": tenant, "client_id": clientID}, Secrets: sp, Want: []string{"registry: "}},
	})
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
	f.AddTags("team/svc1", 5, start)
	reg := connect(t, f, nil, sp)
	providertest.Repos(t, reg, want, []int{2, 2, 1})
	if _, pages, err := providerfake.AllTags(context.Background(), reg, "team/svc1"); err != nil || !slices.Equal(pages, []int{2, 2, 1}) {
		t.Errorf("tag pages %v, %v; want 2, 2, 1", pages, err)
	}
	// One Entra ID sign-in and one exchange served all of it.
	if n := f.Count("/oauth2/exchange"); n != 1 {
		t.Errorf("%d exchanges, want 1", n)
	}
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
	if n := f.Count("/oauth2/exchange"); n != 2 {
		t.Errorf("%d exchanges, want 2 (renewed at expiry)", n)
	}
	// Revoked early: the 401 leads to a new sign-in.
	f.ExpireTokens()
	if _, _, err := providerfake.AllTags(ctx, reg, "app"); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
	if n := f.Count("/" + tenant + "/oauth2/v2.0/token"); n != 3 {
		t.Errorf("%d Entra ID sign-ins, want 3", n)
	}
}

func TestEntraIDUnavailable(t *testing.T) {
	f := newFake(t)
	f.Fail(providerfake.Failure{Status: 503, Path: "/" + tenant + "/oauth2/v2.0/token"})
	err := connect(t, f, nil, sp).Check(context.Background())
	if !errors.Is(err, provider.ErrUnavailable) {
		t.Errorf("Entra ID down: %v, want ErrUnavailable", err)
	}
	providerfake.NoSecret(t, err, secret)
}

func TestPullGrant(t *testing.T) {
	f := newFake(t)
	f.Push(t, "team/app", "v1")
	if _, err := providerfake.Pull(context.Background(), connect(t, f, nil, sp), f.Client(), "team/app", "v1"); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(f.Requests(), func(r providerfake.Request) bool { return r.Method == "POST" && r.Path == "/oauth2/token" }) {
		t.Error("the service principal's pull did not use the refresh_token grant")
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
