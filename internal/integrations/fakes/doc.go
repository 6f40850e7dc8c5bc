// Package fakes is a set of loopback HTTPS servers standing in for the SaaS
// targets of the integrations (issue 16), written from each target's
// documented API. Each one validates what it receives against the
// documented schema and limits and refuses an invalid request the way the
// real service does (status and body), records what it accepted, and can be
// switched into failure modes, so that destination tests and the delivery
// tests of package integrations exercise the real wire format.
//
// # Common API (Server, embedded in every fake)
//
//	f := fakes.NewSlack(t)          // started with httptest.NewTLSServer, closed at t's end
//	f.Client()                      // *http.Client trusting f's certificate only: pass as dest.Config.HTTP
//	f.Fail(fakes.Failure{Status: 429, RetryAfter: "7", Times: 2}) // the next 2 requests get 429
//	f.Fail(fakes.Failure{Down: true})  // connections closed without an answer, until f.Clear()
//	f.Fail(fakes.Failure{Status: 500}) // 500 with the target's own error body, until f.Clear()
//	f.Rejected()                    // requests refused as invalid, with the reason
//	f.Requests()                    // requests received, failed ones included
//
// A failure mode takes precedence over the normal handling; with Times 0 it
// lasts until Clear. The default body of a failure status is the target's
// own (Slack's "rate_limited", HEC's {"text":"Server is busy","code":9},
// an Elasticsearch error object...).
//
// # The fakes
//
// Slack (NewSlack): an incoming webhook at WebhookURL()
// (https://api.slack.com/messaging/webhooks). It takes a JSON POST with
// text and/or blocks; blocks are checked against Block Kit
// (https://api.slack.com/reference/block-kit/blocks): at most 50; types
// header, section, context, actions, divider (any other type is refused
// as invalid_blocks); text objects plain_text or mrkdwn, non-empty, a
// header's at most 150 characters, a section's 3000, at most 10 fields of
// 2000, context at most 10 elements, buttons with a plain_text label of at
// most 75 and a URL of at most 3000; unknown members refused; unique
// block_ids. Answers: 200 "ok"; 400 invalid_payload / no_text /
// invalid_blocks; 404 no_service for another path. Messages() lists what
// was accepted.
//
// Teams (NewTeams): a workflow's "When a Teams webhook request is
// received" URL at WebhookURL(), signed by its sig parameter
// (https://learn.microsoft.com/connectors/teams/#microsoft-teams-webhook).
// It takes {"type":"message","attachments":[...]} whose attachments have
// contentType application/vnd.microsoft.card.adaptive, contentUrl null and
// an Adaptive Card (https://adaptivecards.io/explorer/): type AdaptiveCard,
// version 1.0 to 1.5 (what Teams renders), body elements TextBlock (text
// required), FactSet (facts of title and value), Container (items),
// ColumnSet, ActionSet, Image, with their enums (size, weight, color,
// spacing, container style) checked case-insensitively; TextBlock.style
// needs version 1.5; at most 6 actions, Action.OpenUrl with an absolute
// url; the whole message at most 28 KB. Answers: 202 with no body; 400
// {"error":{"code":"InvalidRequestContent",...}}; 401 for a wrong sig; 413
// over 28 KB. The real trigger answers 202 to a bad card and fails in the
// flow run, out of the sender's sight: the fake refuses at once instead.
//
// PagerDuty (NewPagerDuty): the Events API v2 at EnqueueURL(), with one
// integration whose key is RoutingKey()
// (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/,
// https://github.com/PagerDuty/api-schema reference/events-v2/openapiv3.json).
// It checks routing_key (32 characters: "Length of 'routing_key' is
// incorrect (should be 32 characters)"), event_action (trigger,
// acknowledge, resolve), dedup_key (at most 255; required but for
// trigger), and for a trigger the payload: summary (at most 1024), source,
// severity (critical, error, warning, info), timestamp (ISO 8601),
// custom_details an object, links with an href; an event at most 512 KB.
// Answers: 202 {"status":"success","message":"Event processed",
// "dedup_key":...}; 400 {"status":"invalid event","message":"Event object
// is invalid","errors":[...]}, also for a well-formed key of no
// integration (the fake's choice). Events() lists accepted events;
// Alerts() is the alert of each dedup key (triggered, acknowledged,
// resolved, and how many triggers were deduplicated into it), which is
// what "no duplicate where the target deduplicates" is checked against.
//
// Splunk (NewSplunk): the HTTP Event Collector at URL(), token Token()
// (https://help.splunk.com/splunk-enterprise/get-data-in/collect-http-event-data/format-events-for-http-event-collector,
// https://docs.splunk.com/Documentation/Splunk/latest/RESTREF/RESTinput#services.2Fcollector).
// POST /services/collector[/event[/1.0]] with "Authorization: Splunk
// <token>" (missing: 401 code 2; another scheme: 401 code 3; unknown
// token: 403 code 4); a body of concatenated JSON events (empty: 400 code
// 5; not JSON: 400 code 6), each an object with "event" (missing: code
// 12; null or "": code 13), time a number or numeric string, host, source,
// sourcetype and index strings (index among SetIndexes, by default main and
// riskmap: else code 7 "Incorrect index"), fields an object of strings or
// string arrays (code 15); failures carry "invalid-event-number", and the
// events before the invalid one are indexed, as by HEC; a body over
// 1,000,000 bytes gets 413. With EnableAck(polls) a channel is required
// (X-Splunk-Request-Channel or ?channel=; missing: code 10; not a GUID:
// code 11), answers carry "ackId", and POST /services/collector/ack
// {"acks":[...]} answers {"acks":{"id":bool}}, true after the given number
// of queries; without it /ack answers code 14. GET
// /services/collector/health answers code 17. Success is 200
// {"text":"Success","code":0}. Events() lists indexed events.
//
// Sumo Logic (NewSumoLogic): an HTTP Logs and Metrics Source at
// SourceURL(), a secret URL /receiver/v1/http/<code>
// (https://help.sumologic.com/docs/send-data/hosted-collectors/http-source/logs-metrics/upload-logs/,
// .../http-source/troubleshooting/). A POST of log lines, plain or with
// Content-Encoding gzip or deflate, at most 1 MB uncompressed (else 413),
// metadata from X-Sumo-Category, X-Sumo-Name, X-Sumo-Host and
// X-Sumo-Fields. Answers: 200 with no body; 401 for another path; 400 for
// a metrics Content-Type (application/vnd.sumologic.*) on log lines. Sumo
// takes any text; the fake also requires each non-empty line to be a JSON
// object, the format Riskmap sends. Lines() lists the ingested lines with
// their headers.
//
// Elasticsearch (NewElastic): GET / and the _bulk API at URL()
// (https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-bulk),
// every answer with X-Elastic-Product: Elasticsearch (which the official
// clients check). Authentication: "ApiKey <APIKey()>" (base64 of id:key)
// or Basic User()/Password(); else 401 security_exception with
// WWW-Authenticate. POST or PUT /_bulk or /{index}/_bulk with Content-Type
// application/json or application/x-ndjson (else 406); the body must end
// with a newline; action lines index, create, update, delete with known
// metadata members, _index from the line or the path ("index is
// missing"), _id at most 512 bytes; malformed requests get 400 with an
// error object. Each item is then applied, and its result reported in
// "items" with "errors" set when any failed: index names are checked
// (invalid_index_name_exception); a name given to AddDataStream takes only
// create (else 400 "only write ops with an op_type of create are allowed
// in data streams") and documents with @timestamp; create of an existing
// _id gets 409 version_conflict_engine_exception; index of one replaces it
// (result updated, _version+1); documents are mapped dynamically (dates
// detected, long or float numbers, keyword strings, objects) and one that
// conflicts with the mapping gets 400 document_parsing_exception, as does
// exceeding 1000 fields. Stricter than Elasticsearch: a fractional number
// into a field mapped long is refused (Elasticsearch would index it
// truncated). FailItems(status, n) makes the next n items fail (429
// es_rejected_execution_exception, 400, 5xx). Docs(index) lists stored
// documents; Mapping(index) the mapping.
package fakes
