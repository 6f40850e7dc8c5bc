package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/integrations/webhook"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/topology"
)

// notifyBench measures event-to-delivery latency through the console's
// integrations while the sensors report: a loopback HTTPS webhook
// receiver (the console trusts it through the destination's CA
// certificate), a webhook destination and a rule made through the API,
// and findings.new events written to the console's event outbox at a
// steady rate, as the findings module writes them (this process opens
// the console's database; on SQLite that is a second writer on the file,
// which the latency includes). Latency is from an event's commit to the
// receiver's receipt of its message.
type notifyBench struct {
	c      *console
	st     *store.Store
	recv   *httptest.Server
	secret string

	mu        sync.Mutex
	committed map[string]time.Time
	arrived   map[string]time.Time
	dups      int
	bad       int
}

func startNotify(c *console) (*notifyBench, error) {
	n := &notifyBench{c: c, secret: "loadgen-webhook-secret-0123456789", committed: map[string]time.Time{}, arrived: map[string]time.Time{}}
	n.recv = httptest.NewUnstartedServer(http.HandlerFunc(n.serve))
	n.recv.Config.ErrorLog = log.New(io.Discard, "", 0)
	n.recv.Listener.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	n.recv.Listener = l
	n.recv.StartTLS()
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: n.recv.Certificate().Raw}))
	var d struct{ ID string }
	if err := c.api(http.MethodPost, "/api/v1/integrations/destinations", map[string]any{"kind": "webhook", "name": "loadgen receiver",
		"secrets": map[string]string{"url": n.recv.URL + "/hook", "secret": n.secret}, "settings": map[string]string{"batch": "100"},
		"caCert": ca, "ratePerMinute": 6000}, &d); err != nil {
		n.recv.Close()
		return nil, err
	}
	if err := c.api(http.MethodPost, "/api/v1/integrations/rules", map[string]any{"destinationId": d.ID, "name": "every new finding",
		"events": []string{"finding.new"}}, nil); err != nil {
		n.recv.Close()
		return nil, err
	}
	n.st, err = store.Open(context.Background(), store.Config{URL: c.database, DataDir: c.dataDir})
	if err != nil {
		n.recv.Close()
		return nil, fmt.Errorf("open the console's database: %w", err)
	}
	return n, nil
}

func (n *notifyBench) close() {
	n.recv.Close()
	n.st.Close()
}

func (n *notifyBench) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(r.Body)
	if webhook.Verify([]byte(n.secret), r.Header.Get(webhook.HeaderSignature), body, now, 5*time.Minute) != nil {
		n.mu.Lock()
		n.bad++
		n.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var b webhook.Body
	if err := json.Unmarshal(body, &b); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	for _, m := range b.Messages {
		if _, ok := n.arrived[m.Key]; ok {
			n.dups++
			continue
		}
		n.arrived[m.Key] = now
	}
	n.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// run writes perSecond findings.new events a second, each of one new
// finding on a simulated host, until ctx ends.
func (n *notifyBench) run(ctx context.Context, perSecond float64, hosts []string) {
	t := time.NewTicker(time.Duration(float64(time.Second) / perSecond))
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		host := topology.HostNodeID(hosts[i%len(hosts)])
		ref := findings.FindingRef{ID: fmt.Sprintf("bench-%d", i), VulnID: fmt.Sprintf("CVE-2099-%06d", i), Package: "openssl", Version: "3.0.2",
			Ecosystem: "Debian:12", Severity: "high", RiskScore: 70}
		ev := findings.FindingsNew{ScanID: "loadgen", Target: findings.Target{NodeID: host, Kind: "host"}, Findings: []findings.FindingRef{ref}}
		err := n.st.Tx(ctx, func(tx store.Querier) error { return events.Publish(ctx, tx, time.Now(), ev) })
		if err != nil {
			if ctx.Err() == nil {
				fmt.Println("   notify: publish:", err)
			}
			continue
		}
		key := "finding/" + host + "/" + ref.VulnID + "/" + ref.Package + "@" + ref.Version
		n.mu.Lock()
		n.committed[key] = time.Now()
		n.mu.Unlock()
	}
}

// report waits (up to wait) for every published event's message and
// prints the latency figures.
func (n *notifyBench) report(wait time.Duration) {
	deadline := time.Now().Add(wait)
	for {
		n.mu.Lock()
		missing := 0
		for k := range n.committed {
			if _, ok := n.arrived[k]; !ok {
				missing++
			}
		}
		n.mu.Unlock()
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var lat []time.Duration
	missing := 0
	for k, c := range n.committed {
		a, ok := n.arrived[k]
		if !ok {
			missing++
			continue
		}
		lat = append(lat, a.Sub(c))
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "   integrations: %d findings.new events → webhook on loopback HTTPS (batch 100): event committed to message received p50 %s, p99 %s, max %s   [goal p99 < 2s]\n",
		len(n.committed), pct(lat, 0.5).Round(time.Millisecond), pct(lat, 0.99).Round(time.Millisecond), pct(lat, 1).Round(time.Millisecond))
	fmt.Fprintf(&b, "      not delivered within %s after the step: %d; copies dropped by the receiver: %d; bad signatures: %d", wait, missing, n.dups, n.bad)
	fmt.Println(strings.TrimRight(b.String(), "\n"))
}

// api calls the console's API with the load generator's API key.
func (c *console) api(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}
