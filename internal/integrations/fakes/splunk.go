package fakes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// SplunkMaxContentLength is the HEC's default max_content_length in
// limits.conf [http_input] of older releases, the smallest a sender meets.
const SplunkMaxContentLength = 1_000_000

// HECEvent is an event a Splunk HEC fake indexed.
type HECEvent struct {
	Time       float64
	Host       string
	Source     string
	Sourcetype string
	Index      string
	Event      json.RawMessage
	Fields     map[string]any
	Channel    string
}

// Splunk is the HTTP Event Collector
// (https://help.splunk.com/splunk-enterprise/get-data-in/collect-http-event-data/format-events-for-http-event-collector).
type Splunk struct {
	*Server
	token string

	mu        sync.Mutex
	indexes   []string
	ack       bool
	ackPolls  int // polls before an ack turns true
	nextAck   int64
	pending   map[string]map[int64]int // channel → ackId → polls left
	events    []HECEvent
	ackChecks int
}

// NewSplunk starts a HEC with one token allowed to write to the indexes
// main and riskmap, indexer acknowledgement off.
func NewSplunk(t testing.TB) *Splunk {
	s := &Splunk{token: uuid(), indexes: []string{"main", "riskmap"}, pending: map[string]map[int64]int{}}
	s.Server = newServer(t, http.HandlerFunc(s.serve), func(status int) (string, string) {
		switch status {
		case 503:
			return "application/json", `{"text":"Server is busy","code":9}`
		case 500:
			return "application/json", `{"text":"Internal server error","code":8}`
		case 400:
			return "application/json", `{"text":"Invalid data format","code":6}`
		case 401:
			return "application/json", `{"text":"Token is required","code":2}`
		case 403:
			return "application/json", `{"text":"Invalid token","code":4}`
		}
		return "application/json", fmt.Sprintf(`{"text":%q,"code":8}`, http.StatusText(status))
	})
	return s
}

// Token is the HEC token (a secret).
func (s *Splunk) Token() string { return s.token }

// SetIndexes sets the indexes the token may write to.
func (s *Splunk) SetIndexes(idx ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.indexes = idx
}

// EnableAck turns indexer acknowledgement on: requests need a channel, and
// an ack turns true after polls queries of it (0: at once).
func (s *Splunk) EnableAck(polls int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ack, s.ackPolls = true, polls
}

// Events lists the indexed events, oldest first.
func (s *Splunk) Events() []HECEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]HECEvent(nil), s.events...)
}

// AckChecks is how many ack queries arrived.
func (s *Splunk) AckChecks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ackChecks
}

var guid = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

func uuid() string {
	t := token(32)
	return t[:8] + "-" + t[8:12] + "-4" + t[13:16] + "-a" + t[17:20] + "-" + t[20:]
}

