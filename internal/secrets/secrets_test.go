package secrets_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/secrets"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

func TestKeyFileCreatedPrivateAndRefusedWhenOthersCanRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", secrets.KeyFileName)
	if _, err := secrets.LoadKeyring(path, false); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing operator-given key file: %v, want not exist", err)
	}
	ring, err := secrets.LoadKeyring(path, true)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if len(ring.IDs()) != 1 || ring.Primary() != ring.IDs()[0] {
		t.Errorf("a new key file holds %v with primary %s", ring.IDs(), ring.Primary())
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.LoadKeyring(path, true); !errors.Is(err, secrets.ErrInsecureFile) {
		t.Errorf("a world-readable key file: %v, want ErrInsecureFile", err)
	}
	// Group-readable is accepted only when the group is the process's
	// own (a Kubernetes Secret mounted for the pod's fsGroup, 0440).
	if err := os.Chmod(path, 0o440); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, -1, os.Getegid()); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.LoadKeyring(path, false); err != nil {
		t.Errorf("a key file readable by the process's own group: %v", err)
	}
	if err := os.Chmod(path, 0o460); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.LoadKeyring(path, false); !errors.Is(err, secrets.ErrInsecureFile) {
		t.Errorf("a group-writable key file: %v, want ErrInsecureFile", err)
	}
	if os.Geteuid() == 0 {
		// Root can give the file to another group.
		if err := os.Chmod(path, 0o440); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, -1, os.Getegid()+4242); err != nil {
			t.Fatal(err)
		}
		if _, err := secrets.LoadKeyring(path, false); !errors.Is(err, secrets.ErrInsecureFile) {
			t.Errorf("a key file readable by another group: %v, want ErrInsecureFile", err)
		}
	}
}

func TestBadKeyFilesNameTheProblem(t *testing.T) {
	for _, c := range []struct{ name, body, want string }{
		{"empty", ``, "not a key file"},
		{"no keys", `{"primary":"a","keys":[]}`, "no keys"},
		{"short key", `{"primary":"a","keys":[{"id":"a","key":"AAAA"}]}`, "want 32 bytes"},
		{"primary missing", `{"primary":"b","keys":[{"id":"a","key":"` + strings.Repeat("A", 43) + `="}]}`, `primary key "b"`},
		{"duplicate", `{"primary":"a","keys":[{"id":"a","key":"` + strings.Repeat("A", 43) + `="},{"id":"a","key":"` + strings.Repeat("A", 43) + `="}]}`, "twice"},
		{"colon in id", `{"primary":"a:b","keys":[{"id":"a:b","key":"` + strings.Repeat("A", 43) + `="}]}`, "colon"},
		{"unknown member", `{"primary":"a","keys":[],"extra":1}`, "unknown field"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k")
			if err := os.WriteFile(path, []byte(c.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := secrets.LoadKeyring(path, true)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v, want one naming %s and %q", err, path, c.want)
			}
		})
	}
}

