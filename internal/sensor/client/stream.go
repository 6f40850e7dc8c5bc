package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/riskmap/riskmap/internal/sensorproto"
)

// The sensor stream (sensorproto.PathStream): one WebSocket to the
// console carrying the sensor's requests (reports, polls, scan statuses),
// each answered in order, instead of a request each. It is opened at the
// first request, reopened when its credential changes, and given up for
// streamRefusedFor when the console or a proxy refuses the upgrade (the
// requests then go as requests). Bodies over streamMaxBody (inventories,
// results, a large full report) always go as requests.

// streamMaxBody is the largest body sent on the stream.
const streamMaxBody = 1 << 20

// streamRefusedFor is how long reports go as requests after the upgrade
// was refused.
const streamRefusedFor = 10 * time.Minute

// streamMaxIdle reopens a stream unused for this long rather than trust
// it (the console closes streams idle for 15 minutes).
const streamMaxIdle = 5 * time.Minute

type sensorStream struct {
	// mu is held for a whole report: reports on a stream go one at a time.
	mu           chan struct{}
	conn         *websocket.Conn
	token        string // the credential it was opened with
	lastUsed     time.Time
	refusedUntil time.Time
}

func (st *sensorStream) close() {
	if st.conn != nil {
		_ = st.conn.Close()
		st.conn = nil
	}
}

// CloseStream closes the sensor stream, if one is open (the sensor calls
// it when it stops; the next report opens another).
func (c *Client) CloseStream() {
	st := &c.stream
	if st.lock(context.Background()) != nil {
		return
	}
	defer st.unlock()
	if st.conn != nil {
		_ = st.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "sensor stopping"), time.Now().Add(time.Second))
	}
	st.close()
}

// Streaming reports whether a sensor stream is open (the last request
// went on it).
func (c *Client) Streaming() bool {
	st := &c.stream
	if st.lock(context.Background()) != nil {
		return false
	}
	defer st.unlock()
	return st.conn != nil
}

