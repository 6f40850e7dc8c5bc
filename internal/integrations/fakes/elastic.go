package fakes

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// ElasticMaxFields is index.mapping.total_fields.limit's default.
const ElasticMaxFields = 1000

// ElasticDoc is a document an Elasticsearch fake holds.
type ElasticDoc struct {
	Index   string // the index or data stream written to
	ID      string
	Version int
	Source  json.RawMessage
}

// Elastic is an Elasticsearch cluster's REST API, as much of it as a bulk
// writer meets: GET / and the _bulk API
// (https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-bulk).
type Elastic struct {
	*Server
	apiKeyID, apiKeySecret string
	user, password         string

	mu          sync.Mutex
	docs        map[string]map[string]*ElasticDoc // index → id → doc
	order       []*ElasticDoc
	dataStreams map[string]bool
	mappings    map[string]map[string]string // index → field path → type
	itemFail    struct{ status, n int }
	seq         int
}

// NewElastic starts a cluster with an API key and a user, both allowed to
// write anywhere; indices are created on first write.
func NewElastic(t testing.TB) *Elastic {
	s := &Elastic{apiKeyID: token(20), apiKeySecret: token(22), user: "riskmap", password: token(16),
		docs: map[string]map[string]*ElasticDoc{}, dataStreams: map[string]bool{}, mappings: map[string]map[string]string{}}
	s.Server = newServer(t, http.HandlerFunc(s.serve), func(status int) (string, string) {
		typ := map[int]string{429: "es_rejected_execution_exception", 503: "cluster_block_exception", 400: "illegal_argument_exception",
			401: "security_exception", 403: "security_exception", 413: "content_too_long_exception"}[status]
		if typ == "" {
			typ = "exception"
		}
		return "application/json", esError(typ, http.StatusText(status), status)
	})
	return s
}

func esError(typ, reason string, status int) string {
	cause := map[string]any{"type": typ, "reason": reason}
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"root_cause": []any{cause}, "type": typ, "reason": reason}, "status": status})
	return string(b)
}

// APIKey is the API key as Elasticsearch returns it "encoded":
// base64(id:api_key), sent as "Authorization: ApiKey <encoded>".
func (s *Elastic) APIKey() string {
	return base64.StdEncoding.EncodeToString([]byte(s.apiKeyID + ":" + s.apiKeySecret))
}

// User and Password are a user's basic credentials.
func (s *Elastic) User() string     { return s.user }
func (s *Elastic) Password() string { return s.password }

// AddDataStream makes name a data stream (as an index template with
// data_stream would on first write).
func (s *Elastic) AddDataStream(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataStreams[name] = true
}

// FailItems makes the next n bulk items fail with status (429:
// es_rejected_execution_exception, 400: document_parsing_exception, 5xx).
func (s *Elastic) FailItems(status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.itemFail.status, s.itemFail.n = status, n
}

// Docs lists the documents of an index or data stream in write order.
func (s *Elastic) Docs(index string) []ElasticDoc {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ElasticDoc
	for _, d := range s.order {
		if d.Index == index {
			out = append(out, *d)
		}
	}
	return out
}

// Mapping is the dynamic mapping of an index: field path → type.
func (s *Elastic) Mapping(index string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, v := range s.mappings[index] {
		out[k] = v
	}
	return out
}

