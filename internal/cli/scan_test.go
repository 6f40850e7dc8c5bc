package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/vulndb/kbtest"
)

const testInventory = `{"schemaVersion":"1.0.0","target":{"kind":"dir","ref":"/src"},"packages":[
{"name":"django","version":"2.2.0","ecosystem":"PyPI","purl":"pkg:pypi/django@2.2.0","locations":["requirements.txt"]},
{"name":"golang.org/x/text","version":"v0.3.5","ecosystem":"Go","purl":"pkg:golang/golang.org/x/text@v0.3.5","locations":["bin/app"]},
{"name":"libssl1.1","version":"1.1.1n-0+deb11u3","ecosystem":"Debian:11","sourceName":"openssl","purl":"pkg:deb/debian/libssl1.1@1.1.1n-0+deb11u3?distro=debian-11","locations":["var/lib/dpkg/status"]},
{"name":"urllib3","version":"1.24.1","ecosystem":"PyPI","purl":"pkg:pypi/urllib3@1.24.1","ownedBy":"pkg:deb/debian/python3-urllib3@1.24.1-1"},
{"name":"left-pad","version":"1.3.0","ecosystem":"npm","purl":"pkg:npm/left-pad@1.3.0"}
]}`

func scanEnv(t *testing.T) (db, inv string) {
	t.Helper()
	db = kbtest.SharedDataDir(t)
	inv = filepath.Join(t.TempDir(), "inv.json")
	if err := os.WriteFile(inv, []byte(testInventory), 0o644); err != nil {
		t.Fatal(err)
	}
	return db, "inventory:" + inv
}

func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	err := Run(context.Background(), args, strings.NewReader(""), &o, &e)
	var xe *ExitError
	switch {
	case err == nil:
	case errors.As(err, &xe):
		code = xe.Code
	default:
		t.Fatalf("Run returned a non-exit error: %v", err)
	}
	return o.String(), e.String(), code
}

func TestScanJSON(t *testing.T) {
	db, target := scanEnv(t)
	out, _, code := run(t, "scan", "--db", db, "--format", "json", target)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var doc struct {
		Findings []struct {
			ID            string
			Records       []string
			Package       struct{ Name string }
			FixedVersions []string
			Severity      string
			Risk          struct {
				Score       float64
				Explanation string
			}
		}
		Skipped []struct {
			Package struct{ Name string }
			Reason  string
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	pkgs := map[string]int{}
	for _, f := range doc.Findings {
		pkgs[f.Package.Name]++
		if f.Risk.Explanation == "" || f.Severity == "" {
			t.Errorf("finding %s lacks risk or severity", f.ID)
		}
	}
	// Django 2.2.0 has dozens of advisories, x/text 0.3.5 three (GO-2021-0113,
	// GO-2022-1059, GO-2026-5970), OpenSSL 1.1.1n-0+deb11u3 is fixed by DSA-5343-1; left-pad
	// has none; urllib3 is owned by a Debian package and skipped.
	if pkgs["django"] < 20 || pkgs["golang.org/x/text"] != 3 || pkgs["libssl1.1"] != 1 || pkgs["left-pad"] != 0 || pkgs["urllib3"] != 0 {
		t.Errorf("findings per package = %v", pkgs)
	}
	if len(doc.Skipped) != 1 || doc.Skipped[0].Package.Name != "urllib3" || doc.Skipped[0].Reason != "owned-by-os-package" {
		t.Errorf("skipped = %+v", doc.Skipped)
	}
}

func TestScanFailOn(t *testing.T) {
	db, target := scanEnv(t)
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no_threshold", nil, 0},
		{"high_reached", []string{"--fail-on", "high"}, 1},
		{"critical_not_reached", []string{"--fail-on", "critical"}, 0},
		{"kev_not_reached", []string{"--fail-on", "kev"}, 0},
		{"bad_threshold", []string{"--fail-on", "severe"}, 2},
		{"bad_format", []string{"--format", "xml"}, 2},
		{"missing_db", []string{"--db", t.TempDir()}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"scan", "--db", db}, tt.args...)
			_, stderr, code := run(t, append(args, target)...)
			if code != tt.want {
				t.Errorf("exit %d, want %d (stderr %s)", code, tt.want, stderr)
			}
		})
	}
}

