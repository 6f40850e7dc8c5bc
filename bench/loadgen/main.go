// Command loadgen simulates N sensors pushing realistic topology reports
// (internal/report types, full then deltas, through the sensor's own
// client with the pinned certificate) to a Riskmap console it starts on
// loopback, and prints the ingest latency (p50, p99), reports lost, the
// console's peak RSS and the graph query times. With -ramp it doubles the
// sensors until a goal is missed, to find the breaking point. With
// -consoles N (and -database postgres://...) it starts N console replicas
// on the one PostgreSQL, spreads the sensors over them (sensor i reports
// to replica i mod N) and prints each replica's figures.
//
//	go build -o /tmp/riskmap ./cmd/riskmap
//	go run ./bench/loadgen -riskmap /tmp/riskmap -sensors 1000 -interval 10s -duration 2m
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensor"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

func main() {
	riskmap := flag.String("riskmap", "riskmap", "the riskmap binary (the console is started from it)")
	sensors := flag.Int("sensors", 1000, "simulated sensors")
	interval := flag.Duration("interval", 10*time.Second, "report interval (the console is started with it)")
	duration := flag.Duration("duration", 2*time.Minute, "how long to push reports at each step")
	database := flag.String("database", "", "postgres:// URL (default: SQLite in a temporary data directory)")
	ramp := flag.Bool("ramp", false, "after the first step, double the sensors until p99 > 200 ms, a report is lost, or RSS > 1 GB")
	maxSensors := flag.Int("max-sensors", 16000, "stop ramping here")
	notifyRate := flag.Float64("notify-rate", 0, "during the first step, write this many findings.new events a second and measure their delivery to a loopback webhook (0: off)")
	hold := flag.String("hold", "", "after the warm-up, write the console's URL, pin and sign-in to this JSON file (for bench/web.sh); SIGINT/SIGTERM ends the step early")
	probes := flag.Int("exposure-probes", 0, "during the first step, this many sensors have findings (a host scan) and flip their internet exposure again and again; measures the time to the rescored findings in the API (0: off; needs -feeds)")
	estate := flag.Bool("exposure-estate", false, "with -exposure-probes: every sensor's host has findings (a host scan each), not only the probes', so every report rescores findings")
	consoles := flag.Int("consoles", 1, "console replicas to start on the one -database (PostgreSQL); sensors are spread over them")
	feedsDir := flag.String("feeds", "", "import these feeds (e.g. ../shared/feeds) into the console's knowledge base before it starts, and turn its feed updates off")
	flag.DurationVar(&pollEvery, "poll", 0, "each sensor also polls for commands this often, as the real sensor does every 5s (0: no polls, reports only)")
	flag.BoolVar(&noStream, "no-stream", false, "sensors send each report as a request (POST), not on a report stream (a WebSocket each)")
	cpuProfile := flag.String("cpuprofile", "", "write the load generator's own CPU profile here (what it costs beside the console)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: -cpuprofile:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	if *probes > 0 && *feedsDir == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -exposure-probes needs -feeds (the probes' findings come from the knowledge base)")
		os.Exit(2)
	}
	if *consoles < 1 || *consoles > 1 && !strings.HasPrefix(*database, "postgres") {
		fmt.Fprintln(os.Stderr, "loadgen: -consoles N needs N >= 1, and above 1 a -database postgres:// URL (replicas share PostgreSQL)")
		os.Exit(2)
	}
	if err := run(*riskmap, *database, *feedsDir, *sensors, *interval, *duration, *ramp, *maxSensors, *hold, *notifyRate, *probes, *estate, *consoles); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
}

type console struct {
	cmd    *exec.Cmd
	url    string
	pin    string
	apiKey string
	// enrolToken enrols the simulated sensors.
	enrolToken string
	spki       string // base64 SHA-256 of the public key, for Chromium's --ignore-certificate-errors-spki-list
	hc         *http.Client
	// dataDir and database are where the console keeps its data.
	dataDir, database string
}

// startConsole starts a console. A replica (first set) shares the first
// console's certificate (replicas behind one address serve one) and its
// user, API key and enrolment token (in the shared database).
func startConsole(bin, database, feedsDir string, interval time.Duration, first *console) (*console, func(), error) {
	dir, err := os.MkdirTemp("", "riskmap-loadgen-")
	if err != nil {
		return nil, nil, err
	}
	if first != nil {
		if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
			return nil, nil, err
		}
		for _, f := range []string{"console.crt", "console.key"} {
			b, err := os.ReadFile(filepath.Join(first.dataDir, "tls", f))
			if err != nil {
				return nil, nil, err
			}
			if err := os.WriteFile(filepath.Join(dir, "tls", f), b, 0o600); err != nil {
				return nil, nil, err
			}
		}
	}
	args := []string{"console", "--listen", "127.0.0.1:0", "--data-dir", dir, "--log-level", "warn", "--report-interval", interval.String()}
	if database != "" {
		args = append(args, "--database", database)
	}
	if feedsDir != "" {
		// As an air-gapped site does: the feeds imported offline into the
		// console's data directory (it keeps them in feeds/), no updates.
		start := time.Now()
		imp := exec.Command(bin, "feeds", "import", "--db", filepath.Join(dir, "feeds"), feedsDir)
		if out, err := imp.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return nil, nil, fmt.Errorf("feeds import %s: %w\n%s", feedsDir, err, out)
		}
		fmt.Printf("knowledge base imported from %s in %s\n", feedsDir, time.Since(start).Round(time.Millisecond))
		args = append(args, "--feed-interval", "0")
	}
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait(); os.RemoveAll(dir) }
	c := &console{cmd: cmd, dataDir: dir, database: database}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "listening on:"); ok {
			c.url = "https://" + strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "TLS certificate SHA-256 fingerprint:"); ok {
			c.pin = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "database:"); ok && v != "" {
			break
		}
	}
	go io.Copy(io.Discard, out)
	if c.url == "" || c.pin == "" {
		stop()
		return nil, nil, errors.New("console did not print its address and fingerprint")
	}
	pemBytes, err := os.ReadFile(filepath.Join(dir, "tls", "console.crt"))
	if err != nil {
		stop()
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	if blk, _ := pem.Decode(pemBytes); blk != nil {
		if crt, err := x509.ParseCertificate(blk.Bytes); err == nil {
			sum := sha256.Sum256(crt.RawSubjectPublicKeyInfo)
			c.spki = base64.StdEncoding.EncodeToString(sum[:])
		}
	}
	jar, _ := cookiejar.New(nil)
	c.hc = &http.Client{Jar: jar, Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}}
	if first != nil {
		c.apiKey, c.enrolToken = first.apiKey, first.enrolToken
		return c, stop, nil
	}
	if err := c.register(); err != nil {
		stop()
		return nil, nil, err
	}
	return c, stop, nil
}

