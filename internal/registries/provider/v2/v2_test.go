package v2_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/riskmap/riskmap/internal/registries/provider"
	v2 "github.com/riskmap/riskmap/internal/registries/provider/v2"
	"github.com/riskmap/riskmap/internal/testenv"
)

// push writes a small random image to the registry under each tag.
func push(t *testing.T, reg *testenv.RegistryServer, repo string, tags ...string) {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		ref, err := name.ParseReference(reg.Host + "/" + repo + ":" + tag)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img, reg.Remote(context.Background())...); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
	}
}

func account(reg *testenv.RegistryServer, settings map[string]string) provider.Account {
	s := map[string]string{"url": reg.URL, "username": reg.Username}
	if strings.HasPrefix(reg.URL, "http://") {
		s["insecure"] = "true"
	}
	for k, v := range settings {
		s[k] = v
	}
	return provider.Account{Name: "test", Settings: s, Secrets: map[string]string{"password": reg.Password}, HTTP: reg.HTTP}
}

func listAll(t *testing.T, r provider.Registry) map[string][]string {
	t.Helper()
	ctx := context.Background()
	out := map[string][]string{}
	var repos []string
	if err := r.Repositories(ctx, func(page []string) error { repos = append(repos, page...); return nil }); err != nil {
		t.Fatalf("repositories: %v", err)
	}
	for _, repo := range repos {
		out[repo] = []string{}
		err := r.Tags(ctx, repo, func(page []provider.Tag) error {
			for _, tg := range page {
				out[repo] = append(out[repo], tg.Name)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("tags of %s: %v", repo, err)
		}
		slices.Sort(out[repo])
	}
	return out
}

// TestRegistryAuthModes lists a real distribution registry anonymously,
// with basic authentication (htpasswd) and with bearer tokens from a token
// server, over verified TLS.
func TestRegistryAuthModes(t *testing.T) {
	for _, mode := range []testenv.RegistryAuth{testenv.RegistryAnonymous, testenv.RegistryHtpasswd, testenv.RegistryToken} {
		t.Run(string(mode), func(t *testing.T) {
			reg := testenv.Registry(t, mode)
			push(t, reg, "team/app", "1.0", "1.1", "latest")
			push(t, reg, "base/debian", "bookworm")
			r, err := v2.New(account(reg, nil))
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Check(context.Background()); err != nil {
				t.Fatalf("check: %v", err)
			}
			if r.Host() != reg.Host {
				t.Errorf("host %q, want %q", r.Host(), reg.Host)
			}
			want := map[string][]string{"team/app": {"1.0", "1.1", "latest"}, "base/debian": {"bookworm"}}
			if diff := cmp.Diff(want, listAll(t, r)); diff != "" {
				t.Errorf("catalogue (-want +got):\n%s", diff)
			}
			// The pull credentials the module gives go-containerregistry.
			auth, err := r.Authenticator(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := name.ParseReference(reg.Host + "/team/app:1.0")
			if _, err := remote.Head(ref, remote.WithAuth(auth), remote.WithTransport(reg.HTTP.Transport)); err != nil {
				t.Errorf("pull with the provider's authenticator: %v", err)
			}
			if mode == testenv.RegistryToken {
				// One token per scope, reused: /v2/ + catalogue + 2 repositories.
				before := reg.Tokens.Load()
				listAll(t, r)
				if after := reg.Tokens.Load(); after != before {
					t.Errorf("listing again fetched %d new tokens; want the cached ones", after-before)
				}
			}
		})
	}
}

// TestRegistryWrongCredentials: refused credentials are ErrUnauthorized,
// for basic and token authentication alike, and the error never holds the
// password.
func TestRegistryWrongCredentials(t *testing.T) {
	for _, mode := range []testenv.RegistryAuth{testenv.RegistryHtpasswd, testenv.RegistryToken} {
		t.Run(string(mode), func(t *testing.T) {
			reg := testenv.Registry(t, mode)
			acct := account(reg, nil)
			acct.Secrets["password"] = "wrong-" + reg.Password
			r, err := v2.New(acct)
			if err != nil {
				t.Fatal(err)
			}
			err = r.Check(context.Background())
			if !errors.Is(err, provider.ErrUnauthorized) {
				t.Fatalf("check with a wrong password: %v; want ErrUnauthorized", err)
			}
			if strings.Contains(err.Error(), reg.Password) {
				t.Errorf("the error holds the password: %v", err)
			}
			anon := account(reg, nil)
			anon.Settings["username"], anon.Secrets["password"] = "", ""
			r, _ = v2.New(anon)
			if err := r.Check(context.Background()); !errors.Is(err, provider.ErrUnauthorized) {
				t.Errorf("anonymous check of a registry that needs credentials: %v; want ErrUnauthorized", err)
			}
		})
	}
}

// TestRegistryPagination follows Link headers across small pages of the
// catalogue and of tags.
func TestRegistryPagination(t *testing.T) {
	reg := testenv.Registry(t, testenv.RegistryToken)
	var tags []string
	for i := range 7 {
		tags = append(tags, fmt.Sprintf("v%d", i))
	}
	push(t, reg, "paged/app", tags...)
	for i := range 5 {
		push(t, reg, fmt.Sprintf("paged/r%d", i), "x")
	}
	r, err := v2.Open(account(reg, nil))
	if err != nil {
		t.Fatal(err)
	}
	r.SetPageSize(2)
	pages := 0
	var repos []string
	err = r.Repositories(context.Background(), func(page []string) error { pages++; repos = append(repos, page...); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(repos) != 6 || pages < 3 {
		t.Errorf("%d repositories in %d pages: %v; want 6 in 3+", len(repos), pages, repos)
	}
	got := listAll(t, r)["paged/app"]
	slices.Sort(tags)
	if diff := cmp.Diff(tags, got); diff != "" {
		t.Errorf("tags across pages (-want +got):\n%s", diff)
	}
}

// TestRegistryConfiguredRepositories lists only the repositories the
// account names, and a missing one has no tags.
func TestRegistryConfiguredRepositories(t *testing.T) {
	reg := testenv.Registry(t, testenv.RegistryHtpasswd)
	push(t, reg, "a/one", "1")
	push(t, reg, "a/two", "2")
	r, err := v2.New(account(reg, map[string]string{"repositories": "a/one\n\n# a comment\na/missing\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"a/one": {"1"}, "a/missing": {}}
	if diff := cmp.Diff(want, listAll(t, r)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestRegistryTLS: the registry's certificate is verified (an account
// without its CA is refused), and plain HTTP needs a loopback registry
// and insecure.
func TestRegistryTLS(t *testing.T) {
	reg := testenv.Registry(t, testenv.RegistryAnonymous)
	acct := account(reg, nil)
	acct.HTTP = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}}
	r, _ := v2.New(acct)
	err := r.Check(context.Background())
	var uerr x509.UnknownAuthorityError
	if err == nil || !errors.As(err, &uerr) {
		t.Errorf("check without trusting the registry's CA: %v; want an unknown authority error", err)
	}

	plain := testenv.RegistryPlainHTTP(t, testenv.RegistryHtpasswd)
	push(t, plain, "p/app", "1")
	a := account(plain, nil)
	a.Settings["insecure"] = "false"
	if _, err := v2.New(a); err == nil || !strings.Contains(err.Error(), "insecure") {
		t.Errorf("plain HTTP without insecure: %v; want an error naming insecure", err)
	}
	a.Settings["insecure"] = "true"
	r, err = v2.New(a)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]string{"p/app": {"1"}}, listAll(t, r)); diff != "" {
		t.Errorf("plain HTTP loopback registry (-want +got):\n%s", diff)
	}
}

func TestNewRefusesBadSettings(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings map[string]string
		secrets  map[string]string
		want     string
	}{
		{"no_url", map[string]string{}, nil, "url: required"},
		{"not_http", map[string]string{"url": "ftp://r.example"}, nil, "url:"},
		{"plain_http_remote", map[string]string{"url": "http://registry.example.com", "insecure": "true"}, nil, "only for a registry on this machine"},
		{"plain_http_private", map[string]string{"url": "http://10.0.0.5:5000", "insecure": "true"}, nil, "only for a registry on this machine"},
		{"path", map[string]string{"url": "https://r.example/some/path"}, nil, "without a path"},
		{"user_in_url", map[string]string{"url": "https://u:p@r.example"}, nil, "credentials in the URL"},
		{"bad_insecure", map[string]string{"url": "https://r.example", "insecure": "yes"}, nil, "insecure:"},
		{"bad_repository", map[string]string{"url": "https://r.example", "repositories": "ok/repo\nBad Repo"}, nil, "repositories: line 2"},
		{"password_without_user", map[string]string{"url": "https://r.example"}, map[string]string{"password": "x"}, "username: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v2.New(provider.Account{Settings: tc.settings, Secrets: tc.secrets})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v; want an error containing %q", err, tc.want)
			}
		})
	}
	for _, ok := range []string{"https://r.example", "https://r.example:5000/", "https://r.example/v2/", "http://127.0.0.1:5000", "http://localhost:5000", "http://[::1]:5000"} {
		s := map[string]string{"url": ok}
		if strings.HasPrefix(ok, "http:") {
			s["insecure"] = "true"
		}
		if _, err := v2.New(provider.Account{Settings: s}); err != nil {
			t.Errorf("New(%s): %v", ok, err)
		}
	}
}

// TestRegistryRefusesHostileRealm: a registry whose challenge sends the
// credentials to a private or link-local address (a cloud's metadata
// service) or over plain HTTP is refused before any token request. A
// real registry cannot be made to do this, so a loopback server plays it.
func TestRegistryRefusesHostileRealm(t *testing.T) {
	for _, realm := range []string{"https://169.254.169.254/token", "https://10.1.2.3/token", "http://auth.example.com/token", "https://[fe80::1]/token"} {
		t.Run(realm, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`",service="x"`)
				w.WriteHeader(http.StatusUnauthorized)
			}))
			defer srv.Close()
			r, err := v2.New(provider.Account{Settings: map[string]string{"url": srv.URL, "username": "u"},
				Secrets: map[string]string{"password": "p"}, HTTP: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			err = r.Check(context.Background())
			if !errors.Is(err, provider.ErrUnauthorized) || !strings.Contains(err.Error(), "realm") {
				t.Errorf("check: %v; want the realm refused", err)
			}
		})
	}
}
