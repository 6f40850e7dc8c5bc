package sensor

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestIdentityFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state", IdentityFile)
	id := Identity{Console: "https://console:8443", Pin: "AB:CD", SensorID: "s1", Key: "rmsk_x", EnrolledAt: time.Unix(1e9, 0).UTC()}
	if err := SaveIdentity(p, id); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file mode %v %v, want 0600", fi.Mode().Perm(), err)
	}
	if di, _ := os.Stat(filepath.Dir(p)); di.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode %v, want 0700", di.Mode().Perm())
	}
	got, err := LoadIdentity(p)
	if err != nil || *got != id {
		t.Fatalf("load: %+v %v", got, err)
	}
	// A file others can read is refused, with the fix in the message.
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIdentity(p); !errors.Is(err, ErrInsecureFile) {
		t.Errorf("world-readable identity: %v, want ErrInsecureFile", err)
	}
	if _, err := LoadIdentity(filepath.Join(dir, "none.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing identity: %v, want ErrNotExist", err)
	}
}

// FuzzLoadIdentity: any identity file content loads or fails with an
// error; a loaded one has its required fields.
func FuzzLoadIdentity(f *testing.F) {
	f.Add([]byte(`{"console":"https://c:8443","sensorId":"s","key":"rmsk_k","enrolledAt":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"console":"","sensorId":"s"}`))
	f.Add([]byte(`{"bogus":1}`))
	f.Add([]byte(`[`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "identity.json")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		id, err := LoadIdentity(p)
		if err == nil && (id.Console == "" || id.SensorID == "" || id.Key == "") {
			t.Fatalf("loaded an identity without its required fields: %+v", id)
		}
	})
}
