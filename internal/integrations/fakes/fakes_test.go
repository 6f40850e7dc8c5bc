package fakes

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

func post(t *testing.T, s *Server, url string, header map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type refusal struct {
	name   string
	body   string
	status int
	answer string // in the answer's body
}

func check(t *testing.T, s *Server, url string, header map[string]string, tests []refusal) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, s, url, header, tc.body)
			if status != tc.status || !strings.Contains(body, tc.answer) {
				t.Errorf("%s: %d %q, want %d with %q (rejections %v)", tc.name, status, body, tc.status, tc.answer, s.Rejected())
			}
		})
	}
}

func TestSlackRefuses(t *testing.T) {
	f := NewSlack(t)
	long := strings.Repeat("x", 151)
	check(t, f.Server, f.WebhookURL(), nil, []refusal{
		{"accepted", `{"text":"hi","blocks":[{"type":"divider"}]}`, 200, "ok"},
		{"not_json", `{`, 400, "invalid_payload"},
		{"no_text", `{}`, 400, "no_text"},
		{"unknown_block", `{"blocks":[{"type":"carousel"}]}`, 400, "invalid_blocks"},
		{"long_header", `{"blocks":[{"type":"header","text":{"type":"plain_text","text":"` + long + `"}}]}`, 400, "invalid_blocks"},
		{"mrkdwn_header", `{"blocks":[{"type":"header","text":{"type":"mrkdwn","text":"x"}}]}`, 400, "invalid_blocks"},
		{"empty_section", `{"blocks":[{"type":"section"}]}`, 400, "invalid_blocks"},
		{"eleven_fields", `{"blocks":[{"type":"section","fields":[` + strings.Repeat(`{"type":"mrkdwn","text":"a"},`, 10) + `{"type":"mrkdwn","text":"a"}]}]}`, 400, "invalid_blocks"},
		{"unknown_member", `{"blocks":[{"type":"divider","colour":"red"}]}`, 400, "invalid_blocks"},
		{"51_blocks", `{"blocks":[` + strings.Repeat(`{"type":"divider"},`, 50) + `{"type":"divider"}]}`, 400, "invalid_blocks"},
	})
	check(t, f.Server, f.URL()+"/services/T/B/wrong", nil, []refusal{{"wrong_path", `{"text":"x"}`, 404, "no_service"}})
	if n := len(f.Messages()); n != 1 {
		t.Errorf("%d messages accepted", n)
	}
}

func TestTeamsRefuses(t *testing.T) {
	f := NewTeams(t)
	card := func(version, body string) string {
		return `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{"type":"AdaptiveCard","version":"` + version + `","body":[` + body + `]}}]}`
	}
	check(t, f.Server, f.WebhookURL(), nil, []refusal{
		{"accepted", card("1.4", `{"type":"TextBlock","text":"hi","size":"large"}`), 202, ""},
		{"no_attachments", `{"type":"message","attachments":[]}`, 400, "InvalidRequestContent"},
		{"connector_card", `{"@type":"MessageCard","text":"x"}`, 400, "InvalidRequestContent"},
		{"version_too_new", card("1.6", ``), 400, "version"},
		{"heading_needs_1_5", card("1.4", `{"type":"TextBlock","text":"x","style":"heading"}`), 400, "needs card version 1.5"},
		{"textblock_without_text", card("1.4", `{"type":"TextBlock"}`), 400, "text: required"},
		{"bad_size", card("1.4", `{"type":"TextBlock","text":"x","size":"huge"}`), 400, "size"},
		{"fact_without_value", card("1.4", `{"type":"FactSet","facts":[{"title":"a"}]}`), 400, "value: required"},
		{"too_big", card("1.4", `{"type":"TextBlock","text":"`+strings.Repeat("x", 30000)+`"}`), 413, "MessageSizeTooBig"},
	})
	check(t, f.Server, f.WebhookURL()+"x", nil, []refusal{{"wrong_sig", card("1.4", ``), 401, "DirectApiAuthorizationRequired"}})
}

