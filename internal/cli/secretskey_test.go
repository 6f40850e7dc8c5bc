package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/cli"
	"github.com/riskmap/riskmap/internal/secrets"
	"github.com/riskmap/riskmap/internal/store"
)

// TestSecretsKeyCommand rotates the key of a console's data directory,
// re-seals a stored secret under the new key and retires the old one.
func TestSecretsKeyCommand(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := cli.Run(ctx, append([]string{"console", "secrets-key", "--data-dir", dataDir}, args...), strings.NewReader(""), &out, &out); err != nil {
			t.Fatalf("secrets-key %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	// A console's first start makes the key file and stores a secret.
	keyPath := filepath.Join(dataDir, secrets.KeyFileName)
	ring, err := secrets.LoadKeyring(keyPath, true)
	if err != nil {
		t.Fatal(err)
	}
	first := ring.Primary()
	st, err := store.Open(ctx, store.Config{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	if err := secrets.NewVault(st, ring, nil, nil).Put(ctx, "org", "registries", "a", []byte("token")); err != nil {
		t.Fatal(err)
	}
	st.Close()

	if out := run("status"); !strings.Contains(out, first+" (primary): seals 1 secrets") {
		t.Errorf("status:\n%s", out)
	}
	out := run("rotate")
	second := regexp.MustCompile(`New primary key (\S+)`).FindStringSubmatch(out)
	if second == nil || second[1] == first {
		t.Fatalf("rotate:\n%s", out)
	}
	if out := run("retire"); !strings.Contains(out, "No key to retire") {
		t.Errorf("retire while the old key seals a secret:\n%s", out)
	}
	if out := run("reseal"); !strings.Contains(out, "Re-sealed 1 secrets under key "+second[1]) {
		t.Errorf("reseal:\n%s", out)
	}
	if out := run("retire"); !strings.Contains(out, "Retired "+first) {
		t.Errorf("retire:\n%s", out)
	}
	if out := run("status"); strings.Contains(out, first) || !strings.Contains(out, second[1]+" (primary): seals 1 secrets") {
		t.Errorf("status after retiring:\n%s", out)
	}
	// The secret still opens with the file as it is now.
	ring, err = secrets.LoadKeyring(keyPath, false)
	if err != nil {
		t.Fatal(err)
	}
	st, err = store.Open(ctx, store.Config{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, err := secrets.NewVault(st, ring, nil, nil).Get(ctx, "registries", "a"); err != nil || string(got) != "token" {
		t.Errorf("after rotation: %q, %v", got, err)
	}
	// An operator-given key file that does not exist is an error, not a new key.
	var errOut bytes.Buffer
	err = cli.Run(ctx, []string{"console", "secrets-key", "--data-dir", dataDir, "--secrets-key-file", filepath.Join(dataDir, "nope"), "status"}, strings.NewReader(""), &errOut, &errOut)
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("a missing --secrets-key-file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "nope")); err == nil {
		t.Error("a missing --secrets-key-file was created")
	}
}
