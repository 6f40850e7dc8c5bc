package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/webhook"
	"github.com/riskmap/riskmap/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite schema/webhook-v1.json from the types")

const secret = "a signing secret of some length"

// schemaFile is the documented schema of a request body.
func schemaFile(t *testing.T) string {
	return filepath.Join(testenv.ModuleRoot(t), "schema", "webhook-v1.json")
}

// generateSchema is the JSON Schema of webhook.Body from its Go types
// (huma's generator, as the API's schemas).
func generateSchema() (huma.Registry, *huma.Schema, []byte) {
	reg := huma.NewMapRegistry("#/$defs/", huma.DefaultSchemaNamer)
	root := reg.Schema(reflect.TypeFor[webhook.Body](), false, "WebhookBody")
	doc := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         "https://github.com/riskmap/riskmap/schema/webhook-v1.json",
		"title":       "Riskmap webhook request body, schema version " + webhook.SchemaVersion,
		"description": "The JSON body Riskmap POSTs to a webhook destination. See docs/webhook.md.",
		"$defs":       reg.Map(),
	}
	b, _ := json.Marshal(root)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for k, v := range m {
		doc[k] = v
	}
	// The published schema lets receivers accept members added later to
	// version 1 (the test receiver validates strictly, with reg).
	b, _ = json.Marshal(doc)
	var open map[string]any
	_ = json.Unmarshal(b, &open)
	delete(open["$defs"].(map[string]any), "Body")
	dropClosed(open)
	out, _ := json.MarshalIndent(open, "", "  ")
	return reg, root, append(out, '\n')
}

func dropClosed(v any) {
	switch v := v.(type) {
	case map[string]any:
		if v["additionalProperties"] == false {
			delete(v, "additionalProperties")
		}
		for _, x := range v {
			dropClosed(x)
		}
	case []any:
		for _, x := range v {
			dropClosed(x)
		}
	}
}

