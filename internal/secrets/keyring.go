// Package secrets keeps the console's stored secrets (registry
// credentials, destination tokens, webhook URLs, passwords) encrypted at
// rest with AES-256-GCM under keys kept apart from the database: a key file
// in the data directory, or one the operator gives (a mounted Kubernetes
// secret, say). The file holds every key still in use; the primary one
// seals, any of them opens. Rotation adds a new primary, the secrets.reseal
// job re-seals what older keys sealed, and retiring drops the keys no
// stored secret uses.
//
// Modules keep their secrets in this package's table (Vault), named by
// (owner, ref): the module that owns them and its own reference (a
// registry account's id, say). The sealed value is bound to that name, so
// it cannot be moved to another row, and the API never returns it.
package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// KeyFileName is the key file's name in the data directory when the
// operator gives none.
const KeyFileName = "secrets.key"

// keySize is AES-256's.
const keySize = 32

// ErrInsecureFile is returned for a key file others can read or write.
var ErrInsecureFile = errors.New("key file readable or writable by others")

// ErrUnknownKey is returned when a sealed value names a key the key file
// does not hold (a replica with an older key file, or a retired key).
var ErrUnknownKey = errors.New("sealed with a key the key file does not hold")

// ErrTampered is returned when a sealed value does not open: changed,
// truncated, or moved to another name.
var ErrTampered = errors.New("sealed value does not open (changed, or moved from another secret)")

// keyFile is the key file's format.
type keyFile struct {
	Primary string    `json:"primary"`
	Keys    []fileKey `json:"keys"`
}

type fileKey struct {
	ID      string    `json:"id"`
	Key     string    `json:"key"` // base64 of 32 bytes
	Created time.Time `json:"created"`
}

// Keyring holds the keys of one key file. It rereads the file when it
// changes (another process rotated it), checking at most every
// ReloadEvery.
type Keyring struct {
	path string

	mu      sync.RWMutex
	primary string
	aeads   map[string]cipher.AEAD
	ids     []string // in the file's order
	stamp   fileStamp
	checked time.Time
}

// ReloadEvery is how often a keyring looks at its file for a rotation.
var ReloadEvery = 5 * time.Second

type fileStamp struct {
	mod  time.Time
	size int64
}

