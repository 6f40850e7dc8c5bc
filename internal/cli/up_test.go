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
// registration it enrols the local sensor with a single-use enrolment token
// (its identity kept 0600 in the data directory), and the sensor reports
// over the pinned TLS connection with its own credential.
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

	// The local sensor enrols like any other (a single-use token the
	// console made for it) and appears in the sensor list.
	type enrolledSensor struct {
		ID, Hostname, Version string
		RevokedAt             *time.Time
	}
	var local *enrolledSensor
	deadline := time.Now().Add(60 * time.Second)
	for local == nil && time.Now().Before(deadline) {
		var page struct{ Items []enrolledSensor }
		if _, err := call(c, http.MethodGet, base+"/api/v1/sensors", nil, &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Items) == 1 {
			local = &page.Items[0]
		} else {
			time.Sleep(500 * time.Millisecond)
		}
	}
	if local == nil {
		t.Fatalf("the local sensor did not enrol; stderr:\n%s", p.stderr)
	}
	if local.Version != cli.Version || local.RevokedAt != nil {
		t.Errorf("local sensor %+v", local)
	}
	var tokens struct {
		Items []struct {
			Name             string
			MaxSensors, Uses int
		}
	}
	call(c, http.MethodGet, base+"/api/v1/enrolment-tokens", nil, &tokens)
	if len(tokens.Items) != 1 || tokens.Items[0].MaxSensors != 1 || tokens.Items[0].Uses != 1 {
		t.Errorf("enrolment tokens: %+v", tokens.Items)
	}
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
	st, err := os.Stat(filepath.Join(dataDir, cli.LocalSensorIdentityFile))
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
