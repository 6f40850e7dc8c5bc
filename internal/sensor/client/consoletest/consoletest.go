// Package consoletest is an in-process console speaking the sensor protocol
// of API-CONTRACT.md over TLS with a self-signed certificate, for the
// sensor's tests until they run against the real console: it issues and
// rotates tokens, decodes reports with the real report decoder into a
// snapshot (asking for a full report when a delta does not apply), queues
// commands, and records scan statuses and inventories. Faults (stopped,
// malformed or oversized answers, 429) are switched on by the test.
package consoletest

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

// Fault is a misbehaviour the console can be switched to.
type Fault int

// Faults.
const (
	None Fault = iota
	// Malformed answers reports and polls with invalid JSON.
	Malformed
	// Oversized answers with a body far over any sane limit.
	Oversized
	// Overloaded answers 429 with Retry-After: 1.
	Overloaded
)

// Console is the fake console.
type Console struct {
	// Key is the sensor key it accepts; SensorID the id it gave that
	// sensor; EnrolmentToken the token Enrol accepts (it then answers Key
	// and SensorID).
	Key            string
	SensorID       string
	EnrolmentToken string
	// NextReportSeconds is returned with every report (default 1).
	NextReportSeconds int
	// TokenTTL is the access token lifetime in seconds (default 3600).
	TokenTTL int

	srv  *httptest.Server
	addr string
	t    testing.TB

	mu          sync.Mutex
	fault       Fault
	access      map[string]time.Time
	enrolments  []sensorproto.EnrolRequest
	snap        report.Snapshot
	reports     []*report.Report
	received    []Received
	rejected    int
	exchanges   int
	rotations   int
	commands    []sensorproto.Command
	polls       []int
	upgrades    int
	statuses    map[string][]sensorproto.ScanStatus
	inventories map[string]*inventory.Inventory
	results     map[string]*sensorproto.Results
	pollTypes   []string
}

// Start starts a console on a loopback port with a fresh self-signed
// certificate; it stops when the test ends.
func Start(t testing.TB) *Console {
	c := &Console{Key: "rmsk_test_" + randHex(8), SensorID: "sensor-" + randHex(4), EnrolmentToken: "rme_test_" + randHex(8),
		NextReportSeconds: 1, TokenTTL: 3600, t: t, access: map[string]time.Time{},
		statuses: map[string][]sensorproto.ScanStatus{}, inventories: map[string]*inventory.Inventory{},
		results: map[string]*sensorproto.Results{}}
	c.srv = httptest.NewUnstartedServer(c.handler())
	c.srv.EnableHTTP2 = true
	c.srv.StartTLS()
	c.addr = c.srv.Listener.Addr().String()
	t.Cleanup(c.srv.Close)
	return c
}

// URL is the console's base URL.
func (c *Console) URL() string { return "https://" + c.addr }

// Pin is the SHA-256 of the console's certificate, as --console-ca-sha256
// takes it.
func (c *Console) Pin() string { return client.Fingerprint(c.srv.Certificate().Raw) }

// Stop closes the listener and every connection: the console is away.
func (c *Console) Stop() {
	c.srv.Listener.Close()
	c.srv.CloseClientConnections()
}

// Restart listens again on the same address with the same certificate.
func (c *Console) Restart() {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", c.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("console restart on %s: %v", c.addr, err)
	}
	tl := tls.NewListener(ln, c.srv.TLS)
	c.srv.Listener = tl
	go c.srv.Config.Serve(tl)
}

// Received is a report as the console answered it.
type Received struct {
	Kind          report.Kind
	Seq           uint64
	At            time.Time
	FullRequested bool // not applied: the answer asked for a full report
}

// ForgetBase drops the console's picture, as a console replica that never
// received the sensor's reports has none: the next delta is answered
// "full report needed".
func (c *Console) ForgetBase() { c.mu.Lock(); c.snap = report.Snapshot{}; c.mu.Unlock() }

// Received lists every report the console decoded, in order.
func (c *Console) Received() []Received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.received)
}

// SetFault switches a fault on (None: off).
func (c *Console) SetFault(f Fault) { c.mu.Lock(); c.fault = f; c.mu.Unlock() }

// Queue adds commands returned by the next poll.
func (c *Console) Queue(cmds ...sensorproto.Command) {
	c.mu.Lock()
	c.commands = append(c.commands, cmds...)
	c.mu.Unlock()
}