func (c *console) register() error {
	resp, err := c.hc.Post(c.url+"/api/v1/auth/register", "application/json", strings.NewReader(
		fmt.Sprintf(`{"email":%q,"password":%q,"name":"Bench","organisation":"Bench"}`, benchEmail, benchPassword)))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("register: %s", resp.Status)
	}
	req, _ := http.NewRequest(http.MethodPost, c.url+"/api/v1/me/api-key", nil)
	for _, ck := range c.hc.Jar.Cookies(req.URL) {
		if ck.Name == "riskmap_csrf" {
			req.Header.Set("X-CSRF-Token", ck.Value)
		}
	}
	resp, err = c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var k struct{ APIKey string }
	if err := json.NewDecoder(resp.Body).Decode(&k); err != nil || k.APIKey == "" {
		return fmt.Errorf("create API key: %s %v", resp.Status, err)
	}
	c.apiKey = k.APIKey
	// One fleet enrolment token: every simulated sensor enrols with it and
	// reports with its own identity.
	req, _ = http.NewRequest(http.MethodPost, c.url+"/api/v1/enrolment-tokens", strings.NewReader(`{"name":"loadgen fleet","maxSensors":0,"expiresInHours":48}`))
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp2, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp2.Body.Close()
	var t struct{ Token string }
	if err := json.NewDecoder(resp2.Body).Decode(&t); err != nil || t.Token == "" {
		return fmt.Errorf("create enrolment token: %s %v", resp2.Status, err)
	}
	c.enrolToken = t.Token
	return nil
}

// reportBuckets reads the console's own latency histogram of the report
// route from /metrics: cumulative counts by upper bound in seconds.
func (c *console) reportBuckets() (map[float64]float64, error) {
	return c.buckets("riskmap_http_request_duration_seconds_bucket{", `route="/api/v1/sensor/reports"`)
}

// lagBuckets reads the console's event delivery lag histogram, every
// consumer summed: from an event's commit to its consumer's handler
// returning.
func (c *console) lagBuckets() (map[float64]float64, error) {
	return c.buckets("riskmap_event_delivery_lag_seconds_bucket{", "")
}

// metricsLines fetches the console's /metrics, a line each.
func (c *console) metricsLines() ([]string, error) {
	resp, err := c.hc.Get(c.url + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return strings.Split(string(b), "\n"), nil
}

// buckets sums the cumulative bucket counts of a histogram on /metrics,
// keeping the series whose labels contain filter.
func (c *console) buckets(prefix, filter string) (map[float64]float64, error) {
	lines, err := c.metricsLines()
	if err != nil {
		return nil, err
	}
	out := map[float64]float64{}
	for _, l := range lines {
		if !strings.HasPrefix(l, prefix) || !strings.Contains(l, filter) {
			continue
		}
		i := strings.Index(l, `le="`)
		j := strings.LastIndexByte(l, '"')
		if i < 0 || j <= i+4 {
			continue
		}
		le, err := strconv.ParseFloat(l[i+4:j], 64)
		if err != nil {
			le = 1e9 // +Inf
		}
		n, _ := strconv.ParseFloat(strings.TrimSpace(l[strings.LastIndexByte(l, ' ')+1:]), 64)
		out[le] += n
	}
	return out, nil
}

// counters reads counters from one /metrics, each's series summed, in the
// order named (zeros when it cannot be read).
func (c *console) counters(names ...string) []float64 {
	out := make([]float64, len(names))
	lines, err := c.metricsLines()
	if err != nil {
		return out
	}
	for _, l := range lines {
		for k, name := range names {
			if rest, ok := strings.CutPrefix(l, name); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "{")) {
				v, _ := strconv.ParseFloat(strings.TrimSpace(l[strings.LastIndexByte(l, ' ')+1:]), 64)
				out[k] += v
			}
		}
	}
	return out
}

// histQuantile estimates a quantile of the observations between two
// readings of a cumulative histogram, interpolating inside the bucket (as
// Prometheus's histogram_quantile does). It returns -1 without
// observations.
func histQuantile(before, after map[float64]float64, q float64) time.Duration {
	les := slices.Sorted(maps.Keys(after))
	if len(les) == 0 {
		return -1
	}
	total := after[les[len(les)-1]] - before[les[len(les)-1]]
	if total <= 0 {
		return -1
	}
	rank := q * total
	prevLE, prevN := 0.0, 0.0
	for _, le := range les {
		n := after[le] - before[le]
		if n >= rank {
			if le >= 1e9 {
				return time.Duration(prevLE * float64(time.Second))
			}
			f := 1.0
			if n > prevN {
				f = (rank - prevN) / (n - prevN)
			}
			return time.Duration((prevLE + f*(le-prevLE)) * float64(time.Second))
		}
		prevLE, prevN = le, n
	}
	return time.Duration(prevLE * float64(time.Second))
}

// serverSide summarises the console-side latency of the reports between
// two histogram readings: the share answered within 100 ms and 250 ms,
// and the bucket holding the 99th percentile.
func serverSide(before, after map[float64]float64) string {
	les := slices.Sorted(maps.Keys(after))
	total := after[les[len(les)-1]] - before[les[len(les)-1]]
	if total <= 0 {
		return "no reports"
	}
	share := func(le float64) float64 { return 100 * (after[le] - before[le]) / total }
	p99 := "> 10 s"
	for _, le := range les {
		if (after[le]-before[le])/total >= 0.99 {
			if le < 1e9 {
				p99 = fmt.Sprintf("<= %s", time.Duration(le*float64(time.Second)))
			}
			break
		}
	}
	return fmt.Sprintf("%.1f%% within 100ms, %.1f%% within 250ms, p99 %s", share(0.1), share(0.25), p99)
}

// cpuSeconds is the console's user + system CPU time so far.
func (c *console) cpuSeconds() float64 {
	u, k := c.cpuSplit()
	return u + k
}

