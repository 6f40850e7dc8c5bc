package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/vulndb"
	"github.com/riskmap/riskmap/internal/vulndb/kbtest"
)

// A CI template is read as its CI system reads it: the jobs' shell
// commands in order, with the environment the template sets. Expressions
// and variables of the CI system (${{ github.sha }}, $CI_COMMIT_SHORT_SHA,
// ${env.WORKSPACE}, secrets) come from ciVars.

// ciJob is one job of a template: its environment and shell commands.
type ciJob struct {
	name string
	env  map[string]string
	cmds []string
}

// ciVars stands in for what the CI systems provide.
type ciVars struct {
	workspace, sha  string
	console, pin    string
	apiKey, dataDir string
}

func (v ciVars) builtin() map[string]string {
	return map[string]string{
		// GitHub Actions
		"github.sha": v.sha, "github.workspace": v.workspace, "github.run_id": "1",
		"vars.RISKMAP_CONSOLE": v.console, "vars.RISKMAP_CONSOLE_PIN": v.pin, "secrets.RISKMAP_API_KEY": v.apiKey,
		// GitLab CI
		"CI_PROJECT_DIR": v.workspace, "CI_COMMIT_SHORT_SHA": v.sha,
		// Jenkins
		"env.WORKSPACE": v.workspace, "env.BUILD_NUMBER": v.sha, "env.PATH": os.Getenv("PATH"), "env.HOME": os.Getenv("HOME"),
		"WORKSPACE": v.workspace, "BUILD_NUMBER": v.sha,
		// CircleCI
		"CIRCLE_SHA1": v.sha, "CIRCLE_WORKING_DIRECTORY": v.workspace, "BASH_ENV": filepath.Join(v.workspace, ".bash_env"),
	}
}

var (
	ghExpr     = regexp.MustCompile(`\$\{\{\s*([^}]+?)\s*\}\}`)
	groovyExpr = regexp.MustCompile(`\$\{(env\.[A-Za-z_]+)\}`)
)

// resolve substitutes the CI system's own expressions (not shell variables,
// which the shell expands from the job's environment).
func resolve(t *testing.T, s string, vars map[string]string) string {
	t.Helper()
	for _, re := range []*regexp.Regexp{ghExpr, groovyExpr} {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			k := re.FindStringSubmatch(m)[1]
			v, ok := vars[k]
			if !ok {
				t.Errorf("template expression %s: unknown to the test", m)
			}
			return v
		})
	}
	return s
}

// readTemplate returns the jobs of a CI template, by system.
func readTemplate(t *testing.T, path string, v ciVars) []ciJob {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	vars := v.builtin()
	base := filepath.Base(path)
	if strings.HasPrefix(base, "Jenkinsfile") {
		return readJenkinsfile(t, string(b), vars)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", base, err)
	}
	envOf := func(m any) map[string]string {
		out := map[string]string{}
		mm, _ := m.(map[string]any)
		for k, x := range mm {
			out[k] = resolve(t, fmt.Sprint(x), vars)
		}
		return out
	}
	strs := func(x any) []string {
		var out []string
		switch x := x.(type) {
		case string:
			out = append(out, resolve(t, x, vars))
		case []any:
			for _, s := range x {
				out = append(out, resolve(t, fmt.Sprint(s), vars))
			}
		}
		return out
	}
	var jobs []ciJob
	defer func() {
		// What the CI system defines in every job's environment, and the
		// expansion of $VARIABLES in the template's own variables (GitLab
		// and CircleCI expand them; GitHub's env has only ${{ }}).
		for i := range jobs {
			env := map[string]string{}
			for k, val := range vars {
				if !strings.Contains(k, ".") {
					env[k] = val
				}
			}
			for k, val := range jobs[i].env {
				if !strings.HasPrefix(base, "github-actions") {
					val = os.Expand(val, func(n string) string { return env[n] })
				}
				env[k] = val
			}
			jobs[i].env = env
		}
	}()
	switch {
	case strings.HasPrefix(base, "github-actions"):
		wfEnv := envOf(doc["env"])
		for _, name := range sortedKeys(doc["jobs"]) {
			job := doc["jobs"].(map[string]any)[name].(map[string]any)
			j := ciJob{name: name, env: merge(wfEnv, envOf(job["env"]))}
			for _, st := range job["steps"].([]any) {
				step := st.(map[string]any)
				if run, ok := step["run"]; ok {
					j.cmds = append(j.cmds, strs(run)...)
				}
			}
			jobs = append(jobs, j)
		}
	case strings.HasPrefix(base, "gitlab-ci"):
		global := envOf(doc["variables"])
		for _, name := range yamlOrder(t, b) {
			job, ok := doc[name].(map[string]any)
			if !ok || job["script"] == nil {
				continue
			}
			j := ciJob{name: name, env: merge(global, envOf(job["variables"]))}
			j.cmds = append(strs(job["before_script"]), strs(job["script"])...)
			jobs = append(jobs, j)
		}
	case strings.HasPrefix(base, "circleci"):
		for _, name := range sortedKeys(doc["jobs"]) {
			job := doc["jobs"].(map[string]any)[name].(map[string]any)
			j := ciJob{name: name, env: envOf(job["environment"])}
			for _, st := range job["steps"].([]any) {
				step, ok := st.(map[string]any)
				if !ok {
					continue // checkout
				}
				switch run := step["run"].(type) {
				case string:
					j.cmds = append(j.cmds, resolve(t, run, vars))
				case map[string]any:
					j.cmds = append(j.cmds, strs(run["command"])...)
				}
			}
			jobs = append(jobs, j)
		}
	default:
		t.Fatalf("%s: which CI system?", base)
	}
	return jobs
}

