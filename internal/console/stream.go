package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"

	"github.com/riskmap/riskmap/internal/sensorproto"
)

// The sensor stream (GET /api/v1/sensor/stream, sensorproto.PathStream):
// a sensor's requests (reports, polls, scan statuses) on one upgraded
// connection instead of a request each. Carrying a report is what costs
// most after ingesting it (bench/transport: 0.36 ms of a bare server's CPU
// for an HTTP/2 request, 0.15 ms on an upgraded connection).
//
// Each message is served as the request it stands for (its request line
// names the route): with the stream's credential, through the same
// middleware (log, metrics, authentication, the policy table, the sensor's
// rate limits) and handler as over HTTP. So a revoked sensor's or an
// expired token's next message gets 401, an over-limit one 429 with its
// retry time, and the report route's histogram counts every report,
// whichever way it came.
//
// One goroutine per stream reads a message, serves it and writes its
// answer; messages on a stream are answered in order. When the console
// shuts down, a stream waiting for a message is closed at once, one
// serving a message after it answers; both with a close message 1001
// (going away), which tells the sensor that what it sent after the last
// answer was not read.

// streamIdle closes a stream that sent nothing for this long (a sensor
// reports every few seconds to minutes; a dead peer is found sooner by TCP
// keepalive).
const streamIdle = 15 * time.Minute

// streamWriteTimeout bounds writing one answer.
const streamWriteTimeout = 30 * time.Second

// streams are the open sensor streams, closed on shutdown.
type streams struct {
	mu      sync.Mutex
	conns   map[*websocket.Conn]struct{}
	closing bool
	wg      sync.WaitGroup
	bufs    sync.Pool // write buffers, held only while an answer is written
}

// Get and Put make streams a websocket.BufferPool.
func (st *streams) Get() any  { return st.bufs.Get() }
func (st *streams) Put(b any) { st.bufs.Put(b) }

// add registers a stream; false once the console is shutting down.
func (st *streams) add(c *websocket.Conn) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closing {
		return false
	}
	if st.conns == nil {
		st.conns = map[*websocket.Conn]struct{}{}
	}
	st.conns[c] = struct{}{}
	st.wg.Add(1)
	return true
}

func (st *streams) remove(c *websocket.Conn) {
	st.mu.Lock()
	delete(st.conns, c)
	st.mu.Unlock()
	st.wg.Done()
}

// await arms a stream's read deadline for its next message: false once
// the console is shutting down (under the lock, so that shutdown's
// deadline is never replaced by this one).
func (st *streams) await(c *websocket.Conn) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closing {
		return false
	}
	_ = c.SetReadDeadline(time.Now().Add(streamIdle))
	return true
}

func (st *streams) isClosing() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.closing
}

// shutdown stops the streams: a read under way ends at once (a stream
// serving a report finishes it and then closes).
func (st *streams) shutdown() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.closing = true
	for c := range st.conns {
		_ = c.NetConn().SetReadDeadline(time.Now())
	}
}

// wait waits for the streams to end, closing those still open when ctx
// ends.
func (st *streams) wait(ctx context.Context) {
	done := make(chan struct{})
	go func() { st.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		st.mu.Lock()
		for c := range st.conns {
			_ = c.NetConn().Close()
		}
		st.mu.Unlock()
		<-done
	}
}

// streamMessageLimit is what one message may hold: the report route's
// body limit, past which it answers 413, and a margin the stream discards;
// a longer message ends the stream (larger bodies go as requests).
func (s *Server) streamMessageLimit() int64 {
	limit := s.cfg.MaxBodyBytes
	if rule, ok := s.policy[policyKey{http.MethodPost, sensorproto.PathReports}]; ok && rule.MaxBodyBytes > 0 {
		limit = rule.MaxBodyBytes
	}
	return limit + 1<<20
}

