package console

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/store"
)

// Cookie and header names of the browser session (see API-CONTRACT.md).
const (
	SessionCookie = "riskmap_session"
	CSRFCookie    = "riskmap_csrf"
	CSRFHeader    = "X-CSRF-Token"
)

// Principal is the authenticated caller of a request: a user, or (Sensor
// set, User empty) an enrolled sensor.
type Principal struct {
	User store.User
	// Sensor is the enrolled sensor when the caller is one.
	Sensor *store.Sensor
	// Via is how the caller authenticated: "session", "api_key",
	// "access_token", "sensor_key" or "sensor_token".
	Via string
	// SessionHash is the stored digest of the session id (Via == "session").
	SessionHash []byte
}

type ctxKey int

const (
	principalKey ctxKey = iota
	clientAddrKey
	requestIDKey
	routeKey
)

// PrincipalFrom returns the request's authenticated caller, if any.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey).(*Principal)
	return p, ok && p != nil
}

// ClientAddr returns the request's client address (IP, no port).
func ClientAddr(ctx context.Context) string {
	s, _ := ctx.Value(clientAddrKey).(string)
	return s
}

// statusRecorder remembers the status code for logs and metrics.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Hijack lets the report stream take the connection over (a 101 in the
// log and metrics).
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(r.ResponseWriter).Hijack()
	if err == nil && r.status == 0 {
		r.status = http.StatusSwitchingProtocols
	}
	return c, brw, err
}

// Flush lets streaming handlers flush through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		if r.status == 0 {
			r.status = http.StatusOK
		}
		f.Flush()
	}
}

// observe logs each request, counts it in the metrics and turns a panic
// into a 500 problem (logged with its stack).
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		rec := &statusRecorder{ResponseWriter: w}
		host := s.clientAddr(r)
		reqID := store.NewID(start)[20:]
		ctx := context.WithValue(r.Context(), clientAddrKey, host)
		ctx = context.WithValue(ctx, requestIDKey, reqID)
		route := new(string)
		ctx = context.WithValue(ctx, routeKey, route)
		r = r.WithContext(ctx)
		r = r.WithContext(context.WithValue(ctx, httpRequestKey{}, r))
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", "request_id", reqID, "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if rec.status == 0 {
					writeProblem(rec, http.StatusInternalServerError, "", "internal error (request "+reqID+")")
				}
			}
			route := *route
			if route == "" {
				route = "unmatched"
			}
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			elapsed := time.Since(start)
			s.metrics.requests.With(prometheus.Labels{"method": r.Method, "route": route, "code": fmt.Sprint(rec.status)}).Inc()
			s.metrics.duration.With(prometheus.Labels{"method": r.Method, "route": route}).Observe(elapsed.Seconds())
			level := slog.LevelInfo
			if route == "/healthz" || route == "/readyz" || route == "/metrics" {
				level = slog.LevelDebug
			}
			if rec.status >= 500 {
				level = slog.LevelError
			}
			s.log.LogAttrs(r.Context(), level, "request", slog.String("request_id", reqID), slog.String("method", r.Method),
				slog.String("route", route), slog.Int("status", rec.status), slog.Int64("bytes", rec.bytes),
				slog.Duration("duration", elapsed), slog.String("client", host))
		}()
		h := rec.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Strict-Transport-Security", "max-age=31536000")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("X-Request-Id", reqID)
		next.ServeHTTP(rec, r)
	})
}

// clientAddr is the TCP peer, or, when the peer is a trusted proxy, the
// rightmost address in X-Forwarded-For that is not itself a trusted proxy.
func (s *Server) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(s.proxies) == 0 || !s.trusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		a, err := netip.ParseAddr(hop)
		if err != nil {
			return host // malformed chain: fall back to the proxy itself
		}
		if !s.trusted(hop) {
			return a.Unmap().String()
		}
	}
	return host
}

