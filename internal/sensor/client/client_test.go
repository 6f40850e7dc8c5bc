package client_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensor/client/consoletest"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

var ctx = context.Background()

func newClient(t *testing.T, con *consoletest.Console, mod func(*client.Config)) *client.Client {
	t.Helper()
	cfg := client.Config{ConsoleURL: con.URL(), Key: con.Key, PinSHA256: con.Pin(), Timeout: 10 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testReport(seq uint64) []byte {
	r := &report.Report{Version: report.Version, SensorID: "s1", RunID: "r1", Seq: seq, Kind: report.KindFull, Time: time.Now().UTC(),
		Processes: []report.Process{{PID: 1, Name: "init", StartTicks: 1}}}
	b, err := report.Marshal(r, report.DefaultLimits())
	if err != nil {
		panic(err)
	}
	return b
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  client.Config
		want string
	}{
		{name: "plain_http", cfg: client.Config{ConsoleURL: "http://127.0.0.1:8443", Key: "k"}, want: "must be https"},
		{name: "short_pin", cfg: client.Config{ConsoleURL: "https://127.0.0.1:8443", Key: "k", PinSHA256: "abcd"}, want: "64 hex digits"},
		{name: "non_hex_pin", cfg: client.Config{ConsoleURL: "https://127.0.0.1:8443", Key: "k", PinSHA256: strings.Repeat("zz", 32)}, want: "64 hex digits"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := client.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTLSIsAlwaysVerified(t *testing.T) {
	con := consoletest.Start(t)
	// Pinned: works, with the pin in upper case with colons too.
	pin := strings.ToUpper(con.Pin())
	var colons []string
	for i := 0; i < len(pin); i += 2 {
		colons = append(colons, pin[i:i+2])
	}
	c := newClient(t, con, func(cfg *client.Config) { cfg.PinSHA256 = strings.Join(colons, ":") })
	if _, err := c.PushReport(ctx, testReport(1)); err != nil {
		t.Fatalf("pinned console: %v", err)
	}
	// Another pin: refused.
	other := strings.Repeat("ab", 32)
	c = newClient(t, con, func(cfg *client.Config) { cfg.PinSHA256 = other })
	if _, err := c.PushReport(ctx, testReport(1)); !errors.Is(err, client.ErrPinMismatch) {
		t.Fatalf("wrong pin: err = %v, want ErrPinMismatch", err)
	}
	// No pin: the self-signed certificate is not trusted by the system roots.
	c = newClient(t, con, func(cfg *client.Config) { cfg.PinSHA256 = "" })
	if _, err := c.PushReport(ctx, testReport(1)); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("unpinned self-signed console: err = %v, want a certificate error", err)
	}
}

func TestTokensReusedAndReexchanged(t *testing.T) {
	con := consoletest.Start(t)
	con.TokenTTL = 100
	now := time.Now()
	c := newClient(t, con, func(cfg *client.Config) { cfg.Now = func() time.Time { return now } })
	for i := range 3 {
		if _, err := c.PushReport(ctx, testReport(uint64(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	if ex, _, _ := con.Counts(); ex != 1 {
		t.Fatalf("exchanges %d, want 1 (token reused)", ex)
	}
	now = now.Add(81 * time.Second) // past 80% of the lifetime: the key is exchanged again
	if _, err := c.PushReport(ctx, testReport(4)); err != nil {
		t.Fatal(err)
	}
	if ex, _, _ := con.Counts(); ex != 2 {
		t.Fatalf("exchanges %d, want 2", ex)
	}
	con.ExpireTokens() // 401: the key is exchanged again and the call retried
	if _, err := c.PushReport(ctx, testReport(5)); err != nil {
		t.Fatal(err)
	}
	if ex, _, _ := con.Counts(); ex != 3 {
		t.Fatalf("exchanges %d, want 3 after a 401", ex)
	}
	bad := newClient(t, con, func(cfg *client.Config) { cfg.Key = "wrong" })
	var se *client.StatusError
	if _, err := bad.PushReport(ctx, testReport(1)); !errors.As(err, &se) || se.Code != 401 || !strings.Contains(err.Error(), "unknown sensor key") {
		t.Fatalf("wrong key: err = %v", err)
	}
	none := newClient(t, con, func(cfg *client.Config) { cfg.Key = "" })
	if _, err := none.PushReport(ctx, testReport(1)); !errors.Is(err, client.ErrNoKey) {
		t.Fatalf("no key: err = %v, want ErrNoKey", err)
	}
}

// TestEnrolAndRotate: a client without a key enrols with the token and
// uses the key it got; a rotation switches it to the new key.
func TestEnrolAndRotate(t *testing.T) {
	con := consoletest.Start(t)
	c := newClient(t, con, func(cfg *client.Config) { cfg.Key = "" })
	var se *client.StatusError
	if _, err := c.Enrol(ctx, sensorproto.EnrolRequest{Token: "rme_wrong", Hostname: "h"}); !errors.As(err, &se) || se.Code != 401 {
		t.Fatalf("enrol with a wrong token: %v", err)
	}
	got, err := c.Enrol(ctx, sensorproto.EnrolRequest{Token: con.EnrolmentToken, Hostname: "web-1", MachineID: "m1"})
	if err != nil || got.SensorID != con.SensorID || c.Key() != con.Key || c.SensorID() != con.SensorID {
		t.Fatalf("enrol: %+v %v (client key %q)", got, err, c.Key())
	}
	if e := con.Enrolments(); len(e) != 1 || e[0].Hostname != "web-1" || e[0].MachineID != "m1" {
		t.Fatalf("enrolments %+v", e)
	}
	if _, err := c.PushReport(ctx, testReport(1)); err != nil {
		t.Fatal(err)
	}
	old := c.Key()
	nk, err := c.RotateKey(ctx)
	if err != nil || nk == old || c.Key() != nk || con.Key != nk {
		t.Fatalf("rotate: %q %v (was %q)", nk, err, old)
	}
	if _, err := c.PushReport(ctx, testReport(2)); err != nil {
		t.Fatalf("report after rotation: %v", err)
	}
}

func TestBadAnswersAreErrorsNotCrashes(t *testing.T) {
	con := consoletest.Start(t)
	c := newClient(t, con, nil)
	tests := []struct {
		fault consoletest.Fault
		want  error
		code  int
	}{
		{fault: consoletest.Malformed, want: client.ErrMalformed},
		{fault: consoletest.Oversized, want: client.ErrOversized},
		{fault: consoletest.Overloaded, code: 429},
	}
	for _, tc := range tests {
		con.SetFault(tc.fault)
		_, err := c.PushReport(ctx, testReport(1))
		_, perr := c.PollCommands(ctx, "s1", 1)
		for _, e := range []error{err, perr} {
			var se *client.StatusError
			switch {
			case tc.want != nil && !errors.Is(e, tc.want):
				t.Errorf("fault %d: err = %v, want %v", tc.fault, e, tc.want)
			case tc.code != 0 && (!errors.As(e, &se) || se.Code != tc.code || se.RetryAfter != time.Second):
				t.Errorf("fault %d: err = %v, want %d with Retry-After 1s", tc.fault, e, tc.code)
			}
		}
	}
	con.SetFault(consoletest.None)
	if _, err := c.PushReport(ctx, testReport(1)); err != nil {
		t.Fatalf("after faults: %v", err)
	}
}

func TestCommandsStatusAndInventory(t *testing.T) {
	con := consoletest.Start(t)
	c := newClient(t, con, nil)
	con.Queue(sensorproto.Command{ID: "c1", Kind: "scan", ScanID: "s1", Target: sensorproto.CommandTarget{Kind: "host", Ref: "/"}},
		sensorproto.Command{ID: "c2", Kind: "scan", ScanID: "s2", Target: sensorproto.CommandTarget{Kind: "image", Ref: "debian:12"}},
		sensorproto.Command{ID: "c3", Kind: "cancel", ScanID: "s0"})
	got, err := c.PollCommands(ctx, "sensor-1", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []sensorproto.Command{{ID: "c1", Kind: "scan", ScanID: "s1", Target: sensorproto.CommandTarget{Kind: "host", Ref: "/"}}, {ID: "c3", Kind: "cancel", ScanID: "s0"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("first poll with 1 slot (-want +got):\n%s", diff)
	}
	if err := c.SetScanStatus(ctx, "s1", sensorproto.ScanStatus{Status: sensorproto.StatusRunning, Progress: 0.5}); err != nil {
		t.Fatal(err)
	}
	inv := &inventory.Inventory{SchemaVersion: inventory.SchemaVersion, Target: inventory.Target{Kind: "host", Ref: "/"},
		Packages: []inventory.Package{{Name: "openssl", Version: "3.0.15-1~deb12u1", Ecosystem: "Debian:12"}}}
	if err := c.UploadInventory(ctx, "s1", inv); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(inv, con.Inventory("s1")); diff != "" {
		t.Errorf("uploaded inventory (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]sensorproto.ScanStatus{{Status: "running", Progress: 0.5}}, con.Statuses("s1")); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
}

func TestReportRoundTripThroughConsole(t *testing.T) {
	con := consoletest.Start(t)
	c := newClient(t, con, nil)
	ack, err := c.PushReport(ctx, testReport(1))
	if err != nil || ack.NextReportSeconds != 1 {
		t.Fatalf("ack %+v, %v", ack, err)
	}
	snap := con.Snapshot()
	if snap == nil || len(snap.Processes) != 1 || snap.Processes[0].Name != "init" {
		t.Fatalf("console snapshot %+v", snap)
	}
	// A body that is not a report is refused with the decoder's reason.
	_, err = c.PushReport(ctx, bytes.Repeat([]byte("x"), 10))
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "not gzip") {
		t.Fatalf("garbage report: %v", err)
	}
}

// TestStreamRefusedFallsBack: against a console without the sensor stream
// (an older one, or a proxy that does not pass upgrades) reports and polls
// go as requests, and the upgrade is not tried again at every report.
func TestStreamRefusedFallsBack(t *testing.T) {
	con := consoletest.Start(t)
	c := newClient(t, con, nil)
	for seq := uint64(1); seq <= 3; seq++ {
		if _, err := c.PushReport(ctx, testReport(seq)); err != nil {
			t.Fatalf("report %d: %v", seq, err)
		}
	}
	if _, err := c.PollCommands(ctx, "s1", 1); err != nil {
		t.Fatalf("poll: %v", err)
	}
	if got := len(con.Received()); got != 3 || c.Streaming() {
		t.Fatalf("reports received as requests: %d (streaming %v), want 3", got, c.Streaming())
	}
	if n := con.Upgrades(); n != 1 {
		t.Errorf("stream upgrades tried: %d, want 1 (then requests for a while)", n)
	}
	// NoStream never tries.
	con2 := consoletest.Start(t)
	c2 := newClient(t, con2, func(cfg *client.Config) { cfg.NoStream = true })
	if _, err := c2.PushReport(ctx, testReport(1)); err != nil || con2.Upgrades() != 0 {
		t.Fatalf("NoStream: %v, %d upgrades", err, con2.Upgrades())
	}
}
