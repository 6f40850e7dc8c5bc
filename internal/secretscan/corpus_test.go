package secretscan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/secretscan/secrettest"
	"github.com/riskmap/riskmap/internal/testenv"
)

// corpusDeleted are the corpus files the image's top layer deletes: still
// in the image (its lower layer), so still findings.
var corpusDeleted = []string{"/root/.aws/credentials", "/root/.ssh/id_rsa", "/opt/ci/release.sh", "/etc/app/database.yml", "/home/dev/.npmrc"}

// TestLabelledCorpus plants the 30 secrets of 26 kinds of
// secrettest.Corpus in a copy of the debootstrapped minbase root
// filesystem and in an image the Docker engine builds from it (a layer
// adding them, a layer deleting five): every planted secret is found, at
// its line (recall 100%), by its rule, in its layer, and nothing else is
// (the clean tree holds none: TestCleanRootfs); no secret text is in the
// results or the logs.
func TestLabelledCorpus(t *testing.T) {
	files, want := secrettest.Corpus()
	if len(want) != 30 || secrettest.Kinds(want) < 20 {
		t.Fatalf("the corpus plants %d secrets of %d kinds, want 30 of 20 or more", len(want), secrettest.Kinds(want))
	}
	ctx := context.Background()
	var logs bytes.Buffer
	s := newScanner(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	clean := testenv.BookwormRootfs(t, testenv.RootfsMinbase)

	t.Run("rootfs", func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "rootfs")
		if out, err := exec.Command("cp", "-a", clean, root).CombinedOutput(); err != nil {
			t.Fatalf("copy the root filesystem: %v\n%s", err, out)
		}
		writeFiles(t, root, files)
		res, err := s.ScanDir(ctx, root)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(sortGot(wantFrom(want, -1, nil)), sortGot(summarize(res, nil))); d != "" {
			t.Errorf("findings (-want +got):\n%s", d)
		}
		b, _ := json.Marshal(res)
		checkNoSecret(t, "the result's JSON", b, want)
	})

	t.Run("image", func(t *testing.T) {
		testenv.Docker(t)
		base := testenv.DockerImage(t, testenv.RootfsMinbase)
		tree := secrettest.WriteTree(t, files)
		suffix := fmt.Sprint(time.Now().UnixNano())
		planted, deleted := "riskmap-corpus-planted:"+suffix, "riskmap-corpus:"+suffix
		t.Cleanup(func() { exec.Command("docker", "rmi", "-f", deleted, planted).Run() })
		c := docker(t, "create", "--network", "none", base, "true")
		docker(t, "cp", tree+"/.", c+":/")
		docker(t, "commit", c, planted)
		docker(t, "rm", "-f", c)
		rm := docker(t, append([]string{"run", "-d", "--network", "none", planted, "rm", "-f"}, corpusDeleted...)...)
		docker(t, "wait", rm)
		docker(t, "commit", rm, deleted)
		docker(t, "rm", "-f", rm)
		var diffIDs []string
		if err := json.Unmarshal([]byte(docker(t, "image", "inspect", "--format", "{{json .RootFS.Layers}}", deleted)), &diffIDs); err != nil || len(diffIDs) != 3 {
			t.Fatalf("layers of %s: %v %v", deleted, diffIDs, err)
		}
		res, err := s.ScanTarget(ctx, "docker:"+deleted, TargetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		gone := map[string]bool{}
		for _, p := range corpusDeleted {
			gone[p] = true
		}
		if d := cmp.Diff(sortGot(wantFrom(want, 1, gone)), sortGot(summarize(res, diffIDs))); d != "" {
			t.Errorf("findings of the image (-want +got):\n%s", d)
		}
		b, _ := json.Marshal(res)
		checkNoSecret(t, "the image result's JSON", b, want)
	})
	checkNoSecret(t, "the logs", logs.Bytes(), want)
}

func writeFiles(t *testing.T, root string, files map[string][]byte) {
	t.Helper()
	for p, b := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func sortGot(g []got) []got {
	slices.SortFunc(g, func(a, b got) int { return strings.Compare(a.Path+" "+a.Rule, b.Path+" "+b.Rule) })
	return g
}