// cpuSplit is the console's user and system (kernel) CPU time so far.
func (c *console) cpuSplit() (user, system float64) {
	return procCPUSplit(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
}

// yardstick times a fixed piece of CPU work like the console's (a
// simulated host's full report encoded, gzipped and decoded 100 times,
// one goroutine on its own thread): the same binary's CPU per report
// follows the machine's speed, which varies on a shared machine.
func yardstick(r *report.Report) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	full := *r
	full.Kind, full.Seq = report.KindFull, 1
	start := time.Now()
	for range 100 {
		gz, err := report.Marshal(&full, report.DefaultLimits())
		if err != nil {
			return -1
		}
		if _, err := report.Decode(bytes.NewReader(gz), report.DefaultLimits()); err != nil {
			return -1
		}
	}
	return time.Since(start)
}

// procCPU is the user + system CPU time so far of the process whose
// /proc stat file is path.
func procCPU(path string) float64 {
	u, k := procCPUSplit(path)
	return u + k
}

// procCPUSplit is procCPU's user and system (kernel) time apart.
func procCPUSplit(path string) (user, system float64) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return u / 100, k / 100 // USER_HZ
}

func (c *console) rssBytes() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// graphTime is the median time of 5 graph queries.
func (c *console) graphTime(query string) (time.Duration, int, error) {
	var ds []time.Duration
	total := 0
	for range 5 {
		req, _ := http.NewRequest(http.MethodGet, c.url+"/api/v1/topology/graph?"+query, nil)
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
		start := time.Now()
		resp, err := c.hc.Do(req)
		if err != nil {
			return 0, 0, err
		}
		var g struct{ Total int }
		err = json.NewDecoder(resp.Body).Decode(&g)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return 0, 0, fmt.Errorf("graph %s: %s %v", query, resp.Status, err)
		}
		ds = append(ds, time.Since(start))
		total = g.Total
	}
	slices.Sort(ds)
	return ds[len(ds)/2], total, nil
}

// missingReports counts the simulated sensors whose acknowledged reports
// the console does not hold: its count of stored reports is lower than the
// acknowledged ones, or its last stored sequence number is older than the
// last acknowledged one.
func (c *console) missingReports(fleet []*sim) (int, error) {
	req, _ := http.NewRequest(http.MethodGet, c.url+"/api/v1/topology/sensors", nil)
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var list []struct {
		ID      string
		Seq     uint64
		Reports int64
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("sensors list: %s %v", resp.Status, err)
	}
	got := map[string]int{}
	for i, s := range list {
		got[s.ID] = i
	}
	missing := 0
	for _, s := range fleet {
		i, ok := got[s.cur.SensorID]
		if !ok || list[i].Reports < s.acked || list[i].Seq < s.lastSeq {
			missing++
		}
	}
	return missing, nil
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

type stats struct {
	// rep are the figures of each console replica (-consoles).
	rep       []repStats
	mu        sync.Mutex
	lat       []time.Duration
	steady    []time.Duration // after the warm-up (first full reports)
	write     []time.Duration // steady: until the request was written
	answer    []time.Duration // steady: request written to first byte of the answer
	warmUntil time.Time
	sent      atomic.Int64
	acked     atomic.Int64
	throttled atomic.Int64 // 429: back-pressure, retried
	lost      atomic.Int64 // other failures
	bodyBytes atomic.Int64 // compressed report bodies sent
	fullReq   atomic.Int64
	maxNext   atomic.Int64
	// maxNextSteady is maxNext after the first interval: right after the
	// warm-up (every sensor's first full report at once) the console
	// rightly slows sensors down for a while.
	maxNextSteady atomic.Int64
	lastErr       atomic.Value
	// polls and pollErrs count the command polls (-poll).
	polls, pollErrs atomic.Int64
}

// repStats are one replica's figures in a step.
type repStats struct {
	acked  atomic.Int64
	steady []time.Duration // under stats.mu
}

func (s *stats) add(start time.Time, d time.Duration) {
	s.addRep(-1, start, d)
}

// addRep records an acknowledged report of replica rep (-1: none).
func (s *stats) addRep(rep int, start time.Time, d time.Duration) {
	s.mu.Lock()
	s.lat = append(s.lat, d)
	steady := start.After(s.warmUntil)
	if steady {
		s.steady = append(s.steady, d)
	}
	if rep >= 0 && rep < len(s.rep) {
		s.rep[rep].acked.Add(1)
		if steady {
			s.rep[rep].steady = append(s.rep[rep].steady, d)
		}
	}
	s.mu.Unlock()
}

// phases splits a report's latency as the client sees it: until the
// request is written (connection, flow control), until the first byte of
// the answer (the console's work), and the rest.
type phases struct {
	start, wrote, first time.Time
}

func (ph *phases) trace(start time.Time) context.Context {
	ph.start = start
	return httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		WroteRequest:         func(httptrace.WroteRequestInfo) { ph.wrote = time.Now() },
		GotFirstResponseByte: func() { ph.first = time.Now() },
	})
}

func (s *stats) addPhases(start time.Time, ph phases) {
	if ph.wrote.IsZero() || ph.first.IsZero() || !start.After(s.warmUntil) {
		return
	}
	s.mu.Lock()
	s.write = append(s.write, ph.wrote.Sub(ph.start))
	s.answer = append(s.answer, ph.first.Sub(ph.wrote))
	s.mu.Unlock()
}

