package e2e

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/integrations/webhook"
)

// webhookReceiver is a loopback HTTPS webhook receiver for the browser
// test's integrations step: it accepts only requests whose signature
// verifies and records the events it received.
type webhookReceiver struct {
	srv    *httptest.Server
	secret string
	path   string

	mu       sync.Mutex
	events   []string
	problems []string
}

func startWebhookReceiver(t *testing.T) *webhookReceiver {
	t.Helper()
	w := &webhookReceiver{secret: "e2e-signing-secret-0123456789", path: "/hooks/e2e-token-6f1c"}
	w.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		defer w.mu.Unlock()
		if err := webhook.Verify([]byte(w.secret), r.Header.Get(webhook.HeaderSignature), body, time.Now(), 5*time.Minute); err != nil || r.URL.Path != w.path {
			w.problems = append(w.problems, r.URL.Path+": "+r.Header.Get(webhook.HeaderSignature))
			rw.WriteHeader(http.StatusUnauthorized)
			return
		}
		var b webhook.Body
		if err := json.Unmarshal(body, &b); err != nil {
			w.problems = append(w.problems, "body: "+err.Error())
			rw.WriteHeader(http.StatusBadRequest)
			return
		}
		for _, m := range b.Messages {
			w.events = append(w.events, m.Event)
		}
		rw.WriteHeader(http.StatusNoContent)
	}))
	w.srv.Listener.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.srv.Listener = l
	w.srv.StartTLS()
	t.Cleanup(w.srv.Close)
	return w
}

// env is what console.mjs needs to add the receiver as a destination.
func (w *webhookReceiver) env() []string {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.srv.Certificate().Raw})
	return []string{"RISKMAP_E2E_WEBHOOK_URL=" + w.srv.URL + w.path, "RISKMAP_E2E_WEBHOOK_SECRET=" + w.secret, "RISKMAP_E2E_WEBHOOK_CA=" + string(ca)}
}

// check says what the receiver got: the browser's test message, signed.
func (w *webhookReceiver) check(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.problems {
		t.Errorf("webhook receiver refused a request: %s", p)
	}
	if len(w.events) != 1 || w.events[0] != "test" {
		t.Errorf("webhook receiver got %v; want the one test message sent from the browser", w.events)
	}
}