func TestScanIgnoreFileAndOnlyFixed(t *testing.T) {
	db, target := scanEnv(t)
	dir := t.TempDir()
	list := filepath.Join(dir, "ignore.txt")
	os.WriteFile(list, []byte("# reviewed\nDSA-5343-1 package=libssl1.1 not reachable: TLS terminated upstream\nGO-2021-0113 expires=2020-01-01 old exception\n"), 0o644)
	vex := filepath.Join(dir, "vex.json")
	os.WriteFile(vex, []byte(`{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":{"name":"GO-2022-1059"},"products":[{"@id":"pkg:golang/golang.org/x/text@v0.3.5"}],"status":"not_affected","justification":"vulnerable_code_not_in_execute_path"}]}`), 0o644)
	out, stderr, code := run(t, "scan", "--db", db, "--format", "json", "--ignore-file", list, target)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Findings []struct {
			Records []string
		}
		Ignored []struct{ ID, Reason string }
	}
	json.Unmarshal([]byte(out), &doc)
	var ignored []string
	for _, i := range doc.Ignored {
		ignored = append(ignored, i.ID+": "+i.Reason)
	}
	if d := cmp.Diff([]string{"DSA-5343-1: not reachable: TLS terminated upstream"}, ignored); d != "" {
		t.Errorf("ignored (-want +got):\n%s", d)
	}
	if !strings.Contains(stderr, "GO-2021-0113") || !strings.Contains(stderr, "expired") {
		t.Errorf("no expiry warning: %s", stderr)
	}
	out, _, _ = run(t, "scan", "--db", db, "--format", "json", "--ignore-file", vex, target)
	if strings.Contains(out[:strings.Index(out, `"ignored"`)], "GO-2022-1059") {
		t.Error("OpenVEX not_affected statement not applied")
	}
	out, _, _ = run(t, "scan", "--db", db, "--format", "json", "--only-fixed", target)
	json.Unmarshal([]byte(out), &doc)
	if len(doc.Findings) == 0 {
		t.Fatal("no findings with --only-fixed")
	}
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("CVE-2020-1\n"), 0o644)
	if _, stderr, code := run(t, "scan", "--db", db, "--ignore-file", bad, target); code != 2 || !strings.Contains(stderr, "") {
		t.Errorf("ignore rule without reason: exit %d", code)
	}
}

func TestScanCycloneDX(t *testing.T) {
	db, target := scanEnv(t)
	out, _, code := run(t, "scan", "--db", db, "--format", "cyclonedx-json", target)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var bom struct {
		BOMFormat, SpecVersion string
		Components             []struct {
			BOMRef string `json:"bom-ref"`
			Name   string
		}
		Vulnerabilities []struct {
			ID      string
			Affects []struct{ Ref string }
		}
	}
	if err := json.Unmarshal([]byte(out), &bom); err != nil {
		t.Fatal(err)
	}
	if bom.BOMFormat != "CycloneDX" || bom.SpecVersion != "1.6" || len(bom.Components) != 5 {
		t.Fatalf("bom header/components: %s %s %d", bom.BOMFormat, bom.SpecVersion, len(bom.Components))
	}
	refs := map[string]bool{}
	for _, c := range bom.Components {
		refs[c.BOMRef] = true
	}
	if len(bom.Vulnerabilities) < 20 {
		t.Fatalf("%d vulnerabilities", len(bom.Vulnerabilities))
	}
	for _, v := range bom.Vulnerabilities {
		for _, a := range v.Affects {
			if !refs[a.Ref] {
				t.Errorf("%s affects unknown ref %q", v.ID, a.Ref)
			}
		}
	}
}

