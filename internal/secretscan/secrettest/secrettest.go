// Package secrettest builds the secret scan's test fixtures: fake secrets
// made at run time (this source holds none a scanner would flag), a tree
// of files holding them, image layers (one deleting a secret file) and
// `docker save` archives, for the tests of internal/secretscan and of the
// CLI.
package secrettest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Planted is a fake secret the fixtures put in a file.
type Planted struct {
	Rule, Path string
	Line       int
	Secret     string
}

// FakeSecrets builds the fixtures' secrets at run time from pieces, so
// this source file holds none a secret scanner would flag.
func FakeSecrets() map[string]string {
	rng := rand.New(rand.NewPCG(18, 2026))
	pick := func(alphabet string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	const upper27 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	key := make([]byte, 600)
	for i := range key {
		key[i] = byte(rng.IntN(256))
	}
	b64 := base64.StdEncoding.EncodeToString(key)
	var pem strings.Builder
	pem.WriteString("-----BEGIN RSA " + "PRIVATE KEY-----\n")
	for len(b64) > 64 {
		pem.WriteString(b64[:64] + "\n")
		b64 = b64[64:]
	}
	pem.WriteString(b64 + "\n-----END RSA " + "PRIVATE KEY-----")
	return map[string]string{
		"aws":    "AK" + "IA" + pick(upper27, 16),
		"github": "gh" + "p_" + pick(alnum, 36),
		"pem":    pem.String(),
		"slack":  "https://hooks." + "slack.com/services/T" + pick(alnum, 8) + "/B" + pick(alnum, 8) + "/" + pick(alnum, 24),
		"dbpass": pick(alnum, 14),
	}
}

// FixtureFiles returns the files of the fixture tree (relative paths) and
// the secrets planted in them.
func FixtureFiles() (map[string][]byte, []Planted) {
	s := FakeSecrets()
	files := map[string][]byte{
		"etc/app/aws.env":           []byte("# credentials\nregion = eu-west-1\naws_access_key_id = " + s["aws"] + "\n"),
		"opt/app/deploy.sh":         []byte("#!/bin/sh\nset -e\nexport GITHUB_TOKEN=" + s["github"] + "\ngit push\n"),
		"root/.ssh/id_rsa":          []byte(s["pem"] + "\n"),
		"opt/app/notify.yaml":       []byte("notify:\n  channel: ops\n  url: " + s["slack"] + "\n"),
		"etc/app/db.conf":           []byte("[db]\nDATABASE_URL=postgres://app:" + s["dbpass"] + "@db.internal:5432/app\n"),
		"etc/app/clean.conf":        []byte("listen = 0.0.0.0:8080\nworkers = 4\nurl = postgres://app:${DB_PASSWORD}@db:5432/app\n"),
		"usr/share/doc/app/README":  []byte("Nothing to see here.\n"),
		"usr/local/bin/app":         append([]byte("\x7fELF\x02\x01\x01\x00\x00\x00"), []byte("aws_access_key_id = "+s["aws"]+"\n")...),
		"var/lib/app/empty.txt":     nil,
		"srv/www/testdata/fake.env": []byte("api_token = " + s["github"] + "\n"),
	}
	want := []Planted{
		{"aws-access-token", "/etc/app/aws.env", 3, s["aws"]},
		{"riskmap-url-password", "/etc/app/db.conf", 2, s["dbpass"]},
		{"github-pat", "/opt/app/deploy.sh", 3, s["github"]},
		{"slack-webhook-url", "/opt/app/notify.yaml", 3, s["slack"]},
		{"private-key", "/root/.ssh/id_rsa", 1, s["pem"]},
		{"github-pat", "/srv/www/testdata/fake.env", 1, s["github"]},
	}
	return files, want
}

// WriteTree writes files under a new directory.
func WriteTree(t testing.TB, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for p, b := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.Contains(p, "bin/") || strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(full, b, mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TarEntry is one entry of a test layer: a file, or a whiteout when
// whiteout is set (the file name gets the .wh. prefix).
type TarEntry struct {
	Path     string
	Data     []byte
	Whiteout bool
}

// LayerTar builds an uncompressed layer.
func LayerTar(t testing.TB, entries []TarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, e := range entries {
		p := e.Path
		if e.Whiteout {
			p = filepath.ToSlash(filepath.Join(filepath.Dir(p), ".wh."+filepath.Base(p)))
		}
		for d := filepath.Dir(p); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.Data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// DockerSave writes a `docker save` archive of the layers (uncompressed,
// as docker save writes them) and returns its path and the layers' diff
// IDs, bottom first.
func DockerSave(t testing.TB, layers [][]byte) (string, []string) {
	t.Helper()
	var diffIDs, names []string
	for _, l := range layers {
		diffIDs = append(diffIDs, "sha256:"+sha(l))
		names = append(names, sha(l)+"/layer.tar")
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	cfgName := sha(cfg) + ".json"
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{"secrets:test"}, "Layers": names}})
	p := filepath.Join(t.TempDir(), "image.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	for i, l := range layers {
		add(names[i], l)
	}
	add(cfgName, cfg)
	add("manifest.json", manifest)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return p, diffIDs
}

// ImageLayers are the fixture image's layers: layer 1 holds every
// fixture file, layer 2 deletes /etc/app/aws.env and adds a file.
func ImageLayers(t testing.TB, files map[string][]byte) [][]byte {
	var l1 []TarEntry
	for p, b := range files {
		l1 = append(l1, TarEntry{Path: p, Data: b})
	}
	l2 := []TarEntry{
		{Path: "etc/app/aws.env", Whiteout: true},
		{Path: "etc/motd", Data: []byte("welcome\n")},
	}
	return [][]byte{LayerTar(t, l1), LayerTar(t, l2)}
}