// schedLatency reads this process's goroutine scheduling latency
// histogram (time from runnable to running): the load generator's own
// delays, which its latency figures include.
func schedLatency() *metrics.Float64Histogram {
	m := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(m)
	if m[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	h := m[0].Value.Float64Histogram()
	return &metrics.Float64Histogram{Counts: slices.Clone(h.Counts), Buckets: h.Buckets}
}

// histPct is the p quantile of the difference of two readings.
func histPct(before, after *metrics.Float64Histogram, p float64) time.Duration {
	if before == nil || after == nil {
		return 0
	}
	var total uint64
	d := make([]uint64, len(after.Counts))
	for i := range d {
		d[i] = after.Counts[i] - before.Counts[i]
		total += d[i]
	}
	var seen uint64
	for i, n := range d {
		seen += n
		if float64(seen) >= p*float64(total) {
			return time.Duration(after.Buckets[i+1] * float64(time.Second))
		}
	}
	return 0
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// benchEmail and benchPassword sign in the user the load generator registers.
const (
	benchEmail    = "bench@example.com"
	benchPassword = "correct horse battery staple"
)

// writeHold tells another program (bench/web.sh) where the fed console is.
func writeHold(path string, c *console, sensors int) error {
	b, err := json.Marshal(map[string]any{"url": c.url, "pin": c.pin, "spki": c.spki, "apiKey": c.apiKey, "email": benchEmail, "password": benchPassword, "sensors": sensors})
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	return os.Rename(tmp, path)
}

func run(bin, database, feedsDir string, n int, interval, duration time.Duration, ramp bool, maxSensors int, hold string, notifyRate float64, probes int, estate bool, replicas int) error {
	c, stop, err := startConsole(bin, database, feedsDir, interval, nil)
	if err != nil {
		return err
	}
	defer stop()
	cs := []*console{c}
	for range replicas - 1 {
		ck, stopk, err := startConsole(bin, database, feedsDir, interval, c)
		if err != nil {
			return fmt.Errorf("replica %d: %w", len(cs)+1, err)
		}
		defer stopk()
		cs = append(cs, ck)
	}
	if len(cs) > 1 {
		fmt.Printf("%d console replicas on one PostgreSQL:", len(cs))
		for _, ck := range cs {
			fmt.Printf(" %s", ck.url)
		}
		fmt.Println("; sensor i reports to replica i mod", len(cs))
	}
	db := "SQLite"
	if database != "" {
		db = "PostgreSQL"
	}
	transport := "on the sensor stream (a WebSocket each)"
	if noStream {
		transport = "as HTTP requests (-no-stream)"
	}
	fmt.Printf("console %s (%s), report interval %s, %s per step; sensors report %s\n", c.url, db, interval, duration, transport)
	var fleet []*sim
	var peakRSS atomic.Int64
	repRSS := make([]atomic.Int64, len(cs))
	// A signal ends the current step early; the console is still stopped.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if r := c.rssBytes(); r > peakRSS.Load() {
				peakRSS.Store(r)
			}
			for k, ck := range cs {
				if r := ck.rssBytes(); r > repRSS[k].Load() {
					repRSS[k].Store(r)
				}
			}
			time.Sleep(500 * time.Millisecond)
		}
	}()
	down := false // searching downwards after a first step that missed a goal
	lastOK := 0
	probeIDs := probeIDs(n, probes)
	for step := n; step >= 1; {
		st := &stats{rep: make([]repStats, len(cs))}
		for i := len(fleet); i < step; i++ {
			s, err := newSim(i, cs[i%len(cs)], probeIDs[i], estate || probeIDs[i])
			if err != nil {
				return err
			}
			s.rep = i % len(cs)
			fleet = append(fleet, s)
		}
		// Warm-up, not timed: new sensors exchange their API key and send
		// their first full report, 50 at a time (a fleet starting at once
		// is a burst of token exchanges and full reports; the step measures
		// the steady state).
		warm := time.Now()
		sem := make(chan struct{}, 50)
		var wwg sync.WaitGroup
		for _, s := range fleet {
			if s.warm {
				continue
			}
			wwg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wwg.Done()
				defer func() { <-sem }()
				s.warmUp()
			}()
		}
		wwg.Wait()
		fmt.Printf("\nwarm-up: %d sensors' first full reports in %s\n", len(fleet), time.Since(warm).Round(time.Millisecond))
		yard0 := yardstick(fleet[0].cur)
		if hold != "" {
			if err := writeHold(hold, c, len(fleet)); err != nil {
				return err
			}
		}
		var eb *exposureBench
		if len(probeIDs) > 0 && step == n && !down {
			var ps, scanned []*sim
			for _, s := range fleet {
				if s.flips != nil {
					ps = append(ps, s)
				}
				if s.bullseye {
					scanned = append(scanned, s)
				}
			}
			if eb, err = startExposure(ctx, c, ps, scanned); err != nil {
				return err
			}
		}
		st.warmUntil = time.Now().Add(interval)
		user0, sys0 := c.cpuSplit()
		cpu0, self0 := user0+sys0, procCPU("/proc/self/stat")
		repCPU0 := make([]float64, len(cs))
		for k, ck := range cs {
			repCPU0[k] = ck.cpuSeconds()
		}
		pg0, pgOK := pgStats(database)
		hist0, _ := c.reportBuckets()
		lag0, _ := c.lagBuckets()
		// The collector's cycles, the writer's transactions of reports, their reports.
		writerNames := []string{"go_gc_duration_seconds_count", "riskmap_topology_batches_total", "riskmap_topology_batched_reports_total", "riskmap_topology_rebased_reports_total"}
		writer0 := c.counters(writerNames...)
		sched0 := schedLatency()
		sctx, scancel := context.WithTimeout(ctx, duration)
		var nb *notifyBench
		var nwg sync.WaitGroup
		if notifyRate > 0 && step == n && !down {
			if nb, err = startNotify(c); err != nil {
				scancel()
				return err
			}
			defer nb.close()
			hosts := make([]string, 0, len(fleet))
			for _, s := range fleet {
				hosts = append(hosts, s.sensorID)
			}
			// After the first interval, like the steady ingest figures.
			nwg.Add(1)
			go func() {
				defer nwg.Done()
				select {
				case <-sctx.Done():
					return
				case <-time.After(interval):
				}
				nb.run(sctx, notifyRate, hosts)
			}()
		}
		if eb != nil {
			// After the first interval, like the steady ingest figures;
			// its polls finish after the step (nwg).
			nwg.Add(1)
			go func() {
				defer nwg.Done()
				select {
				case <-sctx.Done():
					return
				case <-time.After(interval):
				}
				eb.run(sctx, interval)
			}()
		}
		var wg sync.WaitGroup
		for i, s := range fleet {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.run(sctx, st, interval, time.Duration(i)*interval/time.Duration(len(fleet)))
			}()
			if pollEvery > 0 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s.poll(sctx, st, time.Duration(i)*pollEvery/time.Duration(len(fleet)))
				}()
			}
		}
		wg.Wait()
		scancel()
		nwg.Wait()
		user1, sys1 := c.cpuSplit()
		cpu := user1 + sys1 - cpu0
		yard1 := yardstick(fleet[0].cur)
		self := procCPU("/proc/self/stat") - self0
		pg1, pg1OK := pgStats(database)
		hist1, herr := c.reportBuckets()
		lag1, lerr := c.lagBuckets()
		writer1 := c.counters(writerNames...)
		st.mu.Lock()
		p50, p99 := pct(st.lat, 0.50), pct(st.lat, 0.99)
		s50, s99 := pct(st.steady, 0.50), pct(st.steady, 0.99)
		w99, a99 := pct(st.write, 0.99), pct(st.answer, 0.99)
		sched1 := schedLatency()
		st.mu.Unlock()
		nodes := "view=processes"
		gp, total, err := c.graphTime(nodes)
		if err != nil {
			return err
		}
		gh, hosts, err := c.graphTime("view=hosts")
		if err != nil {
			return err
		}
		missing, err := c.missingReports(fleet)
		if err != nil {
			return err
		}
		rss := peakRSS.Load()
		fmt.Printf("\n== %d sensors at %s for %s (load average %s)\n", step, interval, duration, loadAvg())
		fmt.Printf("   %.1f reports/s acknowledged; acknowledged reports missing from the console's sensor list: %d\n",
			float64(st.acked.Load())/duration.Seconds(), missing)
		fmt.Printf("   console CPU %.1f s in the step (%.1f s of it in the kernel): %.2f ms per acknowledged report (%.0f%% of one core)\n",
			cpu, sys1-sys0, 1000*cpu/float64(max(1, st.acked.Load())), 100*cpu/duration.Seconds())
		fmt.Printf("   this machine's speed: a host's full report encoded and decoded 100 times in %s before the step, %s after (a shared machine's speed varies from run to run, and the CPU per report with it)\n",
			yard0.Round(time.Millisecond), yard1.Round(time.Millisecond))
		fmt.Printf("   reports sent %d, acknowledged %d, throttled (429, retried) %d, lost %d, full reports requested %d\n",
			st.sent.Load(), st.acked.Load(), st.throttled.Load(), st.lost.Load(), st.fullReq.Load())
		if e := st.lastErr.Load(); e != nil {
			fmt.Printf("   last error: %v\n", e)
		}
		fmt.Printf("   ingest latency, whole step: p50 %s, p99 %s\n", p50.Round(time.Millisecond), p99.Round(time.Millisecond))
		fmt.Printf("   ingest latency after the first interval (%d reports): p50 %s, p99 %s   [goal p99 <= 200ms]\n", len(st.steady), s50.Round(time.Millisecond), s99.Round(time.Millisecond))
		if len(st.write) > 0 { // requests only: the sensor stream has no HTTP trace
			fmt.Printf("      of which, p99 of each phase: request written %s, written to first byte of the answer %s\n", w99.Round(time.Millisecond), a99.Round(time.Millisecond))
		}
		fmt.Printf("      the load generator's own goroutine scheduling delay (included above): p99 %s, p99.9 %s; it used %.0f%% of a core beside the console's %.0f%%\n",
			histPct(sched0, sched1, 0.99).Round(time.Millisecond), histPct(sched0, sched1, 0.999).Round(time.Millisecond), 100*self/duration.Seconds(), 100*cpu/duration.Seconds())
		if herr == nil && len(hist1) > 0 {
			fmt.Printf("   console-side (its /metrics histogram, the whole step): %s\n", serverSide(hist0, hist1))
		}
		if lerr == nil && len(lag1) > 0 {
			les := slices.Sorted(maps.Keys(lag1))
			n := lag1[les[len(les)-1]] - lag0[les[len(les)-1]]
			fmt.Printf("   event delivery lag (commit to consumer done, every consumer, %.0f events): p50 %s, p99 %s   [goal p99 <= 2s]\n",
				n, histQuantile(lag0, lag1, 0.5).Round(time.Millisecond), histQuantile(lag0, lag1, 0.99).Round(time.Millisecond))
		}
		if b := writer1[1] - writer0[1]; b > 0 {
			fmt.Printf("   topology writer: %.0f transactions of reports, %.1f reports each; %.0f full reports derived as deltas on their sensor's snapshot; the console's garbage collector: %.0f cycles in the step\n",
				b, (writer1[2]-writer0[2])/b, writer1[3]-writer0[3], writer1[0]-writer0[0])
		}
		fmt.Printf("   highest nextReportSeconds %d in the step, %d after the first interval (back-pressure raises it above %d)\n",
			st.maxNext.Load(), st.maxNextSteady.Load(), int(interval.Seconds()))
		if nb != nil {
			nb.report(30 * time.Second)
		}
		if eb != nil {
			eb.report()
		}
		if pollEvery > 0 {
			fmt.Printf("   command polls: %.0f/s (every %s per sensor), %d failed; console CPU per request, reports and polls: %.2f ms\n",
				float64(st.polls.Load())/duration.Seconds(), pollEvery, st.pollErrs.Load(), 1000*cpu/float64(max(1, st.acked.Load()+st.polls.Load())))
		}
		fmt.Printf("   console peak RSS %.0f MB   [goal <= 1024 MB]\n", float64(rss)/(1<<20))
		netPerSensor := float64(st.bodyBytes.Load()) / duration.Seconds() / float64(step)
		fmt.Printf("   network: %.0f B/s of compressed reports per sensor (%.1f KB a report; HTTP/TLS framing aside)\n",
			netPerSensor, float64(st.bodyBytes.Load())/1024/float64(max(1, st.sent.Load())))
		pgLine := "-"
		if pgOK && pg1OK {
			pgLine = pgRates(pg0, pg1)
			fmt.Printf("   PostgreSQL: %s (pg_stat_database, the whole step)\n", pgLine)
		}
		fmt.Printf("   figures: sensors=%d p50=%s p99=%s lost=%d throttled=%d peak_rss_mb=%.0f cpu_ms_per_report=%.2f net_b_per_sensor_s=%.0f pg=%q load=%q\n",
			step, s50.Round(time.Millisecond), s99.Round(time.Millisecond), st.lost.Load()+int64(missing), st.throttled.Load(), float64(rss)/(1<<20),
			1000*cpu/float64(max(1, st.acked.Load())), netPerSensor, pgLine, loadAvg())
		fmt.Printf("   graph query: processes view over %d nodes %s, hosts view over %d nodes %s   [goal <= 300ms]\n",
			total, gp.Round(time.Millisecond), hosts, gh.Round(time.Millisecond))
		if len(cs) > 1 {
			if err := replicaFigures(cs, fleet, st, duration, repCPU0, repRSS, total, hosts); err != nil {
				return err
			}
		}
		ok := s99 <= 200*time.Millisecond && st.lost.Load() == 0 && missing == 0 && rss <= 1<<30 && st.throttled.Load() == 0 && int(st.maxNextSteady.Load()) <= int(interval.Seconds())
		if !ramp {
			return nil
		}
		switch {
		case step == n && !ok:
			down = true
		case down && ok:
			fmt.Printf("\nbreaking point: between %d and %d sensors at %s\n", step, step*2, interval)
			return nil
		case !down && !ok:
			fmt.Printf("\nbreaking point: between %d and %d sensors at %s (goals missed, or throttling / back-pressure engaged, at %d)\n", lastOK, step, interval, step)
			return nil
		}
		if ok {
			lastOK = step
		}
		if down {
			// Start again with a smaller fleet on the same console.
			step /= 2
			fleet = fleet[:min(len(fleet), step)]
			if step < 50 {
				fmt.Println("\nbreaking point: below 50 sensors")
				return nil
			}
			continue
		}
		if step*2 > maxSensors {
			fmt.Printf("\nno breaking point up to %d sensors\n", step)
			return nil
		}
		step *= 2
	}
	return nil
}

