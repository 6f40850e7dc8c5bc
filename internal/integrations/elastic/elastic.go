// Package elastic writes destination messages into Elasticsearch or
// OpenSearch with the _bulk API
// (https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-bulk,
// https://docs.opensearch.org/latest/api-reference/document-apis/bulk/):
// one document per message, or per finding of a digest, into an index or
// a data stream, in ECS field names (https://www.elastic.co/docs/reference/ecs)
// so that Kibana's and OpenSearch Dashboards' security views read them:
// @timestamp, event.kind/category/type/action, vulnerability.id/severity/
// score.base/scanner.vendor, package.name/version, host.name,
// container.id, orchestrator.cluster.name/namespace, url.full; what ECS
// has no field for goes under riskmap.*.
//
// Each document's _id is derived from the message's key, event and time
// (and the finding, in a digest), so a retried batch does not duplicate:
// into an index the write is op "index" (the same document again), into a
// data stream it must be op "create", whose 409 version conflict on a
// retry means the document is already there and counts as success. The
// bulk answer is checked item by item: an item refused with 429 or a 5xx
// makes the batch retryable; one refused otherwise (a mapping conflict, a
// bad index name) is permanent. Authentication is an API key (Elasticsearch)
// or a user and password (both).
//
// Plain net/http rather than the official clients: a bulk write is one
// NDJSON POST and a JSON answer to read item by item, which is this
// package's whole job either way. go-elasticsearch v8 refuses a server
// that does not answer X-Elastic-Product: Elasticsearch, so OpenSearch
// would need opensearch-go beside it, two clients and two dependency trees
// (DEPENDENCIES.md H) for the same request; and esutil.BulkIndexer
// flushes asynchronously on its own workers, while Send must say, for the
// batch it was given, whether every document landed.
package elastic

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/httpsend"
	"github.com/riskmap/riskmap/internal/integrations/render"
)

// Name is the kind's name.
const Name = "elasticsearch"

// MaxRequest is the most bytes sent in one bulk request (Elastic advises
// bulk requests of a few megabytes; http.max_content_length is 100 MB).
const MaxRequest = 5 << 20

// ECSVersion is the ECS version the documents follow.
const ECSVersion = "8.11.0"

// Kind is the Elasticsearch/OpenSearch destination kind.
func Kind() dest.Kind {
	return dest.Kind{
		Name:  Name,
		Title: "Elasticsearch / OpenSearch",
		Fields: []dest.Field{
			{Name: "url", Label: "URL", Type: "url", Required: true, Help: "The cluster's HTTP endpoint, such as https://es.example:9200."},
			{Name: "index", Label: "Index or data stream", Type: "text", Required: true, Default: "logs-riskmap-default",
				Help: "A data stream name follows type-dataset-namespace (logs-riskmap-default) and needs an index template with data_stream."},
			{Name: "target", Label: "Write into", Type: "select", Options: []string{"data_stream", "index"}, Default: "data_stream"},
			{Name: "api_key", Label: "API key", Type: "password", Secret: true, Help: "The encoded API key (base64 of id:key). Elasticsearch only."},
			{Name: "username", Label: "User", Type: "text"},
			{Name: "password", Label: "Password", Type: "password", Secret: true},
		},
		Batch: 500,
		Dedup: true,
		New:   New,
	}
}

type destination struct {
	bulkURL, index string
	dataStream     bool
	auth           string
	client         *http.Client
}

// New validates cfg and returns the destination.
func New(cfg dest.Config) (dest.Destination, error) {
	u, err := httpsend.CheckURL("url", cfg.Settings["url"], false, true)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: %w", err)
	}
	d := &destination{bulkURL: strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/") + "/_bulk", client: cfg.HTTP}
	d.index = cmp.Or(cfg.Settings["index"], "logs-riskmap-default")
	if bad := checkIndex(d.index); bad != "" {
		return nil, fmt.Errorf("elasticsearch: index %q: %s", d.index, bad)
	}
	switch t := cmp.Or(cfg.Settings["target"], "data_stream"); t {
	case "data_stream":
		d.dataStream = true
	case "index":
	default:
		return nil, fmt.Errorf("elasticsearch: target %q: data_stream or index", t)
	}
	key, user, pw := cfg.Secrets["api_key"], cfg.Settings["username"], cfg.Secrets["password"]
	switch {
	case key != "" && user != "":
		return nil, fmt.Errorf("elasticsearch: api_key and username: set one of them")
	case key != "":
		if strings.ContainsAny(key, " \r\n\t") {
			return nil, fmt.Errorf("elasticsearch: api_key: must be the encoded key, without spaces")
		}
		d.auth = "ApiKey " + key
	case user != "":
		if pw == "" {
			return nil, fmt.Errorf("elasticsearch: password: required with username")
		}
		d.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
	case pw != "":
		return nil, fmt.Errorf("elasticsearch: username: required with password")
	}
	return d, nil
}