// LoadKeyring reads the key file at path. With create, a missing file is
// made with one new key (the default file in the data directory); without,
// a missing file is an error (the operator named it). A file others can
// read or write is refused.
func LoadKeyring(path string, create bool) (*Keyring, error) {
	k := &Keyring{path: path}
	if err := k.load(); err != nil {
		if !errors.Is(err, os.ErrNotExist) || !create {
			return nil, err
		}
		if _, err := CreateKeyFile(path); err != nil {
			return nil, err
		}
		if err := k.load(); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// CreateKeyFile writes a new key file with one key at path, refusing to
// replace an existing file, and returns the key's id.
func CreateKeyFile(path string) (string, error) {
	key, err := newKey(time.Now())
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("secrets key file: %w", err)
	}
	b, err := json.MarshalIndent(keyFile{Primary: key.ID, Keys: []fileKey{key}}, "", "  ")
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("secrets key file: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return "", fmt.Errorf("secrets key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("secrets key file %s: %w", path, err)
	}
	return key.ID, f.Close()
}

func newKey(now time.Time) (fileKey, error) {
	raw := make([]byte, keySize)
	if _, err := rand.Read(raw); err != nil {
		return fileKey{}, err
	}
	id := make([]byte, 6)
	if _, err := rand.Read(id); err != nil {
		return fileKey{}, err
	}
	return fileKey{ID: "k" + now.UTC().Format("20060102") + "-" + fmt.Sprintf("%x", id), Key: base64.StdEncoding.EncodeToString(raw), Created: now.UTC()}, nil
}

// Path is the key file's path.
func (k *Keyring) Path() string { return k.path }

// Primary is the id of the key that seals.
func (k *Keyring) Primary() string {
	k.maybeReload()
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.primary
}

// IDs are the ids of the keys the file holds, in its order.
func (k *Keyring) IDs() []string {
	k.maybeReload()
	k.mu.RLock()
	defer k.mu.RUnlock()
	return append([]string(nil), k.ids...)
}

func (k *Keyring) load() error {
	st, err := os.Stat(k.path)
	if err != nil {
		return fmt.Errorf("secrets key file: %w", err)
	}
	if !privateMode(st) {
		return fmt.Errorf("secrets key file %s has mode %v: %w (chmod 600 %s)", k.path, st.Mode().Perm(), ErrInsecureFile, k.path)
	}
	b, err := os.ReadFile(k.path)
	if err != nil {
		return fmt.Errorf("secrets key file: %w", err)
	}
	f, err := parseKeyFile(b)
	if err != nil {
		return fmt.Errorf("secrets key file %s: %w", k.path, err)
	}
	aeads := map[string]cipher.AEAD{}
	ids := make([]string, 0, len(f.Keys))
	for _, fk := range f.Keys {
		raw, _ := base64.StdEncoding.DecodeString(fk.Key) // checked by parseKeyFile
		block, err := aes.NewCipher(raw)
		if err != nil {
			return fmt.Errorf("secrets key file %s: key %s: %w", k.path, fk.ID, err)
		}
		g, err := cipher.NewGCM(block)
		if err != nil {
			return fmt.Errorf("secrets key file %s: key %s: %w", k.path, fk.ID, err)
		}
		aeads[fk.ID] = g
		ids = append(ids, fk.ID)
	}
	k.mu.Lock()
	k.primary, k.aeads, k.ids = f.Primary, aeads, ids
	k.stamp = fileStamp{st.ModTime(), st.Size()}
	k.checked = time.Now()
	k.mu.Unlock()
	return nil
}

// privateMode reports whether only the console can read the key file:
// no permission for others and none for the group, except reading when
// the file's group is the process's own group. The exception is how
// Kubernetes mounts a Secret for a non-root pod: readable by the pod's
// fsGroup (mode 0440, group = runAsGroup), not by anyone else.
func privateMode(st os.FileInfo) bool {
	perm := st.Mode().Perm()
	if perm&0o037 != 0 {
		return false
	}
	if perm&0o040 == 0 {
		return true
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Gid) == os.Getegid()
}

// parseKeyFile decodes and checks a key file: known members only, ids
// unique and plain, keys 32 bytes of base64, the primary among them.
func parseKeyFile(b []byte) (keyFile, error) {
	var f keyFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return keyFile{}, fmt.Errorf("not a key file: %w", err)
	}
	if dec.More() {
		return keyFile{}, errors.New("not a key file: more than one JSON value")
	}
	if len(f.Keys) == 0 {
		return keyFile{}, errors.New("no keys")
	}
	seen := map[string]bool{}
	for i, fk := range f.Keys {
		if fk.ID == "" || len(fk.ID) > 64 || strings.ContainsAny(fk.ID, ": \t\n") {
			return keyFile{}, fmt.Errorf("key %d: id %q is empty, longer than 64 or has a colon or space", i+1, fk.ID)
		}
		if seen[fk.ID] {
			return keyFile{}, fmt.Errorf("key id %s twice", fk.ID)
		}
		seen[fk.ID] = true
		raw, err := base64.StdEncoding.DecodeString(fk.Key)
		if err != nil || len(raw) != keySize {
			return keyFile{}, fmt.Errorf("key %s: want %d bytes in base64", fk.ID, keySize)
		}
	}
	if !seen[f.Primary] {
		return keyFile{}, fmt.Errorf("primary key %q is not among the keys", f.Primary)
	}
	return f, nil
}

// maybeReload rereads the file when it changed since the last look, at
// most every ReloadEvery. A file that became unreadable or invalid keeps
// the keys already loaded (and is logged by the next Reload caller).
func (k *Keyring) maybeReload() {
	k.mu.RLock()
	due := time.Since(k.checked) >= ReloadEvery
	k.mu.RUnlock()
	if due {
		_ = k.Reload()
	}
}

// Reload rereads the key file if it changed.
func (k *Keyring) Reload() error {
	st, err := os.Stat(k.path)
	k.mu.Lock()
	k.checked = time.Now()
	same := err == nil && st.ModTime().Equal(k.stamp.mod) && st.Size() == k.stamp.size
	k.mu.Unlock()
	if err != nil {
		return fmt.Errorf("secrets key file: %w", err)
	}
	if same {
		return nil
	}
	return k.load()
}