func (s *Server) trusted(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// authorise authenticates the caller and enforces the policy table for the
// route the request matches, before routing hands it to a handler.
func (s *Server) authorise(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.RawPath
		if path == "" {
			path = r.URL.Path
		}
		pattern := s.mux.Find(chi.NewRouteContext(), r.Method, path)
		if pattern == "" {
			// No route: chi answers 404/405 without running a handler.
			next.ServeHTTP(w, r)
			return
		}
		if rp, ok := r.Context().Value(routeKey).(*string); ok {
			*rp = pattern
		}
		rule, ok := s.policy[policyKey{r.Method, pattern}]
		if !ok {
			s.log.Error("route has no row in the policy table; refusing", "method", r.Method, "pattern", pattern)
			writeProblem(w, http.StatusForbidden, ProblemForbidden, "this route has no access policy")
			return
		}
		limit := s.cfg.MaxBodyBytes
		if rule.MaxBodyBytes > 0 {
			limit = rule.MaxBodyBytes
		}
		if r.ContentLength > limit {
			writeProblem(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, limit))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)

		if unsafeMethod(r.Method) && r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			writeProblem(w, http.StatusForbidden, ProblemCSRF, "cross-site requests may not change state")
			return
		}
		p, status, detail := s.authenticate(r, rule.Access != Anyone)
		if status != 0 {
			typ := ProblemUnauthenticated
			if status == http.StatusForbidden {
				typ = ProblemCSRF
			}
			switch status {
			case http.StatusUnauthorized:
				w.Header().Set("WWW-Authenticate", `Bearer realm="riskmap"`)
			case http.StatusServiceUnavailable:
				typ = ""
				w.Header().Set("Retry-After", "5")
			}
			writeProblem(w, status, typ, detail)
			return
		}
		if rule.Access == Sensor {
			if p == nil || p.Sensor == nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="riskmap-sensor"`)
				writeProblem(w, http.StatusUnauthorized, ProblemUnauthenticated,
					"this route is for enrolled sensors: enrol with an enrolment token (riskmap sensor --enrolment-token), then send Authorization: Bearer <sensor key or sensor access token>")
				return
			}
		} else if rule.Access != Anyone {
			if p == nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="riskmap"`)
				writeProblem(w, http.StatusUnauthorized, ProblemUnauthenticated, "sign in, or send Authorization: Bearer <API key or access token>")
				return
			}
			if p.Sensor != nil {
				writeProblem(w, http.StatusForbidden, ProblemForbidden, fmt.Sprintf("%s %s is for users; a sensor's credential cannot call it", r.Method, pattern))
				return
			}
			if !p.User.Role.AtLeast(rule.Access.minRole()) {
				writeProblem(w, http.StatusForbidden, ProblemForbidden,
					fmt.Sprintf("%s %s needs role %s or higher; you are %s", r.Method, pattern, rule.Access, p.User.Role))
				return
			}
		}
		if p != nil && p.Sensor != nil {
			if rl, ok := s.limits[policyKey{r.Method, pattern}]; ok {
				if ok, wait := s.allowSensor(r.Context(), rl, pattern, p.Sensor.ID); !ok {
					SetRetryAfter(w.Header(), wait)
					writeProblem(w, http.StatusTooManyRequests, "", fmt.Sprintf("%s: this sensor is over its rate limit; retry in %ss", rl.What, w.Header().Get("Retry-After")))
					return
				}
			}
		}
		if p != nil {
			r = r.WithContext(context.WithValue(r.Context(), principalKey, p))
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate finds the caller. A present but invalid bearer credential is
// an error (401); a stale session cookie is ignored (anonymous). For
// cookie-authenticated unsafe requests the CSRF double-submit token must
// match: when required (the route needs a user) a mismatch is 403,
// otherwise the session is simply not used. When the store cannot answer
// (the database is down or restarting) the answer is 503 with Retry-After,
// never 401: the credential may well be valid, and a sensor must not
// throw its token away.
func (s *Server) authenticate(r *http.Request, required bool) (*Principal, int, string) {
	ctx := r.Context()
	unavailable := func(op string, err error) (*Principal, int, string) {
		s.log.Error(op, "err", err)
		return nil, http.StatusServiceUnavailable, "the console cannot reach its database; retry later"
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(cred) == "" {
			return nil, http.StatusUnauthorized, "Authorization header must be \"Bearer <API key or access token>\""
		}
		cred = strings.TrimSpace(cred)
		if strings.HasPrefix(cred, auth.SensorKeyPrefix) || s.knownSensorToken(cred) || s.sensorToken(cred) {
			return s.authenticateSensor(r, cred)
		}
		if strings.HasPrefix(cred, auth.APIKeyPrefix) {
			if !auth.WellFormed(cred, auth.APIKeyPrefix) {
				return nil, http.StatusUnauthorized, "the API key is malformed"
			}
			_, u, err := s.store.APIKeyUser(ctx, auth.HashSecret(cred))
			if err != nil {
				if !errors.Is(err, store.ErrNotFound) {
					return unavailable("look up API key", err)
				}
				return nil, http.StatusUnauthorized, "the API key is not valid (it may have been reset)"
			}
			if u.Disabled {
				return nil, http.StatusUnauthorized, "the account is disabled"
			}
			return &Principal{User: u, Via: "api_key"}, 0, ""
		}
		claims, err := s.tokens().Verify(cred)
		if errors.Is(err, auth.ErrUnknownKey) && s.reloadKeys(ctx) {
			claims, err = s.tokens().Verify(cred)
		}
		if err != nil {
			return nil, http.StatusUnauthorized, "the access token is not valid or has expired; exchange the API key again"
		}
		// What the token was issued from must still stand: its refresh
		// family (revoked by reuse, sign-out, a password change or reset,
		// disabling the user; gone with the user) and its API key. One
		// query by primary keys.
		if claims.FamilyID == "" {
			return nil, http.StatusUnauthorized, "the access token names no refresh-token family (issued by an older console); exchange the API key again"
		}
		fam, u, err := s.store.TokenFamilyUser(ctx, claims.FamilyID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return unavailable("look up the access token's refresh family", err)
		}
		switch {
		case err != nil || u.ID != claims.Subject:
			return nil, http.StatusUnauthorized, "the access token was revoked (its user was deleted); exchange the API key again"
		case fam.RevokedAt != nil:
			return nil, http.StatusUnauthorized, "the access token was revoked (signed out, refresh token reused, password changed or reset, or account disabled); exchange the API key again"
		case !fam.KeyCurrent || fam.APIKeyID != claims.APIKeyID:
			return nil, http.StatusUnauthorized, "the access token's API key was reset; exchange the new key"
		case u.Disabled:
			return nil, http.StatusUnauthorized, "the account is disabled"
		case claims.IssuedAt == nil || claims.IssuedAt.Before(u.PasswordChangedAt.Truncate(time.Second)):
			// Issued before the last password change or reset (iat has
			// whole seconds; the family check covers the same second).
			return nil, http.StatusUnauthorized, "the access token predates the last password change; exchange the API key again"
		}
		return &Principal{User: u, Via: "access_token"}, 0, ""
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || !auth.WellFormed(c.Value, auth.SessionPrefix) {
		return nil, 0, ""
	}
	sess, u, err := s.store.SessionUser(ctx, auth.HashSecret(c.Value))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return unavailable("look up session", err)
	}
	if err != nil || u.Disabled {
		return nil, 0, ""
	}
	if unsafeMethod(r.Method) {
		header := r.Header.Get(CSRFHeader)
		cookie, cerr := r.Cookie(CSRFCookie)
		if cerr != nil || header == "" || cookie.Value != header || !auth.SecretMatches(header, sess.CSRFHash) {
			if required {
				return nil, http.StatusForbidden, "missing or wrong CSRF token: echo the riskmap_csrf cookie in the X-CSRF-Token header"
			}
			return nil, 0, ""
		}
	}
	return &Principal{User: u, Via: "session", SessionHash: sess.IDHash}, 0, ""
}
