package topology_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/topology"
)

// TestSensorStream pushes reports on the sensor stream of a real console:
// they are acknowledged and in the graph; the report route's metrics
// count them; the sensor's rate limit and its revocation hold at every
// message; a console restart closes the stream between reports and the
// next report goes on a new one, not lost.
func TestSensorStream(t *testing.T) {
	clk := testenv.NewClock(time.Now().UTC())
	e := startConsole(t, t.TempDir(), "", clk, topology.Config{SensorBurst: 3, SensorRefill: time.Minute})
	e.register()
	f := e.sensorClient()
	x := e.sensor("db-1")
	r := dbHost()
	r.SensorID, r.Seq = "db-1", 1
	if _, err := f.push(t, r); err != nil {
		t.Fatalf("first report: %v", err)
	}
	if !x.cl.Streaming() {
		t.Fatal("the report did not go on the sensor stream")
	}
	var nodes topology.NodePage
	if code := e.get("/api/v1/topology/nodes?kind=host", &nodes); code != http.StatusOK || nodes.Total != 1 {
		t.Fatalf("hosts after a streamed report: %d %+v", code, nodes)
	}
	// Every report on the stream is served as a POST of the report route.
	if n := e.metric(`riskmap_http_requests_total{code="200",method="POST",route="/api/v1/sensor/reports"}`); n != 1 {
		t.Errorf("report route requests counted: %v, want 1", n)
	}

	// The restart closes the stream (1001) between reports; the next one
	// is sent again on a new stream, to the console that came back.
	stopped := make(chan struct{})
	go func() { e.restart(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the console did not stop within 10 s with a stream open (shutdown waits for hijacked connections)")
	}
	r.Seq = 2
	r.Kind = report.KindFull
	if _, err := f.push(t, r); err != nil {
		t.Fatalf("a report after the console restarted: %v", err)
	}
	if !x.cl.Streaming() {
		t.Fatal("the report after the restart did not go on a stream")
	}

	// The rate limit (3 reports a minute, a frozen clock; the restarted
	// console's buckets are fresh) is checked per message: the fourth
	// since the restart gets 429 with the time to wait.
	var se *client.StatusError
	for seq := uint64(3); seq <= 5; seq++ {
		r.Seq = seq
		_, err := f.push(t, r)
		switch {
		case seq < 5 && err != nil:
			t.Fatalf("report %d: %v", seq, err)
		case seq == 5 && (!errors.As(err, &se) || se.Code != http.StatusTooManyRequests || se.RetryAfter <= 0):
			t.Fatalf("report over the limit: %v, want 429 with a retry time", err)
		}
	}
	clk.Advance(2 * time.Minute)

	// Revoked while its stream is open: the next report is refused.
	if code := e.call(http.MethodPost, "/api/v1/sensors/"+x.id+"/revoke", nil); code != http.StatusOK {
		t.Fatalf("revoke: %d", code)
	}
	r.Seq = 6
	if _, err := f.push(t, r); !errors.As(err, &se) || se.Code != http.StatusUnauthorized || !strings.Contains(se.Detail, "revoked") {
		t.Fatalf("a report of a revoked sensor on its stream: %v, want 401 revoked", err)
	}
}

// TestSensorStreamRefusals sends what a sensor must not on a stream: each
// refusal names what was wrong, and a refused message leaves the stream
// serving the next one.
func TestSensorStreamRefusals(t *testing.T) {
	clk := testenv.NewClock(time.Now().UTC())
	e := startConsole(t, t.TempDir(), "", clk, topology.Config{SensorBurst: 100})
	e.register()
	key := e.sensor("db-1").cl.Key()
	url := "wss" + strings.TrimPrefix(e.base, "https") + sensorproto.PathStream
	dial := func(h http.Header, protos ...string) (*websocket.Conn, int, string) {
		t.Helper()
		d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: e.pool, NextProtos: []string{"http/1.1"}}, Subprotocols: protos, HandshakeTimeout: 10 * time.Second}
		c, resp, err := d.Dial(url, h)
		if err != nil {
			if resp == nil {
				t.Fatalf("dial: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return nil, resp.StatusCode, string(b)
		}
		t.Cleanup(func() { c.Close() })
		return c, http.StatusSwitchingProtocols, ""
	}
	bearer := func(cred string) http.Header { return http.Header{"Authorization": {"Bearer " + cred}} }

	// The upgrade itself.
	for _, tc := range []struct {
		name   string
		h      http.Header
		protos []string
		want   int
		detail string
	}{
		{"no_credential", http.Header{}, []string{sensorproto.StreamProtocol}, http.StatusUnauthorized, "enrolled sensors"},
		{"a_user_key", bearer(e.apiKey), []string{sensorproto.StreamProtocol}, http.StatusUnauthorized, "enrolled sensors"},
		{"no_subprotocol", bearer(key), nil, http.StatusBadRequest, sensorproto.StreamProtocol},
		{"a_browser_page", http.Header{"Authorization": {"Bearer " + key}, "Origin": {"https://evil.example"}}, []string{sensorproto.StreamProtocol}, http.StatusForbidden, "origin"},
	} {
		if _, code, body := dial(tc.h, tc.protos...); code != tc.want || !strings.Contains(strings.ToLower(body), strings.ToLower(tc.detail)) {
			t.Errorf("%s: %d %s, want %d naming %q", tc.name, code, body, tc.want, tc.detail)
		}
	}
	// Not a WebSocket.
	req, _ := http.NewRequest(http.MethodGet, e.base+sensorproto.PathStream, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if resp, err := e.httpClient().Do(req); err != nil || resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("a GET without upgrade: %v %v, want 426", resp, err)
	} else {
		resp.Body.Close()
	}

	c, code, body := dial(bearer(key), sensorproto.StreamProtocol)
	if c == nil {
		t.Fatalf("upgrade: %d %s", code, body)
	}
	if c.Subprotocol() != sensorproto.StreamProtocol {
		t.Fatalf("subprotocol %q", c.Subprotocol())
	}
	send := func(msg []byte) sensorproto.StreamAnswer {
		t.Helper()
		if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
			t.Fatal(err)
		}
		typ, b, err := c.ReadMessage()
		if err != nil || typ != websocket.TextMessage {
			t.Fatalf("answer: %d %v", typ, err)
		}
		a, err := sensorproto.DecodeStreamAnswer(b)
		if err != nil {
			t.Fatalf("%v in %s", err, b)
		}
		return a
	}
	r := dbHost()
	r.SensorID = e.id("db-1")
	gz, err := report.Marshal(r, report.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	line := func(s string) []byte { return append([]byte(s), gz...) }
	for _, tc := range []struct {
		name   string
		msg    []byte
		want   int
		detail string
	}{
		{"no_request_line", gz, http.StatusBadRequest, "request line"},
		{"a_user_route", line("POST /api/v1/users gzip\n"), http.StatusBadRequest, "a sensor route"},
		{"the_stream_itself", line("POST " + sensorproto.PathStream + "\n"), http.StatusBadRequest, "a sensor route"},
		{"get", line("GET /api/v1/sensor/reports gzip\n"), http.StatusBadRequest, "POST or PUT"},
		{"unknown_encoding", line("POST /api/v1/sensor/reports br\n"), http.StatusBadRequest, `"br"`},
		{"not_gzip", []byte("POST /api/v1/sensor/reports\n{}"), http.StatusUnsupportedMediaType, "gzip"},
		{"no_such_sensor_route", line("POST /api/v1/sensor/nothing gzip\n"), http.StatusNotFound, "no route"},
		{"ok", line("POST /api/v1/sensor/reports gzip\n"), http.StatusOK, ""},
	} {
		a := send(tc.msg)
		var detail struct{ Detail string }
		_ = json.Unmarshal(a.Body, &detail)
		if a.Status != tc.want || !strings.Contains(detail.Detail, tc.detail) {
			t.Errorf("%s: %d %s, want %d naming %q", tc.name, a.Status, a.Body, tc.want, tc.detail)
		}
		if tc.want == http.StatusOK {
			var ack sensorproto.Ack
			if err := json.Unmarshal(a.Body, &ack); err != nil || ack.NextReportSeconds <= 0 {
				t.Errorf("ack %s: %v", a.Body, err)
			}
		}
	}
	// A report over the route's limit gets 413, and the stream goes on.
	big := append([]byte("POST /api/v1/sensor/reports gzip\n"), bytes.Repeat([]byte{0x1f}, 4<<20+100)...)
	if a := send(big); a.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("a report over 4 MiB: %d %s, want 413", a.Status, a.Body)
	}
	if a := send(line("POST /api/v1/sensor/reports gzip\n")); a.Status != http.StatusOK {
		t.Errorf("a report after the refusals: %d %s", a.Status, a.Body)
	}
	// A text message ends the stream (1003), naming what was wrong.
	if err := c.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseUnsupportedData) || !strings.Contains(err.Error(), "binary") {
		t.Errorf("a text message: %v, want close 1003", err)
	}
	// So does a message over the stream's limit (1009).
	c2, _, _ := dial(bearer(key), sensorproto.StreamProtocol)
	huge := append([]byte("POST /api/v1/sensor/reports gzip\n"), bytes.Repeat([]byte{0x1f}, 6<<20)...)
	_ = c2.WriteMessage(websocket.BinaryMessage, huge)
	if _, _, err := c2.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Errorf("a message over the stream's limit: %v, want close 1009", err)
	}
}

// call sends a request with the user's API key and returns its status.
func (e *env) call(method, path string, body io.Reader) int {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.base+path, body)
	req.Header.Set("Authorization", "Bearer "+e.apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.httpClient().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// metric reads one series of the console's /metrics (-1: absent).
func (e *env) metric(series string) float64 {
	e.t.Helper()
	resp, err := e.httpClient().Get(e.base + "/metrics")
	if err != nil {
		e.t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			var f float64
			if err := json.Unmarshal([]byte(v), &f); err == nil {
				return f
			}
		}
	}
	return -1
}
