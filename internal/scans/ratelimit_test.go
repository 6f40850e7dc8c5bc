package scans_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/scans"
)

// TestSensorRouteRateLimits drives the sensor scan routes (command poll,
// scan status, inventory upload) past their per-sensor limits over HTTPS:
// the request beyond the burst gets 429 with a Retry-After, while another
// sensor on the same API key is not held back.
func TestSensorRouteRateLimits(t *testing.T) {
	hour := scans.Rate{Burst: 2, Every: time.Hour} // no refill during the test
	for _, b := range e2eBackends {
		t.Run(b.name, func(t *testing.T) {
			c := startE2EConsoleWith(t, b.url(t), nil, scans.SensorLimits{Poll: hour, Status: hour, Inventory: hour})
			a := c.api
			// Two enrolled sensors; each request below is sent with the
			// credential of the sensor it names.
			ca, sidA := c.enrol(t, "sensor-a")
			cb, sidB := c.enrol(t, "sensor-b")
			keyOf := map[string]string{sidA: ca.Key(), sidB: cb.Key()}
			raw := func(method, path string, body []byte, hdr map[string]string, sensorID string) *http.Response {
				t.Helper()
				req, _ := http.NewRequest(method, a.base+path, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+keyOf[sensorID])
				for k, v := range hdr {
					req.Header.Set(k, v)
				}
				resp, err := a.hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp
			}
			limited := func(what string, resp *http.Response) {
				t.Helper()
				if resp.StatusCode != http.StatusTooManyRequests {
					t.Fatalf("%s: %d, want 429", what, resp.StatusCode)
				}
				if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 3000 || s > 3600 {
					t.Fatalf("%s: Retry-After %q, want about an hour", what, resp.Header.Get("Retry-After"))
				}
			}
			json := func(v string) []byte { return []byte(v) }
			ctype := map[string]string{"Content-Type": "application/json"}

			var started struct {
				Items []scans.Scan `json:"items"`
			}
			if code := a.do("POST", "/api/v1/scans", map[string]any{"targets": []map[string]string{
				{"sensorId": sidA, "kind": "host", "ref": "a"}, {"sensorId": sidB, "kind": "host", "ref": "b"}}}, &started); code != http.StatusCreated {
				t.Fatalf("start scans: %d", code)
			}
			scanA, scanB := started.Items[0].ID, started.Items[1].ID

			// Poll: two for sensor-a, the third refused; sensor-b still polls.
			for i := range 2 {
				if r := raw("POST", "/api/v1/sensor/commands/poll", json(`{"sensorId":"`+sidA+`","freeScanSlots":1}`), ctype, sidA); r.StatusCode != http.StatusOK {
					t.Fatalf("poll %d: %d", i, r.StatusCode)
				}
			}
			limited("third poll of sensor-a", raw("POST", "/api/v1/sensor/commands/poll", json(`{"sensorId":"`+sidA+`","freeScanSlots":1}`), ctype, sidA))
			if r := raw("POST", "/api/v1/sensor/commands/poll", json(`{"sensorId":"`+sidB+`","freeScanSlots":1}`), ctype, sidB); r.StatusCode != http.StatusOK {
				t.Fatalf("poll of sensor-b: %d", r.StatusCode)
			}

			// Status: per the scan's sensor.
			for i := range 2 {
				if r := raw("POST", "/api/v1/sensor/scans/"+scanA+"/status", json(`{"status":"running","progress":0.1}`), ctype, sidA); r.StatusCode != http.StatusNoContent {
					t.Fatalf("status %d of sensor-a's scan: %d", i, r.StatusCode)
				}
			}
			limited("third status of sensor-a's scan", raw("POST", "/api/v1/sensor/scans/"+scanA+"/status", json(`{"status":"running","progress":0.2}`), ctype, sidA))
			if r := raw("POST", "/api/v1/sensor/scans/"+scanB+"/status", json(`{"status":"running","progress":0.1}`), ctype, sidB); r.StatusCode != http.StatusNoContent {
				t.Fatalf("status of sensor-b's scan: %d", r.StatusCode)
			}

			// Impersonation: sensor a cannot poll as b, nor report b's scan.
			if r := raw("POST", "/api/v1/sensor/commands/poll", json(`{"sensorId":"`+sidB+`","freeScanSlots":1}`), ctype, sidA); r.StatusCode != http.StatusForbidden && r.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("sensor a polling as b: %d, want 403", r.StatusCode)
			}

			// Inventory: refused before the body is read.
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			zw.Write([]byte(`{"target":{"kind":"host","ref":"a"},"packages":[]}`))
			zw.Close()
			enc := map[string]string{"Content-Encoding": "gzip", "Content-Type": "application/json"}
			for i := range 2 {
				if r := raw("PUT", "/api/v1/sensor/scans/"+scanA+"/inventory", gz.Bytes(), enc, sidA); r.StatusCode != http.StatusNoContent {
					t.Fatalf("inventory %d of sensor-a's scan: %d", i, r.StatusCode)
				}
			}
			limited("third inventory of sensor-a's scan", raw("PUT", "/api/v1/sensor/scans/"+scanA+"/inventory", gz.Bytes(), enc, sidA))
			if r := raw("PUT", "/api/v1/sensor/scans/"+scanB+"/inventory", gz.Bytes(), enc, sidB); r.StatusCode != http.StatusNoContent {
				t.Fatalf("inventory of sensor-b's scan: %d", r.StatusCode)
			}
		})
	}
}
