// Command bombs measures what body bombs cost the console: it starts the
// real `riskmap console`, creates three read-only users, three enrolled
// sensors (each running a scan) and an admin, gives the console a small
// knowledge base, and then has every user send half-megabyte compression
// bombs (a gzip of whitespace, deep nesting, a huge array, many small
// objects) to every route that takes a body, all at once. It prints the
// console's idle RSS, its peak RSS during the bombs (VmHWM, reset before
// them), the growth, and each route's answers. Run by bench/bombs.sh.
package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riskmap/riskmap/internal/testenv/bombs"
)

func main() {
	bin := flag.String("riskmap", "riskmap", "the riskmap binary (the console is started from it)")
	users := flag.Int("users", 3, "read-only users and enrolled sensors, each sending every bomb")
	size := flag.Int("size", 500<<10, "compressed size of each bomb, bytes")
	settle = flag.Duration("settle", 10*time.Second, "wait this long after the set-up before measuring the idle RSS")
	flag.Parse()
	if err := run(*bin, *users, *size); err != nil {
		fmt.Fprintln(os.Stderr, "bombs:", err)
		os.Exit(2)
	}
}

const password = "bench password 1234"

var settle *time.Duration

type console struct {
	pid  int
	url  string
	hc   *http.Client
	jar  http.CookieJar
	root *x509.CertPool
}

func startConsole(bin string) (*console, func(), error) {
	dir, err := os.MkdirTemp("", "riskmap-bombs-")
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(bin, "console", "--listen", "127.0.0.1:0", "--data-dir", dir, "--log-level", "error", "--feed-interval", "0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait(); os.RemoveAll(dir) }
	c := &console{pid: cmd.Process.Pid}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "listening on:"); ok {
			c.url = "https://" + strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "database:"); ok && v != "" {
			break
		}
	}
	go io.Copy(io.Discard, out)
	if c.url == "" {
		stop()
		return nil, nil, errors.New("console did not print its address")
	}
	pemBytes, err := os.ReadFile(filepath.Join(dir, "tls", "console.crt"))
	if err != nil {
		stop()
		return nil, nil, err
	}
	c.root = x509.NewCertPool()
	c.root.AppendCertsFromPEM(pemBytes)
	c.hc, c.jar = c.client()
	return c, stop, nil
}

// client is a new HTTPS client with its own connections and cookies.
func (c *console) client() (*http.Client, http.CookieJar) {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 120 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: c.root, ServerName: "127.0.0.1"}}}, jar
}

// call sends a request: JSON body v (or raw bytes), bearer key or the
// session of hc's cookies (with its CSRF token).
func (c *console) call(hc *http.Client, method, path, bearer string, header map[string]string, body any, out any) (int, []byte, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	} else if hc.Jar != nil {
		for _, ck := range hc.Jar.Cookies(req.URL) {
			if ck.Name == "riskmap_csrf" {
				req.Header.Set("X-CSRF-Token", ck.Value)
			}
		}
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if out != nil && err == nil {
		err = json.Unmarshal(b, out)
	}
	return resp.StatusCode, b, err
}

func (c *console) must(hc *http.Client, want int, method, path, bearer string, body, out any) error {
	code, b, err := c.call(hc, method, path, bearer, nil, body, out)
	if code != want {
		return fmt.Errorf("%s %s: %d %s (%v)", method, path, code, b, err)
	}
	return err
}

// apiKey signs hc's user in and makes an API key.
func (c *console) apiKey(hc *http.Client) (string, error) {
	var k struct {
		APIKey string `json:"apiKey"`
	}
	return k.APIKey, c.must(hc, http.StatusOK, "POST", "/api/v1/me/api-key", "", nil, &k)
}

const validOSV = `{"id":"PYSEC-0000-1","modified":"2026-01-01T00:00:00Z","aliases":["CVE-2000-1"],"summary":"bench",
 "affected":[{"package":{"ecosystem":"PyPI","name":"urllib3"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.26.5"}]}]}]}`

type sensor struct{ key, id, scan string }

type bomb struct {
	route, kind, path, method, bearer string
	header                            map[string]string
	body                              []byte
}

