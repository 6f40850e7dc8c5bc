package scanner

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// cargoAuditJSON is the dependency tree cargo-auditable embeds: the root
// crate, a runtime dependency at an old version (regex 1.5.4 has
// CVE-2022-24713) and a build-only dependency, which is not reported.
const cargoAuditJSON = `{"packages":[
 {"name":"rustapp","version":"0.1.0","source":"local","root":true,"dependencies":[1,2]},
 {"name":"regex","version":"1.5.4","source":"crates.io","dependencies":[3]},
 {"name":"cc","version":"1.0.73","source":"crates.io","kind":"build"},
 {"name":"memchr","version":"2.4.1","source":"crates.io"}
]}`

// cargoAuditableBinary builds a real ELF executable (C with gcc when it is
// installed, else Go) and adds, as cargo-auditable's linker script does, a
// .dep-v0 section holding the zlib-compressed dependency JSON, with
// objcopy. Returns the binary's path.
func cargoAuditableBinary(t *testing.T, dir string) string {
	t.Helper()
	needTools(t, "apt-get install binutils (.ci/run does)", "objcopy")
	plain := filepath.Join(dir, "plain")
	if _, err := exec.LookPath("gcc"); err == nil {
		src := filepath.Join(dir, "main.c")
		write(t, src, "int main(void) { return 0; }\n")
		run(t, dir, nil, "gcc", "-o", plain, src)
	} else {
		src := filepath.Join(dir, "main.go")
		write(t, src, "package main\n\nfunc main() {}\n")
		cmd := exec.Command("go", "build", "-o", plain, src)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte(cargoAuditJSON))
	zw.Close()
	section := filepath.Join(dir, "dep-v0")
	if err := os.WriteFile(section, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "rustapp")
	run(t, dir, nil, "objcopy", "--add-section", ".dep-v0="+section, "--set-section-flags", ".dep-v0=noload,readonly", plain, out)
	if err := os.Chmod(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// dockerSave writes a one-layer docker save archive whose layer holds files
// (path in the image → mode, content), gzip-compressed or not.
func dockerSave(t *testing.T, out string, files map[string][]byte, modes map[string]int64, gz bool) {
	t.Helper()
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	for _, name := range sortedKeysOf(files) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: modes[name], Size: int64(len(files[name])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(files[name])
	}
	tw.Close()
	diff := sha256.Sum256(layer.Bytes())
	blob := layer.Bytes()
	if gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(blob)
		zw.Close()
		blob = b.Bytes()
	}
	cfg, _ := json.Marshal(map[string]any{"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diff[:])}}})
	cfgSum := sha256.Sum256(cfg)
	cfgName := hex.EncodeToString(cfgSum[:]) + ".json"
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{"rustapp:test"}, "Layers": []string{"layer/layer.tar"}}})
	var arc bytes.Buffer
	aw := tar.NewWriter(&arc)
	for _, f := range []struct {
		name string
		b    []byte
	}{{"layer/layer.tar", blob}, {cfgName, cfg}, {"manifest.json", manifest}} {
		aw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.b)), Typeflag: tar.TypeReg})
		aw.Write(f.b)
	}
	aw.Close()
	if err := os.WriteFile(out, arc.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func sortedKeysOf(m map[string][]byte) []string {
	return slices.Sorted(maps.Keys(m))
}

// TestScanCargoAuditable: the crates embedded by cargo-auditable come out
// with cargo purls, from a directory and from image archives (read in place
// when uncompressed, streamed when gzip), and a script beside it is not
// mistaken for a binary.
func TestScanCargoAuditable(t *testing.T) {
	dir := t.TempDir()
	bin := cargoAuditableBinary(t, dir)
	content, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	write(t, filepath.Join(root, "usr/local/bin/rustapp"), string(content))
	write(t, filepath.Join(root, "usr/local/bin/script.sh"), "#!/bin/sh\necho .dep-v0\n")
	for _, p := range []string{"usr/local/bin/rustapp", "usr/local/bin/script.sh"} {
		if err := os.Chmod(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string][]byte{"usr/local/bin/rustapp": content, "usr/local/bin/script.sh": []byte("#!/bin/sh\necho .dep-v0\n")}
	modes := map[string]int64{"usr/local/bin/rustapp": 0o755, "usr/local/bin/script.sh": 0o755}
	plainArchive, gzArchive := filepath.Join(dir, "plain.tar"), filepath.Join(dir, "gz.tar")
	dockerSave(t, plainArchive, files, modes, false)
	dockerSave(t, gzArchive, files, modes, true)

	want := []string{
		"crates.io memchr@2.4.1 pkg:cargo/memchr@2.4.1 usr/local/bin/rustapp",
		"crates.io regex@1.5.4 pkg:cargo/regex@1.5.4 usr/local/bin/rustapp",
		"crates.io rustapp@0.1.0 pkg:cargo/rustapp@0.1.0 usr/local/bin/rustapp",
	}
	for _, tc := range []struct{ name, target string }{
		{"dir", "dir:" + root},
		{"docker_archive_uncompressed", "docker-archive:" + plainArchive},
		{"docker_archive_gzip", "docker-archive:" + gzArchive},
		{"single_file", filepath.Join(root, "usr/local/bin/rustapp")}, // located at the path given
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := scan(t, tc.target, Options{})
			var got []string
			for _, p := range inv.Packages {
				if p.Ecosystem == "Go" { // the Go fallback's own build info
					continue
				}
				loc := ""
				if len(p.Locations) > 0 {
					loc = strings.TrimPrefix(filepath.ToSlash(p.Locations[0]), filepath.ToSlash(root)+"/")
				}
				got = append(got, p.Ecosystem+" "+p.Name+"@"+p.Version+" "+p.PURL+" "+loc)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if len(inv.Errors) != 0 {
				t.Errorf("errors: %v", inv.Errors)
			}
		})
	}
}