func (s *Elastic) write(w http.ResponseWriter, status int, body string) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (s *Elastic) refuse(w http.ResponseWriter, status int, typ, reason string) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="security" charset="UTF-8"`)
		w.Header().Add("WWW-Authenticate", "ApiKey")
	}
	s.reject(w, status, "application/json", esError(typ, reason, status), typ+": "+reason)
}

func (s *Elastic) authorized(r *http.Request) bool {
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	switch scheme {
	case "ApiKey":
		return cred == s.APIKey()
	case "Basic":
		u, p, ok := r.BasicAuth()
		return ok && u == s.user && p == s.password
	}
	return false
}

func (s *Elastic) serve(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		s.refuse(w, http.StatusUnauthorized, "security_exception", "missing authentication credentials for REST request ["+r.URL.Path+"]")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.URL.Path == "/" && r.Method == http.MethodGet:
		s.write(w, 200, `{"name":"fake-0","cluster_name":"riskmap-test","version":{"number":"8.19.7","build_flavor":"default","lucene_version":"9.12.2"},"tagline":"You Know, for Search"}`)
	case parts[len(parts)-1] == "_bulk" && len(parts) <= 2 && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		index := ""
		if len(parts) == 2 {
			index = parts[0]
		}
		s.bulk(w, r, index)
	default:
		s.refuse(w, http.StatusBadRequest, "illegal_argument_exception", fmt.Sprintf("request [%s] contains unrecognized parameters or path", r.URL.Path))
	}
}

type bulkOp struct {
	action, index, id string
	source            []byte
	line              int
}

func (s *Elastic) bulk(w http.ResponseWriter, r *http.Request, pathIndex string) {
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	switch mt {
	case "application/json", "application/x-ndjson", "application/vnd.elasticsearch+x-ndjson", "application/vnd.elasticsearch+json":
	default:
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		s.reject(w, http.StatusNotAcceptable, "application/json", fmt.Sprintf(`{"error":"Content-Type header [%s] is not supported","status":406}`, ct), "Content-Type "+ct)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 100<<20))
	if err != nil {
		s.refuse(w, 400, "parse_exception", err.Error())
		return
	}
	if len(body) == 0 {
		s.refuse(w, 400, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
		return
	}
	if body[len(body)-1] != '\n' {
		s.refuse(w, 400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
		return
	}
	var ops []bulkOp
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, len(body)+1)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var meta map[string]map[string]any
		if err := json.Unmarshal(sc.Bytes(), &meta); err != nil || len(meta) != 1 {
			s.refuse(w, 400, "illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected START_OBJECT", line))
			return
		}
		var op bulkOp
		for a, m := range meta {
			op.action = a
			for k, v := range m {
				str, _ := v.(string)
				switch k {
				case "_index":
					op.index = str
				case "_id":
					op.id = str
				case "routing", "pipeline", "require_alias", "dynamic_templates", "if_seq_no", "if_primary_term", "version", "version_type", "retry_on_conflict":
				default:
					s.refuse(w, 400, "illegal_argument_exception", fmt.Sprintf("Action/metadata line [%d] contains an unknown parameter [%s]", line, k))
					return
				}
			}
		}
		op.line = line
		switch op.action {
		case "index", "create", "update":
			if !sc.Scan() {
				s.refuse(w, 400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
				return
			}
			line++
			op.source = append([]byte(nil), sc.Bytes()...)
		case "delete":
		default:
			s.refuse(w, 400, "illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected one of [create, delete, index, update] but found [%s]", line, op.action))
			return
		}
		if op.index == "" {
			op.index = pathIndex
		}
		if op.index == "" {
			s.refuse(w, 400, "action_request_validation_exception", "Validation Failed: 1: index is missing;")
			return
		}
		if len(op.id) > 512 {
			s.refuse(w, 400, "action_request_validation_exception", fmt.Sprintf("Validation Failed: 1: id [%s] is too long, must be no longer than 512 bytes but was: %d;", op.id, len(op.id)))
			return
		}
		ops = append(ops, op)
	}
	start := time.Now()
	items := make([]map[string]any, len(ops))
	errs := false
	s.mu.Lock()
	for i, op := range ops {
		res := s.apply(op)
		if _, failed := res["error"]; failed {
			errs = true
		}
		items[i] = map[string]any{op.action: res}
	}
	s.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"errors": errs, "took": time.Since(start).Milliseconds(), "items": items})
	s.write(w, 200, string(b))
}

// apply runs one operation; s.mu is held.
func (s *Elastic) apply(op bulkOp) map[string]any {
	res := map[string]any{"_index": op.index, "_id": op.id}
	fail := func(status int, typ, reason string) map[string]any {
		res["status"] = status
		res["error"] = map[string]any{"type": typ, "reason": reason, "index": op.index}
		return res
	}
	if s.itemFail.n > 0 {
		s.itemFail.n--
		if s.itemFail.status == 429 {
			return fail(429, "es_rejected_execution_exception", "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1, max_coordinating_and_primary_bytes=0]")
		}
		if s.itemFail.status == 400 {
			return fail(400, "document_parsing_exception", "[1:1] failed to parse")
		}
		return fail(s.itemFail.status, "exception", http.StatusText(s.itemFail.status))
	}
	if bad := invalidIndexName(op.index); bad != "" {
		return fail(400, "invalid_index_name_exception", fmt.Sprintf("Invalid index name [%s], %s", op.index, bad))
	}
	ds := s.dataStreams[op.index]
	if ds {
		res["_index"] = ".ds-" + op.index + "-2026.12.01-000001"
		if op.action != "create" {
			return fail(400, "illegal_argument_exception", "only write ops with an op_type of create are allowed in data streams")
		}
	}
	if op.action == "delete" || op.action == "update" {
		return fail(400, "illegal_argument_exception", "the fake supports index and create only")
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(op.source))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return fail(400, "document_parsing_exception", fmt.Sprintf("[1:1] failed to parse: %v", err))
	}
	if ds {
		if _, ok := doc["@timestamp"]; !ok {
			return fail(400, "document_parsing_exception", "[1:1] failed to parse: data stream timestamp field [@timestamp] is missing")
		}
	}
	if reason := s.mapDoc(op.index, doc); reason != "" {
		return fail(400, "document_parsing_exception", reason)
	}
	if s.docs[op.index] == nil {
		s.docs[op.index] = map[string]*ElasticDoc{}
	}
	if op.id == "" {
		s.seq++
		op.id = fmt.Sprintf("gen%017d", s.seq)
		res["_id"] = op.id
	}
	old := s.docs[op.index][op.id]
	if old != nil && op.action == "create" {
		return fail(409, "version_conflict_engine_exception", fmt.Sprintf("[%s]: version conflict, document already exists (current version [%d])", op.id, old.Version))
	}
	status, result := 201, "created"
	d := &ElasticDoc{Index: op.index, ID: op.id, Version: 1, Source: op.source}
	if old != nil {
		status, result, d.Version = 200, "updated", old.Version+1
		*old = *d
	} else {
		s.docs[op.index][op.id] = d
		s.order = append(s.order, d)
	}
	s.seq++
	res["_version"], res["result"], res["status"] = d.Version, result, status
	res["_shards"] = map[string]int{"total": 2, "successful": 1, "failed": 0}
	res["_seq_no"], res["_primary_term"] = s.seq, 1
	return res
}

func invalidIndexName(name string) string {
	switch {
	case name != strings.ToLower(name):
		return "must be lowercase"
	case strings.ContainsAny(name, `\/*?"<>| ,#:`):
		return `must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?, #, :]`
	case strings.HasPrefix(name, "_") || strings.HasPrefix(name, "-") || strings.HasPrefix(name, "+"):
		return "must not start with '_', '-', or '+'"
	case len(name) > 255:
		return "index name is too long"
	}
	return ""
}

// mapDoc maps doc's fields dynamically into the index's mapping and
// returns why it cannot. Like Elasticsearch, a string never goes into a
// long, a boolean or a date field that does not parse it, an object never
// where a value is, and the mapping stays within 1000 fields. Stricter
// than Elasticsearch, a fractional number is refused in a field mapped as
// long: Elasticsearch would coerce it and index the truncated value.
func (s *Elastic) mapDoc(index string, doc map[string]any) string {
	m := s.mappings[index]
	if m == nil {
		m = map[string]string{}
		s.mappings[index] = m
	}
	added := map[string]string{}
	var walk func(prefix string, v any) string
	walk = func(path string, v any) string {
		switch v := v.(type) {
		case map[string]any:
			if t, ok := m[path]; ok && t != "object" && path != "" {
				return fmt.Sprintf("object mapping for [%s] tried to parse field [%s] as object, but found a concrete value", path, path)
			}
			if path != "" {
				added[path] = "object"
			}
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if r := walk(p, v[k]); r != "" {
					return r
				}
			}
			return ""
		case []any:
			for _, x := range v {
				if r := walk(path, x); r != "" {
					return r
				}
			}
			return ""
		case nil:
			return ""
		}
		typ := leafType(path, v)
		have, ok := m[path]
		if !ok {
			have, ok = added[path]
		}
		if !ok {
			added[path] = typ
			return ""
		}
		if have == typ || (have == "float" && typ == "long") || (have == "keyword" && typ != "object") {
			return ""
		}
		if have == "object" {
			return fmt.Sprintf("can't merge a non object mapping [%s] with an object mapping", path)
		}
		return fmt.Sprintf("[1:1] failed to parse field [%s] of type [%s] in document. Preview of field's value: '%v'", path, have, v)
	}
	if r := walk("", doc); r != "" {
		return r
	}
	for k, v := range added {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	if len(m) > ElasticMaxFields {
		for k := range added {
			delete(m, k)
		}
		return fmt.Sprintf("Limit of total fields [%d] has been exceeded while adding new fields", ElasticMaxFields)
	}
	return ""
}

// leafType is the dynamic mapping of a value: date detection on strings
// (strict_date_optional_time), long or float for numbers.
func leafType(path string, v any) string {
	switch v := v.(type) {
	case bool:
		return "boolean"
	case json.Number:
		if strings.ContainsAny(string(v), ".eE") {
			return "float"
		}
		return "long"
	case string:
		if _, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return "date"
		}
		if _, err := time.Parse("2006-01-02", v); err == nil {
			return "date"
		}
		return "keyword"
	}
	return "keyword"
}