// checkIndex applies Elasticsearch's index name rules.
func checkIndex(name string) string {
	switch {
	case name != strings.ToLower(name):
		return "must be lowercase"
	case strings.ContainsAny(name, `\/*?"<>| ,#:`):
		return `must not contain \ / * ? " < > | space , # :`
	case strings.HasPrefix(name, "_") || strings.HasPrefix(name, "-") || strings.HasPrefix(name, "+"):
		return "must not start with _, - or +"
	case name == "." || name == "..":
		return "must not be . or .."
	case len(name) > 255:
		return "must be at most 255 bytes"
	}
	return ""
}

// Send writes the messages' documents in bulk requests of at most
// MaxRequest bytes.
func (d *destination) Send(ctx context.Context, msgs []dest.Message) error {
	op := "index"
	if d.dataStream {
		op = "create"
	}
	var ids, keys []string
	batch := httpsend.Batch{Max: MaxRequest, Send: func(body []byte) error {
		err := d.bulk(ctx, body, ids, keys)
		ids, keys = ids[:0], keys[:0]
		return err
	}}
	for _, m := range msgs {
		for _, doc := range Documents(m) {
			src, err := httpsend.JSON(doc)
			if err != nil {
				return dest.Permanent(fmt.Errorf("elasticsearch: encode %s: %w", m.Key, err))
			}
			meta, _ := json.Marshal(map[string]map[string]string{op: {"_index": d.index, "_id": doc.Riskmap.DocID}})
			if err := batch.Add(meta, src); err != nil {
				return err
			}
			ids = append(ids, doc.Riskmap.DocID)
			keys = append(keys, m.Key)
		}
	}
	return batch.Flush()
}

func (d *destination) bulk(ctx context.Context, body []byte, ids, keys []string) error {
	h := http.Header{"Content-Type": {"application/x-ndjson"}}
	if d.auth != "" {
		h.Set("Authorization", d.auth)
	}
	a, err := httpsend.Do(ctx, d.client, httpsend.Request{URL: d.bulkURL, Header: h, Body: body})
	if err != nil {
		return fmt.Errorf("elasticsearch: bulk of %d documents into %s: %w", len(ids), d.index, err)
	}
	if err := CheckBulk(a.Body, len(ids)); err != nil {
		return fmt.Errorf("elasticsearch: bulk of %d documents into %s: %w", len(ids), d.index, err)
	}
	return nil
}

// BulkAnswer is the _bulk API's answer.
type BulkAnswer struct {
	Errors bool                  `json:"errors"`
	Items  []map[string]BulkItem `json:"items"`
}

// BulkItem is the result of one operation.
type BulkItem struct {
	Index  string     `json:"_index"`
	ID     string     `json:"_id"`
	Status int        `json:"status"`
	Result string     `json:"result"`
	Error  *ItemError `json:"error"`
}

// ItemError is why an operation failed.
type ItemError struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

// CheckBulk reads a bulk answer for want operations: nil when every
// document is stored (a create's 409 version conflict means an earlier try
// stored it); a retryable *dest.Error when any failed with 429 or a 5xx
// (the whole batch is sent again: its documents are idempotent); a
// permanent one when others failed; retryable when the answer cannot be
// read or does not account for every operation.
func CheckBulk(body []byte, want int) error {
	var a BulkAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return &dest.Error{Retryable: true, Err: fmt.Errorf("unreadable bulk answer: %w", err)}
	}
	if len(a.Items) != want {
		return &dest.Error{Retryable: true, Err: fmt.Errorf("bulk answer has %d items for %d operations", len(a.Items), want)}
	}
	var retry, perm []string
	for i, it := range a.Items {
		if len(it) != 1 {
			return &dest.Error{Retryable: true, Err: fmt.Errorf("bulk answer item %d has %d operations", i, len(it))}
		}
		for op, r := range it {
			switch {
			case r.Status >= 200 && r.Status < 300:
			case r.Status == http.StatusConflict && op == "create":
			case r.Status == http.StatusTooManyRequests || r.Status >= 500:
				retry = append(retry, describe(i, r))
			default:
				perm = append(perm, describe(i, r))
			}
		}
	}
	switch {
	case len(retry) > 0:
		return &dest.Error{Retryable: true, Err: fmt.Errorf("%d of %d documents refused for now: %s", len(retry), want, summary(retry))}
	case len(perm) > 0:
		return dest.Permanent(fmt.Errorf("%d of %d documents refused: %s", len(perm), want, summary(perm)))
	}
	return nil
}