func (st *sensorStream) lock(ctx context.Context) error {
	if st.mu == nil {
		panic("client: sensorStream used before New")
	}
	select {
	case st.mu <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (st *sensorStream) unlock() { <-st.mu }

// streamCall sends a request on the stream and decodes its answer into
// out (nil: none). streamed is false when it is to go as a request
// instead: streams are off or were refused, the body is too large for
// one, or the stream could not be opened (the request meets the same
// failure and reports it).
func (c *Client) streamCall(ctx context.Context, op, method, path string, body []byte, encoding string, out any) (streamed bool, err error) {
	if c.cfg.NoStream || len(body) > streamMaxBody || !strings.HasPrefix(path, sensorproto.StreamRoutes) {
		return false, nil
	}
	st := &c.stream
	if err := st.lock(ctx); err != nil {
		return true, fmt.Errorf("%s: %w", op, err)
	}
	defer st.unlock()
	if c.cfg.Now().Before(st.refusedUntil) {
		return false, nil
	}
	line := sensorproto.StreamRequestLine(method, path, encoding)
	force := false
	for range 3 {
		tok, err := c.token(ctx, force)
		if err != nil {
			return true, err
		}
		now := c.cfg.Now()
		if st.conn != nil && (st.token != tok || now.Sub(st.lastUsed) > streamMaxIdle) {
			st.close()
		}
		fresh := st.conn == nil
		if fresh {
			conn, status, err := c.dialStream(ctx, tok)
			switch {
			case status == http.StatusUnauthorized && !force:
				force = true // the token expired or was revoked: exchange the key once
				continue
			case status == http.StatusUnauthorized:
				return true, err
			case status == http.StatusTooManyRequests || status >= 500:
				return false, nil // overloaded: this one as a request, the stream next time
			case status != 0:
				st.refusedUntil = now.Add(streamRefusedFor)
				c.cfg.Logger.Warn("the console refused the sensor stream; sending requests instead", "status", status, "err", err, "retry_in", streamRefusedFor)
				return false, nil
			case err != nil:
				return false, nil
			}
			st.conn, st.token = conn, tok
			// The stream carries what the HTTP connection did: it is
			// not kept open beside it (at 2,000 sensors the idle HTTP/2
			// connections held ~100 MB of the console's memory).
			c.http.CloseIdleConnections()
		}
		ans, sent, err := st.exchange(ctx, line, body, c.cfg.Timeout)
		if err != nil {
			st.close()
			// A stream the console closed between messages (shutting
			// down, idle) did not read this one: again on a new stream.
			if !fresh && (!sent || websocket.IsCloseError(err, websocket.CloseGoingAway, websocket.CloseNormalClosure)) {
				continue
			}
			return true, fmt.Errorf("%s: %w", op, err)
		}
		st.lastUsed = now
		if ans.Status == http.StatusUnauthorized && !force {
			st.close()
			force = true
			continue
		}
		return true, answer(op, ans.Status, time.Duration(ans.RetryAfterSeconds)*time.Second, ans.Body, out)
	}
	return true, fmt.Errorf("%s: the sensor stream closed again and again", op)
}

// dialStream opens the stream. status is the console's answer when it
// answered the upgrade with something else than 101.
func (c *Client) dialStream(ctx context.Context, tok string) (*websocket.Conn, int, error) {
	u := *c.base
	u.Scheme = "wss"
	u.Path += sensorproto.PathStream
	tc := c.tls.Clone()
	tc.NextProtos = []string{"http/1.1"} // WebSocket upgrades an HTTP/1.1 request
	d := websocket.Dialer{Proxy: http.ProxyFromEnvironment, TLSClientConfig: tc, HandshakeTimeout: c.cfg.Timeout,
		Subprotocols: []string{sensorproto.StreamProtocol}, ReadBufferSize: 1024, WriteBufferSize: 4096}
	h := http.Header{"Authorization": {"Bearer " + tok}, "User-Agent": {c.cfg.UserAgent}}
	conn, resp, err := d.DialContext(ctx, u.String(), h)
	if err != nil {
		if resp != nil {
			defer resp.Body.Close()
			raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			return nil, resp.StatusCode, answer("open the sensor stream", resp.StatusCode, 0, raw, nil)
		}
		return nil, 0, err
	}
	if conn.Subprotocol() != sensorproto.StreamProtocol {
		_ = conn.Close()
		return nil, http.StatusNotImplemented, fmt.Errorf("open the sensor stream: the console chose subprotocol %q", conn.Subprotocol())
	}
	conn.SetReadLimit(c.cfg.MaxResponseBytes)
	return conn, 0, nil
}

// exchange sends one message and reads its answer; sent tells whether the
// whole message was written.
func (st *sensorStream) exchange(ctx context.Context, line string, body []byte, timeout time.Duration) (sensorproto.StreamAnswer, bool, error) {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn := st.conn
	stop := context.AfterFunc(ctx, func() { _ = conn.NetConn().SetDeadline(time.Now()) })
	defer stop()
	_ = conn.SetWriteDeadline(deadline)
	if err := writeMessage(conn, line, body); err != nil {
		return sensorproto.StreamAnswer{}, false, ctxErr(ctx, err)
	}
	_ = conn.SetReadDeadline(deadline)
	typ, msg, err := conn.ReadMessage()
	if err != nil {
		return sensorproto.StreamAnswer{}, true, ctxErr(ctx, err)
	}
	if typ != websocket.TextMessage {
		return sensorproto.StreamAnswer{}, true, fmt.Errorf("%w: a binary answer on the sensor stream", ErrMalformed)
	}
	a, err := sensorproto.DecodeStreamAnswer(msg)
	if err != nil {
		return sensorproto.StreamAnswer{}, true, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return a, true, nil
}

// ctxErr prefers the context's error to the deadline it caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// writeMessage writes a message: its request line, then its body.
func writeMessage(conn *websocket.Conn, line string, body []byte) error {
	w, err := conn.NextWriter(websocket.BinaryMessage)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, line); err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	return w.Close()
}
