package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/console"
)

type route struct{ method, pattern string }

// routes enumerates every route the router itself serves.
func routes(t *testing.T, srv *console.Server) []route {
	t.Helper()
	var out []route
	err := chi.Walk(srv.Router(), func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out = append(out, route{method, pattern})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].pattern != out[j].pattern {
			return out[i].pattern < out[j].pattern
		}
		return out[i].method < out[j].method
	})
	return out
}

var paramRE = regexp.MustCompile(`\{[^}]+\}`)

func concretePath(pattern string) string {
	p := paramRE.ReplaceAllString(pattern, "matrix-probe")
	return strings.ReplaceAll(p, "*", "matrix-probe")
}

// TestAuthorisationMatrix checks every route of the router against the one
// policy table, as anonymous, read-only, standard and admin callers. A route
// without a row, or a row without a route, fails the test.
func TestAuthorisationMatrix(t *testing.T) {
	spa := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ui")) })
	e := start(t, func(_ *config.Console, o *console.Options) { o.SPA = spa })
	admin, _ := e.registerAdmin()
	e.invite(admin, "standard@example.com", "standard")
	e.invite(admin, "readonly@example.com", "read-only")

	policy := map[route]console.Rule{}
	for _, r := range console.Policy() {
		policy[route{r.Method, r.Pattern}] = r
	}
	served := map[route]bool{}
	for _, r := range routes(t, e.srv) {
		served[r] = true
		if _, ok := policy[r]; !ok {
			t.Errorf("route %s %s has no row in console.Policy(); add one (see ARCHITECTURE.md)", r.method, r.pattern)
		}
	}
	for r := range policy {
		if !served[r] {
			t.Errorf("policy row %s %s names no route the router serves", r.method, r.pattern)
		}
	}

	callers := []struct {
		name  string
		email string
		role  auth.Role
	}{
		{"anonymous", "", ""},
		{"read_only", "readonly@example.com", auth.RoleReadOnly},
		{"standard", "standard@example.com", auth.RoleStandard},
		{"admin", "admin@example.com", auth.RoleAdmin},
	}
	for _, r := range routes(t, e.srv) {
		rule, ok := policy[r]
		if !ok {
			continue
		}
		for _, caller := range callers {
			t.Run(fmt.Sprintf("%s_%s_%s", r.method, strings.Trim(strings.NewReplacer("/", "_", "{", "", "}", "", "*", "any", ".", "_").Replace(r.pattern), "_"), caller.name), func(t *testing.T) {
				c := e.client()
				if caller.email != "" {
					// A fresh session per request: some routes end it (logout).
					c = e.login(caller.email, adminPassword)
				}
				var body any
				if r.method == http.MethodPost || r.method == http.MethodPatch || r.method == http.MethodPut {
					body = "{}"
				}
				resp := c.do(r.method, concretePath(r.pattern), body)
				var p struct {
					Type string `json:"type"`
				}
				_ = json.Unmarshal(resp.body, &p)
				if resp.status >= 500 {
					t.Fatalf("status %d: %s", resp.status, resp.body)
				}
				deniedAnon := resp.status == http.StatusUnauthorized && p.Type == console.ProblemUnauthenticated
				deniedRole := resp.status == http.StatusForbidden && p.Type == console.ProblemForbidden
				switch {
				case rule.Access == console.Anyone:
					if deniedAnon || deniedRole {
						t.Errorf("%s is open to anyone, but %s was refused: %d %s", r.pattern, caller.name, resp.status, resp.body)
					}
				case caller.role == "":
					if !deniedAnon {
						t.Errorf("anonymous caller got %d %s; want 401 %s", resp.status, resp.body, console.ProblemUnauthenticated)
					}
				case allowed(caller.role, rule.Access):
					if deniedAnon || deniedRole {
						t.Errorf("%s (needs %s) refused %s: %d %s", r.pattern, rule.Access, caller.name, resp.status, resp.body)
					}
				default:
					if !deniedRole {
						t.Errorf("%s (needs %s) let %s through: %d %s", r.pattern, rule.Access, caller.name, resp.status, resp.body)
					}
				}
			})
		}
	}
}

