package sensor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

// Identity is what a sensor keeps after enrolling: the console it belongs
// to, the sensor id the console assigned and the sensor's key. The file
// holding it is readable by its owner only.
type Identity struct {
	Console    string    `json:"console"`
	Pin        string    `json:"pin,omitempty"`
	SensorID   string    `json:"sensorId"`
	Key        string    `json:"key"`
	EnrolledAt time.Time `json:"enrolledAt"`
	RotatedAt  time.Time `json:"rotatedAt,omitempty"`
}

// IdentityFile is the file name of the identity in the sensor's state
// directory.
const IdentityFile = "identity.json"

// ErrInsecureFile means a secret file can be read by others than its owner.
var ErrInsecureFile = errors.New("readable by others than its owner")

// CheckPrivateFile refuses a secret file that its group or others may
// read or write (0600 wanted).
func CheckPrivateFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s has mode %v: %w (chmod 600 %s)", path, fi.Mode().Perm(), ErrInsecureFile, path)
	}
	return nil
}

// LoadIdentity reads an identity file; it refuses one others can read.
// A missing file is fs.ErrNotExist.
func LoadIdentity(path string) (*Identity, error) {
	if err := CheckPrivateFile(path); err != nil {
		return nil, fmt.Errorf("sensor identity: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sensor identity: %w", err)
	}
	var id Identity
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&id); err != nil {
		return nil, fmt.Errorf("sensor identity %s: %w", path, err)
	}
	if id.SensorID == "" || id.Key == "" || id.Console == "" {
		return nil, fmt.Errorf("sensor identity %s: console, sensorId and key are required", path)
	}
	return &id, nil
}

// SaveIdentity writes an identity file atomically (mode 0600, its
// directory 0700).
func SaveIdentity(path string, id Identity) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save sensor identity: %w", err)
	}
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return fmt.Errorf("save sensor identity: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".identity-*")
	if err != nil {
		return fmt.Errorf("save sensor identity: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save sensor identity: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save sensor identity: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save sensor identity: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save sensor identity: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save sensor identity: %w", err)
	}
	return nil
}

// EnrolConfig is what a sensor needs to obtain its identity.
type EnrolConfig struct {
	// Path is the identity file.
	Path string
	// Console and Pin name the console (a saved identity keeps its own).
	Console, Pin string
	// Token is the enrolment token, used only when there is no identity.
	Token string
	// Hostname, MachineID and Version describe the sensor at enrolment.
	Hostname, MachineID, Version string
	Now                          func() time.Time
}

// Enrol returns the sensor's identity: the saved one, or, when there is
// none, a new one from enrolling cl with the token (saved before it is
// used, so a crash never leaves an enrolled sensor without its key).
func Enrol(ctx context.Context, cl *client.Client, cfg EnrolConfig) (*Identity, error) {
	id, err := LoadIdentity(cfg.Path)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if cfg.Token == "" {
		return nil, fmt.Errorf("sensor identity %s: none yet, and no enrolment token to enrol with (create one in the console: Sensors, or POST /api/v1/enrolment-tokens)", cfg.Path)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	resp, err := cl.Enrol(ctx, sensorproto.EnrolRequest{Token: cfg.Token, Hostname: cfg.Hostname, MachineID: cfg.MachineID, Version: cfg.Version})
	if err != nil {
		return nil, err
	}
	id = &Identity{Console: cfg.Console, Pin: cfg.Pin, SensorID: resp.SensorID, Key: resp.Key, EnrolledAt: cfg.Now().UTC()}
	if err := SaveIdentity(cfg.Path, *id); err != nil {
		return nil, err
	}
	return id, nil
}

// RotateKeys gets the sensor a new key every interval and saves it, until
// ctx ends. A key that could not be saved is logged loudly: the previous
// one works for ten more minutes.
func RotateKeys(ctx context.Context, cl *client.Client, path string, id Identity, every time.Duration, log *slog.Logger) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		key, err := cl.RotateKey(ctx)
		if err != nil {
			log.Warn("sensor key rotation failed; keeping the current key", "err", err)
			continue
		}
		id.Key, id.RotatedAt = key, time.Now().UTC()
		if err := SaveIdentity(path, id); err != nil {
			log.Error("the new sensor key could not be saved; the sensor must be re-enrolled if it restarts after ten minutes", "err", err)
			continue
		}
		log.Info("sensor key rotated", "sensor", id.SensorID)
	}
}

// HostFacts reads the host's name and machine id (for enrolment).
func HostFacts(hostRoot, procRoot string) (hostname, machineID string) {
	if b, err := os.ReadFile(filepath.Join(hostRoot, "etc/machine-id")); err == nil {
		machineID = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(filepath.Join(procRoot, "sys/kernel/hostname")); err == nil {
		hostname = strings.TrimSpace(string(b))
	}
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	return hostname, machineID
}
