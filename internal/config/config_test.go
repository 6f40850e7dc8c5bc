package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/testenv"
)

func TestLoadPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "console.yaml")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:9000\nsession-ttl: 2h\nlogin-account-limit: 7\nlog-level: warn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"RISKMAP_CONFIG": file, "RISKMAP_SESSION_TTL": "3h", "RISKMAP_LOG_LEVEL": "debug"}
	c, rest, err := LoadConsole("console", []string{"--log-level", "error", "extra"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConsole()
	want.ConfigFile = file
	want.Listen = "127.0.0.1:9000"  // file
	want.SessionTTL = 3 * time.Hour // env beats file
	want.LoginAccountLimit = 7      // file
	want.LogLevel = "error"         // flag beats env
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"extra"}, rest); diff != "" {
		t.Errorf("rest (-want +got):\n%s", diff)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown_flag", []string{"--nope"}, nil, "flag provided but not defined"},
		{"bad_duration_env", nil, map[string]string{"RISKMAP_SESSION_TTL": "soon"}, "RISKMAP_SESSION_TTL"},
		{"unknown_file_key", []string{"--config", write("unknown.yaml", "lisen: x\n")}, nil, `unknown setting "lisen"`},
		{"file_not_mapping", []string{"--config", write("list.yaml", "- a\n")}, nil, "parse YAML"},
		{"nested_value", []string{"--config", write("nested.yaml", "listen: {a: 1}\n")}, nil, `setting "listen"`},
		{"missing_file", []string{"--config", filepath.Join(dir, "absent.yaml")}, nil, "config file"},
		{"cert_without_key", []string{"--tls-cert", "c.pem"}, nil, "must be given together"},
		{"negative_ttl", []string{"--session-ttl", "-1s"}, nil, "--session-ttl must be positive"},
		{"http_public_url", []string{"--public-url", "http://console.example"}, nil, "--public-url"},
		{"bad_proxy", []string{"--trusted-proxies", "10.0.0.0/8,lb.example"}, nil, `"lb.example" is neither`},
		{"bad_log_format", []string{"--log-format", "xml"}, nil, `--log-format "xml"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := LoadConsole("console", tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v; want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestReadmeTable keeps the README's settings table generated from the code.
func TestReadmeTable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), MarkdownTable()) {
		t.Errorf("README.md's console settings table is out of date; replace it with:\n%s", MarkdownTable())
	}
}

func FuzzParseFile(f *testing.F) {
	f.Add([]byte("listen: :8443\nsession-ttl: 1h\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("a: {b: c}\n"))
	f.Add([]byte("a: &x 1\nb: *x\n"))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, b []byte) {
		values, err := ParseFile(b)
		if err == nil {
			for k := range values {
				_ = EnvName(k)
			}
		}
	})
}
