// Package dest is the contract between the integrations module (rules,
// routing, delivery through jobs, history, dead letters: package
// integrations) and the destinations it sends to (Slack, Teams, PagerDuty,
// Jira, Splunk HEC, Elasticsearch/OpenSearch, Sumo Logic, S3, webhooks,
// email), each in its own package below internal/integrations and
// registered by name in one list (integrations.Kinds).
//
// A destination only formats and sends: it never reads the database, and
// it reports how a failure should be handled (Error) so that the delivery
// loop can retry with backoff, honour Retry-After, or dead-letter.
package dest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/fields"
)

// Event kinds a message can carry. Rules choose among them; later modules
// (compliance, secrets, malware) add theirs.
const (
	EventFindingNew    = "finding.new"           // a new finding (one message per finding)
	EventFindingFixed  = "finding.fixed"         // a finding no longer present
	EventKEVReachable  = "finding.kev_reachable" // a KEV finding on a node reachable from the internet
	EventScanFailed    = "scan.failed"
	EventSensorOffline = "sensor.offline"
	EventNodeExposed   = "node.exposed" // a node newly reachable from the internet
	EventDigest        = "digest"       // many findings gathered over an interval
	EventTest          = "test"         // the test-send button
)

// Message is one thing to send: an event rendered for people (Title,
// Text) and machines (the structured members).
type Message struct {
	// Key is the message's stable identity: the same finding on the same
	// node always has the same key (PagerDuty's dedup key, the Jira issue
	// it maps to, an idempotency key for webhooks, an S3 object name part).
	Key string `json:"key"`
	// Event is one of the Event constants.
	Event string `json:"event"`
	// Resolve is true when the message ends what an earlier message with
	// the same Key started (a fixed finding: PagerDuty resolve, a Jira
	// comment or transition).
	Resolve bool      `json:"resolve,omitempty"`
	Time    time.Time `json:"time"`
	// Severity is critical, high, medium, low or unknown.
	Severity string `json:"severity"`
	Title    string `json:"title"`
	Text     string `json:"text"`
	// URL opens the subject in the console.
	URL string `json:"url,omitempty"`
	// Findings: one for finding events, many for a digest.
	Findings []Finding `json:"findings,omitempty"`
	// Node the event is about, if any.
	Node *Node `json:"node,omitempty"`
	// Fields carries what else the event says (scan id, sensor id, error).
	Fields map[string]string `json:"fields,omitempty"`
}

// Finding is a finding as destinations show it.
type Finding struct {
	// Type is the finding's type: vulnerability, secret, malware or
	// compliance (a failed control). For a type other than vulnerability,
	// VulnID is the rule, Package the file (or the benchmark of a
	// control) and Subject where exactly (file:line of a secret).
	Type         string   `json:"type,omitempty" enum:"vulnerability,secret,malware,compliance"`
	Subject      string   `json:"subject,omitempty"`
	VulnID       string   `json:"vulnId"`
	Aliases      []string `json:"aliases,omitempty"`
	Package      string   `json:"package"`
	Version      string   `json:"version"`
	Ecosystem    string   `json:"ecosystem,omitempty"`
	FixedVersion string   `json:"fixedVersion,omitempty"`
	Severity     string   `json:"severity"`
	CVSS         float64  `json:"cvss,omitempty"`
	EPSS         float64  `json:"epss,omitempty"`
	KEV          bool     `json:"kev,omitempty"`
	RiskScore    float64  `json:"riskScore"`
	Summary      string   `json:"summary,omitempty"`
	// Node is the node it was found on (digests mix nodes).
	Node *Node  `json:"node,omitempty"`
	URL  string `json:"url,omitempty"`
}

