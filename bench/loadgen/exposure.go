package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/riskmap/riskmap/internal/inventory/scanner"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/topology"
)

// exposureBench measures how long an exposure change takes to reach the
// findings a client reads: while the fleet reports, K probe sensors whose
// hosts have findings (a host scan through the sensor protocol: a
// scan started through the API, the command polled, the inventory of a
// Debian 11 root file system built by the real scanner and uploaded,
// matched by the console against the knowledge base imported from the
// shared feeds) flip their exposure in their next report: inbound
// connections from the internet (203.0.113.0/24) to the nginx that loads
// the vulnerable libssl appear, or go. The time runs from the console's
// acknowledgement of that report to the first answer of GET
// /api/v1/findings?nodeId= (an API key, HTTPS, as any client) in which
// every finding loaded by a listening process has the new internet
// reachability.
type exposureBench struct {
	c       *console
	probes  []*sim
	timeout time.Duration
	every   time.Duration // how often a waiting probe polls the API

	mu       sync.Mutex
	fromAck  []time.Duration
	fromSend []time.Duration
	sendAck  []time.Duration
	polls    int
	missed   int
	errs     int
	lastErr  error
	findings map[string]int // probe host node → findings on it
	// scores seen on the exposed and unexposed side (for the print-out).
	scoreOn, scoreOff float64
	// lag0 is the rescore consumer's delivery lag histogram at the start.
	lag0 map[float64]float64
}

// flip is one exposure change a probe sensor carries in its next report.
type flip struct {
	want        bool // inbound internet connections to nginx present
	sent, acked time.Time
	done        chan struct{}
}

// probeIDs spreads k probes over n sensors on ids ≡ 5 (mod 10): the
// fleet's own internet-facing nodes are ids ≡ 0, and their java calls
// postgres on ids ≡ 1 and 7 (see churn), so a probe's reachability is
// only what the bench makes it.
func probeIDs(n, k int) map[int]bool {
	out := map[int]bool{}
	if k <= 0 {
		return out
	}
	step := max(10, n/k/10*10)
	for i := 0; i < k && 5+i*step < n; i++ {
		out[5+i*step] = true
	}
	return out
}

// probeRoot is the part of a Debian 11 root file system the scanner
// reads: os-release, the dpkg status database (records as the
// distribution ships them) and the .list files of the packages whose
// libraries the simulated processes load (libssl.so.1.1, libcrypto.so.1.1,
// libc.so.6, libz.so.1, ...).
var probeRoot = map[string]string{
	"etc/os-release": `PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"
NAME="Debian GNU/Linux"
VERSION_ID="11"
VERSION="11 (bullseye)"
VERSION_CODENAME=bullseye
ID=debian
`,
	"var/lib/dpkg/status": dpkgRecord("libssl1.1", "openssl", "1.1.1n-0+deb11u3") + dpkgRecord("openssl", "", "1.1.1n-0+deb11u3") +
		dpkgRecord("zlib1g", "zlib", "1:1.2.11.dfsg-2+deb11u1") + dpkgRecord("libc6", "glibc", "2.31-13+deb11u3") +
		dpkgRecord("libexpat1", "expat", "2.2.10-2") + dpkgRecord("libxml2", "", "2.9.10+dfsg-6.7+deb11u2"),
	"var/lib/dpkg/info/libssl1.1.list": "/.\n/usr\n/usr/lib\n/usr/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu/libssl.so.1.1\n/usr/lib/x86_64-linux-gnu/libcrypto.so.1.1\n",
	"var/lib/dpkg/info/openssl.list":   "/.\n/usr\n/usr/bin\n/usr/bin/openssl\n",
	"var/lib/dpkg/info/zlib1g.list":    "/.\n/usr\n/usr/lib\n/usr/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu/libz.so.1\n",
	"var/lib/dpkg/info/libc6.list": "/.\n/usr\n/usr/lib\n/usr/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu/libc.so.6\n" +
		"/usr/lib/x86_64-linux-gnu/libpthread.so.0\n/usr/lib/x86_64-linux-gnu/libm.so.6\n",
	"var/lib/dpkg/info/libexpat1.list": "/.\n/usr\n/usr/lib\n/usr/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu/libexpat.so.1\n",
	"var/lib/dpkg/info/libxml2.list":   "/.\n/usr\n/usr/lib\n/usr/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu/libxml2.so.2\n",
}

func dpkgRecord(name, source, version string) string {
	s := "Package: " + name + "\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: 100\n" +
		"Maintainer: Debian <debian@example.org>\nArchitecture: amd64\n"
	if source != "" {
		s += "Source: " + source + "\n"
	}
	return s + "Version: " + version + "\nDescription: " + name + "\n\n"
}