func run(bin string, users, size int) error {
	c, stop, err := startConsole(bin)
	if err != nil {
		return err
	}
	defer stop()
	// The admin, the knowledge base, the users and the sensors.
	if err := c.must(c.hc, http.StatusCreated, "POST", "/api/v1/auth/register", "", map[string]string{
		"email": "admin@bench.invalid", "password": password, "name": "Admin", "organisation": "Bench"}, nil); err != nil {
		return err
	}
	admin, err := c.apiKey(c.hc)
	if err != nil {
		return err
	}
	var kb bytes.Buffer
	zw := zip.NewWriter(&kb)
	w, _ := zw.Create("PYSEC-0000-1.json")
	w.Write([]byte(validOSV))
	zw.Close()
	if err := c.must(c.hc, http.StatusOK, "POST", "/api/v1/feeds/import?name=all.zip", admin, kb.Bytes(), nil); err != nil {
		return err
	}
	var readers []string
	for i := range users {
		var inv struct{ Token string }
		if err := c.must(c.hc, http.StatusCreated, "POST", "/api/v1/invitations", admin, map[string]string{"email": fmt.Sprintf("reader%d@bench.invalid", i), "role": "read-only"}, &inv); err != nil {
			return err
		}
		hc, _ := c.client()
		if err := c.must(hc, http.StatusCreated, "POST", "/api/v1/invitations/"+inv.Token+"/accept", "", map[string]string{"name": "Reader", "password": password}, nil); err != nil {
			return err
		}
		k, err := c.apiKey(hc)
		if err != nil {
			return err
		}
		readers = append(readers, k)
	}
	var tok struct{ Token string }
	if err := c.must(c.hc, http.StatusCreated, "POST", "/api/v1/enrolment-tokens", admin, map[string]any{"name": "bombs", "maxSensors": 0}, &tok); err != nil {
		return err
	}
	var sensors []sensor
	for i := range users {
		var en struct{ SensorID, Key string }
		if err := c.must(c.hc, http.StatusCreated, "POST", "/api/v1/sensor/enrol", "", map[string]string{"token": tok.Token, "hostname": fmt.Sprintf("bomber-%d", i)}, &en); err != nil {
			return err
		}
		var started struct{ Items []struct{ ID string } }
		if err := c.must(c.hc, http.StatusCreated, "POST", "/api/v1/scans", admin, map[string]any{"targets": []map[string]string{{"sensorId": en.SensorID, "kind": "host", "ref": ""}}}, &started); err != nil {
			return err
		}
		if err := c.must(c.hc, http.StatusOK, "POST", "/api/v1/sensor/commands/poll", en.Key, map[string]any{"sensorId": en.SensorID, "freeScanSlots": 1}, nil); err != nil {
			return err
		}
		sensors = append(sensors, sensor{en.Key, en.SensorID, started.Items[0].ID})
	}

	bombs := makeBombs(readers, sensors, admin, size)
	// Idle: let the set-up settle (the runtime gives back what the set-up's
	// password hashing took), then reset the peak.
	time.Sleep(*settle)
	idle := procStatus(c.pid, "VmRSS")
	idleHeap := c.heapInUse()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", c.pid), []byte("5"), 0); err != nil {
		fmt.Fprintln(os.Stderr, "bombs: cannot reset VmHWM:", err)
	}
	var mu sync.Mutex
	type answer struct {
		code int
		took time.Duration
	}
	answers := map[string][]answer{}
	var wg sync.WaitGroup
	start := time.Now()
	for _, b := range bombs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc, _ := c.client()
			t0 := time.Now()
			code, _, _ := c.call(hc, b.method, b.path, b.bearer, b.header, b.body, nil)
			mu.Lock()
			answers[b.route+" "+b.kind] = append(answers[b.route+" "+b.kind], answer{code, time.Since(t0)})
			mu.Unlock()
		}()
	}
	// Sample RSS while they run (VmHWM is the kernel's own peak).
	stopSampling := make(chan struct{})
	var sampled, heapPeak int64
	sampledDone := make(chan struct{})
	go func() {
		defer close(sampledDone)
		hc, _ := c.client()
		for i := 0; ; i++ {
			select {
			case <-stopSampling:
				return
			case <-time.After(10 * time.Millisecond):
				sampled = max(sampled, procStatus(c.pid, "VmRSS"))
				if i%5 == 0 {
					heapPeak = max(heapPeak, c.heapInUseWith(hc))
				}
			}
		}
	}()
	wg.Wait()
	close(stopSampling)
	<-sampledDone
	took := time.Since(start)
	peak := procStatus(c.pid, "VmHWM")
	after := procStatus(c.pid, "VmRSS")
	fmt.Printf("bombs: %d requests (%d users/sensors; each bomb about %d KB compressed), all at once, answered in %.1f s\n",
		len(bombs), users, size>>10, took.Seconds())
	fmt.Printf("console RSS: idle %d MB, peak %d MB (VmHWM; sampled %d MB), after %d MB; growth over idle %d MB [goal <= 64 MB]\n",
		idle>>10, peak>>10, sampled>>10, after>>10, (peak-idle)>>10)
	fmt.Printf("console Go heap in use (go_memstats_heap_inuse_bytes, sampled every 50 ms): idle %d MB, peak %d MB\n", idleHeap>>20, heapPeak>>20)
	keys := make([]string, 0, len(answers))
	for k := range answers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		codes := map[int]int{}
		var slowest time.Duration
		for _, a := range answers[k] {
			codes[a.code]++
			slowest = max(slowest, a.took)
		}
		var parts []string
		for code, n := range codes {
			parts = append(parts, fmt.Sprintf("%d×%d", n, code))
		}
		sort.Strings(parts)
		fmt.Printf("  %-26s %-12s slowest %.2f s\n", k, strings.Join(parts, " "), slowest.Seconds())
	}
	return nil
}

