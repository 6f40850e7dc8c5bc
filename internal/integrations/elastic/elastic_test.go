package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/desttest"
	"github.com/riskmap/riskmap/internal/integrations/fakes"
)

const stream = "logs-riskmap-default"

func newDest(t *testing.T, f *fakes.Elastic, settings, secrets map[string]string) dest.Destination {
	t.Helper()
	s := map[string]string{"url": f.URL(), "index": stream}
	for k, v := range settings {
		s[k] = v
	}
	if secrets == nil {
		secrets = map[string]string{"api_key": f.APIKey()}
	}
	d, err := Kind().New(dest.Config{Settings: s, Secrets: secrets, HTTP: f.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func all() []dest.Message {
	return []dest.Message{fakes.FindingMessage(), fakes.FixedMessage(), fakes.TestMessage(), fakes.ScanFailedMessage()}
}

func TestDataStreamAndRetry(t *testing.T) {
	f := fakes.NewElastic(t)
	f.AddDataStream(stream)
	d := newDest(t, f, nil, nil)
	for try := range 2 { // the second is a retry of the same batch
		if err := d.Send(context.Background(), all()); err != nil {
			t.Fatalf("Send %d: %v (rejected %v)", try, err, f.Rejected())
		}
	}
	docs := f.Docs(stream)
	if len(docs) != 4 {
		t.Fatalf("%d documents after a retry, want 4", len(docs))
	}
	var got map[string]any
	if err := json.Unmarshal(docs[0].Source, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"@timestamp": "2026-12-01T09:30:00Z",
		"event.kind": "state", "event.category": []any{"vulnerability"}, "event.action": "finding.new", "event.severity": 99.0,
		"vulnerability.id": "CVE-2024-3094", "vulnerability.severity": "Critical", "vulnerability.score.base": 10.0,
		"vulnerability.scanner.vendor": "Riskmap", "vulnerability.enumeration": "CVE",
		"package.name": "xz-utils", "package.version": "5.6.0-0.2", "host.name": "node-a.prod", "container.id": "4f2a9c",
		"orchestrator.cluster.name": "prod-eu", "orchestrator.namespace": "shop",
		"url.full": "https://console.example/findings/CVE-2024-3094?node=container:4f2a9c", "labels.scan": "scan-81",
	}
	flat := map[string]any{}
	flatten("", got, flat)
	for k, v := range want {
		if diff := cmp.Diff(v, flat[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	m := f.Mapping(stream)
	for field, typ := range map[string]string{"@timestamp": "date", "vulnerability.score.base": "float", "riskmap.risk_score": "float", "event.severity": "long"} {
		if m[field] != typ {
			t.Errorf("mapping of %s is %q, want %q", field, m[field], typ)
		}
	}
	var fixed map[string]any
	json.Unmarshal(docs[1].Source, &fixed)
	flat = map[string]any{}
	flatten("", fixed, flat)
	if flat["event.type"].([]any)[0] != "end" || flat["riskmap.resolve"] != true {
		t.Errorf("fixed document %v", flat)
	}
}

func flatten(prefix string, v any, out map[string]any) {
	if o, ok := v.(map[string]any); ok {
		for k, x := range o {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, x, out)
		}
		return
	}
	out[prefix] = v
}

func TestIndexWithBasicAuth(t *testing.T) {
	f := fakes.NewElastic(t)
	d := newDest(t, f, map[string]string{"target": "index", "index": "riskmap-events", "username": f.User()}, map[string]string{"password": f.Password()})
	for range 2 {
		if err := d.Send(context.Background(), all()); err != nil {
			t.Fatalf("Send: %v (rejected %v)", err, f.Rejected())
		}
	}
	docs := f.Docs("riskmap-events")
	if len(docs) != 4 || docs[0].Version != 2 {
		t.Fatalf("%d documents, version %d; want 4 at version 2", len(docs), docs[0].Version)
	}
}

func TestDigest(t *testing.T) {
	f := fakes.NewElastic(t)
	f.AddDataStream(stream)
	if err := newDest(t, f, nil, nil).Send(context.Background(), []dest.Message{fakes.DigestMessage(10000)}); err != nil {
		t.Fatalf("Send: %v (rejected %v)", err, f.Rejected())
	}
	if n := len(f.Docs(stream)); n != 10000 || f.Requests() < 2 {
		t.Errorf("%d documents in %d requests", n, f.Requests())
	}
}

func TestItemFailures(t *testing.T) {
	f := fakes.NewElastic(t)
	f.AddDataStream(stream)
	d := newDest(t, f, nil, nil)

	f.FailItems(429, 1)
	err := d.Send(context.Background(), all())
	if r, _ := dest.IsRetryable(err); err == nil || !r || !strings.Contains(err.Error(), "es_rejected_execution_exception") {
		t.Fatalf("an item refused with 429: %v, want retryable", err)
	}
	if err := d.Send(context.Background(), all()); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n := len(f.Docs(stream)); n != 4 {
		t.Errorf("%d documents after the retry, want 4", n)
	}

	f.FailItems(400, 1)
	m := fakes.TestMessage()
	m.Key = "another"
	err = d.Send(context.Background(), []dest.Message{m})
	if r, _ := dest.IsRetryable(err); err == nil || r {
		t.Errorf("an item refused with 400: %v, want permanent", err)
	}
}

func TestMappingConflictIsPermanent(t *testing.T) {
	f := fakes.NewElastic(t)
	// Someone else's document made vulnerability.score.base a long.
	seed := `{"index":{"_index":"shared"}}` + "\n" + `{"vulnerability":{"score":{"base":7}}}` + "\n"
	req, _ := http.NewRequest("POST", f.URL()+"/_bulk", bytes.NewBufferString(seed))
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "ApiKey "+f.APIKey())
	resp, err := f.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	m := fakes.FindingMessage()
	m.Findings[0].CVSS = 9.8
	err = newDest(t, f, map[string]string{"target": "index", "index": "shared"}, nil).Send(context.Background(), []dest.Message{m})
	if r, _ := dest.IsRetryable(err); err == nil || r || !strings.Contains(err.Error(), "document_parsing_exception") {
		t.Fatalf("mapping conflict: %v, want permanent", err)
	}
}

func TestIndexOpIntoDataStreamIsPermanent(t *testing.T) {
	f := fakes.NewElastic(t)
	f.AddDataStream(stream)
	err := newDest(t, f, map[string]string{"target": "index"}, nil).Send(context.Background(), all())
	if r, _ := dest.IsRetryable(err); err == nil || r || !strings.Contains(err.Error(), "op_type of create") {
		t.Fatalf("index op into a data stream: %v, want permanent", err)
	}
}

func TestErrors(t *testing.T) {
	start := func(secrets map[string]string) func(t *testing.T) desttest.Setup {
		return func(t *testing.T) desttest.Setup {
			f := fakes.NewElastic(t)
			f.AddDataStream(stream)
			return desttest.Setup{Fake: f.Server, Dest: newDest(t, f, nil, secrets), Secrets: []string{f.APIKey(), f.Password(), "d3JvbmctaWQ6d3Jvbmcta2V5"}}
		}
	}
	desttest.Failures(t, start(nil),
		desttest.Case{Name: "too_large", Failure: fakes.Failure{Status: 413}},
		desttest.Case{Name: "unreadable_answer", Failure: fakes.Failure{Status: 200, Body: `{"items":[`}, Retryable: true},
		desttest.Case{Name: "short_answer", Failure: fakes.Failure{Status: 200, Body: `{"errors":false,"items":[]}`}, Retryable: true},
	)
	s := start(map[string]string{"api_key": "d3JvbmctaWQ6d3Jvbmcta2V5"})(t)
	err := s.Dest.Send(context.Background(), all())
	if r, _ := dest.IsRetryable(err); err == nil || r || strings.Contains(err.Error(), "d3JvbmctaWQ6d3Jvbmcta2V5") {
		t.Fatalf("Send with a wrong key = %v, want permanent, without the key", err)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		settings, secrets map[string]string
		want              string
	}{
		{map[string]string{}, nil, "url: required"},
		{map[string]string{"url": "https://es:9200", "index": "Riskmap"}, nil, "index \"Riskmap\": must be lowercase"},
		{map[string]string{"url": "https://es:9200", "target": "alias"}, nil, "target"},
		{map[string]string{"url": "https://es:9200", "username": "u"}, map[string]string{"api_key": "k"}, "set one of them"},
		{map[string]string{"url": "https://es:9200", "username": "u"}, nil, "password: required"},
		{map[string]string{"url": "https://es:9200"}, map[string]string{"password": "SECRET"}, "username: required"},
	} {
		desttest.CheckNew(t, Kind(), dest.Config{Settings: tc.settings, Secrets: tc.secrets}, tc.want)
	}
}

func TestFloat(t *testing.T) {
	for in, want := range map[float64]string{10: "10.0", 9.8: "9.8", 0: "0.0", 1e21: "1000000000000000000000.0", math.NaN(): "null"} {
		b, _ := json.Marshal(Float(in))
		if string(b) != want {
			t.Errorf("Float(%v) = %s, want %s", in, b, want)
		}
	}
}

func FuzzCheckBulk(f *testing.F) {
	for _, s := range []string{
		`{"errors":false,"items":[{"create":{"_index":"x","_id":"1","status":201,"result":"created"}}]}`,
		`{"errors":true,"items":[{"create":{"_id":"1","status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}}]}`,
		`{"errors":true,"items":[{"index":{"_id":"1","status":429,"error":{"type":"es_rejected_execution_exception","reason":"busy"}}}]}`,
		`{"errors":true,"items":[{"index":{"status":400,"error":{"type":"document_parsing_exception","reason":"bad"}}}]}`,
		`{"items":[{}]}`, `{"items":null}`, `[`, ``,
	} {
		f.Add([]byte(s), 1)
	}
	f.Fuzz(func(t *testing.T, b []byte, want int) {
		err := CheckBulk(b, want)
		if err == nil {
			var a BulkAnswer
			if json.Unmarshal(b, &a) != nil || len(a.Items) != want {
				t.Errorf("accepted %q for %d operations", b, want)
			}
		}
	})
}