// TestSchemaMatchesTypes keeps schema/webhook-v1.json in step with the
// types (go test ./internal/integrations/webhook -run Schema -update).
func TestSchemaMatchesTypes(t *testing.T) {
	_, _, got := generateSchema()
	if *update {
		if err := os.WriteFile(schemaFile(t), got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(schemaFile(t))
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("schema/webhook-v1.json is out of date; run go test ./internal/integrations/webhook -run Schema -update (-file +types):\n%s", d)
	}
}

// receiver is a loopback HTTPS webhook receiver that checks what a
// receiver should: the signature (with a 5-minute tolerance), the body
// against the documented schema, the idempotency key. Its answer to each
// request is the next of answers (then 200).
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	answers  []func(w http.ResponseWriter)
	bodies   []webhook.Body
	keys     []string
	headers  []http.Header
	problems []string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t}
	reg, root, _ := generateSchema()
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		fail := func(f string, a ...any) { r.problems = append(r.problems, fmt.Sprintf(f, a...)) }
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
			fail("%s with Content-Type %q", req.Method, req.Header.Get("Content-Type"))
		}
		if err := webhook.Verify([]byte(secret), req.Header.Get(webhook.HeaderSignature), body, time.Now(), 5*time.Minute); err != nil {
			fail("signature: %v", err)
		}
		var anyBody any
		if err := json.Unmarshal(body, &anyBody); err != nil {
			fail("body is not JSON: %v", err)
		}
		res := &huma.ValidateResult{}
		huma.Validate(reg, root, huma.NewPathBuffer([]byte{}, 0), huma.ModeReadFromServer, anyBody, res)
		for _, e := range res.Errors {
			fail("body against the schema: %v", e)
		}
		var b webhook.Body
		_ = json.Unmarshal(body, &b)
		r.bodies = append(r.bodies, b)
		r.keys = append(r.keys, req.Header.Get(webhook.HeaderIdempotency))
		r.headers = append(r.headers, req.Header.Clone())
		if len(r.answers) > 0 {
			a := r.answers[0]
			r.answers = r.answers[1:]
			a(w)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
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

func (r *receiver) config(settings map[string]string, secrets map[string]string) dest.Config {
	s := map[string]string{"url": r.srv.URL + "/hook?token=abc", "secret": secret}
	for k, v := range secrets {
		s[k] = v
	}
	return dest.Config{Name: "test", Settings: settings, Secrets: s, HTTP: r.srv.Client(), ConsoleURL: "https://console.example"}
}

func msg(i int) dest.Message {
	return dest.Message{Key: fmt.Sprintf("finding/host-1/CVE-2024-%04d/openssl@3.0.2", i), Event: dest.EventFindingNew, Time: time.Date(2026, 12, 1, 9, 0, i, 0, time.UTC),
		Severity: "critical", Title: fmt.Sprintf("CVE-2024-%04d in openssl", i), Text: "new finding",
		Findings: []dest.Finding{{VulnID: fmt.Sprintf("CVE-2024-%04d", i), Package: "openssl", Version: "3.0.2", Severity: "critical", RiskScore: 91, KEV: true,
			Node: &dest.Node{ID: "host-1", Kind: "host", Name: "web-1", Internet: true}}},
		Node: &dest.Node{ID: "host-1", Kind: "host", Name: "web-1", Internet: true}, Fields: map[string]string{"scanId": "s1"}}
}

func TestSendSignedOneByOneAndBatched(t *testing.T) {
	r := newReceiver(t)
	d, err := webhook.New(r.config(nil, map[string]string{"headers": "Authorization: Bearer xyz\nX-Team: sec"}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.Send(ctx, []dest.Message{msg(1), msg(2)}); err != nil {
		t.Fatal(err)
	}
	b, err := webhook.New(r.config(map[string]string{"batch": "2"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Send(ctx, []dest.Message{msg(3), msg(4), msg(5)}); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var got [][]string
	for _, body := range r.bodies {
		var keys []string
		for _, m := range body.Messages {
			keys = append(keys, m.IdempotencyKey)
			if m.IdempotencyKey != m.Event+":"+m.Key {
				t.Errorf("idempotency key %q of message %q", m.IdempotencyKey, m.Key)
			}
		}
		got = append(got, keys)
		if body.SchemaVersion != "1" || body.Source != "riskmap" || body.ConsoleURL != "https://console.example" {
			t.Errorf("envelope %+v", body)
		}
	}
	key := func(i int) string { return webhook.IdempotencyKey(msg(i)) }
	want := [][]string{{key(1)}, {key(2)}, {key(3), key(4)}, {key(5)}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}
	if r.keys[0] != key(1) || r.keys[3] != key(5) || !strings.HasPrefix(r.keys[2], "batch:") {
		t.Errorf("Idempotency-Key headers %q", r.keys)
	}
	if r.headers[0].Get("Authorization") != "Bearer xyz" || r.headers[0].Get("X-Team") != "sec" || r.headers[2].Get("Authorization") != "" {
		t.Errorf("extra headers: %v / %v", r.headers[0], r.headers[2])
	}
	if r.headers[2].Get(webhook.HeaderEvent) != "batch" || r.headers[0].Get(webhook.HeaderEvent) != dest.EventFindingNew {
		t.Errorf("event headers %q, %q", r.headers[0].Get(webhook.HeaderEvent), r.headers[2].Get(webhook.HeaderEvent))
	}
	if f := r.bodies[0].Messages[0].Findings[0]; f.VulnID != "CVE-2024-0001" || !f.KEV || f.Node == nil || f.Node.Name != "web-1" {
		t.Errorf("finding as received: %+v", f)
	}
}

func TestSendFailures(t *testing.T) {
	r := newReceiver(t)
	d, err := webhook.New(r.config(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	answer := func(status int, h map[string]string) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			for k, v := range h {
				w.Header().Set(k, v)
			}
			w.WriteHeader(status)
			io.WriteString(w, "nope")
		}
	}
	for _, c := range []struct {
		name       string
		answer     func(w http.ResponseWriter)
		retryable  bool
		retryAfter time.Duration
	}{
		{"too_many_requests", answer(429, map[string]string{"Retry-After": "7"}), true, 7 * time.Second},
		{"unavailable", answer(503, nil), true, 0},
		{"bad_request", answer(400, nil), false, 0},
		{"unauthorized", answer(401, nil), false, 0},
		{"redirect_elsewhere", answer(307, map[string]string{"Location": "https://192.0.2.1/other"}), true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			r.mu.Lock()
			r.answers = append(r.answers, c.answer)
			r.mu.Unlock()
			cfg := r.config(nil, nil)
			cfg.HTTP.CheckRedirect = func(req *http.Request, via []*http.Request) error {
				if req.URL.Host != via[0].URL.Host {
					return errors.New("redirect to another host refused")
				}
				return nil
			}
			d, err = webhook.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err := d.Send(context.Background(), []dest.Message{msg(1)})
			if err == nil {
				t.Fatal("no error")
			}
			retry, after := dest.IsRetryable(err)
			if retry != c.retryable || after != c.retryAfter {
				t.Errorf("%v: retryable %v after %s; want %v after %s", err, retry, after, c.retryable, c.retryAfter)
			}
			if strings.Contains(err.Error(), "token=abc") || strings.Contains(err.Error(), "/hook") {
				t.Errorf("the error shows the secret URL: %v", err)
			}
		})
	}
	// Nothing listening: retryable, and the URL's path is not in the error.
	cfg := r.config(nil, nil)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	cfg.Secrets["url"] = "https://" + l.Addr().String() + "/hook/s3cr3t"
	l.Close()
	d, err = webhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = d.Send(context.Background(), []dest.Message{msg(1)})
	if retry, _ := dest.IsRetryable(err); err == nil || !retry || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("closed port: %v (retryable %v)", err, retry)
	}
}

func TestNewRefusesBadSettings(t *testing.T) {
	for _, c := range []struct {
		name     string
		settings map[string]string
		secrets  map[string]string
		field    string
	}{
		{"no_url", nil, map[string]string{"secret": secret}, "url"},
		{"http_url", nil, map[string]string{"url": "http://example.com/x", "secret": secret}, "url"},
		{"relative_url", nil, map[string]string{"url": "/x", "secret": secret}, "url"},
		{"user_in_url", nil, map[string]string{"url": "https://u:p@example.com/x", "secret": secret}, "url"},
		{"short_secret", nil, map[string]string{"url": "https://example.com/x", "secret": "short"}, "secret"},
		{"bad_header", nil, map[string]string{"url": "https://example.com/x", "secret": secret, "headers": "no colon"}, "headers"},
		{"reserved_header", nil, map[string]string{"url": "https://example.com/x", "secret": secret, "headers": "Content-Type: text/plain"}, "headers"},
		{"batch_zero", map[string]string{"batch": "0"}, map[string]string{"url": "https://example.com/x", "secret": secret}, "batch"},
		{"batch_word", map[string]string{"batch": "many"}, map[string]string{"url": "https://example.com/x", "secret": secret}, "batch"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := webhook.New(dest.Config{Settings: c.settings, Secrets: c.secrets})
			if err == nil || !strings.HasPrefix(err.Error(), c.field+":") {
				t.Errorf("error %v; want one naming %s", err, c.field)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	body := []byte(`{"messages":[]}`)
	h := webhook.Sign([]byte(secret), now, body)
	for _, c := range []struct {
		name   string
		secret string
		header string
		body   []byte
		at     time.Time
		want   error
	}{
		{"valid", secret, h, body, now.Add(time.Minute), nil},
		{"rotating_two_signatures", secret, h + ",v1=00", body, now, nil},
		{"other_secret", "another secret of some length", h, body, now, webhook.ErrNoSignature},
		{"changed_body", secret, h, []byte(`{"messages":[1]}`), now, webhook.ErrNoSignature},
		{"replayed_later", secret, h, body, now.Add(6 * time.Minute), webhook.ErrOldSignature},
		{"no_timestamp", secret, "v1=abcd", body, now, webhook.ErrNoSignature},
		{"empty", secret, "", body, now, webhook.ErrNoSignature},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := webhook.Verify([]byte(c.secret), c.header, c.body, c.at, 5*time.Minute)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Errorf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}

func FuzzParseHeaders(f *testing.F) {
	f.Add("Authorization: Bearer x\nX-A: b")
	f.Add(": x\n\n")
	f.Add("Content-Type: a")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := webhook.ParseHeaders(s)
		if err != nil {
			return
		}
		for k, vs := range h {
			for _, v := range vs {
				if strings.ContainsAny(k+v, "\r\n\x00") {
					t.Fatalf("header %q: %q kept a control character", k, v)
				}
			}
		}
	})
}

func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add(webhook.Sign([]byte(secret), now, []byte("{}")), []byte("{}"))
	f.Add("t=1,v1=zz,v1=,=,t", []byte(nil))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := webhook.Verify([]byte(secret), header, body, now, 5*time.Minute)
		if err == nil && header != webhook.Sign([]byte(secret), now, body) && !strings.Contains(header, "v1=") {
			t.Fatalf("accepted %q without a v1 signature", header)
		}
	})
}