// heapInUse reads go_memstats_heap_inuse_bytes from /metrics.
func (c *console) heapInUse() int64 { return c.heapInUseWith(c.hc) }

func (c *console) heapInUseWith(hc *http.Client) int64 {
	code, b, err := c.call(hc, "GET", "/metrics", "", nil, nil, nil)
	if err != nil || code != http.StatusOK {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "go_memstats_heap_inuse_bytes "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f)
		}
	}
	return 0
}

// procStatus reads a kB field of /proc/PID/status.
func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// shape is a bomb: prefix, then pattern repeated, then suffix.

// makeBombs builds every user's bomb of every kind for every route.
func makeBombs(readers []string, sensors []sensor, admin string, size int) []bomb {
	gz := map[string]string{"Content-Encoding": "gzip"}
	kinds := []string{"whitespace", "nesting", "huge_array", "small_objects"}
	inventory := map[string]bombs.Shape{
		"whitespace":    {Prefix: `{"schemaVersion":"1.0.0","packages":[{"name":"urllib3","version":"1.26.0","ecosystem":"PyPI"}]`, Pattern: " ", Suffix: "}"},
		"nesting":       {Prefix: `{"schemaVersion":"1.0.0","target":`, Pattern: "[", Suffix: ""},
		"huge_array":    {Prefix: `{"schemaVersion":"1.0.0","packages":[{"name":"a","locations":[`, Pattern: `"a",`, Suffix: `"a"]}]}`},
		"small_objects": {Prefix: `{"schemaVersion":"1.0.0","packages":[`, Pattern: `{"name":"a"},`, Suffix: `{"name":"a"}]}`},
	}
	report := map[string]bombs.Shape{
		"whitespace":    {Prefix: "", Pattern: " ", Suffix: "}"},
		"nesting":       {Prefix: `,"processes":[{"pid":1,"loaded":`, Pattern: "[", Suffix: ""},
		"huge_array":    {Prefix: `,"processes":[{"pid":1,"loaded":[`, Pattern: `"a",`, Suffix: `"a"]}]}`},
		"small_objects": {Prefix: `,"processes":[`, Pattern: `{"pid":1},`, Suffix: `{"pid":1}]}`},
	}
	feed := map[string]bombs.Shape{
		"whitespace":    {Prefix: validOSV, Pattern: " ", Suffix: ""},
		"nesting":       {Prefix: `{"id":"X","affected":`, Pattern: "[", Suffix: ""},
		"huge_array":    {Prefix: `{"id":"X","affected":[{"versions":[`, Pattern: `"a",`, Suffix: `"a"]}]}`},
		"small_objects": {Prefix: `{"id":"X","affected":[`, Pattern: `{"package":{"ecosystem":"PyPI","name":"a"}},`, Suffix: `{}]}`},
	}
	huma := map[string][]byte{
		"small_objects": []byte(`{"targets":[` + strings.Repeat(`{},`, 300_000) + `{}]}`),
		"nesting":       []byte(`{"targets":` + strings.Repeat("[", 500_000) + `}`),
	}
	var out []bomb
	for _, k := range kinds {
		inv := bombs.Gzip(inventory[k], size)
		zb := bombs.Zip(validOSV, feed[k], size)
		for i := range readers {
			s := sensors[i]
			r := report[k]
			r.Prefix = `{"version":"1.0","sensorId":"` + s.id + `","runId":"r","seq":1,"kind":"full","time":"2026-01-01T00:00:00Z"` + r.Prefix
			out = append(out,
				bomb{"POST /match", k, "/api/v1/match", "POST", readers[i], gz, inv},
				bomb{"PUT sensor inventory", k, "/api/v1/sensor/scans/" + s.scan + "/inventory", "PUT", s.key, gz, inv},
				bomb{"POST sensor reports", k, "/api/v1/sensor/reports", "POST", s.key, gz, bombs.Gzip(r, size)},
				bomb{"POST feeds/import", k, "/api/v1/feeds/import?name=all.zip", "POST", admin, nil, zb})
			if h, ok := huma[k]; ok {
				out = append(out, bomb{"POST scans (huma)", k, "/api/v1/scans", "POST", admin, nil, h})
			}
		}
	}
	return out
}
