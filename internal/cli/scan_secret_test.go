package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/secretscan/secrettest"
	"github.com/riskmap/riskmap/internal/vulndb/kbtest"
)

// noSecret fails when out holds any planted secret or a 10-character
// piece of one past its redacted prefix.
func noSecret(t *testing.T, what, out string, planted []secrettest.Planted) {
	t.Helper()
	for _, p := range planted {
		for _, piece := range strings.Split(p.Secret, "\n") {
			if len(piece) < 14 {
				continue
			}
			if strings.Contains(out, piece[4:14]) {
				t.Errorf("%s holds the secret of %s (%s)", what, p.Path, p.Rule)
			}
		}
	}
}

type secretDoc struct {
	Scanners []string `json:"scanners"`
	Findings []any    `json:"findings"`
	Summary  struct {
		Secrets int `json:"secrets"`
	} `json:"summary"`
	Secrets struct {
		Findings []struct {
			RuleID, Path, Layer, Fingerprint, Redacted string
			Line                                       int
			Deleted                                    bool
		} `json:"findings"`
		Allowed int `json:"allowed"`
	} `json:"secrets"`
}

func TestScanSecretsOutputs(t *testing.T) {
	files, planted := secrettest.FixtureFiles()
	dir := secrettest.WriteTree(t, files)
	for _, format := range []string{"table", "json", "sarif"} {
		t.Run(format, func(t *testing.T) {
			out, stderr, code := run(t, "scan", "--scanners", "secret", "--format", format, dir)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			noSecret(t, format+" output", out, planted)
			noSecret(t, "stderr", stderr, planted)
			for _, p := range planted {
				if !strings.Contains(out, p.Rule) || !strings.Contains(out, strings.TrimPrefix(p.Path, "/")) {
					t.Errorf("%s output does not name %s in %s", format, p.Rule, p.Path)
				}
			}
		})
	}
	out, _, _ := run(t, "scan", "--scanners", "secret", "--format", "json", dir)
	var doc secretDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Secrets.Findings) != len(planted) || doc.Summary.Secrets != len(planted) || !cmp.Equal(doc.Scanners, []string{"secret"}) {
		t.Errorf("JSON: %d secrets (summary %d), scanners %v; want %d, [secret]", len(doc.Secrets.Findings), doc.Summary.Secrets, doc.Scanners, len(planted))
	}
	var sarif struct {
		Runs []struct {
			Tool struct {
				Driver struct {
					Rules []struct{ ID string }
				}
			}
			Results []struct {
				RuleID              string
				PartialFingerprints map[string]string
			}
		}
	}
	out, _, _ = run(t, "scan", "--scanners", "secret", "--format", "sarif", dir)
	if err := json.Unmarshal([]byte(out), &sarif); err != nil {
		t.Fatal(err)
	}
	if r := sarif.Runs[0]; len(r.Results) != len(planted) || len(r.Tool.Driver.Rules) != 5 || len(r.Results[0].PartialFingerprints["riskmap/secret/v1"]) != 64 {
		t.Errorf("SARIF: %d results, %d rules; want %d results of 5 rules with fingerprints", len(r.Results), len(r.Tool.Driver.Rules), len(planted))
	}
}

func TestScanVulnAndSecrets(t *testing.T) {
	files, planted := secrettest.FixtureFiles()
	files["app/requirements.txt"] = []byte("django==2.2.0\n")
	dir := secrettest.WriteTree(t, files)
	db := kbtest.SharedDataDir(t)
	out, stderr, code := run(t, "scan", "--db", db, "--scanners", "vuln,secret", "--format", "json", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	noSecret(t, "JSON", out, planted)
	var doc secretDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Findings) == 0 || len(doc.Secrets.Findings) != len(planted) {
		t.Errorf("%d vulnerabilities and %d secrets; want some and %d", len(doc.Findings), len(doc.Secrets.Findings), len(planted))
	}
	out, _, _ = run(t, "scan", "--db", db, "--scanners", "vuln,secret", dir)
	if !strings.Contains(out, "django") || !strings.Contains(out, "SECRET RULE") {
		t.Errorf("table lacks the vulnerabilities or the secrets:\n%s", out)
	}
	noSecret(t, "table", out, planted)
}

func TestScanSecretsImageDeleted(t *testing.T) {
	files, _ := secrettest.FixtureFiles()
	archive, diffIDs := secrettest.DockerSave(t, secrettest.ImageLayers(t, files))
	out, stderr, code := run(t, "scan", "--scanners", "secret", "--format", "json", "docker-archive:"+archive)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc secretDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range doc.Secrets.Findings {
		if f.Layer != diffIDs[0] {
			t.Errorf("%s: layer %q, want %q", f.Path, f.Layer, diffIDs[0])
		}
		if f.Path == "/etc/app/aws.env" {
			found = true
			if !f.Deleted {
				t.Error("the key deleted by layer 2 is not marked deleted")
			}
		} else if f.Deleted {
			t.Errorf("%s marked deleted", f.Path)
		}
	}
	if !found {
		t.Error("the key deleted by layer 2 is not reported")
	}
	table, _, _ := run(t, "scan", "--scanners", "secret", "docker-archive:"+archive)
	if !strings.Contains(table, "(deleted later)") {
		t.Errorf("table does not say the file was deleted:\n%s", table)
	}
}

