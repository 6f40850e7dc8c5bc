package integrations_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/integrations"
	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/webhook"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/secrets"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/topology"
)

const signingSecret = "whsec-integration-tests-0123456789"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

// fakeNodes describes nodes the test adds, as the topology's Describe does.
type fakeNodes struct {
	mu sync.Mutex
	m  map[string]topology.NodeContext
}

func (f *fakeNodes) add(n topology.NodeContext) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]topology.NodeContext{}
	}
	f.m[n.ID] = n
}

func (f *fakeNodes) Describe(ids ...string) map[string]topology.NodeContext {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]topology.NodeContext{}
	for _, id := range ids {
		if n, ok := f.m[id]; ok {
			out[id] = n
		}
	}
	return out
}

// env is the integrations module as the console runs it: a store, the
// vault, the job system and the event bus running, on a clock the test
// moves.
type env struct {
	t      testing.TB
	st     *store.Store
	clk    *testenv.Clock
	q      *jobs.Queue
	bus    *events.Bus
	svc    *integrations.Service
	nodes  *fakeNodes
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type envOpts struct {
	url      string
	keyFile  string
	roots    *x509.CertPool
	delivery integrations.DeliveryConfig
	noRun    bool
	kinds    []dest.Kind // nil: integrations.Kinds()
}

func newEnv(t testing.TB, clk *testenv.Clock, o envOpts) *env {
	t.Helper()
	if o.keyFile == "" {
		o.keyFile = filepath.Join(t.TempDir(), "secrets.key")
	}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	e, err := buildEnv(clk.Now, o, log)
	if err != nil {
		t.Fatal(err)
	}
	e.t, e.clk = t, clk
	t.Cleanup(e.stop)
	return e
}

// buildEnv builds (and unless o.noRun runs) the module's stack; the test
// process and the child processes of the kill test share it.
func buildEnv(now func() time.Time, o envOpts, log *slog.Logger) (*env, error) {
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, store.Config{URL: o.url, Now: now})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open store: %w", err)
	}
	ring, err := secrets.LoadKeyring(o.keyFile, true)
	if err != nil {
		cancel()
		st.Close()
		return nil, err
	}
	vault := secrets.NewVault(st, ring, log, now)
	q := jobs.New(st, jobs.Config{PollEvery: 10 * time.Millisecond, RescueEvery: 100 * time.Millisecond, Now: now, Logger: log})
	bus := events.New(st, events.Config{PollEvery: 10 * time.Millisecond, Lease: time.Second, Now: now, Logger: log})
	nodes := &fakeNodes{}
	if o.delivery.BackoffBase == 0 {
		o.delivery = integrations.DeliveryConfig{BackoffBase: 2 * time.Second, BackoffMax: 5 * time.Minute, Lease: 2 * time.Second}
	}
	if o.delivery.Linger == 0 {
		// Tests move their clock by minutes at a time: a flush job waiting
		// for more messages would outlive its lease on that clock and be
		// rescued. TestStreamSentByOneJob and the kill test's child (a
		// real clock) linger as the console does.
		o.delivery.Linger = -1
	}
	svc := integrations.New(integrations.Config{Store: st, Jobs: q, Vault: vault, Nodes: nodes, Kinds: o.kinds, ConsoleURL: "https://console.test",
		HTTP: integrations.HTTPConfig{RootCAs: o.roots, Timeout: 5 * time.Second}, Delivery: o.delivery, Logger: log, Now: now})
	q.MustRegister(svc.DeliverKind(), svc.DigestKind(), svc.PruneKind())
	bus.MustSubscribe(svc.RouteConsumer())
	if err := bus.Init(ctx); err != nil {
		cancel()
		st.Close()
		return nil, err
	}
	e := &env{st: st, q: q, bus: bus, svc: svc, nodes: nodes, cancel: cancel}
	if !o.noRun {
		e.wg.Add(2)
		go func() { defer e.wg.Done(); _ = q.Run(ctx) }()
		go func() { defer e.wg.Done(); _ = bus.Run(ctx) }()
	}
	return e, nil
}

func (e *env) stop() {
	e.cancel()
	e.wg.Wait()
	e.st.Close()
}

// forEachBackend runs fn on SQLite and PostgreSQL.
func forEachBackend(t *testing.T, fn func(t *testing.T, url string)) {
	for _, b := range testenv.Backends {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.URL(t)) })
	}
}

func newClock() *testenv.Clock {
	return testenv.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
}

// publish writes events as their modules do, and wakes the bus.
func (e *env) publish(evs ...events.Typed) {
	e.t.Helper()
	if err := e.st.Tx(context.Background(), func(tx store.Querier) error {
		return events.Publish(context.Background(), tx, e.clk.Now(), evs...)
	}); err != nil {
		e.t.Fatal(err)
	}
	e.bus.Notify()
}

// webhookDest creates a webhook destination to r and a rule for it.
func (e *env) webhookDest(r *receiver, name string, settings map[string]string, rule integrations.RuleInput) (integrations.Destination, integrations.Rule) {
	e.t.Helper()
	d, err := e.svc.CreateDestination(context.Background(), integrations.DestinationInput{Kind: webhook.Name, Name: name, Settings: settings,
		Secrets: map[string]string{"url": r.url(), "secret": signingSecret}, RatePerMinute: 6000})
	if err != nil {
		e.t.Fatal(err)
	}
	rule.DestinationID = d.ID
	if rule.Name == "" {
		rule.Name = name + " rule"
	}
	ru, err := e.svc.CreateRule(context.Background(), rule)
	if err != nil {
		e.t.Fatal(err)
	}
	return d, ru
}