func allowed(role auth.Role, a console.Access) bool {
	switch a {
	case console.Anyone:
		return true
	case console.ReadOnly:
		return role.AtLeast(auth.RoleReadOnly)
	case console.Standard:
		return role.AtLeast(auth.RoleStandard)
	case console.Admin:
		return role.AtLeast(auth.RoleAdmin)
	}
	return false
}

// TestUnlistedRouteIsRefused shows deny by default: a route registered
// without a policy row answers 403 to everyone, admin included.
func TestUnlistedRouteIsRefused(t *testing.T) {
	e := start(t, func(_ *config.Console, o *console.Options) {
		o.Modules = []console.Module{moduleFunc(func(r chi.Router) {
			r.Get("/api/v1/unlisted", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("secret")) })
		})}
	})
	admin, _ := e.registerAdmin()
	for name, c := range map[string]*client{"anonymous": e.client(), "admin": admin} {
		resp := c.do("GET", "/api/v1/unlisted", nil)
		if resp.status != http.StatusForbidden || strings.Contains(string(resp.body), "secret") {
			t.Errorf("%s: %d %s; want 403", name, resp.status, resp.body)
		}
	}
}

type moduleFunc func(r chi.Router)

func (f moduleFunc) Routes(_ huma.API, r chi.Router) { f(r) }

type exampleOut struct {
	Body struct {
		Caller string `json:"caller"`
	}
}

// TestModuleRoutes shows how a package plugs in: a typed operation and a
// raw handler, each with its policy row, enforced like the built-in routes.
func TestModuleRoutes(t *testing.T) {
	e := start(t, func(_ *config.Console, o *console.Options) {
		o.Policy = append(console.Policy(),
			console.Rule{Method: http.MethodGet, Pattern: "/api/v1/example", Access: console.Standard},
			console.Rule{Method: http.MethodPost, Pattern: "/api/v1/example/raw", Access: console.Admin, MaxBodyBytes: 4 << 20},
		)
		o.Modules = []console.Module{moduleWith(func(api huma.API, r chi.Router) {
			huma.Get(api, "/api/v1/example", func(ctx context.Context, _ *struct{}) (*exampleOut, error) {
				p, _ := console.PrincipalFrom(ctx)
				out := &exampleOut{}
				out.Body.Caller = p.User.Email
				return out, nil
			})
			r.Post("/api/v1/example/raw", func(w http.ResponseWriter, r *http.Request) {
				n, err := io.Copy(io.Discard, r.Body)
				if err != nil {
					console.WriteProblem(w, http.StatusRequestEntityTooLarge, err.Error())
					return
				}
				fmt.Fprint(w, n)
			})
		})}
	})
	admin, _ := e.registerAdmin()
	std, _ := e.invite(admin, "std@example.com", "standard")
	ro, _ := e.invite(admin, "ro@example.com", "read-only")
	var out struct{ Caller string }
	std.must(http.StatusOK, "GET", "/api/v1/example", nil, &out)
	if out.Caller != "std@example.com" {
		t.Errorf("caller %q", out.Caller)
	}
	ro.must(http.StatusForbidden, "GET", "/api/v1/example", nil, nil)
	e.client().must(http.StatusUnauthorized, "GET", "/api/v1/example", nil, nil)
	std.must(http.StatusForbidden, "POST", "/api/v1/example/raw", "{}", nil)
	r := admin.must(http.StatusOK, "POST", "/api/v1/example/raw", strings.Repeat("x", 2<<20), nil)
	if string(r.body) != "2097152" {
		t.Errorf("raw body length %s", r.body)
	}
	admin.must(http.StatusRequestEntityTooLarge, "POST", "/api/v1/example/raw", strings.Repeat("x", 5<<20), nil)
}

type moduleWith func(api huma.API, r chi.Router)

func (f moduleWith) Routes(api huma.API, r chi.Router) { f(api, r) }