func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	if _, ok := SensorFrom(r.Context()); !ok {
		writeProblem(w, http.StatusForbidden, ProblemForbidden, "the sensor stream is for enrolled sensors")
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		writeProblem(w, http.StatusUpgradeRequired, "", "the sensor stream is a WebSocket: send Connection: Upgrade, Upgrade: websocket")
		return
	}
	if !slices.Contains(websocket.Subprotocols(r), sensorproto.StreamProtocol) {
		writeProblem(w, http.StatusBadRequest, "", fmt.Sprintf("the sensor stream speaks subprotocol %q only: offer it in Sec-WebSocket-Protocol", sensorproto.StreamProtocol))
		return
	}
	up := websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		Subprotocols:     []string{sensorproto.StreamProtocol},
		WriteBufferPool:  &s.streams,
		// Sensors send no Origin; a browser page must not open a stream.
		CheckOrigin: func(r *http.Request) bool { return r.Header.Get("Origin") == "" },
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			writeProblem(w, status, "", "sensor stream: "+reason.Error())
		},
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // answered by up.Error
	}
	defer conn.Close()
	if !s.streams.add(conn) {
		s.closeStream(conn, websocket.CloseGoingAway, "the console is shutting down")
		return
	}
	defer s.streams.remove(conn)
	conn.SetReadLimit(s.streamMessageLimit())
	// The connection's deadlines are the stream's from here.
	_ = conn.NetConn().SetWriteDeadline(time.Time{})
	// Each message is routed and authenticated afresh: not with the
	// upgrade request's route context and principal.
	base := context.WithValue(context.WithValue(r.Context(), chi.RouteCtxKey, nil), principalKey, nil)
	var ans []byte
	for {
		if !s.streams.await(conn) {
			s.closeStream(conn, websocket.CloseGoingAway, "the console is shutting down")
			return
		}
		typ, rd, err := conn.NextReader()
		// A stream holds a buffer only while it serves a message.
		var msg *bytes.Buffer
		if err == nil && typ == websocket.BinaryMessage {
			msg = messageBufs.Get().(*bytes.Buffer)
			msg.Reset()
			if _, err = msg.ReadFrom(rd); err != nil {
				messageBufs.Put(msg)
			}
		}
		if err != nil {
			var ne interface{ Timeout() bool }
			switch {
			case s.streams.isClosing():
				s.closeStream(conn, websocket.CloseGoingAway, "the console is shutting down")
			case errors.As(err, &ne) && ne.Timeout():
				s.closeStream(conn, websocket.CloseNormalClosure, "no message for "+streamIdle.String())
			case errors.Is(err, websocket.ErrReadLimit):
				s.closeStream(conn, websocket.CloseMessageTooBig, "a message over the limit: send larger bodies as requests")
			}
			return
		}
		if typ != websocket.BinaryMessage {
			s.closeStream(conn, websocket.CloseUnsupportedData, "requests are binary messages (a request line, then the body)")
			return
		}
		ans = s.streamCall(base, r, msg.Bytes(), ans[:0])
		if msg.Cap() <= 256<<10 {
			messageBufs.Put(msg)
		}
		_ = conn.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if err := conn.WriteMessage(websocket.TextMessage, ans); err != nil {
			return
		}
	}
}

// closeStream sends a close message (best effort) before the connection
// is closed.
func (s *Server) closeStream(conn *websocket.Conn, code int, reason string) {
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
}

// messageBufs hold messages while they are served.
var messageBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// streamCall serves one message of a stream as the request it stands for
// and appends the answer message (a sensorproto.StreamAnswer) to dst. base
// is the stream's context without the upgrade request's route and
// principal.
func (s *Server) streamCall(base context.Context, up *http.Request, msg []byte, dst []byte) []byte {
	nl := bytes.IndexByte(msg[:min(len(msg), sensorproto.MaxStreamLine+1)], '\n')
	if nl < 0 {
		return appendAnswer(dst, http.StatusBadRequest, 0, problemJSON(http.StatusBadRequest, "",
			fmt.Sprintf("stream message: a request line (METHOD PATH[ CONTENT-ENCODING], at most %d bytes) and a newline must come first", sensorproto.MaxStreamLine)))
	}
	method, path, encoding, err := sensorproto.ParseStreamRequestLine(string(msg[:nl]))
	if err != nil {
		return appendAnswer(dst, http.StatusBadRequest, 0, problemJSON(http.StatusBadRequest, "", err.Error()))
	}
	body := msg[nl+1:]
	req, err := http.NewRequestWithContext(base, method, path, bytes.NewReader(body))
	if err != nil {
		return appendAnswer(dst, http.StatusBadRequest, 0, problemJSON(http.StatusBadRequest, "", "stream message: "+err.Error()))
	}
	req.RemoteAddr, req.Host, req.TLS = up.RemoteAddr, up.Host, up.TLS
	req.Proto, req.ProtoMajor, req.ProtoMinor = up.Proto, up.ProtoMajor, up.ProtoMinor
	for _, k := range []string{"Authorization", "User-Agent", "X-Forwarded-For"} {
		if v, ok := up.Header[k]; ok {
			req.Header[k] = v
		}
	}
	req.Header.Set("Content-Type", "application/json")
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	rw := answerWriter{h: http.Header{}}
	s.mux.ServeHTTP(&rw, req)
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	retry := 0
	if v := rw.h.Get("Retry-After"); v != "" {
		retry, _ = strconv.Atoi(v)
	}
	return appendAnswer(dst, rw.status, retry, rw.body.Bytes())
}

// appendAnswer appends a StreamAnswer's JSON; a body that is not JSON (no
// handler of the report route writes one) is replaced by a problem.
func appendAnswer(dst []byte, status, retryAfter int, body []byte) []byte {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && !json.Valid(body) {
		status, body = http.StatusInternalServerError, problemJSON(http.StatusInternalServerError, "", "the report route answered something other than JSON")
	}
	dst = append(dst, `{"status":`...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	if retryAfter > 0 {
		dst = append(dst, `,"retryAfterSeconds":`...)
		dst = strconv.AppendInt(dst, int64(min(retryAfter, sensorproto.MaxNextReportSeconds)), 10)
	}
	if len(body) > 0 {
		dst = append(dst, `,"body":`...)
		dst = append(dst, body...)
	}
	return append(dst, '}')
}

// answerWriter is the response of a report served on a stream.
type answerWriter struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (a *answerWriter) Header() http.Header { return a.h }

func (a *answerWriter) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
}

func (a *answerWriter) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if a.body.Len()+len(b) > 64<<10 {
		return 0, errors.New("a report's answer over 64 KiB")
	}
	return a.body.Write(b)
}