func TestScanSecretsGateAndAllow(t *testing.T) {
	files, planted := secrettest.FixtureFiles()
	dir := secrettest.WriteTree(t, files)
	out, _, _ := run(t, "scan", "--scanners", "secret", "--format", "json", dir)
	var doc secretDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	fp := ""
	for _, f := range doc.Secrets.Findings {
		if f.Path == "/opt/app/deploy.sh" {
			fp = f.Fingerprint
		}
	}
	ignore := filepath.Join(t.TempDir(), "riskmap.ignore")
	os.WriteFile(ignore, []byte("CVE-2019-0001 not used\nsecret:path=testdata/** fixtures\nsecret:fingerprint="+fp+" rotated\nsecret:rule=generic-api-key expires=2020-01-01 old\n"), 0o644)
	bad := filepath.Join(t.TempDir(), "bad.ignore")
	os.WriteFile(bad, []byte("secret:rule=x\n"), 0o644)
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		secrets int
	}{
		{"no_gate", nil, 0, len(planted)},
		{"fail_on_secret", []string{"--fail-on", "secret"}, 1, len(planted)},
		{"fail_on_critical", []string{"--fail-on", "critical"}, 1, len(planted)},
		{"fail_on_kev", []string{"--fail-on", "kev"}, 0, len(planted)},
		{"fail_on_count_alone", []string{"--fail-on-count", "7"}, 0, len(planted)},
		{"fail_on_count_reached", []string{"--fail-on-count", "6"}, 1, len(planted)},
		{"allow_flags", []string{"--fail-on", "critical", "--secret-allow-rule", "aws-access-token", "--secret-allow-path", "/root/.ssh/*"}, 0, len(planted) - 2},
		{"ignore_file", []string{"--ignore-file", ignore, "--fail-on", "secret"}, 1, len(planted) - 2},
		{"bad_ignore_file", []string{"--ignore-file", bad}, 2, 0},
		{"bad_allow_fingerprint", []string{"--secret-allow-fingerprint", "xyz"}, 2, 0},
		{"bad_scanner", []string{"--scanners", "secret,rootkit"}, 2, 0},
		{"format_without_secrets", []string{"--format", "cyclonedx-json"}, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"scan", "--scanners", "secret", "--output", filepath.Join(t.TempDir(), "out"), "--format", "json"}, tc.args...)
			args = append(args, dir)
			_, stderr, code := run(t, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			noSecret(t, "stderr", stderr, planted)
			if code == 2 {
				return
			}
			b, _ := os.ReadFile(args[4])
			noSecret(t, "output", string(b), planted)
			var doc secretDoc
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Secrets.Findings) != tc.secrets {
				t.Errorf("%d secrets reported, want %d", len(doc.Secrets.Findings), tc.secrets)
			}
		})
	}
	// Allow-list counts through JSON.
	out, stderr, _ := run(t, "scan", "--scanners", "secret", "--format", "json", "--ignore-file", ignore, dir)
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Secrets.Findings) != len(planted)-2 || doc.Secrets.Allowed != 1 {
		t.Errorf("with the ignore file: %d secrets, %d allowed; want %d and 1 (the path glob is not read at all)", len(doc.Secrets.Findings), doc.Secrets.Allowed, len(planted)-2)
	}
	if !strings.Contains(stderr, "expired") {
		t.Errorf("no warning for the expired entry: %s", stderr)
	}
	// Without the secret scanner, --fail-on secret and inventory: targets are refused.
	if _, _, code := run(t, "scan", "--fail-on", "secret", dir); code != 2 {
		t.Errorf("--fail-on secret without the secret scanner: exit %d, want 2", code)
	}
	if _, _, code := run(t, "scan", "--scanners", "secret", "inventory:"+filepath.Join(dir, "x.json")); code != 2 {
		t.Errorf("inventory: target with the secret scanner: exit %d, want 2", code)
	}
}

// TestScanSecretsCorpus: the labelled corpus (30 secrets of 26 kinds)
// through `riskmap scan --scanners secret` in every format: each secret
// reported, none shown.
func TestScanSecretsCorpus(t *testing.T) {
	files, planted := secrettest.Corpus()
	dir := secrettest.WriteTree(t, files)
	for _, format := range []string{"table", "json", "sarif"} {
		out, stderr, code := run(t, "scan", "--scanners", "secret", "--format", format, dir)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", format, code, stderr)
		}
		noSecret(t, format+" output", out, planted)
		noSecret(t, format+" stderr", stderr, planted)
		switch format {
		case "json":
			var doc secretDoc
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Secrets.Findings) != len(planted) {
				t.Errorf("JSON: %d secrets, want %d", len(doc.Secrets.Findings), len(planted))
			}
		case "sarif":
			var sarif struct {
				Runs []struct {
					Tool struct {
						Driver struct{ Rules []struct{ ID string } }
					}
					Results []struct{ RuleID string }
				}
			}
			if err := json.Unmarshal([]byte(out), &sarif); err != nil {
				t.Fatal(err)
			}
			if r := sarif.Runs[0]; len(r.Results) != len(planted) || len(r.Tool.Driver.Rules) != secrettest.Kinds(planted) {
				t.Errorf("SARIF: %d results of %d rules, want %d of %d", len(r.Results), len(r.Tool.Driver.Rules), len(planted), secrettest.Kinds(planted))
			}
		}
	}
}