var (
	jenkinsEnv      = regexp.MustCompile(`(?m)^\s*([A-Z_][A-Z0-9_]*)\s*=\s*(?:'([^']*)'|"([^"]*)"|credentials\('([^']*)'\))\s*$`)
	jenkinsEnvBlock = regexp.MustCompile(`(?s)environment \{\n(.*?)\n\s*\}\n`)
	jenkinsSh       = regexp.MustCompile(`(?m)^\s*sh\s+(?:'([^']*)'|"([^"]*)")\s*$`)
)

// readJenkinsfile reads a declarative pipeline's environment block and its
// sh steps (one job; the stages in order).
func readJenkinsfile(t *testing.T, s string, vars map[string]string) []ciJob {
	t.Helper()
	j := ciJob{name: "pipeline", env: map[string]string{}}
	if m := jenkinsEnvBlock.FindStringSubmatch(s); m != nil {
		block := m[1]
		for _, m := range jenkinsEnv.FindAllStringSubmatch(block, -1) {
			switch {
			case m[4] != "":
				j.env[m[1]] = vars["secrets."+m[1]] // credentials('id')
			case m[3] != "":
				j.env[m[1]] = resolve(t, m[3], vars) // Groovy interpolates "..."
			default:
				j.env[m[1]] = m[2]
			}
		}
	}
	for _, m := range jenkinsSh.FindAllStringSubmatch(s, -1) {
		if m[2] != "" {
			j.cmds = append(j.cmds, resolve(t, m[2], vars))
		} else {
			j.cmds = append(j.cmds, m[1])
		}
	}
	return []ciJob{j}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func sortedKeys(m any) []string {
	mm, _ := m.(map[string]any)
	var out []string
	for k := range mm {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// yamlOrder lists a YAML document's top-level keys in file order (GitLab
// runs stages in order; the jobs of our templates are in that order too).
func yamlOrder(t *testing.T, b []byte) []string {
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil || len(n.Content) == 0 {
		t.Fatalf("yaml: %v", err)
	}
	var out []string
	for i := 0; i < len(n.Content[0].Content); i += 2 {
		out = append(out, n.Content[0].Content[i].Value)
	}
	return out
}

// shellLines splits a job command into its shell lines (backslash
// continuations joined; comments and blank lines dropped).
func shellLines(cmd string) []string {
	var out []string
	cur := ""
	for _, l := range strings.Split(cmd, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		l = cur + l
		cur = ""
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// riskmapWords cuts a shell line starting with riskmap at its first
// unquoted |, ; or & (what follows belongs to the shell, like `|| echo`)
// and returns the rest after "riskmap ".
func riskmapWords(line string) string {
	var q byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case q != 0 && c == q:
			q = 0
		case q == 0 && (c == '\'' || c == '"'):
			q = c
		case q == 0 && (c == '|' || c == ';' || c == '&'):
			return strings.TrimSpace(strings.TrimPrefix(line[:i], "riskmap"))
		}
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "riskmap"))
}

// shellArgs expands words as the job's shell would (variables from env,
// quotes removed); an unset variable is an error.
func shellArgs(t *testing.T, words string, env map[string]string) []string {
	t.Helper()
	cmd := exec.Command("sh", "-c", "set -eu\nset -- "+words+"\nprintf '%s\\0' \"$@\"")
	cmd.Env = envList(env)
	out, err := cmd.Output()
	if err != nil {
		var xe *exec.ExitError
		if errors.As(err, &xe) {
			err = fmt.Errorf("%w: %s", err, xe.Stderr)
		}
		t.Fatalf("expand %q: %v", words, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

func envList(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		out = append(out, "DOCKER_HOST="+h)
	}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// TestCITemplates reads every template as its CI system does and checks
// that each riskmap command line parses with the real flag sets; every
// template has a scan.
func TestCITemplates(t *testing.T) {
	root := testenv.ModuleRoot(t)
	files, _ := filepath.Glob(filepath.Join(root, "ci", "templates", "*"))
	if len(files) < 12 {
		t.Fatalf("templates: %v", files)
	}
	v := ciVars{workspace: t.TempDir(), sha: "0123abc", console: "https://127.0.0.1:8443", pin: "sha256:00", apiKey: "rmk_x", dataDir: t.TempDir()}
	for _, f := range files {
		t.Run(strings.ReplaceAll(filepath.Base(f), ".", "_"), func(t *testing.T) {
			scans := 0
			for _, j := range readTemplate(t, f, v) {
				for k, val := range map[string]string{"RISKMAP_CONSOLE": v.console, "RISKMAP_CONSOLE_PIN": v.pin, "RISKMAP_API_KEY": v.apiKey} {
					j.env[k] = cmpOr(j.env[k], val) // the CI settings an air-gapped template documents
				}
				for _, c := range j.cmds {
					for _, l := range shellLines(c) {
						if !strings.HasPrefix(l, "riskmap ") {
							continue
						}
						args := shellArgs(t, riskmapWords(l), j.env)
						var err error
						switch args[0] {
						case "scan":
							fl, _ := scanFlags(&bytes.Buffer{})
							if err = fl.Parse(args[1:]); err == nil && fl.NArg() != 1 {
								err = errors.New("want one target")
							}
							scans++
						case "feeds":
							fl, _ := feedsFlags(&bytes.Buffer{})
							err = fl.Parse(args[2:])
						case "sbom", "version":
						default:
							err = fmt.Errorf("unexpected command %q", args[0])
						}
						if err != nil {
							t.Errorf("job %s: %s: %v", j.name, l, err)
						}
					}
				}
			}
			if scans == 0 {
				t.Error("no riskmap scan in the template")
			}
		})
	}
}

// ciWorkspace is a checkout the templates run in: lockfiles (vulnerable
// ones, or one clean) and a Dockerfile that puts them in an image.
func ciWorkspace(t *testing.T, vulnerable bool) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"Dockerfile":        "FROM scratch\nCOPY package-lock.json requirements.txt /app/\n",
		"package-lock.json": `{"name":"clean","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"clean","version":"1.0.0"}}}`,
		"requirements.txt":  "# nothing pinned\n",
	}
	if vulnerable {
		b, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "internal/inventory/scanner/testdata/npm_old/package-lock.json"))
		if err != nil {
			t.Fatal(err)
		}
		files["package-lock.json"] = string(b)
		files["requirements.txt"] = "django==2.2.0\nurllib3==1.24.1\n"
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestCITemplatesRun runs every template's commands for real, in order:
// the image builds (docker build, docker save | gzip) on the real engine,
// and each riskmap command in process, as the shell expands it, in a
// checkout with vulnerable lockfiles and in a clean one. `feeds update`
// (the internet) is stood in for by the knowledge base imported from the
// shared feeds; the air-gapped templates reach a real console started on
// loopback (its knowledge base from the same feeds, its pinned certificate
// and an API key) with no knowledge base here. Each scan must exit with
// the code its thresholds imply for the findings of the same target.
func TestCITemplatesRun(t *testing.T) {
	root := testenv.ModuleRoot(t)
	files, _ := filepath.Glob(filepath.Join(root, "ci", "templates", "*"))
	kbDir := kbtest.SharedDataDir(t)
	kb, err := os.ReadFile(filepath.Join(kbDir, vulndb.FileName))
	if err != nil {
		t.Fatal(err)
	}
	rc := startMatchConsole(t, true) // before the subtests change directory
	sfx := make([]byte, 4)
	rand.Read(sfx)
	sha := "t" + hex.EncodeToString(sfx)
	t.Cleanup(func() {
		out, _ := exec.Command("docker", "images", "-q", "riskmap-ci-example:"+sha).Output()
		if len(bytes.TrimSpace(out)) > 0 {
			exec.Command("docker", "rmi", "-f", "riskmap-ci-example:"+sha).Run()
		}
	})
	exits := map[int]int{}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		usesDocker := bytes.Contains(b, []byte("docker build"))
		airgapped := bytes.Contains(b, []byte("--console"))
		for _, vulnerable := range []bool{true, false} {
			name := strings.ReplaceAll(filepath.Base(f), ".", "_") + map[bool]string{true: "_vulnerable", false: "_clean"}[vulnerable]
			t.Run(name, func(t *testing.T) {
				if usesDocker {
					testenv.Docker(t)
				}
				ws := ciWorkspace(t, vulnerable)
				t.Chdir(ws)
				v := ciVars{workspace: ws, sha: sha, apiKey: "unset", dataDir: t.TempDir()}
				if airgapped {
					v.console, v.pin, v.apiKey = rc.url, rc.pin, rc.key
				}
				for _, j := range readTemplate(t, f, v) {
					if airgapped {
						// The CI settings the template documents (Jenkins
						// writes placeholders in its environment block).
						j.env["RISKMAP_CONSOLE"] = v.console
						j.env["RISKMAP_CONSOLE_PIN"] = v.pin
						j.env["RISKMAP_API_KEY"] = v.apiKey
					}
					dataDir := cmpOr(j.env["RISKMAP_DATA_DIR"], v.dataDir) // empty unless feeds are "updated"
					for k, val := range j.env {
						t.Setenv(k, val)
					}
					t.Setenv("RISKMAP_DATA_DIR", dataDir)
					for _, c := range j.cmds {
						for _, l := range shellLines(c) {
							exits[runCILine(t, j, l, kb, kbDir, dataDir)]++
						}
					}
				}
			})
		}
	}
	if exits[1] == 0 || exits[0] == 0 {
		t.Errorf("riskmap exit codes seen %v: want both passing and failing gates", exits)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// runCILine runs one shell line of a job: riskmap commands in process
// (scans checked against the exit code their gate implies), image builds
// with the shell; it returns riskmap's exit code (-1 for other lines).
func runCILine(t *testing.T, j ciJob, l string, kb []byte, kbDir, dataDir string) int {
	t.Helper()
	switch {
	case strings.HasPrefix(l, "docker build"), strings.HasPrefix(l, "docker save"):
		cmd := exec.Command("bash", "-c", "set -euo pipefail\n"+l)
		cmd.Env = envList(j.env)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("job %s: %s: %v\n%s", j.name, l, err, out)
		}
		return -1
	case !strings.HasPrefix(l, "riskmap "):
		return -1 // go install, PATH and cache plumbing
	}
	args := shellArgs(t, riskmapWords(l), j.env)
	switch {
	case args[0] == "feeds" && len(args) > 1 && args[1] == "update":
		// The internet's feeds: the knowledge base imported from the
		// shared feeds instead, where `riskmap feeds` keeps it
		// ($RISKMAP_DATA_DIR/feeds).
		dir := feeds.DefaultDataDir()
		if !strings.HasPrefix(dir, dataDir) {
			t.Fatalf("the feeds directory %s is not in RISKMAP_DATA_DIR %s", dir, dataDir)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, vulndb.FileName), kb, 0o644); err != nil {
			t.Fatal(err)
		}
		return -1
	case args[0] == "sbom":
		if _, stderr, code := run(t, args...); code != 0 {
			t.Fatalf("job %s: %s: exit %d\n%s", j.name, l, code, stderr)
		}
		return 0
	case args[0] != "scan":
		t.Fatalf("job %s: unexpected riskmap command %q", j.name, l)
	}
	fl, o := scanFlags(&bytes.Buffer{})
	if err := fl.Parse(args[1:]); err != nil || fl.NArg() != 1 {
		t.Fatalf("job %s: %s: %v", j.name, l, err)
	}
	// The findings of the same target, matched locally without a gate.
	ref := filepath.Join(t.TempDir(), "ref.json")
	if _, stderr, code := run(t, "scan", "--db", kbDir, "--quiet", "--format", "json", "--output", ref, fl.Arg(0)); code != 0 {
		t.Fatalf("reference scan of %s: exit %d\n%s", fl.Arg(0), code, stderr)
	}
	refB, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Findings []match.Finding }
	if err := json.Unmarshal(refB, &doc); err != nil {
		t.Fatal(err)
	}
	want := 0
	if _, fail := o.gate.Check(doc.Findings); fail {
		want = 1
	}
	_, stderr, code := run(t, args...)
	t.Logf("job %s: %s: exit %d (%d findings)", j.name, l, code, len(doc.Findings))
	if code != want {
		t.Errorf("job %s: %s: exit %d, want %d for %d findings (gate %s)\n%s", j.name, l, code, want, len(doc.Findings), o.gate, stderr)
	}
	if o.output != "" {
		if _, err := os.Stat(o.output); err != nil {
			t.Errorf("job %s: %s: no report: %v", j.name, l, err)
		}
	}
	return code
}
