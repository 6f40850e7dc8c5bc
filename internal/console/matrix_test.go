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
	"github.com/riskmap/riskmap/internal/sensorproto"
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

// identity is a kind of caller of the authorisation matrix.
type identity int

const (
	anonymous identity = iota
	user               // a signed-in user (session or API key) of a role
	sensorID           // an enrolled sensor (its key or its access token)
	invalid            // a credential that must never authenticate
)

// enrol creates an enrolment token as admin and enrols a sensor with it:
// its key and id.
func (e *env) enrol(admin *client, hostname string) (key, id string) {
	e.t.Helper()
	var tok console.CreatedEnrolmentToken
	admin.must(http.StatusCreated, "POST", "/api/v1/enrolment-tokens", map[string]any{"name": "matrix " + hostname, "maxSensors": 1}, &tok)
	var en sensorproto.EnrolResponse
	e.client().must(http.StatusCreated, "POST", sensorproto.PathEnrol, map[string]any{"token": tok.Token, "hostname": hostname}, &en)
	return en.Key, en.SensorID
}

// TestAuthorisationMatrix checks every route of the router against the one
// policy table, as every identity: anonymous; read-only, standard and admin
// users (by session, and admin by API key); an enrolled sensor by its key
// and by its access token; a revoked sensor; an enrolment token and a
// malformed key presented as credentials. A route without a row, or a row
// without a route, fails the test. Users never pass as sensors, nor
// sensors as users.
func TestAuthorisationMatrix(t *testing.T) {
	spa := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ui")) })
	e := start(t, func(_ *config.Console, o *console.Options) { o.SPA = spa })
	admin, _ := e.registerAdmin()
	e.invite(admin, "standard@example.com", "standard")
	e.invite(admin, "readonly@example.com", "read-only")
	// Credentials a route may change (an API key reset, a sensor key
	// rotation) are made afresh for each request.
	apiKey := func() string {
		var key console.APIKeyResponse
		admin.must(http.StatusOK, "POST", "/api/v1/me/api-key", nil, &key)
		return key.APIKey
	}
	var fleet console.CreatedEnrolmentToken
	admin.must(http.StatusCreated, "POST", "/api/v1/enrolment-tokens", map[string]any{"name": "matrix fleet", "maxSensors": 0}, &fleet)
	sensorKey := func() string {
		var en sensorproto.EnrolResponse
		e.client().must(http.StatusCreated, "POST", sensorproto.PathEnrol, map[string]any{"token": fleet.Token, "hostname": "matrix-sensor"}, &en)
		return en.Key
	}
	sensorToken := func() string {
		var tok sensorproto.SensorTokenResponse
		e.client().must(http.StatusOK, "POST", sensorproto.PathToken, map[string]any{"key": sensorKey()}, &tok)
		return tok.AccessToken
	}
	fixed := func(s string) func() string { return func() string { return s } }
	revokedKey, revokedID := e.enrol(admin, "matrix-revoked")
	var revokedTok sensorproto.SensorTokenResponse
	e.client().must(http.StatusOK, "POST", sensorproto.PathToken, map[string]any{"key": revokedKey}, &revokedTok)
	admin.must(http.StatusOK, "POST", "/api/v1/sensors/"+revokedID+"/revoke", nil, nil)
	var spare console.CreatedEnrolmentToken
	admin.must(http.StatusCreated, "POST", "/api/v1/enrolment-tokens", map[string]any{"name": "spare", "maxSensors": 5}, &spare)

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

	none := fixed("")
	callers := []struct {
		name   string
		kind   identity
		email  string // session of this user
		bearer func() string
		role   auth.Role
	}{
		{"anonymous", anonymous, "", none, ""},
		{"read_only", user, "readonly@example.com", none, auth.RoleReadOnly},
		{"standard", user, "standard@example.com", none, auth.RoleStandard},
		{"admin", user, "admin@example.com", none, auth.RoleAdmin},
		{"admin_api_key", user, "", apiKey, auth.RoleAdmin},
		{"sensor_key", sensorID, "", sensorKey, ""},
		{"sensor_token", sensorID, "", sensorToken, ""},
		{"revoked_sensor_key", invalid, "", fixed(revokedKey), ""},
		{"revoked_sensor_token", invalid, "", fixed(revokedTok.AccessToken), ""},
		{"enrolment_token", invalid, "", fixed(spare.Token), ""},
		{"forged_sensor_key", invalid, "", fixed(auth.SensorKeyPrefix + strings.Repeat("A", 43)), ""},
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
				c.bearer = caller.bearer()
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
				// (HEAD answers carry no problem document.)
				deniedAnon := resp.status == http.StatusUnauthorized && (p.Type == console.ProblemUnauthenticated || r.method == http.MethodHead)
				deniedRole := resp.status == http.StatusForbidden && p.Type == console.ProblemForbidden
				switch {
				case caller.kind == invalid:
					// A presented credential that is not valid is refused
					// everywhere, open routes included.
					if !deniedAnon {
						t.Errorf("%s got %d %s; want 401 %s", caller.name, resp.status, resp.body, console.ProblemUnauthenticated)
					}
				case rule.Access == console.Anyone:
					if deniedAnon || deniedRole {
						t.Errorf("%s is open to anyone, but %s was refused: %d %s", r.pattern, caller.name, resp.status, resp.body)
					}
				case rule.Access == console.Sensor:
					if caller.kind == sensorID && (deniedAnon || deniedRole) {
						t.Errorf("%s (sensors) refused %s: %d %s", r.pattern, caller.name, resp.status, resp.body)
					}
					if caller.kind != sensorID && !deniedAnon {
						t.Errorf("%s (sensors) let %s through: %d %s; want 401", r.pattern, caller.name, resp.status, resp.body)
					}
				case caller.kind == anonymous:
					if !deniedAnon {
						t.Errorf("anonymous caller got %d %s; want 401 %s", resp.status, resp.body, console.ProblemUnauthenticated)
					}
				case caller.kind == sensorID:
					if !deniedRole {
						t.Errorf("%s (needs %s) let %s through: %d %s; want 403", r.pattern, rule.Access, caller.name, resp.status, resp.body)
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