// Node is a node of the topology as destinations show it.
type Node struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"` // host, container, image, pod...
	Name      string `json:"name"`
	Host      string `json:"host,omitempty"`
	Cluster   string `json:"cluster,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Image     string `json:"image,omitempty"`
	// Internet is true when the node is reachable from the internet.
	Internet bool `json:"internet,omitempty"`
}

// Destination sends messages to one configured target.
type Destination interface {
	// Send delivers msgs (at most the kind's Batch, in order). It returns
	// nil when every message was accepted; otherwise an error, an *Error
	// when it knows how the failure should be handled (with Delivered
	// when the first messages landed). After a retryable failure Send is
	// called again with the very same messages (stored, not re-rendered:
	// Time and every other member identical), so it must be idempotent
	// where the target allows (dedup keys, ids derived from the message,
	// search before create). Numbers in messages are finite.
	Send(ctx context.Context, msgs []Message) error
}

// Field describes one setting of a destination kind, for the API's
// validation (fields.Check) and the UI's form.
type Field = fields.Field

// Config is a destination's settings: the plain ones and the secret ones
// (opened from the vault just before New).
type Config struct {
	Name     string
	Settings map[string]string
	Secrets  map[string]string
	// HTTP is the client to use (TLS verified; the operator's extra CA
	// when configured; timeouts). Tests give one trusting their server.
	HTTP *http.Client
	// ConsoleURL is the console's public URL, for links.
	ConsoleURL string
	// Version is the console's version (the tool version in SARIF and
	// CycloneDX documents).
	Version string
}

// Kind is a destination kind: its settings and constructor.
type Kind struct {
	Name   string  // slack, teams, pagerduty, jira, splunk, elasticsearch, sumologic, s3, webhook, email
	Title  string  // shown in the UI
	Fields []Field // the settings form
	// Batch is the most messages one Send takes (1 for one request per
	// message; more for bulk APIs).
	Batch int
	// PerSecond is the target's documented sending rate for one
	// destination (Slack webhooks: about 1 a second); 0 for no limit of
	// its own. The delivery loop paces sends to it.
	PerSecond float64
	// Events are the events the kind takes (nil: all). A rule sending
	// others to it is refused (Jira takes no digests: one issue each).
	Events []string
	// Dedup is true when the target itself deduplicates a resent message
	// (PagerDuty dedup keys, Elasticsearch ids, Jira search before create,
	// S3 object keys): a retry leaves no duplicate there.
	Dedup bool
	// New validates cfg and returns the destination.
	New func(cfg Config) (Destination, error)
}

// Error is a failed delivery with what to do about it.
type Error struct {
	// Retryable: the same messages may succeed later (network errors,
	// 429, 5xx). Not retryable: they never will (400, 401, 403, 404, a
	// payload the target refuses): dead-letter at once.
	Retryable bool
	// RetryAfter is the target's own wait (Retry-After), if it gave one.
	RetryAfter time.Duration
	Status     int // HTTP status, if any
	// Delivered counts the leading messages of the batch that landed
	// before the failure; the delivery loop resends only the rest.
	Delivered int
	Err       error
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("HTTP %d: %v", e.Status, e.Err)
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent marks err as not retryable.
func Permanent(err error) error { return &Error{Err: err} }

// IsRetryable reports whether a Send error may succeed later: *Error
// says; any other error (a network failure) is retryable.
func IsRetryable(err error) (bool, time.Duration) {
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable, e.RetryAfter
	}
	return true, 0
}

// CheckResponse turns an HTTP answer into nil (2xx) or an *Error: 429,
// 408 and 5xx retryable (with Retry-After in seconds or as an HTTP date),
// other statuses permanent. The start of the body goes into the error.
// It does not close the body.
func CheckResponse(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	e := &Error{Status: resp.StatusCode, Err: fmt.Errorf("%s", strings.TrimSpace(string(b)))}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500 {
		e.Retryable = true
		e.RetryAfter = RetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return e
}

// RetryAfter parses a Retry-After header (seconds or an HTTP date) into a
// wait, 0 when absent or unreadable, at most an hour.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), time.Hour)
}

// File is a document to deliver whole (a scheduled findings report): its
// name (a path-safe base name, unique per delivery), media type and bytes,
// with a message saying what it is.
type File struct {
	Name        string
	ContentType string
	Data        []byte
	// Message is the subject and text that accompany it (a mail's).
	Message Message
}

// FileSender is a destination that can deliver a file (email as an
// attachment, S3 as an object); a destination without it carries
// messages only.
type FileSender interface {
	SendFile(ctx context.Context, f File) error
}