// sim is one simulated sensor: a host with processes, listeners, loopback
// and cross-host connections, containers and images, which changes a
// little every interval.
type sim struct {
	id       int
	rep      int    // the console replica it reports to (-consoles)
	sensorID string // assigned at enrolment
	cl       *client.Client
	tr       *report.Tracker
	cur      *report.Report
	rnd      *rand.Rand
	nextPID  int
	ip       string
	warm     bool
	// eph holds each flow's ephemeral port: connections live across
	// passes (pooled clients) and a quarter of them are replaced each pass.
	eph map[string]uint16
	// acked and lastSeq are what the console acknowledged (warm-up
	// included), checked against its sensors list after each step.
	acked   int64
	lastSeq uint64
	// libs are what its processes load; a host with findings (a probe's)
	// is Debian 11 (bullseye), as the shared feeds know no later release.
	libs     []string
	bullseye bool
	// A probe of the exposure bench (flips non-nil) takes an exposure
	// change from flips before a report, carries it (exposed: inbound
	// internet connections to its nginx) and tells pending's done channel
	// when a report with it is acknowledged.
	flips   chan *flip
	exposed bool
	pending *flip
}

// warmUp sends the first full report until it is acknowledged.
func (s *sim) warmUp() {
	for range 20 {
		out := s.tr.Next(s.cur)
		gz, err := report.Marshal(out, report.DefaultLimits())
		if err == nil {
			if _, err = s.cl.PushReport(context.Background(), gz); err == nil {
				s.tr.Ack(out)
				s.acked++
				s.lastSeq = out.Seq
				s.warm = true
				return
			}
		}
		s.tr.Failed()
		time.Sleep(time.Second)
	}
}

