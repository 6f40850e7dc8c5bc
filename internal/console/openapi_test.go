package console_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/console"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestPolicyGolden makes every change to the access table visible in review:
// testdata/policy.golden must be regenerated (-update) with it.
func TestPolicyGolden(t *testing.T) {
	var b strings.Builder
	for _, r := range console.Policy() {
		fmt.Fprintf(&b, "%-7s %-40s %s\n", r.Method, r.Pattern, r.Access)
	}
	path := filepath.Join("testdata", "policy.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("policy table changed (-golden +now); review and run go test -update:\n%s", diff)
	}
}

func TestOpenAPIDocument(t *testing.T) {
	e := start(t)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
		Comps   struct {
			Schemas map[string]struct {
				AdditionalProperties *bool `json:"additionalProperties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	e.client().must(http.StatusOK, "GET", "/api/v1/openapi.json", nil, &doc)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q; want 3.1.0", doc.OpenAPI)
	}
	for _, r := range console.Policy() {
		if !strings.HasPrefix(r.Pattern, "/api/v1/") || strings.Contains(r.Pattern, "openapi") || strings.Contains(r.Pattern, "schemas") {
			continue
		}
		if _, ok := doc.Paths[r.Pattern][strings.ToLower(r.Method)]; !ok {
			t.Errorf("OpenAPI document lacks %s %s", r.Method, r.Pattern)
		}
	}
	var users struct {
		Description string                `json:"description"`
		Security    []map[string][]string `json:"security"`
	}
	if err := json.Unmarshal(doc.Paths["/api/v1/users"]["get"], &users); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(users.Description, "Access: role admin or higher.") || len(users.Security) != 2 {
		t.Errorf("GET /api/v1/users documents access %q, security %v", users.Description, users.Security)
	}
	for _, name := range []string{"RegisterRequest", "LoginRequest", "TokenRequest", "UserPatch", "InvitationRequest"} {
		s, ok := doc.Comps.Schemas[name]
		if !ok || s.AdditionalProperties == nil || *s.AdditionalProperties {
			t.Errorf("schema %s must exist and forbid unknown fields", name)
		}
	}
}

// TestOpenAPIWebCopy keeps web/openapi.json, from which `npm run gen:api`
// generates the web console's API types (web/src/api.gen.ts), the document
// the console serves: a change to the API's Go types fails here until the
// copy is rewritten (go test ./internal/console/ -run TestOpenAPIWebCopy
// -update) and the types regenerated.
func TestOpenAPIWebCopy(t *testing.T) {
	e := start(t)
	r := e.client().must(http.StatusOK, "GET", "/api/v1/openapi.json", nil, nil)
	var b bytes.Buffer
	if err := json.Indent(&b, r.body, "", "  "); err != nil {
		t.Fatal(err)
	}
	b.WriteByte('\n')
	path := filepath.Join("..", "..", "web", "openapi.json")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/console/ -run TestOpenAPIWebCopy -update)", err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("web/openapi.json differs from the served document (-copy +served); run go test ./internal/console/ -run TestOpenAPIWebCopy -update, then npm run gen:api in web/:\n%s", diff)
	}
}
