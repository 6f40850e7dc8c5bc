package cli_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/cli"
)

// TestUpStartsConsoleAndLocalSensor runs the real `riskmap up`: it prints the
// console's URL, fingerprint and what to do first; after the first
// registration it creates the local sensor account (standard role, cannot
// sign in) with a key kept 0600 in the data directory, and its sensor
// exchanges that key for tokens over the pinned TLS connection.
func TestUpStartsConsoleAndLocalSensor(t *testing.T) {
	bin := riskmapBinary(t)
	dataDir := t.TempDir()
	cmd := exec.Command(bin, "up", "--listen", "127.0.0.1:0", "--data-dir", dataDir,
		"--argon2-memory", "64", "--argon2-iterations", "1", "--log-format", "json",
		"--feed-interval", "0") // no feed downloads: test traffic stays on loopback
	cmd.Env = append(os.Environ(), "RISKMAP_CONFIG=")
	p := startConsole(t, cmd)
	c := pinnedClient(p.fingerprint)
	base := "https://" + p.addr
	var me struct{ ID, Role string }
	if _, err := call(c, http.MethodPost, base+"/api/v1/auth/register", map[string]string{
		"email": "admin@example.com", "password": "correct horse battery staple", "name": "Admin", "organisation": "Example",
	}, &me); err != nil {
		t.Fatal(err)
	}

	type user struct {
		Email, Role string
		Disabled    bool
	}
	var sensorUser *user
	deadline := time.Now().Add(60 * time.Second)
	for sensorUser == nil && time.Now().Before(deadline) {
		var page struct{ Items []user }
		if _, err := call(c, http.MethodGet, base+"/api/v1/users", nil, &page); err != nil {
			t.Fatal(err)
		}
		for i := range page.Items {
			if page.Items[i].Email == cli.LocalSensorEmail {
				sensorUser = &page.Items[i]
			}
		}
		if sensorUser == nil {
			time.Sleep(500 * time.Millisecond)
		}
	}
	if sensorUser == nil {
		t.Fatalf("no local sensor account after registration; stderr:\n%s", p.stderr)
	}
	if sensorUser.Role != "standard" {
		t.Errorf("local sensor role = %q, want standard", sensorUser.Role)
	}
	// The account cannot sign in with any password.
	if code, _ := call(pinnedClient(p.fingerprint), http.MethodPost, base+"/api/v1/auth/login",
		map[string]string{"email": cli.LocalSensorEmail, "password": "!"}, nil); code < 400 {
		t.Errorf("local sensor account signed in with status %d", code)
	}
	// The sensor exchanged its key over the pinned connection: the audit log
	// or the sensor's own log shows the token exchange.
	for time.Now().Before(deadline) {
		if strings.Contains(p.stderr.String(), `"local sensor starting"`) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(p.stderr.String(), `"local sensor starting"`) {
		t.Fatalf("local sensor did not start; stderr:\n%s", p.stderr)
	}
	// The diagnosis shows the sensor with the version it reports (the
	// binary's: the local sensor runs in the same process).
	var version string
	for time.Now().Before(deadline) && version == "" {
		var d struct {
			Sensors []struct{ SensorID, Version string }
		}
		if _, err := call(c, http.MethodGet, base+"/api/v1/diagnosis", nil, &d); err != nil {
			t.Fatal(err)
		}
		if len(d.Sensors) == 1 {
			version = d.Sensors[0].Version
		}
		if version == "" {
			time.Sleep(300 * time.Millisecond)
		}
	}
	if version != cli.Version {
		t.Errorf("diagnosis: sensor version %q, want %q", version, cli.Version)
	}
	st, err := os.Stat(filepath.Join(dataDir, cli.LocalSensorKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", st.Mode().Perm())
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.exited:
		if err != nil {
			t.Errorf("up exited with %v; stderr:\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("up did not stop within 30s of SIGINT")
	}
}
