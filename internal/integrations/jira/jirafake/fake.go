// Package jirafake is a loopback HTTPS Jira for tests, written from
// Atlassian's published REST API documents (the Jira Cloud platform
// OpenAPI document, the Data Center REST API v2 reference, the ADF JSON
// schema). It serves one deployment at a time:
//
//   - Cloud (REST v3): basic auth with an account email and API token;
//     descriptions and comments must be ADF documents (ValidateADF);
//     search is POST /rest/api/3/search/jql (bounded JQL, closed request
//     bean, reconcileIssues); the removed /rest/api/3/search and
//     /rest/api/2/search answer 410 Gone.
//   - Data Center (REST v2): bearer personal access token; descriptions
//     and comments are wiki-markup strings; search is POST /rest/api/2/search.
//
// Both validate issue creation like Jira: project, issuetype (by name or
// id), summary (one line, at most 255 characters), labels (no spaces),
// priority (by name or id), and refuse fields that are not on the create
// screen. Issues move through a small workflow (To Do, In Progress, Done).
// Tests can make Cloud's search lag behind writes (StaleSearch), inject
// failures (Fail) and read what was stored (Issues).
package jirafake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Deployments.
const (
	Cloud      = "cloud"
	DataCenter = "datacenter"
)

// Options configure a fake.
type Options struct {
	Deployment string // Cloud (default) or DataCenter
	// Email and Token are the Cloud credentials; Token alone is the Data
	// Center personal access token.
	Email, Token string
	// StaleSearch makes Cloud's search see issues as they were at the last
	// Index call (new issues not at all), except those named in
	// reconcileIssues: Jira Cloud's documented eventual consistency.
	StaleSearch bool
	// RequireResolution makes the Done transition's screen require a
	// resolution, as many Data Center workflows do.
	RequireResolution bool
}

// Issue is a stored issue.
type Issue struct {
	ID, Key, Project, IssueType, Summary, Priority, Status, Resolution string
	Labels                                                             []string
	// Description is the raw description: an ADF document (Cloud) or a
	// JSON string of wiki markup (Data Center).
	Description json.RawMessage
	Comments    []json.RawMessage

	created int
	indexed *indexed // what the search sees when StaleSearch is on
}

type indexed struct {
	labels []string
	status string
}

// Text returns the description's text (ADF flattened, or the wiki markup).
func (is Issue) Text() string { return bodyText(is.Description) }

// CommentTexts returns the comments' texts, oldest first.
func (is Issue) CommentTexts() []string {
	var out []string
	for _, c := range is.Comments {
		out = append(out, bodyText(c))
	}
	return out
}

func bodyText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ADFText(raw)
}

// Server is a running fake.
type Server struct {
	*httptest.Server
	opts Options

	mu       sync.Mutex
	issues   []*Issue
	requests []string
	fails    []*failure
}

type failure struct {
	method, path string
	times        int
	status       int
	retryAfter   string
}

var (
	projects = []struct {
		ID, Key, Name string
	}{{"10000", "SEC", "Security"}, {"10001", "OPS", "Operations"}}
	issueTypes = []struct {
		ID, Name string
		Subtask  bool
	}{{"10001", "Bug", false}, {"10002", "Task", false}, {"10003", "Sub-task", true}}
	priorities  = []struct{ ID, Name string }{{"1", "Highest"}, {"2", "High"}, {"3", "Medium"}, {"4", "Low"}, {"5", "Lowest"}}
	statuses    = map[string]string{"To Do": "new", "In Progress": "indeterminate", "Done": "done"}
	resolutions = []string{"Done", "Fixed", "Won't Fix", "Duplicate"}
	// transitions by the status they start from: id, name, target.
	workflow = map[string][][3]string{
		"To Do":       {{"11", "Start Progress", "In Progress"}, {"31", "Done", "Done"}},
		"In Progress": {{"21", "Stop Progress", "To Do"}, {"31", "Done", "Done"}},
		"Done":        {{"41", "Reopen", "To Do"}},
	}
	categoryNames = map[string]string{"new": "To Do", "indeterminate": "In Progress", "done": "Done"}
)