func describe(i int, r BulkItem) string {
	s := "item " + strconv.Itoa(i) + ": " + strconv.Itoa(r.Status)
	if r.Error != nil {
		s += " " + r.Error.Type + ": " + render.Truncate(r.Error.Reason, 300)
	}
	return s
}

func summary(s []string) string {
	if len(s) > 3 {
		return strings.Join(s[:3], "; ") + fmt.Sprintf("; and %d more", len(s)-3)
	}
	return strings.Join(s, "; ")
}

// Float is a number that is always written with a fraction ("10.0"), so
// that dynamic mapping makes its field a float and not a long that would
// truncate later values.
type Float float64

// MarshalJSON writes f with at least one decimal, and null for NaN and
// infinities, which JSON cannot carry.
func (f Float) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	s := strconv.FormatFloat(float64(f), 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return []byte(s), nil
}

// Document is one document, in ECS field names.
type Document struct {
	Timestamp     string            `json:"@timestamp"`
	Message       string            `json:"message,omitempty"`
	ECS           map[string]string `json:"ecs"`
	Event         Event             `json:"event"`
	Vulnerability *Vulnerability    `json:"vulnerability,omitempty"`
	Package       *Package          `json:"package,omitempty"`
	Host          *Named            `json:"host,omitempty"`
	Container     *Container        `json:"container,omitempty"`
	Orchestrator  *Orchestrator     `json:"orchestrator,omitempty"`
	URL           *URL              `json:"url,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Riskmap       Riskmap           `json:"riskmap"`
}

// Event is ECS event.*.
type Event struct {
	Kind          string   `json:"kind"`
	Category      []string `json:"category"`
	Type          []string `json:"type"`
	Action        string   `json:"action"`
	Dataset       string   `json:"dataset"`
	Module        string   `json:"module"`
	ID            string   `json:"id"`
	Severity      int      `json:"severity"`
	RiskScore     *Float   `json:"risk_score,omitempty"`
	RiskScoreNorm *Float   `json:"risk_score_norm,omitempty"`
	Reference     string   `json:"reference,omitempty"`
}

// Vulnerability is ECS vulnerability.*.
type Vulnerability struct {
	ID             string            `json:"id"`
	Severity       string            `json:"severity"`
	Score          map[string]Float  `json:"score,omitempty"`
	Scanner        map[string]string `json:"scanner"`
	Description    string            `json:"description,omitempty"`
	Enumeration    string            `json:"enumeration,omitempty"`
	Reference      string            `json:"reference,omitempty"`
	Category       []string          `json:"category"`
	Classification string            `json:"classification,omitempty"`
}

// Package is ECS package.*.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	Type    string `json:"type,omitempty"`
}

// Named is an ECS object with a name (host, image, cluster).
type Named struct {
	Name string `json:"name"`
}

// Container is ECS container.*.
type Container struct {
	ID    string `json:"id,omitempty"`
	Name  string `json:"name,omitempty"`
	Image *Named `json:"image,omitempty"`
}

// Orchestrator is ECS orchestrator.*.
type Orchestrator struct {
	Type      string `json:"type"`
	Cluster   *Named `json:"cluster,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// URL is ECS url.*.
type URL struct {
	Full string `json:"full"`
}

// Riskmap is what ECS has no field for.
type Riskmap struct {
	DocID        string     `json:"doc_id"`
	Key          string     `json:"key"`
	Event        string     `json:"event"`
	Resolve      bool       `json:"resolve"`
	Title        string     `json:"title,omitempty"`
	Severity     string     `json:"severity,omitempty"`
	Node         *dest.Node `json:"node,omitempty"`
	FixedVersion string     `json:"fixed_version,omitempty"`
	Aliases      []string   `json:"aliases,omitempty"`
	EPSS         *Float     `json:"epss,omitempty"`
	KEV          *bool      `json:"kev,omitempty"`
	RiskScore    *Float     `json:"risk_score,omitempty"`
	DigestItem   int        `json:"digest_item,omitempty"`
	DigestTotal  int        `json:"digest_total,omitempty"`
}

// Documents are the documents of a message: one, or one per finding of a
// digest.
func Documents(m dest.Message) []Document {
	var out []Document
	for _, r := range render.Records(m) {
		out = append(out, document(m, r.Finding, r.Item))
	}
	return out
}

// DocID is a document's _id: a digest of what makes it unique.
func DocID(m dest.Message, f *dest.Finding, item int) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s", m.Key, m.Event, m.Time.UTC().Format(time.RFC3339Nano))
	if item > 0 && f != nil {
		id := ""
		if f.Node != nil {
			id = f.Node.ID
		}
		fmt.Fprintf(h, "\x00%d\x00%s\x00%s\x00%s", item, f.VulnID, f.Package, id)
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// severities maps Riskmap's severities to ECS event.severity, on the
// 0-100 scale Elastic Security uses for rule severities.
var severities = map[string]int{"critical": 99, "high": 73, "medium": 47, "low": 21}

func document(m dest.Message, f *dest.Finding, item int) Document {
	t := m.Time
	if t.IsZero() {
		t = time.Now()
	}
	id := DocID(m, f, item)
	sev := m.Severity
	if f != nil {
		sev = cmp.Or(f.Severity, sev)
	}
	doc := Document{
		Timestamp: t.UTC().Format(time.RFC3339Nano),
		Message:   render.Title(m),
		ECS:       map[string]string{"version": ECSVersion},
		Event: Event{Kind: "event", Category: []string{"host"}, Type: []string{"info"}, Action: m.Event,
			Dataset: "riskmap." + strings.SplitN(m.Event, ".", 2)[0], Module: "riskmap", ID: id,
			Severity: severities[strings.ToLower(sev)], Reference: m.URL},
		Labels:  labels(m.Fields),
		Riskmap: Riskmap{DocID: id, Key: m.Key, Event: m.Event, Resolve: m.Resolve, Title: m.Title, Severity: sev, Node: m.Node},
	}
	switch m.Event {
	case dest.EventScanFailed:
		doc.Event.Type = []string{"error"}
	case dest.EventNodeExposed:
		doc.Event.Category = []string{"network"}
	case dest.EventTest:
		doc.Event.Category = []string{"configuration"}
	}
	node := m.Node
	if f != nil {
		doc.Event.Kind = "state"
		doc.Event.Category = []string{"vulnerability"}
		if m.Resolve || m.Event == dest.EventFindingFixed {
			doc.Event.Type = []string{"end"}
		}
		v := &Vulnerability{ID: f.VulnID, Severity: render.Label(f.Severity), Scanner: map[string]string{"vendor": "Riskmap"},
			Description: render.Truncate(f.Summary, 4000), Reference: f.URL, Category: []string{"Package"}}
		if f.CVSS > 0 {
			v.Score = map[string]Float{"base": Float(f.CVSS)}
			v.Classification = "CVSS"
		}
		if i := strings.IndexByte(f.VulnID, '-'); i > 0 {
			v.Enumeration = f.VulnID[:i]
		}
		doc.Vulnerability = v
		doc.Package = &Package{Name: f.Package, Version: f.Version, Type: f.Ecosystem}
		epss, risk, kev := Float(f.EPSS), Float(f.RiskScore), f.KEV
		norm := Float(min(f.RiskScore*10, 100))
		doc.Event.RiskScore, doc.Event.RiskScoreNorm = &risk, &norm
		doc.Riskmap.FixedVersion, doc.Riskmap.Aliases = f.FixedVersion, f.Aliases
		doc.Riskmap.EPSS, doc.Riskmap.KEV, doc.Riskmap.RiskScore = &epss, &kev, &risk
		if f.Node != nil {
			node = f.Node
			doc.Riskmap.Node = f.Node
		}
		if f.URL != "" {
			doc.Event.Reference = f.URL
		}
	}
	if item > 0 {
		doc.Riskmap.DigestItem, doc.Riskmap.DigestTotal = item, len(m.Findings)
	}
	if u := cmp.Or(doc.Event.Reference, m.URL); u != "" {
		doc.URL = &URL{Full: u}
	}
	if node != nil {
		if h := cmp.Or(node.Host, nodeName(node, "host")); h != "" {
			doc.Host = &Named{Name: h}
		}
		if node.Kind == "container" || node.Image != "" {
			c := &Container{Name: nodeName(node, "container")}
			if node.Kind == "container" {
				c.ID = strings.TrimPrefix(node.ID, "container:")
			}
			if node.Image != "" {
				c.Image = &Named{Name: node.Image}
			}
			doc.Container = c
		}
		if node.Cluster != "" || node.Namespace != "" {
			o := &Orchestrator{Type: "kubernetes", Namespace: node.Namespace}
			if node.Cluster != "" {
				o.Cluster = &Named{Name: node.Cluster}
			}
			doc.Orchestrator = o
		}
	}
	return doc
}

func nodeName(n *dest.Node, kind string) string {
	if n.Kind == kind {
		return n.Name
	}
	return ""
}

// labels are the message's fields as ECS labels, whose names hold no dot
// (a dot would make an object of the field).
func labels(fields map[string]string) map[string]string {
	if len(fields) == 0 {
		return nil
	}
	out := make(map[string]string, len(fields))
	for k, v := range fields {
		out[strings.ReplaceAll(k, ".", "_")] = v
	}
	return out
}
