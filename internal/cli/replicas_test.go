package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/testenv"
)

// TestReplicas runs two `riskmap console` processes on one PostgreSQL
// behind a TCP load balancer (round robin over the replicas that accept a
// connection; TLS passes through, both replicas share the certificate) and
// a fleet of sensors spread over both by it. It SIGKILLs one replica while
// the fleet reports (its sensors move to the other, which asks for full
// reports for the deltas it has no base for), restarts it, restarts the
// other gracefully (a rolling restart), and checks:
// every acknowledged report's content is in the database, both replicas
// show the same graph within two report intervals, and a session, an API
// key and an access token made on one replica work on the other, and
// their revocation on one holds on the other at once.
func TestReplicas(t *testing.T) {
	bin := riskmapBinary(t)
	pgURL := testenv.PostgresURL(t)
	const interval = 2 * time.Second
	const fleetSize = 80
	dirA, dirB := t.TempDir(), t.TempDir()
	portA, portB := freePort(t), freePort(t)
	start := func(dir string, port int) *proc {
		return startConsole(t, consoleCmd(bin, dir, "--database", pgURL, "--listen", fmt.Sprintf("127.0.0.1:%d", port),
			"--feed-interval", "0", "--report-interval", interval.String(), "--log-level", "warn"))
	}
	a := start(dirA, portA)
	// Replicas behind one address share its certificate (an operator's
	// --tls-cert/--tls-key; here the one replica A generated).
	if err := os.MkdirAll(filepath.Join(dirB, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"console.crt", "console.key"} {
		b, err := os.ReadFile(filepath.Join(dirA, "tls", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dirB, "tls", f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b := start(dirB, portB)
	if a.fingerprint != b.fingerprint {
		t.Fatalf("replicas serve different certificates: %s, %s", a.fingerprint, b.fingerprint)
	}
	baseA, baseB := fmt.Sprintf("https://127.0.0.1:%d", portA), fmt.Sprintf("https://127.0.0.1:%d", portB)
	lb := startBalancer(t, []string{fmt.Sprintf("127.0.0.1:%d", portA), fmt.Sprintf("127.0.0.1:%d", portB)})

	// An admin registers on A; sessions, keys and tokens are checked on
	// both below.
	cA := pinnedClient(a.fingerprint)
	if _, err := call(cA, "POST", baseA+"/api/v1/auth/register", map[string]string{
		"email": "admin@example.com", "password": "replicas test password", "name": "A", "organisation": "Replicas"}, nil); err != nil {
		t.Fatal(err)
	}
	var key struct{ APIKey string }
	if _, err := call(cA, "POST", baseA+"/api/v1/me/api-key", nil, &key); err != nil {
		t.Fatal(err)
	}
	var fleetTok struct{ Token string }
	if _, err := call(cA, "POST", baseA+"/api/v1/enrolment-tokens", map[string]any{"name": "fleet", "maxSensors": 0, "expiresInHours": 1}, &fleetTok); err != nil {
		t.Fatal(err)
	}

	// The fleet enrols and reports through the balancer.
	ctx, stopFleet := context.WithCancel(context.Background())
	defer stopFleet()
	fleet := make([]*replicaSensor, fleetSize)
	var ewg sync.WaitGroup
	errs := make(chan error, fleetSize)
	for i := range fleet {
		ewg.Add(1)
		go func() {
			defer ewg.Done()
			s, err := newReplicaSensor(ctx, lb, a.fingerprint, fleetTok.Token, i)
			if err != nil {
				errs <- err
				return
			}
			fleet[i] = s
		}()
	}
	ewg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var fwg sync.WaitGroup
	for i, s := range fleet {
		fwg.Add(1)
		go func() {
			defer fwg.Done()
			s.run(ctx, interval, time.Duration(i)*interval/fleetSize)
		}()
	}

	time.Sleep(3 * interval)
	ackedBefore := totalAcked(fleet)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.exited
	killedAt := time.Now()
	time.Sleep(2 * interval)
	a = start(dirA, portA)
	t.Logf("replica A killed after %d acknowledged reports, restarted in %s", ackedBefore, time.Since(killedAt).Round(time.Millisecond))
	time.Sleep(2 * interval)
	// A rolling restart of B: stopped gracefully (SIGTERM), started again.
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-b.exited:
		if err != nil {
			t.Errorf("replica B after SIGTERM: %v\n%s", err, tailString(b.stderr.String(), 2000))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("replica B did not stop within 30 s of SIGTERM")
	}
	b = start(dirB, portB)
	time.Sleep(2 * interval)
	stopFleet()
	fwg.Wait()
	stopped := time.Now()

	var acked, fulls, failed int64
	for _, s := range fleet {
		acked += s.acked
		fulls += s.fullAsked
		failed += s.failed
	}
	t.Logf("%d sensors: %d reports acknowledged, %d deltas answered 'full report needed', %d failed sends (retried)", fleetSize, acked, fulls, failed)
	if fulls == 0 {
		t.Error("no sensor was asked for a full report: did any move to the other replica?")
	}

	// 0 acknowledged reports lost: each acknowledged report added a
	// process named for it, which must be stored (gone or not), and each
	// sensor's live processes are those of its last acknowledged report.
	db, err := sql.Open("pgx", pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	lost := 0
	for _, s := range fleet {
		rows, err := db.QueryContext(context.Background(), "SELECT name, gone_at IS NULL FROM nodes WHERE sensor_id = $1 AND kind = 'process'", s.id)
		if err != nil {
			t.Fatal(err)
		}
		stored, live := map[string]bool{}, []string{}
		for rows.Next() {
			var name string
			var alive bool
			if err := rows.Scan(&name, &alive); err != nil {
				t.Fatal(err)
			}
			stored[name] = true
			if alive {
				live = append(live, name)
			}
		}
		rows.Close()
		for _, name := range s.ackedNames {
			if !stored[name] {
				lost++
				t.Errorf("sensor %s: acknowledged report with process %s is not in the database", s.id, name)
			}
		}
		slices.Sort(live)
		if d := cmp.Diff(s.lastAcked, live); d != "" {
			t.Errorf("sensor %s: live processes differ from its last acknowledged report (-acked +stored):\n%s", s.id, d)
		}
	}
	t.Logf("acknowledged reports lost: %d", lost)

	// Both graphs equal within two report intervals of the last report.
	var na, nb, ea, eb []string
	for {
		na, ea = replicaGraph(t, cA, baseA, key.APIKey)
		nb, eb = replicaGraph(t, cA, baseB, key.APIKey)
		if slices.Equal(na, nb) && slices.Equal(ea, eb) {
			t.Logf("graphs equal %s after the last report: %d nodes, %d edges", time.Since(stopped).Round(time.Millisecond), len(na), len(ea))
			break
		}
		if time.Since(stopped) > 2*interval {
			t.Fatalf("replicas' graphs differ two report intervals after the last report:\nnodes (-A +B):\n%s\nedges (-A +B):\n%s",
				cmp.Diff(na, nb), cmp.Diff(ea, eb))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, base := range []string{baseA, baseB} {
		if code, err := call(cA, "GET", base+"/readyz", nil, nil); code != http.StatusOK {
			t.Errorf("%s/readyz: %d %v", base, code, err)
		}
	}

	// Feeds uploaded to A: B serves the same knowledge base and feed
	// status within its follow interval (docs/replicas.md: ≤ 30 s).
	sameFeeds(t, cA, key.APIKey, baseA, baseB)

	// Sessions, API keys and tokens hold on both replicas; revocation on
	// one holds on the other at once.
	bearer := func(base, cred string) int {
		req, _ := http.NewRequest("GET", base+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+cred)
		resp, err := cA.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	sess := pinnedClient(a.fingerprint)
	if _, err := call(sess, "POST", baseB+"/api/v1/auth/login", map[string]string{"email": "admin@example.com", "password": "replicas test password"}, nil); err != nil {
		t.Fatal(err)
	}
	// The cookie jar is per host:port: carry the cookies over, as one
	// site behind the balancer would have them.
	uA, uB := mustURL(baseA), mustURL(baseB)
	signedIn := sess.Jar.Cookies(uB)
	sess.Jar.SetCookies(uA, signedIn)
	if code, err := call(sess, "GET", baseA+"/api/v1/me", nil, nil); code != http.StatusOK {
		t.Errorf("session made on B, used on A: %d %v", code, err)
	}
	if code, err := call(sess, "POST", baseA+"/api/v1/auth/logout", nil, nil); code >= 300 {
		t.Fatalf("sign out on A: %d %v", code, err)
	}
	replay := pinnedClient(a.fingerprint)
	replay.Jar.SetCookies(uB, signedIn)
	if code, _ := call(replay, "GET", baseB+"/api/v1/me", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("session signed out on A, replayed on B: %d, want 401", code)
	}
	if code := bearer(baseB, key.APIKey); code != http.StatusOK {
		t.Errorf("API key made on A, used on B: %d", code)
	}
	var tok struct{ AccessToken string }
	if _, err := call(cA, "POST", baseB+"/api/v1/auth/token", map[string]string{"apiKey": key.APIKey}, &tok); err != nil {
		t.Fatal(err)
	}
	if code := bearer(baseA, tok.AccessToken); code != http.StatusOK {
		t.Errorf("access token from B, used on A: %d", code)
	}
	// Sign out with the token on A: its family is revoked; B refuses it.
	req, _ := http.NewRequest("POST", baseA+"/api/v1/auth/logout", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if resp, err := cA.Do(req); err != nil || resp.StatusCode >= 300 {
		t.Fatalf("sign out with the access token on A: %v %v", resp, err)
	}
	if code := bearer(baseB, tok.AccessToken); code != http.StatusUnauthorized {
		t.Errorf("access token revoked on A, used on B: %d, want 401", code)
	}
	// Reset the API key on B (signed in there): the old one fails on A.
	req, _ = http.NewRequest("POST", baseB+"/api/v1/me/api-key", nil)
	req.Header.Set("Authorization", "Bearer "+key.APIKey)
	resp, err := cA.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		t.Fatalf("reset the API key on B: %v %v", resp, err)
	}
	resp.Body.Close()
	if code := bearer(baseA, key.APIKey); code != http.StatusUnauthorized {
		t.Errorf("API key reset on B, used on A: %d, want 401", code)
	}

	// A sensor reporting to B (which then answers its sensor row from
	// memory) is revoked on A: B refuses its next report once it hears of
	// the revocation (NOTIFY riskmap_sensors), well within a report
	// interval.
	rs, err := newReplicaSensor(context.Background(), baseB, a.fingerprint, fleetTok.Token, fleetSize+1)
	if err != nil {
		t.Fatal(err)
	}
	push := func() error {
		rs.cur.Time = time.Now().UTC()
		gz, err := report.Marshal(rs.tr.Next(rs.cur), report.DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		_, err = rs.cl.PushReport(context.Background(), gz)
		return err
	}
	// Two reports (the sensor's rate limit leaves room for the retries
	// below).
	for range 2 {
		if err := push(); err != nil {
			t.Fatalf("report to B before the revocation: %v", err)
		}
	}
	adminA := pinnedClient(a.fingerprint)
	if _, err := call(adminA, "POST", baseA+"/api/v1/auth/login", map[string]string{"email": "admin@example.com", "password": "replicas test password"}, nil); err != nil {
		t.Fatal(err)
	}
	if code, err := call(adminA, "POST", baseA+"/api/v1/sensors/"+rs.id+"/revoke", nil, nil); code != http.StatusOK {
		t.Fatalf("revoke on A: %d %v", code, err)
	}
	revoked := time.Now()
	for {
		err := push()
		var se *client.StatusError
		if errors.As(err, &se) && se.Code == http.StatusUnauthorized {
			t.Logf("B refused the sensor revoked on A after %s", time.Since(revoked).Round(time.Millisecond))
			break
		}
		if time.Since(revoked) > interval {
			t.Fatalf("B still takes the reports of a sensor revoked on A %s ago: %v", time.Since(revoked).Round(time.Millisecond), err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// freePort finds a loopback port free now (the replica restarts on it).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startBalancer is a TCP load balancer on loopback: each connection goes
// to the next backend in turn that accepts it. It returns its https URL.
func startBalancer(t *testing.T, backends []string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var next atomic.Uint64
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				var out net.Conn
				n := next.Add(1)
				for k := range backends {
					c, err := net.DialTimeout("tcp", backends[(int(n)+k)%len(backends)], time.Second)
					if err == nil {
						out = c
						break
					}
				}
				if out == nil {
					return
				}
				defer out.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(out, in); out.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				go func() { io.Copy(in, out); in.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				<-done
				<-done
			}()
		}
	}()
	return "https://" + l.Addr().String()
}

// replicaSensor is a simulated sensor: a host whose every report adds a
// process named for the report (p<seq>) and drops the oldest of five.
type replicaSensor struct {
	id        string
	cl        *client.Client
	tr        *report.Tracker
	cur       *report.Report
	acked     int64
	fullAsked int64
	failed    int64
	// ackedNames are the processes added by acknowledged reports;
	// lastAcked the processes of the last acknowledged one (sorted).
	ackedNames []string
	lastAcked  []string
	n          int
}

func newReplicaSensor(ctx context.Context, lb, pin, token string, i int) (*replicaSensor, error) {
	cl, err := client.New(client.Config{ConsoleURL: lb, PinSHA256: pin, Timeout: 20 * time.Second, Version: "test"})
	if err != nil {
		return nil, err
	}
	en, err := cl.Enrol(ctx, sensorproto.EnrolRequest{Token: token, Hostname: fmt.Sprintf("replica-host-%03d", i),
		MachineID: fmt.Sprintf("%032x", i+1), Version: "test"})
	if err != nil {
		return nil, fmt.Errorf("enrol sensor %d: %w", i, err)
	}
	s := &replicaSensor{id: en.SensorID, cl: cl, tr: report.NewTracker(report.DefaultFullEvery)}
	s.cur = &report.Report{Version: report.Version, SensorID: en.SensorID, RunID: "run-1", SensorVersion: "test", IntervalSeconds: 2,
		Host: &report.Host{Hostname: fmt.Sprintf("replica-host-%03d", i), Interfaces: []report.Interface{
			{Name: "eth0", Up: true, Addrs: []string{fmt.Sprintf("10.77.%d.%d/16", i/250, i%250+1)}}}}}
	for k := range 3 {
		name := []string{"sshd", "nginx", "postgres"}[k]
		s.cur.Processes = append(s.cur.Processes, report.Process{PID: 10 + k, StartTicks: 1, Name: name, Exe: "/usr/sbin/" + name})
	}
	// postgres listens; nginx calls the next host's (an edge between two
	// sensors, which may report to different replicas).
	s.cur.Processes[2].Listen = []report.Endpoint{{Addr: "0.0.0.0", Port: 5432}}
	own, peer := fmt.Sprintf("10.77.%d.%d", i/250, i%250+1), fmt.Sprintf("10.77.%d.%d", (i+1)/250, (i+1)%250+1)
	s.cur.Connections = []report.Connection{
		{Source: report.SourceProc, Proto: "tcp", State: "LISTEN", Local: report.Endpoint{Addr: "0.0.0.0", Port: 5432}, ProcessKey: s.cur.Processes[2].Key(), PID: 12},
		{Source: report.SourceProc, Proto: "tcp", State: "ESTABLISHED", Local: report.Endpoint{Addr: own, Port: 40000}, Remote: report.Endpoint{Addr: peer, Port: 5432},
			ProcessKey: s.cur.Processes[1].Key(), PID: 11},
	}
	return s, nil
}

// run reports until ctx ends, and then until its last report is cleanly
// acknowledged (not a delta answered "full report needed").
func (s *replicaSensor) run(ctx context.Context, interval, offset time.Duration) {
	time.Sleep(offset)
	pending := false // the picture changed and is not yet acknowledged
	for {
		if !pending {
			if ctx.Err() != nil {
				return
			}
			s.n++
			name := fmt.Sprintf("p%d", s.n)
			s.cur.Processes = append(s.cur.Processes, report.Process{PID: 1000 + s.n, StartTicks: uint64(s.n), Name: name, Exe: "/usr/bin/worker"})
			if len(s.cur.Processes) > 8 {
				s.cur.Processes = slices.Delete(s.cur.Processes, 3, 4)
			}
			pending = true
		}
		s.cur.Time = time.Now().UTC()
		out := s.tr.Next(s.cur)
		gz, err := report.Marshal(out, report.DefaultLimits())
		if err != nil {
			panic(err)
		}
		pctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		ack, err := s.cl.PushReport(pctx, gz)
		cancel()
		var se *client.StatusError
		switch {
		case err == nil && ack.FullReportRequested:
			// Not applied: send the full picture at once.
			s.fullAsked++
			s.tr.Ack(out)
			s.tr.RequestFull()
			continue
		case err == nil:
			s.tr.Ack(out)
			atomic.AddInt64(&s.acked, 1)
			s.ackedNames = append(s.ackedNames, fmt.Sprintf("p%d", s.n))
			s.lastAcked = s.lastAcked[:0]
			for _, p := range s.cur.Processes {
				s.lastAcked = append(s.lastAcked, p.Name)
			}
			slices.Sort(s.lastAcked)
			pending = false
			wait := interval
			if ctx.Err() != nil {
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		case errors.As(err, &se) && se.Code == http.StatusTooManyRequests:
			s.tr.Failed()
			time.Sleep(max(se.RetryAfter, 100*time.Millisecond))
		default:
			s.failed++
			s.tr.Failed()
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func totalAcked(fleet []*replicaSensor) int64 {
	var n int64
	for _, s := range fleet {
		n += atomic.LoadInt64(&s.acked)
	}
	return n
}

// replicaGraph is what a replica shows: every node (gone ones too) and
// the processes view's edges.
func replicaGraph(t *testing.T, c *http.Client, base, apiKey string) (nodes, edges []string) {
	t.Helper()
	get := func(path string, out any) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+apiKey)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("GET %s%s: %d %s", base, path, resp.StatusCode, b)
		}
		if err := jsonDecode(resp.Body, out); err != nil {
			t.Fatal(err)
		}
	}
	cursor := ""
	for {
		var page struct {
			Items []struct {
				ID, Label string
				Gone      bool
			}
			NextCursor string
		}
		get("/api/v1/topology/nodes?includeGone=true&limit=1000&cursor="+cursor, &page)
		for _, n := range page.Items {
			nodes = append(nodes, fmt.Sprintf("%s %s gone=%v", n.ID, n.Label, n.Gone))
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	var g struct {
		Edges []struct{ Source, Target, Kind string }
	}
	get("/api/v1/topology/graph?view=processes&maxNodes=20000", &g)
	for _, e := range g.Edges {
		edges = append(edges, e.Source+" "+e.Kind+" "+e.Target)
	}
	slices.Sort(nodes)
	slices.Sort(edges)
	return nodes, edges
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s + "/")
	if err != nil {
		panic(err)
	}
	return u
}

func jsonDecode(r io.Reader, out any) error { return json.NewDecoder(r).Decode(out) }

// feedsView is what a replica's diagnosis says of its feeds.
type feedsView struct {
	Feeds struct {
		Loaded  bool       `json:"loaded"`
		BuiltAt *time.Time `json:"builtAt"`
		Vulns   int        `json:"vulnerabilities"`
		Sources []struct {
			Path    string `json:"path"`
			Records int    `json:"records"`
		} `json:"sources"`
		// Replica is the published generation the replica runs.
		Replica struct {
			Generation int64 `json:"generation"`
		} `json:"replica"`
	} `json:"feeds"`
}

// sameFeeds uploads an OSV export to the replica at from and waits until
// the replica at to reports the same knowledge base and feed status.
func sameFeeds(t *testing.T, c *http.Client, apiKey, from, to string) {
	t.Helper()
	zip, err := os.ReadFile(filepath.Join(testenv.SharedFeeds(t), "osv", "crates.io", "all.zip"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", from+"/api/v1/feeds/import?name=all.zip", bytes.NewReader(zip))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("import feeds on %s: %d %s", from, resp.StatusCode, body)
	}
	uploaded := time.Now()
	view := func(base string) feedsView {
		req, _ := http.NewRequest("GET", base+"/api/v1/diagnosis", nil)
		req.Header.Set("Authorization", "Bearer "+apiKey)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v feedsView
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	want := view(from)
	if !want.Feeds.Loaded || want.Feeds.Vulns == 0 || want.Feeds.Replica.Generation == 0 {
		t.Fatalf("%s after the import: %+v", from, want.Feeds)
	}
	for {
		got := view(to)
		if cmp.Equal(want, got) {
			t.Logf("feeds imported on one replica served by the other %s later: %d vulnerabilities", time.Since(uploaded).Round(time.Millisecond), got.Feeds.Vulns)
			return
		}
		if time.Since(uploaded) > 30*time.Second {
			t.Fatalf("replicas' feeds differ 30 s after an import (-%s +%s):\n%s", from, to, cmp.Diff(want, got))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