// bullseyeLibs are the libraries of a probe's processes: Debian 11 ships
// OpenSSL 1.1.
var bullseyeLibs = func() []string {
	out := slices.Clone(libs)
	for i, l := range out {
		switch filepath.Base(l) {
		case "libssl.so.3":
			out[i] = filepath.Join(filepath.Dir(l), "libssl.so.1.1")
		case "libcrypto.so.3":
			out[i] = filepath.Join(filepath.Dir(l), "libcrypto.so.1.1")
		}
	}
	return out
}()

// startExposure gives each probe host its findings: a host scan requested
// through the API and run by the probe sensor through the sensor
// protocol, then waits until the console shows them; so does every host
// of scanned (-exposure-estate).
func startExposure(ctx context.Context, c *console, probes, scanned []*sim) (*exposureBench, error) {
	root, err := os.MkdirTemp("", "riskmap-probe-root-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(root)
	for name, body := range probeRoot {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return nil, err
		}
	}
	e := &exposureBench{c: c, probes: probes, timeout: 60 * time.Second, every: 100 * time.Millisecond, findings: map[string]int{}}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(scanned))
	sem := make(chan struct{}, 16)
	for _, s := range scanned {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := e.scanProbe(ctx, s, root); err != nil {
				errs <- fmt.Errorf("probe %s: %w", s.sensorID, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	total := 0
	for _, n := range e.findings {
		total += n
	}
	fmt.Printf("exposure probes: %d hosts scanned through the sensor protocol (%d probes), %d findings on them, in %s\n",
		len(scanned), len(probes), total, time.Since(start).Round(time.Millisecond))
	return e, nil
}

// scanProbe runs a host scan of probe s the way a sensor does and waits
// for its findings in the API, loaded by a listening process and not
// reachable from the internet.
func (e *exposureBench) scanProbe(ctx context.Context, s *sim, root string) error {
	host := topology.HostNodeID(s.sensorID)
	var started struct {
		Items []struct{ ID string }
	}
	deadline := time.Now().Add(120 * time.Second)
	if err := e.c.api(http.MethodPost, "/api/v1/scans", map[string]any{"nodeIds": []string{host}}, &started); err != nil {
		return err
	}
	if len(started.Items) != 1 {
		return fmt.Errorf("start host scan: %d scans", len(started.Items))
	}
	scanID := started.Items[0].ID
	for {
		cmds, err := s.cl.PollCommands(ctx, s.sensorID, 1)
		if err != nil {
			return err
		}
		if i := slices.IndexFunc(cmds, func(c sensorproto.Command) bool { return c.ScanID == scanID }); i >= 0 {
			if t := cmds[i].Target; t.Kind != sensorproto.TargetHost {
				return fmt.Errorf("scan %s: target %+v, want the host", scanID, t)
			}
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("scan %s: no command within 120s", scanID)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := s.cl.SetScanStatus(ctx, scanID, sensorproto.ScanStatus{Status: sensorproto.StatusRunning}); err != nil {
		return err
	}
	inv, err := scanner.Scan(ctx, "dir:"+root, scanner.Options{})
	if err != nil {
		return err
	}
	inv.Target.Kind, inv.Target.Ref = sensorproto.TargetHost, s.cur.Host.Hostname // as the sensor names a host scan
	if err := s.cl.UploadInventory(ctx, scanID, inv); err != nil {
		return err
	}
	if err := s.cl.SetScanStatus(ctx, scanID, sensorproto.ScanStatus{Status: sensorproto.StatusComplete, Progress: 1}); err != nil {
		return err
	}
	for {
		v, err := e.look(host)
		if err != nil {
			return err
		}
		if v.total > 0 {
			// A probe starts unexposed, its findings loaded by a listening
			// process; the others' exposure is the fleet's.
			if s.flips != nil && v.listening == 0 {
				return fmt.Errorf("%d findings on %s, none loaded by a listening process", v.total, host)
			}
			if s.flips != nil && v.internet != 0 {
				return fmt.Errorf("%d findings on %s reachable from the internet before any flip", v.internet, host)
			}
			e.mu.Lock()
			e.findings[host] = v.total
			e.mu.Unlock()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no findings on %s within 120s of its scan request %s", host, scanID)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// view is what one findings answer says about a probe host.
type view struct {
	total, listening, internet int
	score                      float64 // the highest score of a listening finding
}

func (e *exposureBench) look(host string) (view, error) {
	var out struct {
		Items []struct {
			Risk struct {
				Score     float64 `json:"score"`
				Listening *bool   `json:"listening"`
				Internet  *bool   `json:"internet"`
			} `json:"risk"`
		} `json:"items"`
	}
	if err := e.c.api(http.MethodGet, "/api/v1/findings?limit=1000&nodeId="+url.QueryEscape(host), nil, &out); err != nil {
		return view{}, err
	}
	var v view
	v.total = len(out.Items)
	for _, it := range out.Items {
		if it.Risk.Listening == nil || !*it.Risk.Listening {
			continue
		}
		v.listening++
		v.score = max(v.score, it.Risk.Score)
		if it.Risk.Internet != nil && *it.Risk.Internet {
			v.internet++
		}
	}
	return v, nil
}

// run flips each probe's exposure again and again until ctx (the step)
// ends, then waits for the flips in flight to be seen or time out.
func (e *exposureBench) run(ctx context.Context, interval time.Duration) {
	lag0, _ := e.c.rescoreLag()
	e.mu.Lock()
	e.lag0 = lag0
	e.mu.Unlock()
	var wg sync.WaitGroup
	for i, s := range e.probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.flipLoop(ctx, s, interval, rand.New(rand.NewPCG(uint64(i), 19)))
		}()
	}
	wg.Wait()
}

func (e *exposureBench) flipLoop(ctx context.Context, s *sim, interval time.Duration, rnd *rand.Rand) {
	host := topology.HostNodeID(s.sensorID)
	want := true
	for {
		// A random pause, so the flips do not line up with each other.
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(rnd.Int64N(int64(interval)))):
		}
		f := &flip{want: want, done: make(chan struct{})}
		select {
		case s.flips <- f:
		case <-ctx.Done():
			return
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return // the report may not go out any more
		}
		// Polling goes on after the step ends, until seen or timed out.
		deadline := f.acked.Add(e.timeout)
		for {
			v, err := e.look(host)
			now := time.Now()
			e.mu.Lock()
			e.polls++
			if err != nil {
				e.errs++
				e.lastErr = err
			}
			e.mu.Unlock()
			if err == nil && v.listening > 0 && ((want && v.internet == v.listening) || (!want && v.internet == 0)) {
				e.mu.Lock()
				e.fromAck = append(e.fromAck, now.Sub(f.acked))
				e.fromSend = append(e.fromSend, now.Sub(f.sent))
				e.sendAck = append(e.sendAck, f.acked.Sub(f.sent))
				if want {
					e.scoreOn = v.score
				} else {
					e.scoreOff = v.score
				}
				e.mu.Unlock()
				break
			}
			if now.After(deadline) {
				e.mu.Lock()
				e.missed++
				e.mu.Unlock()
				// The probe's state is unknown now: flip back from the
				// state it was asked for anyway.
				break
			}
			time.Sleep(e.every)
		}
		want = !want
	}
}

// rescoreLag reads the findings.rescore consumer's delivery lag
// histogram: from a topology batch's commit (its reports are acknowledged
// right after) to the rescore of the findings it affects committed.
func (c *console) rescoreLag() (map[float64]float64, error) {
	return c.buckets("riskmap_event_delivery_lag_seconds_bucket{", `consumer="findings.rescore"`)
}

// report prints the figures.
func (e *exposureBench) report() {
	lag1, lerr := e.c.rescoreLag()
	e.mu.Lock()
	defer e.mu.Unlock()
	total := 0
	for _, s := range e.probes {
		total += e.findings[topology.HostNodeID(s.sensorID)]
	}
	fmt.Printf("   exposure change → rescored findings in the API: %d probe hosts (%d findings), %d flips seen (inbound internet connections to a listening process that loads the vulnerable libssl, added or removed in a report); listening findings' top score %.1f reachable, %.1f not\n",
		len(e.probes), total, len(e.fromAck), e.scoreOn, e.scoreOff)
	fmt.Printf("      report acknowledged → visible in GET /api/v1/findings: p50 %s, p99 %s, max %s   [goal p99 < 5s]\n",
		pct(e.fromAck, 0.5).Round(time.Millisecond), pct(e.fromAck, 0.99).Round(time.Millisecond), pct(e.fromAck, 1).Round(time.Millisecond))
	fmt.Printf("      report sent → visible: p50 %s, p99 %s (of which sent → acknowledged p50 %s, p99 %s); polled every %s (%d polls)\n",
		pct(e.fromSend, 0.5).Round(time.Millisecond), pct(e.fromSend, 0.99).Round(time.Millisecond),
		pct(e.sendAck, 0.5).Round(time.Millisecond), pct(e.sendAck, 0.99).Round(time.Millisecond), e.every, e.polls)
	if lerr == nil && e.lag0 != nil && len(lag1) > 0 {
		fmt.Printf("      of which the console's findings.rescore consumer (every topology batch, /metrics): commit to rescored p50 %s, p99 %s\n",
			histQuantile(e.lag0, lag1, 0.5).Round(time.Millisecond), histQuantile(e.lag0, lag1, 0.99).Round(time.Millisecond))
	}
	fmt.Printf("      not visible within %s: %d; API errors: %d", e.timeout, e.missed, e.errs)
	if e.lastErr != nil {
		fmt.Printf(" (last: %v)", e.lastErr)
	}
	fmt.Println()
}
