package integrations_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/integrations"
	"github.com/riskmap/riskmap/internal/store"
)

// apiEnv is a console serving the integrations module over HTTPS, with a
// signed-in admin.
type apiEnv struct {
	*env
	t       *testing.T
	base    string
	hc      *http.Client
	dataDir string
}

func startAPI(t *testing.T, url string, r *receiver) *apiEnv {
	t.Helper()
	e := newEnv(t, newClock(), envOpts{url: url, roots: r.pool()})
	cfg := config.DefaultConsole()
	cfg.DataDir, cfg.Listen = t.TempDir(), "127.0.0.1:0"
	cfg.Argon2MemoryKiB, cfg.Argon2Iterations = 64, 1
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := console.New(ctx, console.Options{Config: cfg, Store: e.st, Now: e.clk.Now, Version: "test", Modules: []console.Module{e.svc}})
	if err != nil {
		t.Fatal(err)
	}
	run, err := srv.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = run.Wait() })
	pemBytes, err := os.ReadFile(filepath.Join(cfg.DataDir, "tls", "console.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	jar, _ := cookiejar.New(nil)
	a := &apiEnv{env: e, t: t, base: "https://" + run.Addr.String(), dataDir: cfg.DataDir,
		hc: &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	a.must(http.StatusCreated, "POST", "/api/v1/auth/register", map[string]string{"email": "ada@example.com", "password": "correct horse battery staple",
		"name": "Ada", "organisation": "Acme"}, nil)
	return a
}

type apiResp struct {
	status int
	body   []byte
}

func (a *apiEnv) do(method, path string, body any) apiResp {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, c := range a.hc.Jar.Cookies(req.URL) {
		if c.Name == console.CSRFCookie {
			req.Header.Set(console.CSRFHeader, c.Value)
		}
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiResp{resp.StatusCode, b}
}

func (a *apiEnv) must(status int, method, path string, body, out any) apiResp {
	a.t.Helper()
	r := a.do(method, path, body)
	if r.status != status {
		a.t.Fatalf("%s %s: %d %s; want %d", method, path, r.status, r.body, status)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			a.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return r
}

type auditEntry struct {
	Action string          `json:"action"`
	Target string          `json:"target"`
	Actor  string          `json:"actor"`
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

func (a *apiEnv) audit() []auditEntry {
	var l struct {
		Items []auditEntry `json:"items"`
	}
	a.must(http.StatusOK, "GET", "/api/v1/audit?limit=500&action=integration.", nil, &l)
	return l.Items
}

// TestAPI goes through the integrations API as an admin: kinds and their
// forms; a destination whose secrets are answered only as set (with a
// hint for its URL) and are nowhere in the database file in clear;
// errors that name the member at fault; rules; a test send that reaches
// the receiver and shows in the history; every change audited without a
// secret; deletion that takes the secrets with it.
func TestAPI(t *testing.T) {
	r := newReceiver(t)
	url := filepath.Join(t.TempDir(), "riskmap.db")
	a := startAPI(t, url, r)
	token := strings.TrimPrefix(r.path, "/hooks/")
	secretValues := []string{token, signingSecret, "Bearer sk-live-abcdef123456"}

	var kinds struct {
		Items []integrations.KindInfo `json:"items"`
	}
	a.must(http.StatusOK, "GET", "/api/v1/integrations/kinds", nil, &kinds)
	var names []string
	for _, k := range kinds.Items {
		names = append(names, k.Name)
	}
	if d := cmp.Diff([]string{"slack", "teams", "pagerduty", "jira", "splunk", "elasticsearch", "sumologic", "s3", "email", "webhook"}, names); d != "" {
		t.Fatalf("kinds (-want +got):\n%s", d)
	}
	if wh := kinds.Items[len(kinds.Items)-1]; len(wh.Fields) < 3 || !wh.Fields[0].Secret {
		t.Fatalf("webhook kind: %+v", wh)
	}

	// Refusals name what is wrong; nothing is stored or audited.
	for _, c := range []struct {
		body any
		want string
	}{
		{map[string]any{"kind": "carrier-pigeon", "name": "x"}, "kind:"},
		{map[string]any{"kind": "webhook", "name": "x", "secrets": map[string]string{"url": "http://" + r.srv.Listener.Addr().String() + "/h", "secret": signingSecret}}, "url:"},
		{map[string]any{"kind": "webhook", "name": "x", "secrets": map[string]string{"url": r.url(), "secret": "short"}}, "secret:"},
		{map[string]any{"kind": "webhook", "name": "x", "settings": map[string]string{"url": r.url()}, "secrets": map[string]string{"secret": signingSecret}}, "settings.url"},
		{map[string]any{"kind": "webhook", "name": "x", "colour": "red"}, "colour"},
		{map[string]any{"kind": "webhook", "name": "x", "secrets": map[string]string{"url": r.url(), "secret": signingSecret}, "caCert": "not a certificate"}, "caCert:"},
	} {
		resp := a.do("POST", "/api/v1/integrations/destinations", c.body)
		if resp.status < 400 || resp.status >= 500 || !strings.Contains(string(resp.body), c.want) {
			t.Errorf("POST %v: %d %s; want a 4xx naming %s", c.body, resp.status, resp.body, c.want)
		}
		for _, v := range secretValues {
			if strings.Contains(string(resp.body), v) {
				t.Errorf("the refusal echoes a secret: %s", resp.body)
			}
		}
	}
	if got := a.audit(); len(got) != 0 {
		t.Fatalf("refused changes audited: %+v", got)
	}

	var d integrations.Destination
	created := a.must(http.StatusCreated, "POST", "/api/v1/integrations/destinations", map[string]any{"kind": "webhook", "name": "SOC webhook",
		"secrets":  map[string]string{"url": r.url(), "secret": signingSecret, "headers": "Authorization: Bearer sk-live-abcdef123456"},
		"settings": map[string]string{"batch": "2"}}, &d)
	if d.Secrets["url"] != (integrations.SecretState{Set: true, Hint: "https://127.0.0.1/…"}) || !d.Secrets["secret"].Set || !d.Secrets["headers"].Set ||
		d.Settings["batch"] != "2" || d.CreatedBy != "ada@example.com" {
		t.Errorf("created: %+v", d)
	}
	a.must(http.StatusConflict, "POST", "/api/v1/integrations/destinations", map[string]any{"kind": "webhook", "name": "SOC webhook",
		"secrets": map[string]string{"url": r.url(), "secret": signingSecret}}, nil)
	list := a.must(http.StatusOK, "GET", "/api/v1/integrations/destinations", nil, nil)
	one := a.must(http.StatusOK, "GET", "/api/v1/integrations/destinations/"+d.ID, nil, nil)
	// A change: a new name, the secrets kept ("" and absent).
	upd := a.must(http.StatusOK, "PUT", "/api/v1/integrations/destinations/"+d.ID, map[string]any{"name": "SOC", "secrets": map[string]string{"url": ""}}, &d)
	if d.Name != "SOC" || !d.Secrets["url"].Set {
		t.Errorf("updated: %+v", d)
	}
	a.must(http.StatusBadRequest, "PUT", "/api/v1/integrations/destinations/"+d.ID, map[string]any{"kind": "slack"}, nil)
	a.must(http.StatusNotFound, "PUT", "/api/v1/integrations/destinations/nope", map[string]any{"name": "x"}, nil)

	var rule integrations.Rule
	if resp := a.do("POST", "/api/v1/integrations/rules", map[string]any{"destinationId": d.ID, "name": "r", "events": []string{"finding.old"}}); resp.status != 400 ||
		!strings.Contains(string(resp.body), "events:") {
		t.Errorf("bad rule: %d %s", resp.status, resp.body)
	}
	a.must(http.StatusCreated, "POST", "/api/v1/integrations/rules", map[string]any{"destinationId": d.ID, "name": "critical now",
		"events": []string{"finding.new", "finding.kev_reachable"}, "filter": map[string]any{"minSeverity": "critical", "clusters": []string{"prod-*"}}}, &rule)
	a.must(http.StatusOK, "PUT", "/api/v1/integrations/rules/"+rule.ID, map[string]any{"name": "critical daily", "events": []string{"finding.new"},
		"mode": "digest", "digestMinutes": 1440}, &rule)
	if rule.Mode != "digest" || rule.NextDigestAt == nil {
		t.Errorf("rule after update: %+v", rule)
	}
	var rules struct {
		Items []integrations.Rule `json:"items"`
	}
	a.must(http.StatusOK, "GET", "/api/v1/integrations/rules?destinationId="+d.ID, nil, &rules)
	if len(rules.Items) != 1 || rules.Items[0].Name != "critical daily" {
		t.Errorf("rules: %+v", rules.Items)
	}

	var res integrations.TestResult
	a.must(http.StatusOK, "POST", "/api/v1/integrations/destinations/"+d.ID+"/test", nil, &res)
	if !res.Delivered || r.count() != 1 || r.messages()[0].Event != "test" {
		t.Fatalf("test send: %+v, receiver got %d", res, r.count())
	}
	var hist struct {
		Items []integrations.Delivery `json:"items"`
	}
	a.must(http.StatusOK, "GET", "/api/v1/integrations/destinations/"+d.ID+"/deliveries", nil, &hist)
	if len(hist.Items) != 1 || hist.Items[0].Outcome != integrations.OutcomeTest {
		t.Errorf("history: %+v", hist.Items)
	}
	a.must(http.StatusOK, "GET", "/api/v1/integrations/destinations/"+d.ID+"/dead", nil, nil)
	var retried struct{ Retried int }
	a.must(http.StatusOK, "POST", "/api/v1/integrations/destinations/"+d.ID+"/dead/retry", map[string]any{}, &retried)
	a.must(http.StatusNotFound, "DELETE", "/api/v1/integrations/destinations/"+d.ID+"/dead/nope", nil, nil)
	a.must(http.StatusNoContent, "DELETE", "/api/v1/integrations/rules/"+rule.ID, nil, nil)

	// No answer and no audit entry carries a secret; the database file
	// (and its WAL) holds none in clear.
	entries := a.audit()
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	want := "integration.rule.delete integration.test integration.rule.update integration.rule.create integration.update integration.create"
	if strings.Join(actions, " ") != want {
		t.Errorf("audited %v; want %s", actions, want)
	}
	auditJSON, _ := json.Marshal(entries)
	if !strings.Contains(string(auditJSON), `"secretsSet":["headers","secret","url"]`) || !strings.Contains(string(auditJSON), `SOC webhook`) {
		t.Errorf("the audit of the destination: %s", auditJSON)
	}
	var raw [][]byte
	raw = append(raw, created.body, list.body, one.body, upd.body, auditJSON)
	for _, f := range []string{url, url + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		raw = append(raw, b)
	}
	if onDisk := append(append([]byte{}, raw[5]...), raw[6]...); !bytes.Contains(onDisk, []byte("SOC webhook")) {
		t.Fatal("the database files do not hold the destination: the check below would prove nothing")
	}
	for i, b := range raw {
		for _, v := range secretValues {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("secret %.8q… in clear in %s", v, []string{"the create answer", "the list", "the destination", "the update answer", "the audit log", "the database file", "its WAL"}[i])
			}
		}
	}

	a.must(http.StatusNoContent, "DELETE", "/api/v1/integrations/destinations/"+d.ID, nil, nil)
	var n int
	if err := a.st.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM secrets WHERE owner = 'integrations'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("secrets left after the deletion: %d, %v", n, err)
	}
	if got := a.audit(); got[0].Action != store.AuditIntegrationDelete || got[0].After != nil && string(got[0].After) != "null" {
		t.Errorf("deletion audit: %+v", got[0])
	}
}
