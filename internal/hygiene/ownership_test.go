package hygiene

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/testenv"
)

// tableOwners says which package owns each table: the only production
// package whose SQL names it. Other packages use the owner's queries
// (STYLE.md 26). A new table gets a row here.
var tableOwners = map[string]string{
	"orgs": "store", "users": "store", "sessions": "store", "api_keys": "store", "invitations": "store",
	"password_resets": "store", "refresh_tokens": "store", "signing_keys": "store", "audit_log": "store", "installation": "store",
	"sensors": "store", "enrolment_tokens": "store",
	"refresh_families": "store", "login_throttle": "store", "schema_compat": "store", "rate_buckets": "store",
	"shared_blobs": "store", "shared_blob_chunks": "store",
	"topology_changes": "topology", "topology_change_seq": "topology",
	"secrets": "secrets",
	"nodes":   "topology", "edges": "topology", "topology_sensors": "topology", "topology_loaded_sets": "topology", "topology_exposed": "topology",
	"report_schedules": "reports",
	"scans":            "scans", "inventories": "scans", "scan_schedules": "scans", "scan_settings": "scans", "sensor_polls": "scans",
	"scan_findings": "findings", "finding_decisions": "findings",
	"compliance_scans": "posture", "compliance_checks": "posture",
	"jobs": "jobs", "job_periodic": "jobs",
	"events": "events", "event_seq": "events", "event_consumers": "events", "event_dead": "events",
	"integration_destinations": "integrations", "integration_rules": "integrations", "integration_outbox": "integrations",
	"integration_digest_items": "integrations", "integration_deliveries": "integrations", "integration_dead": "integrations",
	"integration_routed": "integrations",
	"registry_accounts":  "registries", "registry_repositories": "registries", "registry_tags": "registries", "registry_images": "registries",
	"registry_syncs": "registries",
}

var sqlTable = regexp.MustCompile(`(?i)\b(?:from|join|into|update|table|exists)\s+([a-z_]+)\b`)

// TestTableOwnership reads every string literal of the production Go code
// (tests may look at what is stored, as an outside observer) and fails
// when a package's SQL names a table another package owns, or a table no
// package owns.
func TestTableOwnership(t *testing.T) {
	root := testenv.ModuleRoot(t)
	// Every table the migrations create has an owner.
	created := map[string]bool{}
	migs, _ := filepath.Glob(filepath.Join(root, "internal/store/migrations/*.sql"))
	for _, m := range migs {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, mm := range regexp.MustCompile(`(?m)^CREATE TABLE ([a-z_]+)`).FindAllStringSubmatch(string(b), -1) {
			created[mm[1]] = true
		}
	}
	for tbl := range created {
		if _, ok := tableOwners[tbl]; !ok && tbl != "findings" { // findings: created by 00002, dropped by 00031
			t.Errorf("table %s has no owner in tableOwners", tbl)
		}
	}
	var bad []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(filepath.Join(root, "internal"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(root, "internal"), p)
		pkg := strings.SplitN(filepath.ToSlash(rel), "/", 2)[0]
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			for _, m := range sqlTable.FindAllStringSubmatch(lit.Value, -1) {
				tbl := strings.ToLower(m[1])
				owner, known := tableOwners[tbl]
				if !known || owner == pkg {
					continue // not a table (a word after "from" in prose), or its owner
				}
				bad = append(bad, fset.Position(lit.Pos()).String()+": package "+pkg+" names table "+tbl+" (owned by "+owner+")")
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Error(b)
	}
}
