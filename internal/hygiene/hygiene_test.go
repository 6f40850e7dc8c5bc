package hygiene

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/testenv"
)

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = testenv.ModuleRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestGofmt(t *testing.T) {
	if out := run(t, "gofmt", "-l", "cmd", "internal", "bench", "web"); strings.TrimSpace(out) != "" {
		t.Errorf("files need gofmt:\n%s", out)
	}
}

func TestVet(t *testing.T) {
	if testing.Short() {
		t.Skip("vet is slow")
	}
	run(t, "go", "vet", "./...")
}

func TestModTidy(t *testing.T) {
	run(t, "go", "mod", "tidy", "-diff")
}

func TestPackageDocs(t *testing.T) {
	out := run(t, "go", "list", "-f", "{{.ImportPath}}\t{{.Doc}}", "./...")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		path, doc, _ := strings.Cut(line, "\t")
		if strings.TrimSpace(doc) == "" {
			t.Errorf("package %s has no doc comment", path)
		}
	}
}

// TestLayering keeps the knowledge base and the matcher on the vulnerability
// model (internal/vuln/...): they never reach for a feed parser.
func TestLayering(t *testing.T) {
	out := run(t, "go", "list", "-deps", "./internal/vulndb", "./internal/match")
	for _, p := range strings.Fields(out) {
		if p == "github.com/riskmap/riskmap/internal/feeds" || strings.HasPrefix(p, "github.com/riskmap/riskmap/internal/feeds/") {
			t.Errorf("internal/vulndb or internal/match depends on %s", p)
		}
	}
}