func TestPagerDutyRefuses(t *testing.T) {
	f := NewPagerDuty(t)
	ev := func(action, payload string) string {
		return `{"routing_key":"` + f.RoutingKey() + `","event_action":"` + action + `","dedup_key":"k"` + payload + `}`
	}
	check(t, f.Server, f.EnqueueURL(), nil, []refusal{
		{"accepted", ev("trigger", `,"payload":{"summary":"s","source":"h","severity":"critical"}`), 202, `"dedup_key":"k"`},
		{"bad_severity", ev("trigger", `,"payload":{"summary":"s","source":"h","severity":"high"}`), 400, "severity"},
		{"long_summary", ev("trigger", `,"payload":{"summary":"`+strings.Repeat("s", 1025)+`","source":"h","severity":"info"}`), 400, "at most 1024"},
		{"no_source", ev("trigger", `,"payload":{"summary":"s","severity":"info"}`), 400, "source: required"},
		{"bad_action", ev("escalate", ``), 400, "event_action"},
		{"short_key", `{"routing_key":"abc","event_action":"resolve","dedup_key":"k"}`, 400, "should be 32 characters"},
		{"resolve_without_key", `{"routing_key":"` + f.RoutingKey() + `","event_action":"resolve"}`, 400, "dedup_key: required"},
		{"bad_timestamp", ev("trigger", `,"payload":{"summary":"s","source":"h","severity":"info","timestamp":"yesterday"}`), 400, "timestamp"},
		{"not_json", `{`, 400, "Unrecognized object"},
	})
}

func TestSplunkRefuses(t *testing.T) {
	f := NewSplunk(t)
	auth := map[string]string{"Authorization": "Splunk " + f.Token()}
	url := f.URL() + "/services/collector/event"
	check(t, f.Server, url, auth, []refusal{
		{"accepted", `{"event":"a","time":1700000000.5}{"event":{"b":1},"index":"main"}`, 200, `"code":0`},
		{"no_data", ``, 400, `"code":5`},
		{"no_event", `{"time":1}`, 400, `"code":12`},
		{"blank_event", `{"event":""}`, 400, `"code":13`},
		{"bad_time", `{"event":"a","time":"noon"}`, 400, `"code":6`},
		{"second_invalid", `{"event":"a"} {"event":"b","index":"secret"}`, 400, `"invalid-event-number":1`},
		{"bad_fields", `{"event":"a","fields":{"n":1}}`, 400, `"code":15`},
	})
	check(t, f.Server, url, nil, []refusal{{"no_token", `{"event":"a"}`, 401, `"code":2`}})
	check(t, f.Server, url, map[string]string{"Authorization": "Bearer x"}, []refusal{{"bad_scheme", `{"event":"a"}`, 401, `"code":3`}})
	check(t, f.Server, url, map[string]string{"Authorization": "Splunk x"}, []refusal{{"bad_token", `{"event":"a"}`, 403, `"code":4`}})
	check(t, f.Server, f.URL()+"/services/collector/ack", auth, []refusal{{"ack_off", `{"acks":[0]}`, 400, `"code":14`}})
	// accepted: 2 events; second_invalid: the one before the invalid one.
	if n := len(f.Events()); n != 3 {
		t.Errorf("%d events indexed, want 3", n)
	}
}

func TestSumoLogicRefuses(t *testing.T) {
	f := NewSumoLogic(t)
	check(t, f.Server, f.SourceURL(), nil, []refusal{
		{"accepted", "{\"a\":1}\n{\"b\":2}\n", 200, ""},
		{"not_json_lines", "plain text\n", 400, ""},
		{"too_big", strings.Repeat("{\"a\":1}\n", 150000), 413, ""},
	})
	check(t, f.Server, f.SourceURL(), map[string]string{"Content-Type": "application/vnd.sumologic.prometheus"}, []refusal{{"metrics_type", "{}\n", 400, ""}})
	check(t, f.Server, f.URL()+"/receiver/v1/http/wrong", nil, []refusal{{"wrong_url", "{}\n", 401, ""}})
	if n := len(f.Lines()); n != 2 {
		t.Errorf("%d lines", n)
	}
}