// Snapshot returns the topology the console rebuilt from the reports.
func (c *Console) Snapshot() *report.Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap.Seq == 0 {
		return nil
	}
	r := c.snap.Full() // the snapshot's own collections: copied for the caller
	r.Processes, r.Connections = slices.Clone(r.Processes), slices.Clone(r.Connections)
	r.Containers, r.Images = slices.Clone(r.Containers), slices.Clone(r.Images)
	if k := r.Kubernetes; k != nil {
		k.Pods, k.Namespaces, k.Services, k.Nodes = slices.Clone(k.Pods), slices.Clone(k.Namespaces), slices.Clone(k.Services), slices.Clone(k.Nodes)
	}
	return r
}

// Reports returns the reports accepted so far.
func (c *Console) Reports() []*report.Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*report.Report(nil), c.reports...)
}

// Counts returns key exchanges, key rotations and rejected reports.
func (c *Console) Counts() (exchanges, rotations, rejected int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exchanges, c.rotations, c.rejected
}

// Enrolments returns the enrolment requests received.
func (c *Console) Enrolments() []sensorproto.EnrolRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sensorproto.EnrolRequest(nil), c.enrolments...)
}

// Upgrades counts the attempts to open the sensor stream, which this
// console, like one from before the stream, does not have (404).
func (c *Console) Upgrades() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.upgrades
}

// Polls returns the free slots offered by each poll.
func (c *Console) Polls() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.polls...)
}

// Statuses returns the statuses received for a scan.
func (c *Console) Statuses(scanID string) []sensorproto.ScanStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sensorproto.ScanStatus(nil), c.statuses[scanID]...)
}

// Inventory returns the inventory uploaded for a scan.
func (c *Console) Inventory(scanID string) *inventory.Inventory {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inventories[scanID]
}

// Results returns the results uploaded for a scan of a type other than
// vulnerability.
func (c *Console) Results(scanID string) *sensorproto.Results {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.results[scanID]
}

// PollTypes returns the scan types the last poll declared.
func (c *Console) PollTypes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.pollTypes...)
}

// ExpireTokens invalidates every access token (the next call gets 401).
func (c *Console) ExpireTokens() {
	c.mu.Lock()
	c.access = map[string]time.Time{}
	c.mu.Unlock()
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func problem(w http.ResponseWriter, code int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(code), "status": code, "detail": detail})
}

func (c *Console) issue(w http.ResponseWriter) {
	a := "at_" + randHex(16)
	c.access[a] = time.Now().Add(time.Duration(c.TokenTTL) * time.Second)
	json.NewEncoder(w).Encode(sensorproto.SensorTokenResponse{SensorID: c.SensorID, AccessToken: a, TokenType: "Bearer", ExpiresIn: c.TokenTTL})
}

func (c *Console) authorised(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	exp, found := c.access[tok]
	return ok && found && time.Now().Before(exp)
}

// faulty writes the fault's answer; false when there is no fault.
func (c *Console) faulty(w http.ResponseWriter) bool {
	switch c.fault {
	case Malformed:
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"nextReportSeconds": "soon", "commands": [}`)
	case Oversized:
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"nextReportSeconds":1,"pad":"`+strings.Repeat("x", 4<<20)+`"}`)
	case Overloaded:
		w.Header().Set("Retry-After", "1")
		problem(w, http.StatusTooManyRequests, "overloaded")
	default:
		return false
	}
	return true
}