// waitFor polls ok until it holds; the deadline only bounds a test that
// would otherwise hang (no timing is asserted).
func waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// receiver is a loopback HTTPS webhook receiver that behaves as a careful
// one does: it verifies each signature, keeps each message once by its
// idempotency key (counting the copies), and records arrival order. What
// it answers is set by the test.
type receiver struct {
	t    testing.TB
	srv  *httptest.Server
	path string

	mu       sync.Mutex
	down     bool                          // 503 to everything
	refuse   func(m webhook.Message) bool  // 400 when a message of the request matches
	next     []func(w http.ResponseWriter) // answers for the next requests
	delay    time.Duration                 // before answering
	requests int
	lastBody int
	got      []webhook.Message // each message once, in order of first arrival
	arrived  []time.Time
	seen     map[string]bool
	dups     int
	problems []string
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{t: t, seen: map[string]bool{}, path: "/hooks/tok-" + fmt.Sprint(time.Now().UnixNano())}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.srv.Listener.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.srv.Listener = l
	r.srv.StartTLS()
	t.Cleanup(func() {
		r.srv.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, p := range r.problems {
			t.Errorf("receiver: %s", p)
		}
	})
	return r
}

func (r *receiver) url() string { return r.srv.URL + r.path }

// pool trusts the receiver's certificate.
func (r *receiver) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(r.srv.Certificate())
	return p
}

// caPEM is the receiver's certificate in PEM.
func (r *receiver) caPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw}))
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	delay := r.delay
	r.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	r.lastBody = len(body)
	if req.URL.Path != r.path {
		r.problems = append(r.problems, "request to "+req.URL.Path)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if err := webhook.Verify([]byte(signingSecret), req.Header.Get(webhook.HeaderSignature), body, time.Now(), 5*time.Minute); err != nil {
		r.problems = append(r.problems, "signature: "+err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var b webhook.Body
	if err := json.Unmarshal(body, &b); err != nil {
		r.problems = append(r.problems, "body: "+err.Error())
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.down {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if len(r.next) > 0 {
		a := r.next[0]
		r.next = r.next[1:]
		a(w)
		return
	}
	for _, m := range b.Messages {
		if r.refuse != nil && r.refuse(m) {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"refused `+m.Key+`"}`)
			return
		}
	}
	for _, m := range b.Messages {
		if r.seen[m.IdempotencyKey] {
			r.dups++
			continue
		}
		r.seen[m.IdempotencyKey] = true
		r.got = append(r.got, m)
		r.arrived = append(r.arrived, time.Now())
	}
	w.WriteHeader(http.StatusOK)
}

func (r *receiver) set(f func(r *receiver)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

func (r *receiver) messages() []webhook.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]webhook.Message(nil), r.got...)
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func (r *receiver) lastSize() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastBody
}

func (r *receiver) requestCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

func keys(ms []webhook.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Event + " " + m.Key
	}
	return out
}

// finding builds a finding reference.
func finding(vuln, sev string, score float64, kev bool) findings.FindingRef {
	return findings.FindingRef{ID: "f-" + vuln, VulnID: vuln, Package: "openssl", Version: "3.0.2", Ecosystem: "Debian:12", Severity: sev, RiskScore: score, KEV: kev}
}

func newFindings(node string, fs ...findings.FindingRef) findings.FindingsNew {
	return findings.FindingsNew{ScanID: "scan-" + node, Target: findings.Target{NodeID: node, SensorID: "s1", Kind: "host", Ref: node}, Findings: fs}
}

func history(t testing.TB, e *env, destID string) []integrations.Delivery {
	t.Helper()
	var all []integrations.Delivery
	cursor := ""
	for {
		ds, next, err := e.svc.Deliveries(context.Background(), destID, integrations.Page{Before: cursor, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ds...)
		if next == "" {
			return all
		}
		cursor = next
	}
}

func outcomes(ds []integrations.Delivery) map[string]int {
	out := map[string]int{}
	for _, d := range ds {
		out[d.Outcome]++
	}
	return out
}

// delivered counts the messages the history says were delivered.
func delivered(ds []integrations.Delivery) int {
	n := 0
	for _, d := range ds {
		if d.Outcome == integrations.OutcomeDelivered {
			n += d.Messages
		}
	}
	return n
}

// idle waits until no flush job runs (a failed attempt has been recorded
// and snoozed), so that the test's clock moves after it.
func (e *env) idle(t testing.TB) {
	t.Helper()
	waitFor(t, "no running flush job", func() bool {
		js, err := e.q.List(context.Background(), jobs.Filter{Kind: integrations.KindDeliver, State: jobs.Running})
		return err == nil && len(js) == 0
	})
}

// severities lists the messages' titles' first word (the vulnerability).
func vulns(ms []webhook.Message) []string {
	var out []string
	for _, m := range ms {
		for _, f := range m.Findings {
			out = append(out, f.VulnID)
		}
	}
	return out
}

var _ = dest.EventTest
var _ = strings.Contains
