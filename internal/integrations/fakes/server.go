package fakes

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Failure is a failure mode a fake can be switched into with Fail.
type Failure struct {
	// Down closes each connection without an answer, as a target that is
	// down or unreachable (the client sees a network error).
	Down bool
	// Status is answered instead of the normal handling: 500, 503, 429,
	// 400, 401... with the target's own body for that status unless Body
	// is set.
	Status int
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
	Body       string
	// Times is how many requests fail; 0 means until Clear.
	Times int
}

// Rejection is a request the fake refused because it broke the target's
// documented schema or limits, with the answer it gave.
type Rejection struct {
	Status int
	Reason string
}

// Server is the part of every fake that is the same: the loopback TLS
// server, its client, failure modes, and the record of rejections.
type Server struct {
	srv *httptest.Server
	// failBody is the target's own answer to a failure status.
	failBody func(status int) (contentType, body string)

	mu       sync.Mutex
	failure  *Failure
	requests int
	rejected []Rejection
}

func newServer(t testing.TB, h http.Handler, failBody func(int) (string, string)) *Server {
	s := &Server{failBody: failBody}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.failing(w) {
			return
		}
		h.ServeHTTP(w, r)
	}))
	if t != nil {
		t.Cleanup(s.srv.Close)
	}
	return s
}

// URL is the server's base URL (https://127.0.0.1:port).
func (s *Server) URL() string { return s.srv.URL }

// Client is an HTTP client that trusts the server's certificate (and only
// it): TLS is verified as against the real target.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Close stops the server (done at the test's end anyway).
func (s *Server) Close() { s.srv.Close() }

// Fail switches the server into a failure mode.
func (s *Server) Fail(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failure = &f
}

// Clear ends any failure mode.
func (s *Server) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failure = nil
}

// Requests is how many requests arrived, failed ones included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Rejected lists the requests refused as invalid, oldest first.
func (s *Server) Rejected() []Rejection {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Rejection(nil), s.rejected...)
}

// failing answers per the failure mode and reports whether it did.
func (s *Server) failing(w http.ResponseWriter) bool {
	s.mu.Lock()
	s.requests++
	f := s.failure
	if f != nil && f.Times > 0 {
		f.Times--
		if f.Times == 0 {
			s.failure = nil
		}
	}
	s.mu.Unlock()
	if f == nil {
		return false
	}
	if f.Down {
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic("fakes: connection cannot be hijacked")
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close()
		}
		return true
	}
	ct, body := "text/plain; charset=utf-8", http.StatusText(f.Status)
	if s.failBody != nil {
		ct, body = s.failBody(f.Status)
	}
	if f.Body != "" {
		body = f.Body
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(f.Status)
	fmt.Fprint(w, body)
	return true
}

// reject records a refusal and answers it.
func (s *Server) reject(w http.ResponseWriter, status int, contentType, body, reason string) {
	s.mu.Lock()
	s.rejected = append(s.rejected, Rejection{Status: status, Reason: reason})
	s.mu.Unlock()
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// token is a random secret of n hex digits.
func token(n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)[:n]
}