func (s *Splunk) answer(w http.ResponseWriter, status int, v map[string]any, reason string) {
	b, _ := json.Marshal(v)
	if status >= 300 {
		s.reject(w, status, "application/json", string(b), reason)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

func hecStatus(code int) (int, string) {
	switch code {
	case 1:
		return 403, "Token disabled"
	case 2:
		return 401, "Token is required"
	case 3:
		return 401, "Invalid authorization"
	case 4:
		return 403, "Invalid token"
	case 5:
		return 400, "No data"
	case 6:
		return 400, "Invalid data format"
	case 7:
		return 400, "Incorrect index"
	case 10:
		return 400, "Data channel is missing"
	case 11:
		return 400, "Invalid data channel"
	case 12:
		return 400, "Event field is required"
	case 13:
		return 400, "Event field cannot be blank"
	case 14:
		return 400, "ACK is disabled"
	case 15:
		return 400, "Error in handling indexed fields"
	}
	return 500, "Internal server error"
}

func (s *Splunk) fail(w http.ResponseWriter, code int, extra map[string]any, reason string) {
	status, text := hecStatus(code)
	v := map[string]any{"text": text, "code": code}
	for k, x := range extra {
		v[k] = x
	}
	s.answer(w, status, v, text+": "+reason)
}

func (s *Splunk) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/services/collector/health", "/services/collector/health/1.0":
		s.answer(w, 200, map[string]any{"text": "HEC is healthy", "code": 17}, "")
		return
	case "/services/collector", "/services/collector/event", "/services/collector/event/1.0", "/services/collector/ack":
	default:
		s.answer(w, 404, map[string]any{"text": "The requested URL was not found on this server.", "code": 404}, r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		s.answer(w, 405, map[string]any{"text": "Method not allowed", "code": 405}, r.Method)
		return
	}
	auth := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(auth, " ")
	switch {
	case auth == "":
		s.fail(w, 2, nil, "no Authorization")
		return
	case scheme != "Splunk" || tok == "":
		s.fail(w, 3, nil, "scheme "+scheme)
		return
	case tok != s.token:
		s.fail(w, 4, nil, "unknown token")
		return
	}
	channel := r.Header.Get("X-Splunk-Request-Channel")
	if channel == "" {
		channel = r.URL.Query().Get("channel")
	}
	s.mu.Lock()
	ack := s.ack
	s.mu.Unlock()
	if ack || channel != "" {
		if channel == "" {
			s.fail(w, 10, nil, "")
			return
		}
		if !guid.MatchString(channel) {
			s.fail(w, 11, nil, channel)
			return
		}
	}
	if r.URL.Path == "/services/collector/ack" {
		s.serveAck(w, r, ack, channel)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, SplunkMaxContentLength+1))
	if err != nil {
		s.fail(w, 6, nil, err.Error())
		return
	}
	if len(body) > SplunkMaxContentLength {
		s.answer(w, http.StatusRequestEntityTooLarge, map[string]any{"text": "Content too large", "code": 413}, "over max_content_length")
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		s.fail(w, 5, nil, "")
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var accepted []HECEvent
	defer func() {
		// Events before an invalid one are indexed, as by HEC.
		s.mu.Lock()
		s.events = append(s.events, accepted...)
		s.mu.Unlock()
	}()
	for n := 0; dec.More(); n++ {
		var v any
		if err := dec.Decode(&v); err != nil {
			s.fail(w, 6, map[string]any{"invalid-event-number": n}, err.Error())
			return
		}
		ev, code, reason := s.checkEvent(v)
		if code != 0 {
			s.fail(w, code, map[string]any{"invalid-event-number": n}, reason)
			return
		}
		ev.Channel = channel
		accepted = append(accepted, ev)
	}
	v := map[string]any{"text": "Success", "code": 0}
	if ack {
		s.mu.Lock()
		id := s.nextAck
		s.nextAck++
		if s.pending[channel] == nil {
			s.pending[channel] = map[int64]int{}
		}
		s.pending[channel][id] = s.ackPolls
		s.mu.Unlock()
		v["ackId"] = id
	}
	s.answer(w, 200, v, "")
}

// checkEvent checks one event of the JSON event protocol.
func (s *Splunk) checkEvent(v any) (HECEvent, int, string) {
	o, ok := v.(map[string]any)
	if !ok {
		return HECEvent{}, 6, "not an object"
	}
	raw, there := o["event"]
	if !there {
		return HECEvent{}, 12, ""
	}
	if raw == nil || raw == "" {
		return HECEvent{}, 13, ""
	}
	var ev HECEvent
	ev.Event, _ = json.Marshal(raw)
	if t, there := o["time"]; there {
		var f float64
		var err error
		switch t := t.(type) {
		case json.Number:
			f, err = t.Float64()
		case string:
			f, err = strconv.ParseFloat(t, 64)
		default:
			err = fmt.Errorf("time of type %T", t)
		}
		if err != nil {
			return HECEvent{}, 6, "time: " + err.Error()
		}
		ev.Time = f
	}
	for k, dst := range map[string]*string{"host": &ev.Host, "source": &ev.Source, "sourcetype": &ev.Sourcetype, "index": &ev.Index} {
		if x, there := o[k]; there {
			str, ok := x.(string)
			if !ok {
				return HECEvent{}, 6, k + " is not a string"
			}
			*dst = str
		}
	}
	if ev.Index != "" {
		s.mu.Lock()
		ok := slices.Contains(s.indexes, ev.Index)
		s.mu.Unlock()
		if !ok {
			return HECEvent{}, 7, ev.Index
		}
	}
	if f, there := o["fields"]; there {
		fo, ok := f.(map[string]any)
		if !ok {
			return HECEvent{}, 15, "fields is not an object"
		}
		for k, x := range fo {
			switch x := x.(type) {
			case string:
			case []any:
				for _, y := range x {
					if _, ok := y.(string); !ok {
						return HECEvent{}, 15, "fields." + k
					}
				}
			default:
				return HECEvent{}, 15, "fields." + k
			}
		}
		ev.Fields = fo
	}
	return ev, 0, ""
}

func (s *Splunk) serveAck(w http.ResponseWriter, r *http.Request, ack bool, channel string) {
	if !ack {
		s.fail(w, 14, nil, "")
		return
	}
	var q struct {
		Acks []int64 `json:"acks"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&q); err != nil {
		s.fail(w, 6, nil, err.Error())
		return
	}
	s.mu.Lock()
	s.ackChecks++
	out := map[string]bool{}
	for _, id := range q.Acks {
		left, there := s.pending[channel][id]
		switch {
		case !there:
			out[strconv.FormatInt(id, 10)] = false
		case left <= 0:
			out[strconv.FormatInt(id, 10)] = true
		default:
			s.pending[channel][id] = left - 1
			out[strconv.FormatInt(id, 10)] = false
		}
	}
	s.mu.Unlock()
	s.answer(w, 200, map[string]any{"acks": out}, "")
}