func (c *Console) handler() http.Handler {
	mux := http.NewServeMux()
	decode := func(r *http.Request, v any) bool {
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		dec.DisallowUnknownFields()
		return dec.Decode(v) == nil
	}
	mux.HandleFunc("GET "+sensorproto.PathStream, func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.upgrades++
		c.mu.Unlock()
		problem(w, http.StatusNotFound, "no route GET "+r.URL.Path)
	})
	mux.HandleFunc("POST "+sensorproto.PathEnrol, func(w http.ResponseWriter, r *http.Request) {
		var in sensorproto.EnrolRequest
		c.mu.Lock()
		defer c.mu.Unlock()
		if !decode(r, &in) || in.Token != c.EnrolmentToken {
			problem(w, http.StatusUnauthorized, "the enrolment token is not valid")
			return
		}
		c.enrolments = append(c.enrolments, in)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(sensorproto.EnrolResponse{SensorID: c.SensorID, Key: c.Key, Hostname: in.Hostname})
	})
	mux.HandleFunc("POST "+sensorproto.PathToken, func(w http.ResponseWriter, r *http.Request) {
		var in sensorproto.SensorTokenRequest
		c.mu.Lock()
		defer c.mu.Unlock()
		if !decode(r, &in) || in.Key != c.Key {
			problem(w, http.StatusUnauthorized, "unknown sensor key")
			return
		}
		c.exchanges++
		c.issue(w)
	})
	mux.HandleFunc("POST "+sensorproto.PathKey, func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.authorised(r) {
			problem(w, http.StatusUnauthorized, "token")
			return
		}
		c.Key = "rmsk_test_" + randHex(8)
		c.rotations++
		json.NewEncoder(w).Encode(sensorproto.SensorKeyResponse{SensorID: c.SensorID, Key: c.Key})
	})
	mux.HandleFunc("POST "+sensorproto.PathReports, func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.authorised(r) {
			problem(w, http.StatusUnauthorized, "token")
			return
		}
		if r.Header.Get("Content-Encoding") != "gzip" {
			problem(w, http.StatusUnsupportedMediaType, "want Content-Encoding: gzip")
			return
		}
		rep, err := report.Decode(r.Body, report.DefaultLimits())
		if err != nil {
			c.rejected++
			problem(w, http.StatusBadRequest, err.Error())
			return
		}
		if c.faulty(w) {
			return
		}
		full := false
		if err := c.snap.Apply(rep); err != nil {
			full = true
		} else {
			c.reports = append(c.reports, rep)
		}
		c.received = append(c.received, Received{Kind: rep.Kind, Seq: rep.Seq, At: time.Now(), FullRequested: full})
		json.NewEncoder(w).Encode(sensorproto.Ack{NextReportSeconds: c.NextReportSeconds, FullReportRequested: full})
	})
	mux.HandleFunc("POST "+sensorproto.PathPoll, func(w http.ResponseWriter, r *http.Request) {
		var in sensorproto.PollRequest
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.authorised(r) {
			problem(w, http.StatusUnauthorized, "token")
			return
		}
		if !decode(r, &in) {
			problem(w, http.StatusBadRequest, "poll body")
			return
		}
		if c.faulty(w) {
			return
		}
		c.polls = append(c.polls, in.FreeScanSlots)
		c.pollTypes = in.ScanTypes
		var out []sensorproto.Command
		rest := c.commands[:0:0]
		slots := in.FreeScanSlots
		for _, cmd := range c.commands {
			if cmd.Kind == "cancel" || slots > 0 {
				if cmd.Kind == "scan" {
					slots--
				}
				out = append(out, cmd)
			} else {
				rest = append(rest, cmd)
			}
		}
		c.commands = rest
		json.NewEncoder(w).Encode(sensorproto.PollResponse{Commands: out})
	})
	mux.HandleFunc("POST "+sensorproto.PathScanStatus, func(w http.ResponseWriter, r *http.Request) {
		var st sensorproto.ScanStatus
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.authorised(r) {
			problem(w, http.StatusUnauthorized, "token")
			return
		}
		if !decode(r, &st) {
			problem(w, http.StatusBadRequest, "status body")
			return
		}
		c.statuses[r.PathValue("id")] = append(c.statuses[r.PathValue("id")], st)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT "+sensorproto.PathResults, func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.authorised(r) {
			problem(w, http.StatusUnauthorized, "token")
			return
		}
		res, err := sensorproto.DecodeResults(io.LimitReader(r.Body, sensorproto.MaxResultsGzip))
		if err != nil {
			problem(w, http.StatusBadRequest, err.Error())
			return
		}
		c.results[r.PathValue("id")] = res
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT "+sensorproto.PathInventory, func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.authorised(r) {
			problem(w, http.StatusUnauthorized, "token")
			return
		}
		inv, err := sensorproto.DecodeInventory(io.LimitReader(r.Body, sensorproto.MaxInventoryGzip))
		if err != nil {
			problem(w, http.StatusBadRequest, err.Error())
			return
		}
		c.inventories[r.PathValue("id")] = inv
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}
