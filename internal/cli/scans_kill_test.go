package cli_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/testenv"
)

// TestScansSurviveSIGKILL SIGKILLs the console while a sensor runs a scan,
// restarts it, and checks that no scan stays non-terminal: the scan whose
// lease ran out is retried and completes, a cancelled one whose sensor went
// silent is closed, and nothing acknowledged is lost. SQLite and PostgreSQL.
func TestScansSurviveSIGKILL(t *testing.T) {
	bin := riskmapBinary(t)
	for _, db := range []struct {
		name string
		url  func() string
	}{{"sqlite", func() string { return "" }}, {"postgres", func() string { return testenv.PostgresURL(t) }}} {
		t.Run(db.name, func(t *testing.T) {
			dataDir := t.TempDir()
			extra := []string{"--scan-lease", "3s", "--scan-retry", "1s", "--feed-interval", "0"}
			if u := db.url(); u != "" {
				extra = append(extra, "--database", u)
			}
			p := startConsole(t, consoleCmd(bin, dataDir, extra...))
			base := "https://" + p.addr
			c := pinnedClient(p.fingerprint)
			must := func(code int, err error) int {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				return code
			}
			must(call(c, "POST", base+"/api/v1/auth/register", map[string]string{
				"email": "admin@example.com", "password": "kill test password", "name": "A", "organisation": "Kill"}, nil))
			key, sid := enrolSensor(t, c, base, "k-host")
			bearer := func(method, url string, body, out any) (int, error) {
				b, _ := json.Marshal(body)
				req, _ := http.NewRequest(method, url, bytes.NewReader(b))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				resp, err := c.Do(req)
				if err != nil {
					return 0, err
				}
				defer resp.Body.Close()
				if out != nil && resp.StatusCode < 300 {
					return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
				}
				return resp.StatusCode, nil
			}
			var started struct {
				Items []scans.Scan `json:"items"`
			}
			must(call(c, "POST", base+"/api/v1/scans", map[string]any{"targets": []map[string]string{
				{"sensorId": sid, "kind": "host", "ref": "node-1"},
				{"sensorId": sid, "kind": "container", "ref": "c1"}}}, &started))
			hostScan, ctrScan := started.Items[0].ID, started.Items[1].ID
			var polled sensorproto.PollResponse
			must(bearer("POST", base+"/api/v1/sensor/commands/poll", map[string]any{"sensorId": sid, "freeScanSlots": 2}, &polled))
			if len(polled.Commands) != 2 {
				t.Fatalf("poll: %+v", polled)
			}
			for _, id := range []string{hostScan, ctrScan} {
				if code := must(bearer("POST", base+"/api/v1/sensor/scans/"+id+"/status", map[string]any{"status": "running", "progress": 0.1}, nil)); code != http.StatusNoContent {
					t.Fatalf("running status: %d", code)
				}
			}
			must(call(c, "POST", base+"/api/v1/scans/"+ctrScan+"/cancel", nil, nil))

			// SIGKILL mid-scan.
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-p.exited
			p = startConsole(t, consoleCmd(bin, dataDir, extra...))
			base = "https://" + p.addr
			c = pinnedClient(p.fingerprint)
			must(call(c, "POST", base+"/api/v1/auth/login", map[string]string{"email": "admin@example.com", "password": "kill test password"}, nil))

			get := func(id string) scans.Scan {
				var s scans.Scan
				must(call(c, "GET", base+"/api/v1/scans/"+id, nil, &s))
				return s
			}
			// The sensor stays silent: the leases run out. The cancelled
			// scan closes; the other is re-queued for its next attempt.
			deadline := time.Now().Add(60 * time.Second)
			for get(ctrScan).Status != scans.StatusCancelled || get(hostScan).Status != scans.StatusQueued {
				if time.Now().After(deadline) {
					t.Fatalf("after restart: host scan %+v, container scan %+v", get(hostScan), get(ctrScan))
				}
				time.Sleep(250 * time.Millisecond)
			}
			// The sensor comes back and finishes the retried scan.
			deadline = time.Now().Add(30 * time.Second)
			for {
				must(bearer("POST", base+"/api/v1/sensor/commands/poll", map[string]any{"sensorId": sid, "freeScanSlots": 1}, &polled))
				if len(polled.Commands) == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("retry never dispatched: %+v", get(hostScan))
				}
				time.Sleep(250 * time.Millisecond)
			}
			if polled.Commands[0].ScanID != hostScan || polled.Commands[0].ID != hostScan+"-2" {
				t.Fatalf("retry command %+v", polled.Commands[0])
			}
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			json.NewEncoder(zw).Encode(inventory.Inventory{Target: inventory.Target{Kind: "host", Ref: "node-1"},
				Packages: []inventory.Package{{Name: "urllib3", Version: "1.26.0", Ecosystem: "PyPI", PURL: "pkg:pypi/urllib3@1.26.0"}}})
			zw.Close()
			req, _ := http.NewRequest("PUT", base+"/api/v1/sensor/scans/"+hostScan+"/inventory", &gz)
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Encoding", "gzip")
			resp, err := c.Do(req)
			if err != nil || resp.StatusCode != http.StatusNoContent {
				t.Fatalf("upload: %v %v", resp, err)
			}
			resp.Body.Close()
			must(bearer("POST", base+"/api/v1/sensor/scans/"+hostScan+"/status", map[string]any{"status": "complete", "progress": 1}, nil))

			var all struct {
				Items []scans.Scan `json:"items"`
			}
			must(call(c, "GET", base+"/api/v1/scans", nil, &all))
			got := map[string]string{}
			for _, s := range all.Items {
				got[s.ID] = s.Status
				if !s.Terminal() {
					t.Errorf("scan %s left %s: %s", s.ID, s.Status, s.Message)
				}
			}
			if got[hostScan] != scans.StatusComplete || got[ctrScan] != scans.StatusCancelled || len(got) != 2 {
				t.Errorf("scans after restart: %v", got)
			}
			if s := get(hostScan); s.Attempts != 2 || !s.HasInventory {
				t.Errorf("host scan: %+v", s)
			}
		})
	}
}
