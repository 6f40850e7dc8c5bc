package console_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/sensorproto"
	bombgen "github.com/riskmap/riskmap/internal/testenv/bombs"
)

// heapInUse is the Go heap's bytes in live and not yet swept objects.
func heapInUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

type bomb struct {
	route, kind string
	method      string
	path        string
	bearer      string
	header      map[string]string
	body        []byte
	want        []int // acceptable statuses
}

const validOSV = `{"id":"PYSEC-0000-1","modified":"2026-01-01T00:00:00Z","aliases":["CVE-2000-1"],"summary":"test",
 "affected":[{"package":{"ecosystem":"PyPI","name":"urllib3"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.26.5"}]}]}]}`

// TestBodyBombs sends body bombs of about half a megabyte compressed (a
// gzip of whitespace, deep nesting, a huge array, many small objects) to
// every route that takes a large body, two at a time per route, each
// with the credentials the route needs, and checks that each is answered
// with its documented status while the console's Go heap (in this
// process) grows by less than a bound the code before bounded requests
// passed many times over (it buffered the decompressed document: half a
// gigabyte for the whitespace).
func TestBodyBombs(t *testing.T) {
	if testing.Short() {
		t.Skip("sends about 4 GB of decompressed bombs")
	}
	e := start(t)
	admin, _ := e.registerAdmin()
	ro, _ := e.invite(admin, "readonly@example.com", "read-only")
	var key struct {
		APIKey string `json:"apiKey"`
	}
	ro.must(http.StatusOK, "POST", "/api/v1/me/api-key", nil, &key)
	var adminKey struct {
		APIKey string `json:"apiKey"`
	}
	admin.must(http.StatusOK, "POST", "/api/v1/me/api-key", nil, &adminKey)

	// A knowledge base, so that /match reads its body.
	var kb bytes.Buffer
	zw := zip.NewWriter(&kb)
	w, _ := zw.Create("PYSEC-0000-1.json")
	w.Write([]byte(validOSV))
	zw.Close()
	if code, body := e.raw("POST", "/api/v1/feeds/import?name=all.zip", adminKey.APIKey, nil, kb.Bytes()); code != http.StatusOK {
		t.Fatalf("feeds import: %d %s", code, body)
	}

	// Two enrolled sensors, each running a scan whose inventory it may
	// upload.
	type sensor struct{ key, id, scan string }
	var sensors []sensor
	for i := range 2 {
		k, id := e.enrol(admin, fmt.Sprintf("bomb-%d", i))
		var started struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		admin.must(http.StatusCreated, "POST", "/api/v1/scans", map[string]any{"targets": []map[string]string{{"sensorId": id, "kind": "host", "ref": ""}}}, &started)
		code, body := e.raw("POST", sensorproto.PathPoll, k, nil, []byte(`{"sensorId":"`+id+`","freeScanSlots":1}`))
		if code != http.StatusOK || !strings.Contains(string(body), started.Items[0].ID) {
			t.Fatalf("poll: %d %s", code, body)
		}
		sensors = append(sensors, sensor{k, id, started.Items[0].ID})
	}

	const size = 500 << 10
	gz := map[string]string{"Content-Encoding": "gzip"}
	reportHead := func(id string) string {
		return `{"version":"1.0","sensorId":"` + id + `","runId":"r","seq":1,"kind":"full","time":"2026-01-01T00:00:00Z"`
	}
	kinds := []string{"whitespace", "nesting", "huge_array", "small_objects"}
	inventory := map[string]bombgen.Shape{
		"whitespace":    {Prefix: `{"schemaVersion":"1.0.0","packages":[{"name":"urllib3","version":"1.26.0","ecosystem":"PyPI"}]`, Pattern: " ", Suffix: "}"},
		"nesting":       {Prefix: `{"schemaVersion":"1.0.0","target":`, Pattern: "[", Suffix: ""},
		"huge_array":    {Prefix: `{"schemaVersion":"1.0.0","packages":[{"name":"a","locations":[`, Pattern: `"a",`, Suffix: `"a"]}]}`},
		"small_objects": {Prefix: `{"schemaVersion":"1.0.0","packages":[`, Pattern: `{"name":"a"},`, Suffix: `{"name":"a"}]}`},
	}
	var bombs []bomb
	for _, k := range kinds {
		s := inventory[k]
		body := bombgen.Gzip(s, size)
		want := []int{http.StatusRequestEntityTooLarge}
		if k == "whitespace" {
			want = []int{http.StatusOK}
		}
		for range 2 {
			bombs = append(bombs, bomb{"match", k, "POST", "/api/v1/match", key.APIKey, gz, body, want})
		}
		want = []int{http.StatusRequestEntityTooLarge}
		if k == "whitespace" {
			want = []int{http.StatusNoContent}
		}
		for _, s := range sensors {
			bombs = append(bombs, bomb{"inventory", k, "PUT", "/api/v1/sensor/scans/" + s.scan + "/inventory", s.key, gz, body, want})
		}
	}
	reports := map[string]bombgen.Shape{
		"whitespace":    {Prefix: "", Pattern: " ", Suffix: "}"},
		"nesting":       {Prefix: `,"processes":[{"pid":1,"loaded":`, Pattern: "[", Suffix: ""},
		"huge_array":    {Prefix: `,"processes":[{"pid":1,"loaded":[`, Pattern: `"a",`, Suffix: `"a"]}]}`},
		"small_objects": {Prefix: `,"processes":[`, Pattern: `{"pid":1},`, Suffix: `{"pid":1}]}`},
	}
	for _, k := range kinds {
		r := reports[k]
		for _, s := range sensors {
			body := bombgen.Gzip(bombgen.Shape{Prefix: reportHead(s.id) + r.Prefix, Pattern: r.Pattern, Suffix: r.Suffix}, size)
			bombs = append(bombs, bomb{"reports", k, "POST", sensorproto.PathReports, s.key, gz, body, []int{http.StatusRequestEntityTooLarge}})
		}
	}
	feeds := map[string]bombgen.Shape{
		"whitespace":    {Prefix: validOSV, Pattern: " ", Suffix: ""},
		"nesting":       {Prefix: `{"id":"X","affected":`, Pattern: "[", Suffix: ""},
		"huge_array":    {Prefix: `{"id":"X","affected":[{"versions":[`, Pattern: `"a",`, Suffix: `"a"]}]}`},
		"small_objects": {Prefix: `{"id":"X","affected":[`, Pattern: `{"package":{"ecosystem":"PyPI","name":"a"}},`, Suffix: `{}]}`},
	}
	for _, k := range kinds {
		f := feeds[k]
		body := bombgen.Zip(validOSV, f, size)
		for range 2 {
			// Served (the bomb member is a bad record beside a good one)
			// or refused as a damaged archive (the member is longer than
			// the directory says).
			bombs = append(bombs, bomb{"feeds", k, "POST", "/api/v1/feeds/import?name=all.zip", adminKey.APIKey, nil, body, []int{http.StatusOK, http.StatusBadRequest}})
		}
	}
	// huma routes: a mebibyte of small objects and of nesting.
	huma := map[string]string{
		"small_objects": `{"targets":[` + strings.Repeat(`{},`, 300_000) + `{}]}`,
		"nesting":       `{"targets":` + strings.Repeat("[", 500_000) + `}`,
	}
	for k, body := range huma {
		for range 2 {
			bombs = append(bombs, bomb{"huma", k, "POST", "/api/v1/scans", adminKey.APIKey, nil, []byte(body),
				[]int{http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge}})
		}
	}

	runtime.GC()
	base := heapInUse()
	var peak atomic.Uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if h := heapInUse(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	// One kind at a time, every route at once.
	for _, k := range kinds {
		var wg sync.WaitGroup
		for _, b := range bombs {
			if b.kind != k {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, body := e.raw(b.method, b.path, b.bearer, b.header, b.body)
				ok := false
				for _, w := range b.want {
					ok = ok || code == w
				}
				if !ok {
					t.Errorf("%s %s (%d bytes): status %d, want %v: %.300s", b.route, b.kind, len(b.body), code, b.want, body)
				} else {
					t.Logf("%s %s (%d bytes): %d %.160s", b.route, b.kind, len(b.body), code, body)
				}
			}()
		}
		wg.Wait()
		t.Logf("after %s: heap peak so far %d MiB", k, peak.Load()>>20)
	}
	close(done)
	<-sampled
	growth := int64(peak.Load()) - int64(base)
	t.Logf("Go heap: %d MiB before, %d MiB at the peak (growth %d MiB)", base>>20, peak.Load()>>20, growth>>20)
	const bound = 96 << 20
	if growth > bound {
		t.Errorf("the heap grew by %d MiB under the bombs, bound %d MiB", growth>>20, bound>>20)
	}
}

// raw sends one request with a bearer credential; it reports transport
// errors as status 0.
func (e *env) raw(method, path, bearer string, header map[string]string, body []byte) (int, []byte) {
	req, err := http.NewRequest(method, e.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, []byte(err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.client().hc.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, b
}