var progs = []struct {
	name, exe string
	port      uint16
}{
	{"systemd", "/usr/lib/systemd/systemd", 0}, {"sshd", "/usr/sbin/sshd", 22}, {"nginx", "/usr/sbin/nginx", 80},
	{"java", "/usr/lib/jvm/java-17/bin/java", 8080}, {"python3", "/usr/bin/python3.11", 8000}, {"node", "/usr/bin/node", 3000},
	{"postgres", "/usr/lib/postgresql/15/bin/postgres", 5432}, {"redis-server", "/usr/bin/redis-server", 6379},
	{"containerd", "/usr/bin/containerd", 0}, {"dockerd", "/usr/bin/dockerd", 0}, {"cron", "/usr/sbin/cron", 0},
	{"rsyslogd", "/usr/sbin/rsyslogd", 0}, {"bash", "/usr/bin/bash", 0}, {"node_exporter", "/usr/local/bin/node_exporter", 9100},
}

var libs = func() []string {
	var l []string
	for _, s := range []string{"libc.so.6", "libssl.so.3", "libcrypto.so.3", "libz.so.1", "libpthread.so.0", "libm.so.6", "libstdc++.so.6",
		"libgcc_s.so.1", "libpcre2-8.so.0", "libsystemd.so.0", "liblzma.so.5", "libzstd.so.1", "libcap.so.2", "libselinux.so.1",
		"libffi.so.8", "libexpat.so.1", "libsqlite3.so.0", "libyaml-0.so.2", "libxml2.so.2", "libcurl.so.4"} {
		l = append(l, "/usr/lib/x86_64-linux-gnu/"+s)
	}
	return l
}()

// noStream is -no-stream: the simulated sensors' clients send requests.
var noStream bool

// pollEvery is -poll: how often each simulated sensor polls for commands.
var pollEvery time.Duration

// poll polls for commands every pollEvery (jittered, as the sensor's
// command runner) until ctx ends.
func (s *sim) poll(ctx context.Context, st *stats, offset time.Duration) {
	wait := offset
	for {
		if !sensor.Sleep(ctx, wait) {
			return
		}
		if _, err := s.cl.PollCommands(ctx, s.sensorID, 1); err != nil {
			if ctx.Err() != nil {
				return
			}
			st.pollErrs.Add(1)
			st.lastErr.Store(err)
		} else {
			st.polls.Add(1)
		}
		wait = sensor.Jitter(pollEvery, 0.1)
	}
}

func newSim(i int, c *console, probe, bullseye bool) (*sim, error) {
	cl, err := client.New(client.Config{ConsoleURL: c.url, PinSHA256: c.pin, Timeout: 60 * time.Second, Version: "loadgen", NoStream: noStream})
	if err != nil {
		return nil, err
	}
	en, err := cl.Enrol(context.Background(), sensorproto.EnrolRequest{Token: c.enrolToken, Hostname: fmt.Sprintf("node-%05d", i),
		MachineID: fmt.Sprintf("%032x", i), Version: "loadgen"})
	if err != nil {
		return nil, fmt.Errorf("enrol simulated sensor %d: %w", i, err)
	}
	s := &sim{id: i, cl: cl, sensorID: en.SensorID, tr: report.NewTracker(report.DefaultFullEvery), rnd: rand.New(rand.NewPCG(uint64(i), 7)), nextPID: 1000, eph: map[string]uint16{},
		ip: fmt.Sprintf("10.%d.%d.%d", 10+i/65536, (i/256)%256, i%256), libs: libs}
	// A fleet in its steady state: sensors started at different times
	// send their periodic full reports in different intervals (one report
	// in report.DefaultFullEvery is full), not all in the same one.
	s.tr.Stagger(i % report.DefaultFullEvery)
	if probe {
		s.flips = make(chan *flip, 1)
	}
	if bullseye {
		s.bullseye, s.libs = true, bullseyeLibs
	}
	s.build()
	return s, nil
}