func TestScanSARIFAndOpenVEXAndTable(t *testing.T) {
	db, target := scanEnv(t)
	out, _, _ := run(t, "scan", "--db", db, "--format", "sarif", target)
	var sarif struct {
		Version string
		Runs    []struct {
			Tool struct {
				Driver struct{ Rules []struct{ ID string } }
			}
			Results []struct {
				RuleID string
				Level  string
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &sarif); err != nil || sarif.Version != "2.1.0" || len(sarif.Runs[0].Results) < 20 {
		t.Fatalf("sarif: %v %+v", err, sarif.Version)
	}
	rules := map[string]bool{}
	for _, r := range sarif.Runs[0].Tool.Driver.Rules {
		rules[r.ID] = true
	}
	for _, r := range sarif.Runs[0].Results {
		if !rules[r.RuleID] {
			t.Errorf("result for undeclared rule %s", r.RuleID)
		}
	}
	out, _, _ = run(t, "scan", "--db", db, "--format", "openvex", target)
	var vex struct {
		Context    string `json:"@context"`
		Statements []struct{ Status string }
	}
	if err := json.Unmarshal([]byte(out), &vex); err != nil || vex.Context != "https://openvex.dev/ns/v0.2.0" || len(vex.Statements) < 20 {
		t.Fatalf("openvex: %v %+v", err, vex.Context)
	}
	out, _, _ = run(t, "scan", "--db", db, target)
	for _, want := range []string{"SEVERITY", "DSA-5343-1", "libssl1.1 (openssl)", "judged by the distribution feed"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	outFile := filepath.Join(t.TempDir(), "r.json")
	if _, _, code := run(t, "scan", "--db", db, "--format", "json", "--output", outFile, "--fail-on", "low", target); code != 1 {
		t.Errorf("--fail-on low: exit %d", code)
	}
	if b, err := os.ReadFile(outFile); err != nil || !json.Valid(b) {
		t.Errorf("--output file: %v", err)
	}
}

func TestFeedsStatusAndImport(t *testing.T) {
	dir := t.TempDir()
	feedsDir := testenv.SharedFeeds(t)
	out, _, code := run(t, "feeds", "import", "--db", dir, filepath.Join(feedsDir, "kev", "known_exploited_vulnerabilities.json"))
	if code != 0 || !strings.Contains(out, "1662") {
		t.Fatalf("import: exit %d\n%s", code, out)
	}
	out, _, code = run(t, "feeds", "status", "--db", dir)
	if code != 0 || !strings.Contains(out, "kev") || !strings.Contains(out, "knowledge base") {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	bundle := filepath.Join(t.TempDir(), "b.tar")
	if _, _, code := run(t, "feeds", "export", "--db", dir, bundle); code != 0 {
		t.Fatalf("export exit %d", code)
	}
	other := t.TempDir()
	if out, _, code := run(t, "feeds", "import", "--db", other, bundle); code != 0 || !strings.Contains(out, "rebuilt") {
		t.Fatalf("bundle import exit %d\n%s", code, out)
	}
	if _, _, code := run(t, "feeds", "import", "--db", other, filepath.Join(t.TempDir(), "missing")); code != 2 {
		t.Errorf("missing path: exit %d", code)
	}
}

// TestScanGate checks the exit codes of --fail-on-risk and --fail-on-count
// against the findings the same scan reports.
func TestScanGate(t *testing.T) {
	db, target := scanEnv(t)
	out, _, code := run(t, "scan", "--db", db, "--format", "json", target)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var doc struct {
		Findings []struct {
			Severity string
			Risk     struct{ Score float64 }
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	total, high, maxRisk := len(doc.Findings), 0, 0.0
	highOver50 := 0
	for _, f := range doc.Findings {
		if f.Severity == "high" || f.Severity == "critical" {
			high++
			if f.Risk.Score >= 50 {
				highOver50++
			}
		}
		maxRisk = max(maxRisk, f.Risk.Score)
	}
	if total < 20 || high == 0 || maxRisk == 0 || maxRisk >= 100 {
		t.Fatalf("findings %d, high %d, max risk %v: the fixture changed", total, high, maxRisk)
	}
	itoa := func(n int) string { return strconv.Itoa(n) }
	ftoa := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"risk_reached", []string{"--fail-on-risk", ftoa(maxRisk)}, 1},
		{"risk_not_reached", []string{"--fail-on-risk", ftoa(maxRisk + 0.5)}, 0},
		{"count_reached", []string{"--fail-on-count", itoa(total)}, 1},
		{"count_not_reached", []string{"--fail-on-count", itoa(total + 1)}, 0},
		{"high_count_reached", []string{"--fail-on", "high", "--fail-on-count", itoa(high)}, 1},
		{"high_count_not_reached", []string{"--fail-on", "high", "--fail-on-count", itoa(high + 1)}, 0},
		{"high_and_risk_count", []string{"--fail-on", "high", "--fail-on-risk", "50", "--fail-on-count", itoa(max(highOver50, 1))}, map[bool]int{true: 1, false: 0}[highOver50 > 0]},
		{"bad_risk", []string{"--fail-on-risk", "101"}, 2},
		{"bad_risk_text", []string{"--fail-on-risk", "high"}, 2},
		{"bad_count", []string{"--fail-on-count", "-1"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"scan", "--db", db, "--format", "json", "--output", filepath.Join(t.TempDir(), "r.json")}, tt.args...)
			_, stderr, code := run(t, append(args, target)...)
			if code != tt.want {
				t.Errorf("exit %d, want %d (stderr %s)", code, tt.want, stderr)
			}
		})
	}
}

// TestScanUncovered: packages of ecosystems the knowledge base holds
// nothing for (a PHP library, a Debian release without a feed) are said
// in every output as not judged, and --fail-on-uncovered fails the scan
// on them while the same scan without it passes.
func TestScanUncovered(t *testing.T) {
	db := kbtest.SharedDataDir(t)
	inv := filepath.Join(t.TempDir(), "inv.json")
	os.WriteFile(inv, []byte(`{"schemaVersion":"1.0.0","target":{"kind":"dir","ref":"/src"},"packages":[
{"name":"left-pad","version":"1.3.0","ecosystem":"npm","purl":"pkg:npm/left-pad@1.3.0"},
{"name":"monolog/monolog","version":"1.0.0","ecosystem":"Packagist","purl":"pkg:composer/monolog/monolog@1.0.0"},
{"name":"bash","version":"5.9-1","ecosystem":"Debian:99","purl":"pkg:deb/debian/bash@5.9-1?distro=debian-99"},
{"name":"zsh","version":"5.9-1","ecosystem":"Debian:99","purl":"pkg:deb/debian/zsh@5.9-1?distro=debian-99"}
]}`), 0o644)
	target := "inventory:" + inv

	out, stderr, code := run(t, "scan", "--db", db, "--format", "json", target)
	if code != 0 {
		t.Fatalf("exit %d without --fail-on-uncovered: %s", code, stderr)
	}
	var doc struct {
		Uncovered []struct {
			Ecosystem string
			Packages  int
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		Ecosystem string
		Packages  int
	}{{"Debian:99", 2}, {"Packagist", 1}, {"npm", 1}} // the test feeds have no npm records
	if d := cmp.Diff(want, doc.Uncovered); d != "" {
		t.Errorf("uncovered (-want +got):\n%s", d)
	}
	if !strings.Contains(stderr, "no vulnerability data for Debian:99") {
		t.Errorf("stderr does not warn: %s", stderr)
	}

	out, _, _ = run(t, "scan", "--db", db, target)
	if !strings.Contains(out, "NOT COVERED: the knowledge base holds no vulnerability data for Packagist: its 1 packages were not judged") {
		t.Errorf("table footer:\n%s", out)
	}
	out, _, _ = run(t, "scan", "--db", db, "--format", "sarif", target)
	var sarif struct {
		Runs []struct {
			Invocations []struct {
				ToolExecutionNotifications []struct {
					Level   string
					Message struct{ Text string }
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &sarif); err != nil {
		t.Fatal(err)
	}
	if n := sarif.Runs[0].Invocations[0].ToolExecutionNotifications; len(n) != 3 || n[0].Level != "warning" || !strings.Contains(n[0].Message.Text, "Debian:99") {
		t.Errorf("SARIF notifications: %+v", n)
	}

	err := Run(context.Background(), []string{"scan", "--db", db, "--fail-on-uncovered", target}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	var xe *ExitError
	if !errors.As(err, &xe) || xe.Code != 1 || !strings.Contains(err.Error(), "--fail-on-uncovered: the knowledge base holds nothing for Debian:99 (2 packages), Packagist (1 packages), npm (1 packages)") {
		t.Errorf("--fail-on-uncovered: %v", err)
	}
	// A target whose ecosystems are covered passes the same gate.
	os.WriteFile(inv, []byte(`{"schemaVersion":"1.0.0","target":{"kind":"dir","ref":"/src"},"packages":[
{"name":"left-pad","version":"1.3.0","ecosystem":"PyPI","purl":"pkg:pypi/left-pad@1.3.0"},
{"name":"golang.org/x/text","version":"v0.3.8","ecosystem":"Go","purl":"pkg:golang/golang.org/x/text@v0.3.8"}
]}`), 0o644)
	if _, stderr, code = run(t, "scan", "--db", db, "--fail-on-uncovered", target); code != 0 {
		t.Errorf("covered target with --fail-on-uncovered: exit %d, %s", code, stderr)
	}
}