// sealedPrefix starts every sealed value: the format's version.
const sealedPrefix = "v1:"

// Seal encrypts plaintext under the primary key, bound to name (the
// additional data: the value opens only under the same name). The result
// is "v1:KEYID:" and the base64 of nonce and ciphertext.
func (k *Keyring) Seal(plaintext []byte, name string) (string, error) {
	k.maybeReload()
	k.mu.RLock()
	id, g := k.primary, k.aeads[k.primary]
	k.mu.RUnlock()
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	ct := g.Seal(nonce, nonce, plaintext, []byte(name))
	return sealedPrefix + id + ":" + base64.RawStdEncoding.EncodeToString(ct), nil
}

// KeyOf returns the id of the key that sealed s.
func KeyOf(s string) (string, error) {
	rest, ok := strings.CutPrefix(s, sealedPrefix)
	if !ok {
		return "", errors.New("not a sealed value (want v1:KEY:DATA)")
	}
	id, _, ok := strings.Cut(rest, ":")
	if !ok || id == "" {
		return "", errors.New("not a sealed value (want v1:KEY:DATA)")
	}
	return id, nil
}

// Open decrypts a value Seal made under the same name.
func (k *Keyring) Open(sealed, name string) ([]byte, error) {
	id, err := KeyOf(sealed)
	if err != nil {
		return nil, err
	}
	data := sealed[len(sealedPrefix)+len(id)+1:]
	k.maybeReload()
	k.mu.RLock()
	g, ok := k.aeads[id]
	k.mu.RUnlock()
	if !ok {
		// Another process may have rotated the file since the last look.
		if err := k.Reload(); err != nil {
			return nil, err
		}
		k.mu.RLock()
		g, ok = k.aeads[id]
		k.mu.RUnlock()
		if !ok {
			return nil, fmt.Errorf("key %s: %w %s", id, ErrUnknownKey, k.path)
		}
	}
	ct, err := base64.RawStdEncoding.DecodeString(data)
	if err != nil || len(ct) < g.NonceSize()+g.Overhead() {
		return nil, ErrTampered
	}
	pt, err := g.Open(nil, ct[:g.NonceSize()], ct[g.NonceSize():], []byte(name))
	if err != nil {
		return nil, ErrTampered
	}
	return pt, nil
}

// Rotate adds a new key to the file at path and makes it the primary; the
// older keys stay, so what they sealed still opens until re-sealed. It
// returns the new key's id.
func Rotate(path string) (string, error) {
	return rewrite(path, func(f *keyFile) (string, error) {
		key, err := newKey(time.Now())
		if err != nil {
			return "", err
		}
		f.Keys = append(f.Keys, key)
		f.Primary = key.ID
		return key.ID, nil
	})
}

// Retire removes from the file at path the keys other than the primary
// for which inUse is false, and returns their ids.
func Retire(path string, inUse func(id string) bool) ([]string, error) {
	var gone []string
	_, err := rewrite(path, func(f *keyFile) (string, error) {
		kept := f.Keys[:0]
		for _, fk := range f.Keys {
			if fk.ID != f.Primary && !inUse(fk.ID) {
				gone = append(gone, fk.ID)
				continue
			}
			kept = append(kept, fk)
		}
		f.Keys = kept
		return "", nil
	})
	return gone, err
}

// rewrite changes the key file through change and replaces it atomically
// (a new file renamed over it), keeping mode 0600.
func rewrite(path string, change func(*keyFile) (string, error)) (string, error) {
	k := &Keyring{path: path}
	if err := k.load(); err != nil { // the same checks as a console's
		return "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("secrets key file: %w", err)
	}
	f, err := parseKeyFile(b)
	if err != nil {
		return "", fmt.Errorf("secrets key file %s: %w", path, err)
	}
	out, err := change(&f)
	if err != nil {
		return "", err
	}
	nb, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secrets-key-*")
	if err != nil {
		return "", fmt.Errorf("secrets key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", err
	}
	if _, err := tmp.Write(append(nb, '\n')); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("secrets key file: %w", err)
	}
	return out, nil
}