// New starts a fake on a loopback TLS listener and stops it when the test
// ends. Its certificate is trusted by s.Client().
func New(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Deployment == "" {
		o.Deployment = Cloud
	}
	s := &Server{opts: o}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Issues returns copies of the stored issues, in creation order.
func (s *Server) Issues() []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Issue
	for _, is := range s.issues {
		c := *is
		c.Labels = slices.Clone(is.Labels)
		c.Comments = slices.Clone(is.Comments)
		c.indexed = nil
		out = append(out, c)
	}
	return out
}

// Requests returns "METHOD path" of every request served so far.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Index brings the stale search index up to date.
func (s *Server) Index() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, is := range s.issues {
		is.indexed = &indexed{labels: slices.Clone(is.Labels), status: is.Status}
	}
}

// SetStatus moves an issue as a person would, without a transition.
func (s *Server) SetStatus(key, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, is := range s.issues {
		if is.Key == key {
			is.Status = status
		}
	}
}

// Fail makes the next times requests whose method is method (any when "")
// and whose path contains path answer status, with a Retry-After header
// when retryAfter is set.
func (s *Server) Fail(method, path string, times, status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails = append(s.fails, &failure{method, path, times, status, retryAfter})
}

type jiraError struct {
	ErrorMessages []string          `json:"errorMessages"`
	Errors        map[string]string `json:"errors"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, jiraError{ErrorMessages: []string{msg}, Errors: map[string]string{}})
}

func fieldError(w http.ResponseWriter, field, msg string) {
	writeJSON(w, http.StatusBadRequest, jiraError{ErrorMessages: []string{}, Errors: map[string]string{field: msg}})
}

var (
	issuePath = regexp.MustCompile(`^/rest/api/([23])/issue/([^/]+)(/comment|/transitions)?$`)
	projPath  = regexp.MustCompile(`^/rest/api/([23])/project/([^/]+)$`)
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	for _, f := range s.fails {
		if f.times > 0 && (f.method == "" || f.method == r.Method) && strings.Contains(r.URL.Path, f.path) {
			f.times--
			if f.retryAfter != "" {
				w.Header().Set("Retry-After", f.retryAfter)
			}
			fail(w, f.status, "injected failure")
			return
		}
	}
	if !s.authorised(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="protected-by-atlassian"`)
		fail(w, http.StatusUnauthorized, "Client must be authenticated to access this resource.")
		return
	}
	want := "3"
	if s.opts.Deployment == DataCenter {
		want = "2"
	}
	path := r.URL.Path
	switch {
	case path == "/rest/api/3/search" || path == "/rest/api/2/search" && s.opts.Deployment == Cloud:
		fail(w, http.StatusGone, "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API.")
		return
	case !strings.HasPrefix(path, "/rest/api/"+want+"/"):
		fail(w, http.StatusNotFound, "null for uri: "+path)
		return
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	rest := strings.TrimPrefix(path, "/rest/api/"+want)
	switch {
	case rest == "/myself" && r.Method == http.MethodGet:
		me := map[string]any{"accountId": "5b10a2844c20165700ede21g", "emailAddress": s.opts.Email, "active": true}
		if s.opts.Deployment == DataCenter {
			me = map[string]any{"name": "riskmap", "key": "JIRAUSER10000", "active": true}
		}
		writeJSON(w, http.StatusOK, me)
	case rest == "/search/jql" && s.opts.Deployment == Cloud && r.Method == http.MethodPost:
		s.searchCloud(w, body)
	case rest == "/search" && s.opts.Deployment == DataCenter && r.Method == http.MethodPost:
		s.searchDC(w, body)
	case rest == "/issue" && r.Method == http.MethodPost:
		s.create(w, r, body)
	case projPath.MatchString(path) && r.Method == http.MethodGet:
		s.project(w, r, projPath.FindStringSubmatch(path)[2])
	case issuePath.MatchString(path):
		m := issuePath.FindStringSubmatch(path)
		is := s.lookup(m[2])
		if is == nil {
			fail(w, http.StatusNotFound, "Issue does not exist or you do not have permission to see it.")
			return
		}
		switch {
		case m[3] == "" && r.Method == http.MethodGet:
			writeJSON(w, http.StatusOK, s.issueJSON(r, is, is.Labels, is.Status, strings.Split(r.URL.Query().Get("fields"), ",")))
		case m[3] == "" && r.Method == http.MethodPut:
			s.edit(w, is, body)
		case m[3] == "/comment" && r.Method == http.MethodPost:
			s.comment(w, r, is, body)
		case m[3] == "/transitions" && r.Method == http.MethodGet:
			var ts []any
			for _, t := range workflow[is.Status] {
				ts = append(ts, map[string]any{"id": t[0], "name": t[1], "hasScreen": t[2] == "Done" && s.opts.RequireResolution,
					"to": map[string]any{"name": t[2], "statusCategory": map[string]string{"key": statuses[t[2]]}}})
			}
			writeJSON(w, http.StatusOK, map[string]any{"expand": "transitions", "transitions": ts})
		case m[3] == "/transitions" && r.Method == http.MethodPost:
			s.transition(w, is, body)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	default:
		fail(w, http.StatusNotFound, "null for uri: "+path)
	}
}

func (s *Server) authorised(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if s.opts.Deployment == DataCenter {
		return h == "Bearer "+s.opts.Token && s.opts.Token != ""
	}
	return h == "Basic "+base64.StdEncoding.EncodeToString([]byte(s.opts.Email+":"+s.opts.Token)) && s.opts.Token != ""
}

func (s *Server) lookup(idOrKey string) *Issue {
	for _, is := range s.issues {
		if is.ID == idOrKey || strings.EqualFold(is.Key, idOrKey) {
			return is
		}
	}
	return nil
}

func (s *Server) project(w http.ResponseWriter, r *http.Request, key string) {
	for _, p := range projects {
		if p.ID == key || strings.EqualFold(p.Key, key) {
			var its []any
			for _, it := range issueTypes {
				its = append(its, map[string]any{"id": it.ID, "name": it.Name, "subtask": it.Subtask})
			}
			writeJSON(w, http.StatusOK, map[string]any{"id": p.ID, "key": p.Key, "name": p.Name, "issueTypes": its,
				"self": "https://" + r.Host + "/rest/api/3/project/" + p.ID})
			return
		}
	}
	fail(w, http.StatusNotFound, "No project could be found with key '"+key+"'.")
}

// ---- search ----

func (s *Server) searchCloud(w http.ResponseWriter, body []byte) {
	// SearchAndReconcileRequestBean: additionalProperties false.
	var in struct {
		JQL             *string  `json:"jql"`
		Fields          []string `json:"fields"`
		MaxResults      *int     `json:"maxResults"`
		NextPageToken   *string  `json:"nextPageToken"`
		Expand          string   `json:"expand"`
		Properties      []string `json:"properties"`
		FieldsByKeys    bool     `json:"fieldsByKeys"`
		FailFast        bool     `json:"failFast"`
		ReconcileIssues []int64  `json:"reconcileIssues"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		fail(w, http.StatusBadRequest, "Invalid request payload. Refer to the REST API documentation and try again. ("+err.Error()+")")
		return
	}
	if len(in.ReconcileIssues) > 50 {
		fail(w, http.StatusBadRequest, "reconcileIssues accepts at most 50 ids.")
		return
	}
	if in.JQL == nil {
		fail(w, http.StatusBadRequest, "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")
		return
	}
	q, err := ParseJQL(*in.JQL)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(q.Clauses) == 0 {
		fail(w, http.StatusBadRequest, "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")
		return
	}
	limit := 50
	if in.MaxResults != nil {
		limit = min(max(*in.MaxResults, 0), 5000)
	}
	issues := s.match(q, func(is *Issue) ([]string, string, bool) {
		if !s.opts.StaleSearch || slices.ContainsFunc(in.ReconcileIssues, func(id int64) bool { return strconv.FormatInt(id, 10) == is.ID }) {
			return is.Labels, is.Status, true
		}
		if is.indexed == nil {
			return nil, "", false
		}
		return is.indexed.labels, is.indexed.status, true
	})
	var out []any
	for i, m := range issues {
		if i == limit {
			break
		}
		out = append(out, s.issueJSON(nil, m.is, m.labels, m.status, in.Fields))
	}
	if out == nil {
		out = []any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"issues": out, "isLast": len(issues) <= limit})
}

func (s *Server) searchDC(w http.ResponseWriter, body []byte) {
	var in struct {
		JQL           string   `json:"jql"`
		StartAt       int      `json:"startAt"`
		MaxResults    *int     `json:"maxResults"`
		ValidateQuery *bool    `json:"validateQuery"`
		Fields        []string `json:"fields"`
		Expand        []string `json:"expand"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		fail(w, http.StatusBadRequest, "Unrecognized field or bad JSON: "+err.Error())
		return
	}
	q, err := ParseJQL(in.JQL)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	limit := 50
	if in.MaxResults != nil {
		limit = min(max(*in.MaxResults, 0), 1000)
	}
	issues := s.match(q, func(is *Issue) ([]string, string, bool) { return is.Labels, is.Status, true })
	out := []any{}
	for i := in.StartAt; i < len(issues) && i < in.StartAt+limit; i++ {
		out = append(out, s.issueJSON(nil, issues[i].is, issues[i].labels, issues[i].status, in.Fields))
	}
	writeJSON(w, http.StatusOK, map[string]any{"expand": "schema,names", "startAt": in.StartAt, "maxResults": limit, "total": len(issues), "issues": out})
}

type hit struct {
	is     *Issue
	labels []string
	status string
}

func (s *Server) match(q *Query, view func(*Issue) ([]string, string, bool)) []hit {
	var out []hit
	for _, is := range s.issues {
		labels, status, ok := view(is)
		if !ok {
			continue
		}
		if all(q.Clauses, func(c Clause) bool { return matches(c, is, labels, status) }) {
			out = append(out, hit{is, labels, status})
		}
	}
	for i := len(q.Order) - 1; i >= 0; i-- {
		o := q.Order[i]
		slices.SortStableFunc(out, func(a, b hit) int {
			var d int
			switch o.Field {
			case "created", "key":
				d = a.is.created - b.is.created
			case "status":
				d = strings.Compare(a.status, b.status)
			default:
				d = strings.Compare(a.is.Summary, b.is.Summary)
			}
			if o.Desc {
				d = -d
			}
			return d
		})
	}
	return out
}

func all[T any](xs []T, f func(T) bool) bool {
	for _, x := range xs {
		if !f(x) {
			return false
		}
	}
	return true
}

func matches(c Clause, is *Issue, labels []string, status string) bool {
	one := func(v string) bool {
		switch c.Field {
		case "project":
			for _, p := range projects {
				if p.Key == is.Project && (p.ID == v || strings.EqualFold(p.Key, v)) {
					return true
				}
			}
			return false
		case "key":
			return strings.EqualFold(is.Key, v) || is.ID == v
		case "labels":
			return slices.Contains(labels, v)
		case "status":
			return strings.EqualFold(status, v)
		case "statuscategory":
			cat := statuses[status]
			return strings.EqualFold(cat, v) || strings.EqualFold(categoryNames[cat], v)
		case "issuetype":
			return strings.EqualFold(is.IssueType, v)
		}
		return false
	}
	found := slices.ContainsFunc(c.Values, one)
	if c.Op == "!=" || c.Op == "not in" {
		return !found
	}
	return found
}

func (s *Server) issueJSON(r *http.Request, is *Issue, labels []string, status string, fields []string) map[string]any {
	f := map[string]any{}
	want := func(name string) bool {
		return slices.Contains(fields, name) || slices.Contains(fields, "*all") || slices.Contains(fields, "*navigable")
	}
	if want("labels") {
		f["labels"] = append([]string{}, labels...)
	}
	if want("status") {
		cat := statuses[status]
		f["status"] = map[string]any{"name": status, "statusCategory": map[string]any{"key": cat, "name": categoryNames[cat]}}
	}
	if want("summary") {
		f["summary"] = is.Summary
	}
	if want("description") {
		f["description"] = is.Description
	}
	return map[string]any{"id": is.ID, "key": is.Key, "self": "/rest/api/issue/" + is.ID, "fields": f}
}

// ---- writes ----

var createFields = []string{"project", "issuetype", "summary", "description", "labels", "priority"}

func (s *Server) create(w http.ResponseWriter, r *http.Request, body []byte) {
	var in struct {
		Fields map[string]json.RawMessage `json:"fields"`
		Update map[string]json.RawMessage `json:"update"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		fail(w, http.StatusBadRequest, "Unexpected character in the request body: "+err.Error())
		return
	}
	if len(in.Update) > 0 {
		fail(w, http.StatusBadRequest, "jirafake: update operations on create are not implemented")
		return
	}
	for k := range in.Fields {
		if !slices.Contains(createFields, k) {
			fieldError(w, k, "Field '"+k+"' cannot be set. It is not on the appropriate screen, or unknown.")
			return
		}
	}
	is := &Issue{Status: "To Do"}
	var ref struct{ ID, Key, Name string }
	if json.Unmarshal(in.Fields["project"], &ref) != nil {
		fieldError(w, "project", "Specify a valid project ID or key")
		return
	}
	for _, p := range projects {
		if (ref.ID != "" && ref.ID == p.ID) || (ref.Key != "" && ref.Key == p.Key) {
			is.Project = p.Key
		}
	}
	if is.Project == "" {
		fieldError(w, "project", "valid project is required")
		return
	}
	ref = struct{ ID, Key, Name string }{}
	if json.Unmarshal(in.Fields["issuetype"], &ref) != nil {
		fieldError(w, "issuetype", "Specify an issue type")
		return
	}
	for _, it := range issueTypes {
		if !it.Subtask && ((ref.ID != "" && ref.ID == it.ID) || (ref.Name != "" && ref.Name == it.Name)) {
			is.IssueType = it.Name
		}
	}
	if is.IssueType == "" {
		fieldError(w, "issuetype", "valid issue type is required")
		return
	}
	if json.Unmarshal(in.Fields["summary"], &is.Summary) != nil || strings.TrimSpace(is.Summary) == "" {
		fieldError(w, "summary", "You must specify a summary of the issue.")
		return
	}
	if strings.ContainsAny(is.Summary, "\r\n") {
		fieldError(w, "summary", "The summary is invalid because it contains newline characters.")
		return
	}
	if len([]rune(is.Summary)) > 255 {
		fieldError(w, "summary", "Summary must be less than 255 characters.")
		return
	}
	if d, ok := in.Fields["description"]; ok {
		if err := s.checkBody(d); err != nil {
			fieldError(w, "description", err.Error())
			return
		}
		is.Description = d
	}
	if l, ok := in.Fields["labels"]; ok {
		if json.Unmarshal(l, &is.Labels) != nil {
			fieldError(w, "labels", "Labels must be an array of strings.")
			return
		}
		for _, x := range is.Labels {
			if err := checkLabel(x); err != nil {
				fieldError(w, "labels", err.Error())
				return
			}
		}
	}
	if p, ok := in.Fields["priority"]; ok {
		ref = struct{ ID, Key, Name string }{}
		_ = json.Unmarshal(p, &ref)
		for _, pr := range priorities {
			if (ref.ID != "" && ref.ID == pr.ID) || (ref.Name != "" && ref.Name == pr.Name) {
				is.Priority = pr.Name
			}
		}
		if is.Priority == "" {
			fieldError(w, "priority", "Specify the Priority (id or name) in the string format")
			return
		}
	}
	n := len(s.issues) + 1
	is.ID, is.Key, is.created = strconv.Itoa(10000+n), is.Project+"-"+strconv.Itoa(n), n
	s.issues = append(s.issues, is)
	writeJSON(w, http.StatusCreated, map[string]any{"id": is.ID, "key": is.Key, "self": "https://" + r.Host + r.URL.Path + "/" + is.ID})
}

// checkBody validates a description or comment body: ADF on Cloud, a
// string of wiki markup on Data Center.
func (s *Server) checkBody(raw json.RawMessage) error {
	if s.opts.Deployment == Cloud {
		return ValidateADF(raw)
	}
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return fmt.Errorf("Operation value must be a string")
	}
	return nil
}

func checkLabel(l string) error {
	switch {
	case l == "":
		return fmt.Errorf("Labels cannot be empty.")
	case strings.ContainsAny(l, " \t\r\n"):
		return fmt.Errorf("The label '%s' contains spaces which is invalid.", l)
	case len(l) > 255:
		return fmt.Errorf("The label '%s' exceeds the maximum length for a single label of 255 characters.", l)
	}
	return nil
}

func (s *Server) edit(w http.ResponseWriter, is *Issue, body []byte) {
	var in struct {
		Update map[string][]map[string]json.RawMessage `json:"update"`
		Fields map[string]json.RawMessage              `json:"fields"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		fail(w, http.StatusBadRequest, "Can not deserialize the request: "+err.Error())
		return
	}
	if len(in.Fields) > 0 {
		fail(w, http.StatusBadRequest, "jirafake: field edits are not implemented")
		return
	}
	for field, ops := range in.Update {
		if field != "labels" {
			fieldError(w, field, "Field '"+field+"' cannot be set. It is not on the appropriate screen, or unknown.")
			return
		}
		for _, op := range ops {
			for verb, raw := range op {
				var l string
				if json.Unmarshal(raw, &l) != nil {
					fieldError(w, "labels", "Label values must be strings.")
					return
				}
				if err := checkLabel(l); err != nil {
					fieldError(w, "labels", err.Error())
					return
				}
				switch verb {
				case "add":
					if !slices.Contains(is.Labels, l) {
						is.Labels = append(is.Labels, l)
					}
				case "remove":
					is.Labels = slices.DeleteFunc(is.Labels, func(x string) bool { return x == l })
				default:
					fieldError(w, "labels", "Operation '"+verb+"' is not supported for labels (add, remove, set).")
					return
				}
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) comment(w http.ResponseWriter, r *http.Request, is *Issue, body []byte) {
	var in map[string]json.RawMessage
	if err := json.Unmarshal(body, &in); err != nil {
		fail(w, http.StatusBadRequest, "Can not deserialize the comment: "+err.Error())
		return
	}
	for k := range in {
		if k != "body" && k != "visibility" && k != "properties" {
			fail(w, http.StatusBadRequest, "Unrecognized field \""+k+"\"")
			return
		}
	}
	b, ok := in["body"]
	if !ok {
		fieldError(w, "comment", "Comment body can not be empty!")
		return
	}
	if err := s.checkBody(b); err != nil {
		fieldError(w, "comment", err.Error())
		return
	}
	if s.opts.Deployment == DataCenter {
		var str string
		_ = json.Unmarshal(b, &str)
		if strings.TrimSpace(str) == "" {
			fieldError(w, "comment", "Comment body can not be empty!")
			return
		}
	}
	is.Comments = append(is.Comments, b)
	writeJSON(w, http.StatusCreated, map[string]any{"id": strconv.Itoa(20000 + len(is.Comments)), "body": b,
		"self": "https://" + r.Host + r.URL.Path + "/" + strconv.Itoa(20000+len(is.Comments))})
}

func (s *Server) transition(w http.ResponseWriter, is *Issue, body []byte) {
	var in struct {
		Transition *struct {
			ID string `json:"id"`
		} `json:"transition"`
		Fields map[string]json.RawMessage `json:"fields"`
	}
	if err := json.Unmarshal(body, &in); err != nil || in.Transition == nil || in.Transition.ID == "" {
		fail(w, http.StatusBadRequest, "Missing 'transition' identifier")
		return
	}
	for _, t := range workflow[is.Status] {
		if t[0] != in.Transition.ID {
			continue
		}
		res := ""
		for k, v := range in.Fields {
			if k != "resolution" || t[2] != "Done" {
				fieldError(w, k, "Field '"+k+"' cannot be set. It is not on the appropriate screen, or unknown.")
				return
			}
			var ref struct{ ID, Name string }
			_ = json.Unmarshal(v, &ref)
			if !slices.Contains(resolutions, ref.Name) {
				fieldError(w, "resolution", "Could not find valid 'id' or 'name' in resolution object.")
				return
			}
			res = ref.Name
		}
		if t[2] == "Done" && s.opts.RequireResolution && res == "" {
			fieldError(w, "resolution", "Resolution is required.")
			return
		}
		is.Status, is.Resolution = t[2], res
		w.WriteHeader(http.StatusNoContent)
		return
	}
	fail(w, http.StatusBadRequest, "Transition id '"+in.Transition.ID+"' is not valid for this issue.")
}
