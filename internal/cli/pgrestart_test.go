package cli_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver for database/sql

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/testenv"
)

// TestConsoleSurvivesPostgresRestart restarts the console's PostgreSQL
// server (a cluster of the test's own, pg_ctl stop -m fast, then start on
// the same port) while the built console runs and a sensor pushes reports
// through the real sensor client: during the outage ingest and the API
// answer 503 with Retry-After (the console does not exit, and the sensor's
// credentials are not refused with 401); after it the console serves again
// without a restart, the report the sensor was holding is stored, and every
// acknowledged report is in the database.
func TestConsoleSurvivesPostgresRestart(t *testing.T) {
	bin := riskmapBinary(t)
	pg := testenv.PostgresServer(t)
	p := startConsole(t, consoleCmd(bin, t.TempDir(), "--database", pg.URL, "--feed-interval", "0", "--report-interval", "1s"))
	base := "https://" + p.addr
	c := pinnedClient(p.fingerprint)
	if _, err := call(c, "POST", base+"/api/v1/auth/register", map[string]string{
		"email": "admin@example.com", "password": "restart test password", "name": "A", "organisation": "Restart"}, nil); err != nil {
		t.Fatal(err)
	}
	key, sensorID := enrolSensor(t, c, base, "pg-restart-host")
	cl, err := client.New(client.Config{ConsoleURL: base, Key: key, PinSHA256: p.fingerprint, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// The sensor's picture: a host and a few processes; one more process
	// appears with each report.
	cur := &report.Report{SensorID: sensorID, RunID: "run-1", SensorVersion: "test", IntervalSeconds: 1,
		Host: &report.Host{Hostname: "pg-restart-host"}}
	addProc := func(name string) {
		pid := 100 + len(cur.Processes)
		cur.Processes = append(cur.Processes, report.Process{PID: pid, StartTicks: 1, Name: name, Exe: "/usr/bin/" + name})
	}
	tr := report.NewTracker(report.DefaultFullEvery)
	var acked int64
	var lastSeq uint64
	push := func() (report.Report, error) {
		cur.Time = time.Now().UTC()
		out := tr.Next(cur)
		gz, err := report.Marshal(out, report.DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		ack, err := cl.PushReport(ctx, gz)
		var se *client.StatusError
		if errors.As(err, &se) && se.Code == http.StatusTooManyRequests {
			// The per-sensor rate limit: wait as told, as the sensor does.
			time.Sleep(se.RetryAfter)
			ack, err = cl.PushReport(ctx, gz)
		}
		if err != nil {
			tr.Failed()
			return *out, err
		}
		tr.Ack(out)
		if ack.FullReportRequested {
			tr.RequestFull()
		}
		acked++
		lastSeq = out.Seq
		return *out, nil
	}
	for i := range 5 {
		addProc(fmt.Sprintf("before-%d", i))
		if _, err := push(); err != nil {
			t.Fatalf("report %d before the restart: %v", i, err)
		}
	}

	pg.Stop()
	addProc("during-outage")
	var se *client.StatusError
	if _, err := push(); !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable || se.RetryAfter <= 0 {
		t.Fatalf("report while PostgreSQL is down: got %v, want 503 with Retry-After", err)
	}
	code, err := call(c, "GET", base+"/api/v1/scans", nil, nil)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("GET /api/v1/scans while PostgreSQL is down: %d %v, want 503", code, err)
	}
	if code, _ := call(c, "GET", base+"/readyz", nil, nil); code < 500 {
		t.Fatalf("/readyz while PostgreSQL is down: %d, want 5xx", code)
	}
	select {
	case err := <-p.exited:
		t.Fatalf("console exited while PostgreSQL was down: %v\n%s", err, p.stderr)
	default:
	}

	pg.Start()
	// The sensor retries the way it does after any 5xx; the console's
	// connection pool replaces the connections the restart closed.
	deadline := time.Now().Add(60 * time.Second)
	var sent report.Report
	for {
		if sent, err = push(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("console did not recover within 60 s after PostgreSQL came back: %v\nstderr:\n%s", err, tailString(p.stderr.String(), 3000))
		}
		time.Sleep(500 * time.Millisecond)
	}
	if sent.Kind != report.KindFull {
		t.Errorf("first report after the outage is %s, want full (the failed one left the console's base unknown)", sent.Kind)
	}
	addProc("after-restart")
	if _, err := push(); err != nil {
		t.Fatalf("report after recovery: %v\nstderr:\n%s", err, tailString(p.stderr.String(), 3000))
	}
	if code, err := call(c, "GET", base+"/api/v1/scans", nil, nil); code != http.StatusOK {
		t.Fatalf("GET /api/v1/scans after recovery: %d %v", code, err)
	}

	// Every acknowledged report is in the database.
	db, err := sql.Open("pgx", pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var reports, seq int64
	if err := db.QueryRowContext(ctx, "SELECT reports, seq FROM topology_sensors WHERE id = $1", cur.SensorID).Scan(&reports, &seq); err != nil {
		t.Fatal(err)
	}
	if reports < acked || uint64(seq) != lastSeq {
		t.Errorf("stored reports %d (last seq %d), want at least the %d acknowledged (last seq %d)", reports, seq, acked, lastSeq)
	}
	rows, err := db.QueryContext(ctx, "SELECT name FROM nodes WHERE kind = 'process' AND gone_at IS NULL ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	want := "after-restart before-0 before-1 before-2 before-3 before-4 during-outage"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("stored processes %q, want %q", got, want)
	}
	select {
	case err := <-p.exited:
		t.Fatalf("console exited: %v", err)
	default:
	}
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
