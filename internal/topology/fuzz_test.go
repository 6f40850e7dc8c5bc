package topology

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/report"
)

// FuzzIngest feeds arbitrary bodies to the ingest path up to the store:
// the request decoder (gzip, limits, strict decode, validation), then the
// snapshot, the derivation of nodes and edges and the batch plan against a
// graph that already holds a report. Refusals are 400, 413 or 415 with a
// message; nothing panics; an accepted report's host is derived.
func FuzzIngest(f *testing.F) {
	full := &report.Report{Version: report.Version, SensorID: "s", RunID: "r", Seq: 1, Kind: report.KindFull, Time: time.Unix(1e9, 0).UTC(),
		Host:      &report.Host{Hostname: "h", Interfaces: []report.Interface{{Name: "eth0", Addrs: []string{"192.0.2.1/24", "not an address"}}}},
		Processes: []report.Process{{PID: 10, StartTicks: 1, Name: "p", Listen: []report.Endpoint{{Addr: "::", Port: 22}}}},
		Connections: []report.Connection{
			{Source: "proc", State: "ESTABLISHED", Local: report.Endpoint{Addr: "192.0.2.1", Port: 22}, Remote: report.Endpoint{Addr: "198.51.100.1", Port: 5000}, ProcessKey: "10:1"},
			{Source: "conntrack", State: "ESTABLISHED", Local: report.Endpoint{Addr: "198.51.100.1", Port: 5000}, Remote: report.Endpoint{Addr: "192.0.2.1", Port: 8080},
				Translated: &report.Endpoint{Addr: "172.17.0.2", Port: 80}}},
		Containers: []report.Container{{ID: "c", Runtime: "docker", Ports: []report.Port{{HostPort: 8080, ContainerPort: 80, Proto: "tcp"}},
			Pod: &report.PodRef{Name: "p", Namespace: "ns"}}},
		Kubernetes: &report.Kubernetes{ClusterName: "k", Pods: []report.Pod{{UID: "u", Name: "p", Namespace: "ns", PodIP: "10.1.0.1"}}},
	}
	gzOf := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	b, _ := report.Marshal(full, report.DefaultLimits())
	f.Add(b)
	delta := *full
	delta.Seq, delta.Kind, delta.BaseSeq, delta.Removed = 2, report.KindDelta, 1, &report.Removed{Processes: []string{"10:1"}}
	j, _ := json.Marshal(&delta)
	f.Add(gzOf(j))
	f.Add(gzOf([]byte(`{"version":"1.9","sensorId":"s","runId":"r","seq":1,"kind":"full","time":"2026-01-01T00:00:00Z","future":true}`)))
	f.Add(gzOf([]byte(`{"version":"1.0"`)))
	f.Add([]byte("plain"))
	f.Add([]byte{})

	lim := report.DefaultLimits()
	lim.MaxCompressedBytes, lim.MaxJSONBytes = 1<<20, 8<<20
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, RouteReports, bytes.NewReader(body))
		req.Header.Set("Content-Encoding", "gzip")
		r, status, msg := decodeRequest(req, lim)
		if status != 0 {
			if status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge || msg == "" {
				t.Fatalf("refusal %d %q", status, msg)
			}
			return
		}
		// A topology whose graph holds the seed report of the same sensor.
		tp := newMemTopology()
		seed := *full
		seed.SensorID = r.SensorID
		for _, rep := range []*report.Report{&seed, r} {
			if sp := tp.applyReport(rep); sp.d != nil && sp.host == nil {
				t.Fatalf("report of %q derived no host", rep.SensorID)
			}
		}
		if _, err := tp.Graph(GraphQuery{View: ViewProcesses}); err != nil {
			t.Fatal(err)
		}
		if _, err := tp.Exposure(t.Context(), HostNodeID(r.SensorID)); err != nil {
			t.Fatal(err)
		}
	})
}
