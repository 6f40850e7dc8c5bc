package fakes

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// SumoMaxPayload is the most uncompressed data a request may carry
// ("up to but not exceeding 1MB of uncompressed data",
// https://help.sumologic.com/docs/send-data/hosted-collectors/http-source/logs-metrics/).
const SumoMaxPayload = 1 << 20

// SumoLine is a log line a Sumo Logic fake ingested, with the request's
// metadata headers.
type SumoLine struct {
	Category, Name, Host, Fields string
	Line                         json.RawMessage
}

// SumoLogic is an HTTP Logs and Metrics Source.
type SumoLogic struct {
	*Server
	path string

	mu    sync.Mutex
	lines []SumoLine
}

// NewSumoLogic starts an HTTP source.
func NewSumoLogic(t testing.TB) *SumoLogic {
	s := &SumoLogic{path: "/receiver/v1/http/" + token(64)}
	s.Server = newServer(t, http.HandlerFunc(s.serve), nil)
	return s
}

// SourceURL is the source's secret upload URL.
func (s *SumoLogic) SourceURL() string { return s.URL() + s.path }

// Lines lists the ingested lines, oldest first.
func (s *SumoLogic) Lines() []SumoLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SumoLine(nil), s.lines...)
}

func (s *SumoLogic) serve(w http.ResponseWriter, r *http.Request) {
	const ct = "text/plain; charset=utf-8"
	if r.URL.Path != s.path {
		s.reject(w, http.StatusUnauthorized, ct, "", "unknown source URL")
		return
	}
	if r.Method != http.MethodPost {
		s.reject(w, http.StatusMethodNotAllowed, ct, "", r.Method)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); strings.HasPrefix(mt, "application/vnd.sumologic.") {
		s.reject(w, http.StatusBadRequest, ct, "", "a metrics Content-Type on log lines")
		return
	}
	var body io.Reader = r.Body
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			s.reject(w, http.StatusBadRequest, ct, "", "gzip: "+err.Error())
			return
		}
		body = zr
	case "deflate":
		body = flate.NewReader(r.Body)
	default:
		s.reject(w, http.StatusBadRequest, ct, "", "Content-Encoding "+enc)
		return
	}
	data, err := io.ReadAll(io.LimitReader(body, SumoMaxPayload+1))
	if err != nil {
		s.reject(w, http.StatusBadRequest, ct, "", err.Error())
		return
	}
	if len(data) > SumoMaxPayload {
		s.reject(w, http.StatusRequestEntityTooLarge, ct, "", "over 1 MB uncompressed")
		return
	}
	var got []SumoLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, SumoMaxPayload+1)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		// Sumo ingests any text; Riskmap sends one JSON object a line,
		// and the fake holds it to that.
		if !json.Valid(line) || line[0] != '{' {
			s.reject(w, http.StatusBadRequest, ct, "", "a line is not a JSON object: "+string(line[:min(len(line), 80)]))
			return
		}
		got = append(got, SumoLine{Category: r.Header.Get("X-Sumo-Category"), Name: r.Header.Get("X-Sumo-Name"),
			Host: r.Header.Get("X-Sumo-Host"), Fields: r.Header.Get("X-Sumo-Fields"), Line: append(json.RawMessage(nil), line...)})
	}
	s.mu.Lock()
	s.lines = append(s.lines, got...)
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}