func TestSealOpensOnlyUnderItsName(t *testing.T) {
	ring, err := secrets.LoadKeyring(filepath.Join(t.TempDir(), "k"), true)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ring.Seal([]byte("hunter2"), "registries/a1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s, "hunter2") || !strings.HasPrefix(s, "v1:"+ring.Primary()+":") {
		t.Fatalf("sealed value %q", s)
	}
	s2, _ := ring.Seal([]byte("hunter2"), "registries/a1")
	if s == s2 {
		t.Error("two seals of the same value are equal (nonce reused)")
	}
	pt, err := ring.Open(s, "registries/a1")
	if err != nil || string(pt) != "hunter2" {
		t.Fatalf("open: %q, %v", pt, err)
	}
	if _, err := ring.Open(s, "registries/a2"); !errors.Is(err, secrets.ErrTampered) {
		t.Errorf("opened under another name: %v", err)
	}
	flipped := []byte(s)
	flipped[len(flipped)-3] ^= 1
	if _, err := ring.Open(string(flipped), "registries/a1"); !errors.Is(err, secrets.ErrTampered) {
		t.Errorf("a changed value: %v", err)
	}
	for _, bad := range []string{"", "hunter2", "v1:", "v1:nokey", "v2:" + ring.Primary() + ":AAAA", "v1:" + ring.Primary() + ":!!", "v1:" + ring.Primary() + ":AAAA"} {
		if _, err := ring.Open(bad, "registries/a1"); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	if _, err := ring.Open("v1:k-gone:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "registries/a1"); !errors.Is(err, secrets.ErrUnknownKey) {
		t.Errorf("a value of an unknown key: %v", err)
	}
}

func TestRotationAnotherProcessMadeIsSeenAndRetireKeepsKeysInUse(t *testing.T) {
	old := secrets.ReloadEvery
	secrets.ReloadEvery = 0
	t.Cleanup(func() { secrets.ReloadEvery = old })
	path := filepath.Join(t.TempDir(), "k")
	ring, err := secrets.LoadKeyring(path, true)
	if err != nil {
		t.Fatal(err)
	}
	first := ring.Primary()
	s1, _ := ring.Seal([]byte("one"), "x/1")
	// Another process (`riskmap console secrets-key rotate`) rotates the file.
	second, err := secrets.Rotate(path)
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Fatal("rotation kept the key id")
	}
	if ring.Primary() != second {
		t.Errorf("primary after another process rotated: %s, want %s", ring.Primary(), second)
	}
	s2, _ := ring.Seal([]byte("two"), "x/2")
	if k, _ := secrets.KeyOf(s2); k != second {
		t.Errorf("sealed with %s after rotation, want %s", k, second)
	}
	if pt, err := ring.Open(s1, "x/1"); err != nil || string(pt) != "one" {
		t.Errorf("the old key's value after rotation: %q, %v", pt, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("rotated file mode %v", fi.Mode().Perm())
	}
	gone, err := secrets.Retire(path, func(id string) bool { return id == first })
	if err != nil || len(gone) != 0 {
		t.Errorf("retired %v (%v) while the first key is in use", gone, err)
	}
	gone, err = secrets.Retire(path, func(string) bool { return false })
	if err != nil || len(gone) != 1 || gone[0] != first {
		t.Errorf("retired %v (%v), want [%s]", gone, err, first)
	}
	if _, err := ring.Open(s1, "x/1"); !errors.Is(err, secrets.ErrUnknownKey) {
		t.Errorf("a retired key's value: %v", err)
	}
}

func TestVaultStoresNothingInPlainAndReseals(t *testing.T) {
	for _, be := range testenv.Backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			url := be.URL(t)
			st, err := store.Open(ctx, store.Config{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			keyPath := filepath.Join(t.TempDir(), "k")
			ring, err := secrets.LoadKeyring(keyPath, true)
			if err != nil {
				t.Fatal(err)
			}
			v := secrets.NewVault(st, ring, nil, nil)
			const plain = "ghp_PLAINTEXT_CANARY_0123456789"
			if err := v.Put(ctx, "org", "registries", "acct-1", []byte(plain)); err != nil {
				t.Fatal(err)
			}
			if err := v.Put(ctx, "org", "integrations", "dest-1", []byte("second "+plain)); err != nil {
				t.Fatal(err)
			}
			got, err := v.Get(ctx, "registries", "acct-1")
			if err != nil || string(got) != plain {
				t.Fatalf("get: %q, %v", got, err)
			}
			if _, err := v.Get(ctx, "registries", "acct-2"); !errors.Is(err, secrets.ErrNotFound) {
				t.Errorf("a missing secret: %v", err)
			}
			// Replacing keeps one row.
			if err := v.Put(ctx, "org", "registries", "acct-1", []byte(plain+"-v2")); err != nil {
				t.Fatal(err)
			}
			if got, _ := v.Get(ctx, "registries", "acct-1"); string(got) != plain+"-v2" {
				t.Errorf("after replacing: %q", got)
			}
			// The row cannot be moved to another name.
			var sealed string
			if err := st.Read().QueryRowContext(ctx, `SELECT sealed FROM secrets WHERE ref = 'acct-1'`).Scan(&sealed); err != nil {
				t.Fatal(err)
			}
			if err := st.Tx(ctx, func(tx store.Querier) error {
				_, err := tx.ExecContext(ctx, `UPDATE secrets SET sealed = ? WHERE ref = 'dest-1'`, sealed)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := v.Get(ctx, "integrations", "dest-1"); !errors.Is(err, secrets.ErrTampered) {
				t.Errorf("a sealed value moved to another secret: %v", err)
			}
			if err := v.Put(ctx, "org", "integrations", "dest-1", []byte("second "+plain)); err != nil {
				t.Fatal(err)
			}
			if be.Name == "sqlite" {
				st.Close()
				assertNotInFiles(t, filepath.Dir(url), plain)
				if st, err = store.Open(ctx, store.Config{URL: url}); err != nil {
					t.Fatal(err)
				}
				v = secrets.NewVault(st, ring, nil, nil)
			}

			// Rotation: new seals use the new key; Reseal moves the rest.
			first := ring.Primary()
			if _, err := secrets.Rotate(keyPath); err != nil {
				t.Fatal(err)
			}
			if err := ring.Reload(); err != nil {
				t.Fatal(err)
			}
			use, _ := v.KeyUse(ctx)
			if use[first] != 2 {
				t.Errorf("before re-sealing, key use %v", use)
			}
			n, err := v.Reseal(ctx)
			if err != nil || n != 2 {
				t.Errorf("re-sealed %d (%v), want 2", n, err)
			}
			use, _ = v.KeyUse(ctx)
			if use[first] != 0 || use[ring.Primary()] != 2 {
				t.Errorf("after re-sealing, key use %v", use)
			}
			if got, _ := v.Get(ctx, "integrations", "dest-1"); string(got) != "second "+plain {
				t.Errorf("after re-sealing: %q", got)
			}
			if n, err := v.Reseal(ctx); err != nil || n != 0 {
				t.Errorf("a second re-seal did %d (%v)", n, err)
			}
			if err := st.Tx(ctx, func(tx store.Querier) error { return v.DeleteTx(ctx, tx, "registries", "acct-1") }); err != nil {
				t.Fatal(err)
			}
			if _, err := v.Get(ctx, "registries", "acct-1"); !errors.Is(err, secrets.ErrNotFound) {
				t.Errorf("after delete: %v", err)
			}
		})
	}
}

func TestResealJobRuns(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{URL: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keyPath := filepath.Join(t.TempDir(), "k")
	ring, _ := secrets.LoadKeyring(keyPath, true)
	v := secrets.NewVault(st, ring, nil, nil)
	if err := v.Put(ctx, "org", "o", "r", []byte("s")); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.Rotate(keyPath); err != nil {
		t.Fatal(err)
	}
	_ = ring.Reload()
	k := v.ResealKind()
	if k.Name != secrets.KindReseal || secrets.ResealEvery().Kind != k.Name {
		t.Fatalf("kind %s, periodic %+v", k.Name, secrets.ResealEvery())
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := k.Work(ctx, jobsJob()); err != nil {
		t.Fatal(err)
	}
	use, _ := v.KeyUse(ctx)
	if use[ring.Primary()] != 1 {
		t.Errorf("after the job, key use %v", use)
	}
}

// assertNotInFiles fails when any file below dir holds needle.
func assertNotInFiles(t *testing.T, dir, needle string) {
	t.Helper()
	n := 0
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		n++
		if bytes.Contains(b, []byte(needle)) {
			t.Errorf("%s holds the secret in plain text", p)
		}
		return nil
	})
	if n == 0 {
		t.Fatalf("no database file below %s", dir)
	}
}

func jobsJob() jobs.Job { return jobs.Job{ID: "test", Kind: secrets.KindReseal} }