func TestElasticRefuses(t *testing.T) {
	f := NewElastic(t)
	f.AddDataStream("logs-x-default")
	auth := map[string]string{"Authorization": "ApiKey " + f.APIKey(), "Content-Type": "application/x-ndjson"}
	url := f.URL() + "/_bulk"
	check(t, f.Server, url, auth, []refusal{
		{"accepted", "{\"create\":{\"_index\":\"logs-x-default\",\"_id\":\"1\"}}\n{\"@timestamp\":\"2026-12-01T00:00:00Z\",\"n\":1}\n", 200, `"errors":false`},
		{"conflict", "{\"create\":{\"_index\":\"logs-x-default\",\"_id\":\"1\"}}\n{\"@timestamp\":\"2026-12-01T00:00:00Z\"}\n", 200, "version_conflict_engine_exception"},
		{"no_newline", "{\"index\":{\"_index\":\"i\"}}\n{}", 400, "terminated by a newline"},
		{"no_index", "{\"index\":{}}\n{}\n", 400, "index is missing"},
		{"bad_action", "{\"upsert\":{\"_index\":\"i\"}}\n{}\n", 400, "expected one of"},
		{"index_into_stream", "{\"index\":{\"_index\":\"logs-x-default\"}}\n{\"@timestamp\":\"2026-12-01T00:00:00Z\"}\n", 200, "op_type of create"},
		{"no_timestamp", "{\"create\":{\"_index\":\"logs-x-default\"}}\n{}\n", 200, "timestamp field [@timestamp] is missing"},
		{"mapping_conflict", "{\"create\":{\"_index\":\"logs-x-default\"}}\n{\"@timestamp\":\"2026-12-01T00:00:00Z\",\"n\":\"abc\"}\n", 200, "failed to parse field [n] of type [long]"},
		{"bad_index_name", "{\"index\":{\"_index\":\"Upper\"}}\n{}\n", 200, "invalid_index_name_exception"},
	})
	check(t, f.Server, url, map[string]string{"Content-Type": "application/x-ndjson"}, []refusal{{"no_auth", "{}\n", 401, "security_exception"}})
	check(t, f.Server, url, map[string]string{"Authorization": "ApiKey " + f.APIKey(), "Content-Type": "text/plain"}, []refusal{{"content_type", "{}\n", 406, "not supported"}})

	req, _ := http.NewRequest("GET", f.URL()+"/", nil)
	req.SetBasicAuth(f.User(), f.Password())
	resp, err := f.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("X-Elastic-Product") != "Elasticsearch" || !bytes.Contains(b, []byte(`"number":"8.19.7"`)) {
		t.Errorf("GET /: %v %s", resp.Header, b)
	}
}

func TestFailureModes(t *testing.T) {
	f := NewSlack(t)
	f.Fail(Failure{Status: 429, RetryAfter: "3", Times: 2})
	for i := range 3 {
		req, _ := http.NewRequest("POST", f.WebhookURL(), strings.NewReader(`{"text":"x"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := f.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := 429
		if i == 2 {
			want = 200
		}
		if resp.StatusCode != want || (want == 429 && resp.Header.Get("Retry-After") != "3") {
			t.Errorf("request %d: %d, Retry-After %q", i, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	f.Fail(Failure{Down: true})
	if _, err := f.Client().Post(f.WebhookURL(), "application/json", strings.NewReader(`{"text":"x"}`)); err == nil {
		t.Error("down: the request got an answer")
	}
	f.Clear()
	if resp, err := f.Client().Post(f.WebhookURL(), "application/json", strings.NewReader(`{"text":"x"}`)); err != nil || resp.StatusCode != 200 {
		t.Errorf("after Clear: %v", err)
	}
	if f.Requests() != 5 {
		t.Errorf("%d requests counted", f.Requests())
	}
}
