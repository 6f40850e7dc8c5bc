package console_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/crc32"
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
)

// deflateRepeat is a raw deflate stream of prefix, then unit n times, then
// suffix, made without compressing the whole: unit is compressed once into
// a self-contained, byte-aligned block that is repeated (each copy refers
// back only into itself). It returns the stream, the CRC-32 and the length
// of what it inflates to.
func deflateRepeat(prefix, unit []byte, n int, suffix []byte) ([]byte, uint32, int64) {
	block := func(b []byte, final bool) []byte {
		var buf bytes.Buffer
		w, _ := flate.NewWriter(&buf, flate.BestCompression)
		w.Write(b)
		if final {
			w.Close()
		} else {
			w.Flush()
		}
		return buf.Bytes()
	}
	var out bytes.Buffer
	out.Write(block(prefix, false))
	u := block(unit, false)
	crc := crc32.Update(0, crc32.IEEETable, prefix)
	for range n {
		out.Write(u)
		crc = crc32.Update(crc, crc32.IEEETable, unit)
	}
	out.Write(block(suffix, true))
	crc = crc32.Update(crc, crc32.IEEETable, suffix)
	return out.Bytes(), crc, int64(len(prefix)) + int64(n)*int64(len(unit)) + int64(len(suffix))
}

// gzipBomb is a gzip member of about size compressed bytes: prefix, then
// the pattern repeated, then suffix.
func gzipBomb(prefix, pattern, suffix string, size int) []byte {
	unit := []byte(strings.Repeat(pattern, (1<<20)/len(pattern)))
	one, _, _ := deflateRepeat(nil, unit, 1, nil)
	raw, crc, n := deflateRepeat([]byte(prefix), unit, size/len(one), []byte(suffix))
	var b bytes.Buffer
	b.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	b.Write(raw)
	binary.Write(&b, binary.LittleEndian, crc)
	binary.Write(&b, binary.LittleEndian, uint32(n))
	return b.Bytes()
}

// zipBomb is an OSV export: one valid record, and a member that inflates
// from about size bytes to the pattern repeated between prefix and suffix.
func zipBomb(valid, prefix, pattern, suffix string, size int) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create("valid.json")
	w.Write([]byte(valid))
	unit := []byte(strings.Repeat(pattern, (1<<20)/len(pattern)))
	one, _, _ := deflateRepeat(nil, unit, 1, nil)
	raw, crc, n := deflateRepeat([]byte(prefix), unit, size/len(one), []byte(suffix))
	// The directory claims 60 MiB (under the 64 MiB a member may have),
	// not the half gigabyte the member inflates to.
	_ = n
	w, _ = zw.CreateRaw(&zip.FileHeader{Name: "bomb.json", Method: zip.Deflate, CRC32: crc,
		CompressedSize64: uint64(len(raw)), UncompressedSize64: 60 << 20})
	w.Write(raw)
	zw.Close()
	return b.Bytes()
}

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
	type shape struct{ prefix, pattern, suffix string }
	kinds := []string{"whitespace", "nesting", "huge_array", "small_objects"}
	inventory := map[string]shape{
		"whitespace":    {`{"schemaVersion":"1.0.0","packages":[{"name":"urllib3","version":"1.26.0","ecosystem":"PyPI"}]`, " ", "}"},
		"nesting":       {`{"schemaVersion":"1.0.0","target":`, "[", ""},
		"huge_array":    {`{"schemaVersion":"1.0.0","packages":[{"name":"a","locations":[`, `"a",`, `"a"]}]}`},
		"small_objects": {`{"schemaVersion":"1.0.0","packages":[`, `{"name":"a"},`, `{"name":"a"}]}`},
	}
	var bombs []bomb
	for _, k := range kinds {
		s := inventory[k]
		body := gzipBomb(s.prefix, s.pattern, s.suffix, size)
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
	reports := map[string]shape{
		"whitespace":    {"", " ", "}"},
		"nesting":       {`,"processes":[{"pid":1,"loaded":`, "[", ""},
		"huge_array":    {`,"processes":[{"pid":1,"loaded":[`, `"a",`, `"a"]}]}`},
		"small_objects": {`,"processes":[`, `{"pid":1},`, `{"pid":1}]}`},
	}
	for _, k := range kinds {
		r := reports[k]
		for _, s := range sensors {
			body := gzipBomb(reportHead(s.id)+r.prefix, r.pattern, r.suffix, size)
			bombs = append(bombs, bomb{"reports", k, "POST", sensorproto.PathReports, s.key, gz, body, []int{http.StatusRequestEntityTooLarge}})
		}
	}
	feeds := map[string]shape{
		"whitespace":    {validOSV, " ", ""},
		"nesting":       {`{"id":"X","affected":`, "[", ""},
		"huge_array":    {`{"id":"X","affected":[{"versions":[`, `"a",`, `"a"]}]}`},
		"small_objects": {`{"id":"X","affected":[`, `{"package":{"ecosystem":"PyPI","name":"a"}},`, `{}]}`},
	}
	for _, k := range kinds {
		f := feeds[k]
		body := zipBomb(validOSV, f.prefix, f.pattern, f.suffix, size)
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
