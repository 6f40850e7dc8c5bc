package sensor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/secretscan/secrettest"
	"github.com/riskmap/riskmap/internal/sensor"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

// TestScanSecretsHost: a secret scan command on the host finds the planted
// secrets of the host's root filesystem (rule, file, line, a fingerprint,
// an excerpt with the secret redacted), not those under the runtime stores
// a host scan skips; the results pass the console's decoder and hold no
// secret.
func TestScanSecretsHost(t *testing.T) {
	files, planted := secrettest.FixtureFiles()
	host := secrettest.WriteTree(t, files)
	aws := secrettest.FakeSecrets()["aws"]
	for _, dir := range []string{"var/lib/docker/overlay2/abc/diff/etc", "run/secrets"} {
		p := filepath.Join(host, dir, "aws.env")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("aws_access_key_id = "+aws+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := sensor.New(sensor.Config{HostRoot: host, DockerHost: "off", ContainerdSockets: []string{"off"}, CloudMetadataURL: "off"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.ScanSecrets(context.Background(), sensorproto.CommandTarget{Kind: "host", Ref: "/"}, func(float64) {})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]sensorproto.SecretFinding{}
	for _, f := range res.Secrets {
		got[f.Rule+" "+f.File] = f
		if strings.HasPrefix(f.File, "/run/") || strings.HasPrefix(f.File, "/var/lib/docker/") {
			t.Errorf("a secret of a skipped runtime store: %+v", f)
		}
	}
	for _, p := range planted {
		f, ok := got[p.Rule+" "+p.Path]
		if !ok {
			t.Errorf("%s in %s not found: %+v", p.Rule, p.Path, res.Secrets)
			continue
		}
		if f.Line != p.Line || len(f.Fingerprint) != 64 || !strings.Contains(f.Excerpt, sensorproto.RedactionMark) {
			t.Errorf("%s in %s: line %d (want %d), fingerprint %q, excerpt %q", p.Rule, p.Path, f.Line, p.Line, f.Fingerprint, f.Excerpt)
		}
	}
	body, err := sensorproto.EncodeResults(res)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sensorproto.DecodeResults(bytes.NewReader(body)); err != nil {
		t.Errorf("the console would refuse the results: %v", err)
	}
	raw, _ := json.Marshal(res)
	doc := string(raw)
	for name, secret := range secrettest.FakeSecrets() {
		if strings.Contains(doc, secret) || (len(secret) > 20 && strings.Contains(doc, secret[4:20])) {
			t.Errorf("the results hold the %s secret", name)
		}
	}
	if res.Type != sensorproto.ScanSecret || res.Engine.Name != "gitleaks" || res.Files == 0 {
		t.Errorf("results header: %+v", res)
	}
}
