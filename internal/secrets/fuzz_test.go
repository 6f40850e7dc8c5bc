package secrets_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/riskmap/riskmap/internal/secrets"
)

// FuzzLoadKeyring: any key file content is refused with an error or loads
// keys that seal and open.
func FuzzLoadKeyring(f *testing.F) {
	f.Add([]byte(`{"primary":"a","keys":[{"id":"a","key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}]}`))
	f.Add([]byte(`{"primary":"a","keys":[]}`))
	f.Add([]byte(`[]`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "k")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		ring, err := secrets.LoadKeyring(path, false)
		if err != nil {
			return
		}
		s, err := ring.Seal([]byte("x"), "o/r")
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := ring.Open(s, "o/r"); err != nil || string(pt) != "x" {
			t.Fatalf("open: %q, %v", pt, err)
		}
	})
}

// FuzzOpen: no sealed value, however made, panics or opens under a key it
// was not sealed with.
func FuzzOpen(f *testing.F) {
	ring, err := secrets.LoadKeyring(filepath.Join(f.TempDir(), "k"), true)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := ring.Seal([]byte("v"), "o/r")
	f.Add(good, "o/r")
	f.Add("v1:"+ring.Primary()+":", "o/r")
	f.Add("v1::", "")
	f.Fuzz(func(t *testing.T, sealed, name string) {
		pt, err := ring.Open(sealed, name)
		if err == nil && (sealed != good || name != "o/r" || string(pt) != "v") {
			// Only a value this ring sealed opens; the fuzzer cannot forge one.
			if _, kerr := secrets.KeyOf(sealed); kerr != nil {
				t.Fatalf("opened %q without a key id", sealed)
			}
		}
	})
}