func (s *sim) proc(name, exe string, port uint16, ctr string) report.Process {
	s.nextPID++
	p := report.Process{PID: s.nextPID, PPID: 1, StartTicks: uint64(s.nextPID * 10), Name: name, Exe: exe, ContainerID: ctr,
		UID: 0, User: "root", Cmdline: []string{exe, "--config", "/etc/" + name + ".conf"}, RSSBytes: uint64(s.rnd.IntN(200 << 20))}
	n := 5 + s.rnd.IntN(15)
	p.Loaded = append([]string{exe}, s.libs[:n]...)
	slices.Sort(p.Loaded)
	if port != 0 {
		p.Listen = []report.Endpoint{{Addr: "0.0.0.0", Port: port}}
	}
	return p
}

func (s *sim) build() {
	host := fmt.Sprintf("node-%05d", s.id)
	r := &report.Report{Version: report.Version, SensorID: s.sensorID, RunID: fmt.Sprintf("run-%d", s.id), SensorVersion: "loadgen",
		Kind: report.KindFull, IntervalSeconds: 10,
		Host: &report.Host{Hostname: host, OS: report.OS{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux 12 (bookworm)"},
			Kernel: "6.1.0-18-amd64", Arch: "amd64", CPUs: 4, MemoryBytes: 16 << 30,
			Interfaces: []report.Interface{{Name: "lo", Up: true, Addrs: []string{"127.0.0.1/8"}}, {Name: "eth0", Up: true, Addrs: []string{s.ip + "/8"}}}}}
	// ~45 host processes (many kernel-thread-free daemons and workers).
	for j := range 45 {
		pg := progs[j%len(progs)]
		port := pg.port
		if j >= len(progs) {
			port = 0
		}
		r.Processes = append(r.Processes, s.proc(pg.name, pg.exe, port, ""))
	}
	// 4 containers from 3 images, 3 processes each.
	for k := range 4 {
		img := fmt.Sprintf("sha256:%064d", k%3)
		cid := fmt.Sprintf("%016x%048d", s.id, k)
		r.Containers = append(r.Containers, report.Container{ID: cid, Runtime: "docker", Name: fmt.Sprintf("/app-%d", k),
			Image: fmt.Sprintf("registry.example.com/app-%d:1.%d", k%3, k%3), ImageID: img, State: "running",
			Ports: []report.Port{{HostPort: uint16(8100 + k), ContainerPort: 80, Proto: "tcp"}}})
		for m := range 3 {
			port := uint16(0)
			if m == 0 {
				port = 80
			}
			r.Processes = append(r.Processes, s.proc(fmt.Sprintf("app%d-%d", k, m), "/app/server", port, cid))
		}
	}
	for k := range 3 {
		r.Images = append(r.Images, report.Image{ID: fmt.Sprintf("sha256:%064d", k), Runtime: "docker",
			RepoTags: []string{fmt.Sprintf("registry.example.com/app-%d:1.%d", k, k)}, SizeBytes: 120 << 20})
	}
	if s.bullseye {
		r.Host.OS = report.OS{ID: "debian", VersionID: "11", Name: "Debian GNU/Linux 11 (bullseye)"}
	}
	s.cur = r
	s.churn(true)
}

// churn changes the picture the way a real host does between two passes:
// a process is replaced now and then, a few busy processes change their
// CPU figure (idle daemons stay at 0.0, as the sensor rounds to 0.1), a
// quarter of the client connections are replaced by new ones on new
// ephemeral ports (the rest are pooled and live on), and inbound internet
// requests are short-lived. The sensor's tracker then sends only what
// changed, with a full report every report.DefaultFullEvery reports.
func (s *sim) churn(first bool) {
	r := s.cur
	if !first && s.rnd.IntN(3) == 0 {
		i := 20 + s.rnd.IntN(20)
		old := r.Processes[i]
		r.Processes[i] = s.proc(old.Name, old.Exe, 0, old.ContainerID)
	}
	if first {
		for i := range r.Processes {
			if i%5 == 0 {
				r.Processes[i].CPUPercent = float64(s.rnd.IntN(50)) / 10
			}
		}
	} else {
		for range 4 {
			i := 5 * s.rnd.IntN(len(r.Processes)/5)
			r.Processes[i].CPUPercent = float64(s.rnd.IntN(50)) / 10
		}
	}
	eph := func(flow string, life int) uint16 {
		p, ok := s.eph[flow]
		if !ok || s.rnd.IntN(life) == 0 {
			p = uint16(32768 + s.rnd.IntN(28000))
			s.eph[flow] = p
		}
		return p
	}
	r.Connections = r.Connections[:0]
	key := func(p *report.Process) string { return p.Key() }
	for i := range r.Processes {
		p := &r.Processes[i]
		for _, l := range p.Listen {
			r.Connections = append(r.Connections, report.Connection{Source: "proc", Proto: "tcp", State: "LISTEN", Local: l, ProcessKey: key(p), PID: p.PID})
		}
	}
	add := func(p *report.Process, local, remote report.Endpoint) {
		r.Connections = append(r.Connections, report.Connection{Source: "proc", Proto: "tcp", State: "ESTABLISHED", Local: local, Remote: remote, ProcessKey: key(p), PID: p.PID})
	}
	// Loopback: nginx → java and python; java → postgres, redis.
	byName := map[string]*report.Process{}
	for i := range r.Processes {
		if _, ok := byName[r.Processes[i].Name]; !ok {
			byName[r.Processes[i].Name] = &r.Processes[i]
		}
	}
	for _, pair := range [][2]string{{"nginx", "java"}, {"nginx", "python3"}, {"java", "postgres"}, {"java", "redis-server"}, {"node", "redis-server"}} {
		a, b := byName[pair[0]], byName[pair[1]]
		if a == nil || b == nil || len(b.Listen) == 0 {
			continue
		}
		for k := range 3 {
			port := eph(fmt.Sprintf("%s>%s#%d", pair[0], pair[1], k), 4)
			add(a, report.Endpoint{Addr: "127.0.0.1", Port: port}, report.Endpoint{Addr: "127.0.0.1", Port: b.Listen[0].Port})
			add(b, report.Endpoint{Addr: "127.0.0.1", Port: b.Listen[0].Port}, report.Endpoint{Addr: "127.0.0.1", Port: port})
		}
	}
	// Cross-host: java calls postgres on two neighbours; node_exporter is
	// scraped by node 0.
	for _, d := range []int{1, 7} {
		peer := (s.id + d) % 1000
		if j := byName["java"]; j != nil {
			add(j, report.Endpoint{Addr: s.ip, Port: eph(fmt.Sprintf("peer%d", d), 4)}, report.Endpoint{Addr: fmt.Sprintf("10.%d.%d.%d", 10+peer/65536, (peer/256)%256, peer%256), Port: 5432})
		}
	}
	// The internet: inbound to nginx on 1 node in 10 (short-lived requests),
	// outbound to APIs.
	if ng := byName["nginx"]; ng != nil && s.id%10 == 0 && s.flips == nil {
		for range 3 + s.rnd.IntN(5) {
			add(ng, report.Endpoint{Addr: s.ip, Port: 80}, report.Endpoint{Addr: fmt.Sprintf("198.51.100.%d", s.rnd.IntN(250)+1), Port: uint16(32768 + s.rnd.IntN(28000))})
		}
	}
	// An exposure probe's nginx serves the internet only while the bench
	// says so.
	if ng := byName["nginx"]; ng != nil && s.exposed {
		for range 2 + s.rnd.IntN(3) {
			add(ng, report.Endpoint{Addr: s.ip, Port: 80}, report.Endpoint{Addr: fmt.Sprintf("203.0.113.%d", s.rnd.IntN(250)+1), Port: uint16(32768 + s.rnd.IntN(28000))})
		}
	}
	if py := byName["python3"]; py != nil {
		for k := range 2 {
			add(py, report.Endpoint{Addr: s.ip, Port: eph(fmt.Sprintf("api%d", k), 4)}, report.Endpoint{Addr: fmt.Sprintf("93.184.216.%d", 10+k), Port: 443})
		}
	}
	r.Time = time.Now().UTC()
}

func (s *sim) run(ctx context.Context, st *stats, interval, offset time.Duration) {
	wait := offset
	for {
		if !sensor.Sleep(ctx, wait) {
			return
		}
		if s.pending == nil && s.flips != nil {
			select {
			case f := <-s.flips:
				s.exposed, s.pending = f.want, f
			default:
			}
		}
		s.churn(false)
		out := s.tr.Next(s.cur)
		gz, err := report.Marshal(out, report.DefaultLimits())
		if err != nil {
			st.lost.Add(1)
			st.lastErr.Store(err)
			return
		}
		st.sent.Add(1)
		st.bodyBytes.Add(int64(len(gz)))
		start := time.Now()
		var ph phases
		ack, err := s.cl.PushReport(ph.trace(start), gz)
		d := time.Since(start)
		if err == nil {
			st.addPhases(start, ph)
		}
		wait = sensor.Jitter(interval, 0.1) // as the real sensor does
		var se *client.StatusError
		switch {
		case err == nil:
			st.addRep(s.rep, start, d)
			st.acked.Add(1)
			s.tr.Ack(out)
			s.acked++
			s.lastSeq = out.Seq
			if f := s.pending; f != nil {
				f.sent, f.acked, s.pending = start, time.Now(), nil
				close(f.done)
			}
			if ack.FullReportRequested {
				st.fullReq.Add(1)
				s.tr.RequestFull()
			}
			if int64(ack.NextReportSeconds) > st.maxNext.Load() {
				st.maxNext.Store(int64(ack.NextReportSeconds))
			}
			if start.After(st.warmUntil) && int64(ack.NextReportSeconds) > st.maxNextSteady.Load() {
				st.maxNextSteady.Store(int64(ack.NextReportSeconds))
			}
			if ack.NextReportSeconds > 0 {
				wait = sensor.Jitter(time.Duration(ack.NextReportSeconds)*time.Second, 0.1)
			}
			if ack.FullReportRequested && out.Kind == report.KindDelta {
				wait = 0 // the delta was not applied: the full picture at once, as the sensor does
			}
		case errors.As(err, &se) && se.Code == http.StatusTooManyRequests:
			st.throttled.Add(1)
			s.tr.Failed()
			wait = max(se.RetryAfter, time.Second)
		default:
			st.lost.Add(1)
			st.lastErr.Store(err)
			s.tr.Failed()
			wait = time.Second
		}
	}
}

// replicaFigures prints each replica's share of the step: acknowledged
// reports, steady latency, CPU, peak RSS, its graph (which must equal the
// first replica's: each follows the others' writes) and the acknowledged
// reports its sensor list lacks.
func replicaFigures(cs []*console, fleet []*sim, st *stats, duration time.Duration, cpu0 []float64, rss []atomic.Int64, total, hosts int) error {
	fmt.Printf("   per replica (sensor i reports to replica i mod %d):\n", len(cs))
	for k, ck := range cs {
		st.mu.Lock()
		p50, p99 := pct(st.rep[k].steady, 0.5), pct(st.rep[k].steady, 0.99)
		st.mu.Unlock()
		_, pTotal, err := ck.graphTime("view=processes")
		if err != nil {
			return fmt.Errorf("replica %d: %w", k+1, err)
		}
		gh, hTotal, err := ck.graphTime("view=hosts")
		if err != nil {
			return fmt.Errorf("replica %d: %w", k+1, err)
		}
		missing, err := ck.missingReports(fleet)
		if err != nil {
			return fmt.Errorf("replica %d: %w", k+1, err)
		}
		same := "same graph as replica 1"
		if pTotal != total || hTotal != hosts {
			same = fmt.Sprintf("GRAPH DIFFERS from replica 1 (%d/%d)", total, hosts)
		}
		cpu := ck.cpuSeconds() - cpu0[k]
		fmt.Printf("     replica %d %s: %.1f reports/s acknowledged, steady p50 %s p99 %s, CPU %.1f s (%.0f%% of a core), peak RSS %.0f MB, graph %d process / %d host nodes (%s; hosts view %s), acknowledged reports missing from its sensor list: %d\n",
			k+1, ck.url, float64(st.rep[k].acked.Load())/duration.Seconds(), p50.Round(time.Millisecond), p99.Round(time.Millisecond),
			cpu, 100*cpu/duration.Seconds(), float64(rss[k].Load())/(1<<20), pTotal, hTotal, same, gh.Round(time.Millisecond), missing)
	}
	return nil
}
