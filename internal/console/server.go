package console

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/store"
)

// init makes arrays in the console's OpenAPI schemas non-nullable (huma's
// default documents every Go slice as "array or null"): responses encode
// nil slices as [] (emptySlices), so clients read arrays, and a request
// field that may be null says so with the tag nullable:"true". huma only
// offers a package variable for this; it is set before any schema exists.
func init() { huma.DefaultArrayNullable = false }

// Module is a package that serves part of the console: it registers its
// routes on the typed API (huma: OpenAPI, validation, problem errors) or,
// for streaming bodies, on the raw router. Every route it adds needs a row
// in Policy(); the authorisation middleware enforces that row before the
// handler runs and PrincipalFrom(ctx) gives the caller.
type Module interface {
	Routes(api huma.API, r chi.Router)
}

// SensorLimits is implemented by modules whose sensor routes are
// rate-limited per sensor: the authorisation middleware checks each limit
// against the authenticated sensor, before the handler reads the body.
type SensorLimits interface {
	SensorLimits() []RouteLimit
}

// RouteLimit is a per-sensor token bucket for one route.
type RouteLimit struct {
	Method, Pattern string
	Buckets         *auth.Buckets
	// What names the request in the 429 answer ("poll commands").
	What string
}

// Readier is implemented by modules that can be unable to serve (a
// replica's topology graph behind the others'): /readyz answers 503 with
// the first one's reason.
type Readier interface {
	Ready(ctx context.Context) error
}

// Options are the console's dependencies. The composition root
// (internal/cli) fills them.
type Options struct {
	Config  config.Console
	Store   *store.Store
	Logger  *slog.Logger
	Now     func() time.Time // defaults to time.Now
	Version string
	// Modules add routes (topology ingest, scans, findings...).
	Modules []Module
	// Collectors are modules' Prometheus metrics, served on /metrics.
	Collectors []prometheus.Collector
	// SPA, when set, serves the web UI for every GET/HEAD path not handled
	// by the API, /healthz, /readyz or /metrics.
	SPA http.Handler
	// Policy replaces Policy() (tests only).
	Policy []Rule
}

// Server is a configured console.
type Server struct {
	cfg     config.Console
	store   *store.Store
	log     *slog.Logger
	now     func() time.Time
	mux     *chi.Mux
	api     huma.API
	policy  map[policyKey]Rule
	argon   auth.Argon2Params
	metrics *metrics

	proxies []netip.Prefix // trusted reverse proxies

	keysMu     sync.RWMutex
	keys       []auth.SigningKey
	keysLoaded time.Time
	// sensorTokens are the sensor access tokens verified with keys (a
	// sensor sends the same token with every report until it expires),
	// emptied whenever keys change.
	sensorTokens map[string]*auth.SensorClaims
	keysGen      uint64 // bumped whenever keys change
	baseURL      string
	started      running // set by Start (console-info)
	// limits are the modules' per-sensor route limits.
	limits map[policyKey]RouteLimit
	// sensorSeen is when each sensor's last request was recorded (sensor
	// id → time.Time), to record it at most once a minute.
	sensorSeen sync.Map
	// seenPending are the sensors' requests recordSeen writes next, while
	// seenBatched (it runs).
	seenMu      sync.Mutex
	seenPending map[string]store.SensorTouch
	seenBatched atomic.Bool
	// readiers are the modules /readyz asks (Readier).
	readiers []Readier
	// tokensPruned is when the shared rate limits were last pruned.
	tokensPruned atomic.Value
	// streams are the sensors' open report streams (stream.go).
	streams streams
}

type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	logins   *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskmap_http_requests_total", Help: "HTTP requests by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "riskmap_http_request_duration_seconds", Help: "HTTP request latency by method and route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskmap_logins_total", Help: "Login attempts by result (ok, failed, rate_limited, disabled).",
		}, []string{"result"}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.logins,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// New builds the console's handler. It loads (or creates) the token signing
// key from the store.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	rules := o.Policy
	if rules == nil {
		rules = Policy()
	}
	idx, err := policyIndex(rules)
	if err != nil {
		return nil, err
	}
	c := o.Config
	s := &Server{
		cfg: c, store: o.Store, log: o.Logger, now: o.Now, policy: idx, metrics: newMetrics(),
		argon: auth.Argon2Params{Memory: uint32(c.Argon2MemoryKiB), Iterations: uint32(c.Argon2Iterations),
			Parallelism: uint8(c.Argon2Parallelism), SaltLength: 16, KeyLength: 32},
		baseURL: strings.TrimRight(c.PublicURL, "/"),
	}
	if s.proxies, err = config.ParseCIDRs(c.TrustedProxies); err != nil {
		return nil, fmt.Errorf("trusted proxies: %w", err)
	}
	if err := s.rotateKeys(ctx); err != nil {
		return nil, err
	}

	s.mux = chi.NewMux()
	s.mux.Use(s.observe, s.authorise)
	s.mux.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "", fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
	})
	s.mux.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusMethodNotAllowed, "", fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path))
	})
	s.mux.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	s.mux.Get("/readyz", s.ready)
	s.mux.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{Registry: s.metrics.reg}))

	redactErrorValues()
	hc := huma.DefaultConfig("Riskmap console API", o.Version)
	hc.OpenAPIPath = "/api/v1/openapi"
	hc.SchemasPath = "/api/v1/schemas"
	hc.DocsPath = ""
	hc.CreateHooks = nil // no $schema links in bodies: responses are exactly the documented types
	hc.Formats = boundedFormats(hc.Formats)
	hc.Transformers = append(hc.Transformers, emptySlices)
	hc.Info.Description = "The Riskmap console API. Authenticate with the session cookie (browser; CSRF double submit) or Authorization: Bearer <API key or access token>. Errors are RFC 9457 problem documents."
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer":  {Type: "http", Scheme: "bearer", Description: "An API key (rmk_...) or an access token from POST /api/v1/auth/token."},
		"session": {Type: "apiKey", In: "cookie", Name: SessionCookie, Description: "Browser session; state-changing requests also need X-CSRF-Token."},
	}
	s.api = humachi.New(s.mux, hc)
	s.registerAPI(s.api)
	for _, c := range o.Collectors {
		if err := s.metrics.reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	s.limits = map[policyKey]RouteLimit{}
	for _, m := range o.Modules {
		m.Routes(s.api, s.mux)
		if rd, ok := m.(Readier); ok {
			s.readiers = append(s.readiers, rd)
		}
		if l, ok := m.(SensorLimits); ok {
			for _, rl := range l.SensorLimits() {
				s.limits[policyKey{rl.Method, rl.Pattern}] = rl
			}
		}
	}
	s.documentAccess()
	if o.SPA != nil {
		spa := apiAware(o.SPA)
		s.mux.Get("/*", spa)
		s.mux.Head("/*", spa)
	}
	return s, nil
}

// documentAccess writes each operation's policy row into the OpenAPI
// document: its security requirement and who may call it.
func (s *Server) documentAccess() {
	for path, item := range s.api.OpenAPI().Paths {
		for method, op := range map[string]*huma.Operation{
			http.MethodGet: item.Get, http.MethodPost: item.Post, http.MethodPut: item.Put,
			http.MethodPatch: item.Patch, http.MethodDelete: item.Delete, http.MethodHead: item.Head,
		} {
			if op == nil {
				continue
			}
			rule, ok := s.policy[policyKey{method, path}]
			if !ok {
				continue // refused at run time; the matrix test reports it
			}
			if rule.Access == Anyone {
				op.Security = []map[string][]string{{}}
				op.Description = strings.TrimSpace(op.Description + "\n\nAccess: anyone (no authentication).")
				continue
			}
			op.Security = []map[string][]string{{"bearer": {}}, {"session": {}}}
			op.Description = strings.TrimSpace(op.Description + fmt.Sprintf("\n\nAccess: role %s or higher.", rule.Access))
		}
	}
}

// apiAware keeps unknown /api paths answering problem documents instead of
// the web UI's index.html.
func apiAware(spa http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/") {
			writeProblem(w, http.StatusNotFound, "", fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
			return
		}
		spa.ServeHTTP(w, r)
	}
}

// Handler is the console's HTTP handler (routes, middleware).
func (s *Server) Handler() http.Handler { return s.mux }

// Router exposes the chi router (route enumeration in tests).
func (s *Server) Router() chi.Routes { return s.mux }

// API exposes the huma API (OpenAPI document).
func (s *Server) API() huma.API { return s.api }

// Signing keys rotate every keyRotation; a superseded key keeps verifying
// for keyOverlap (or twice the access-token lifetime if that is longer).
const (
	keyRotation = 30 * 24 * time.Hour
	keyOverlap  = 24 * time.Hour
)

func genSigningKey(now func() time.Time) func() (string, []byte, error) {
	return func() (string, []byte, error) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return store.NewID(now()), priv, err
	}
}

// rotateKeys rotates the signing keys when due and loads the active ones.
func (s *Server) rotateKeys(ctx context.Context) error {
	overlap := max(keyOverlap, 2*s.cfg.AccessTokenTTL)
	keys, err := s.store.RotateSigningKeys(ctx, genSigningKey(s.now), keyRotation, overlap)
	if err != nil {
		return err
	}
	s.keysMu.Lock()
	s.keys, s.keysLoaded, s.sensorTokens = keys, s.now(), nil
	s.keysGen++
	s.keysMu.Unlock()
	return nil
}

// reloadKeys loads the active keys another replica may have added, at most
// every 10 seconds.
func (s *Server) reloadKeys(ctx context.Context) bool {
	s.keysMu.RLock()
	recent := s.now().Sub(s.keysLoaded) < 10*time.Second
	s.keysMu.RUnlock()
	if recent {
		return false
	}
	keys, err := s.store.SigningKeys(ctx, genSigningKey(s.now))
	if err != nil {
		s.log.WarnContext(ctx, "reload signing keys", "err", err)
		return false
	}
	s.keysMu.Lock()
	s.keys, s.keysLoaded, s.sensorTokens = keys, s.now(), nil
	s.keysGen++
	s.keysMu.Unlock()
	return true
}

func (s *Server) tokens() *auth.Tokens {
	s.keysMu.RLock()
	defer s.keysMu.RUnlock()
	return &auth.Tokens{Keys: s.keys, TTL: s.cfg.AccessTokenTTL, Now: s.now}
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if reason := s.notReady(ctx); reason != "" {
		s.log.Warn("not ready", "reason", reason)
		writeProblem(w, http.StatusServiceUnavailable, "", reason)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"status":"ready"}`+"\n")
}

// notReady says why this replica cannot serve ("" when it can): the
// database does not answer, its schema is not one this binary runs with,
// or a module (the topology graph following the other replicas) is not.
func (s *Server) notReady(ctx context.Context) string {
	if err := s.store.Ping(ctx); err != nil {
		return "database unavailable"
	}
	st, err := s.store.Schema(ctx)
	if err != nil {
		return "database schema unreadable"
	}
	if !st.OK() {
		return st.Problem()
	}
	for _, rd := range s.readiers {
		if err := rd.Ready(ctx); err != nil {
			return err.Error()
		}
	}
	return ""
}

// link builds an absolute URL for an invitation or reset link. The token is
// in the fragment, which browsers never send to servers or in Referer.
func (s *Server) link(page, token string) string {
	// Never from the request's Host header, which the caller controls.
	base := s.baseURL
	if base == "" {
		base = DefaultPublicURL(s.cfg.Listen)
	}
	return base + "/" + page + "#token=" + url.QueryEscape(token)
}

// ResetLink creates a one-time password reset link for email (the
// `riskmap console reset-password` command; no server needs to run).
func ResetLink(ctx context.Context, st *store.Store, cfg config.Console, email, actor string) (link string, expires time.Time, err error) {
	u, err := st.UserByEmail(ctx, email)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("reset password of %q: %w", email, err)
	}
	token, err := auth.NewSecret(auth.ResetPrefix)
	if err != nil {
		return "", time.Time{}, err
	}
	pr, err := st.CreatePasswordReset(ctx, u.ID, auth.HashSecret(token), actor, cfg.ResetTTL)
	if err != nil {
		return "", time.Time{}, err
	}
	if _, err := st.AppendAudit(ctx, store.AuditEntry{OrgID: u.OrgID, Actor: actor, Action: store.AuditPasswordResetLink,
		Target: "user " + u.Email, ClientAddr: "local", Detail: "reset link created on the console host"}); err != nil {
		return "", time.Time{}, err
	}
	base := strings.TrimRight(cfg.PublicURL, "/")
	if base == "" {
		base = DefaultPublicURL(cfg.Listen)
	}
	return base + "/reset-password#token=" + url.QueryEscape(token), pr.ExpiresAt, nil
}

// DefaultPublicURL is https://<host name>:<port of listen>.
func DefaultPublicURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		port = "8443"
	}
	if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		} else {
			host = "localhost"
		}
	}
	return "https://" + net.JoinHostPort(host, port)
}

// Running is a started console.
type Running struct {
	Addr        net.Addr
	URL         string
	Fingerprint string
	CertCreated bool
	done        chan error
}

// Wait blocks until the server has shut down.
func (r *Running) Wait() error { return <-r.done }

// Start listens on cfg.Listen with TLS and serves until ctx ends, then shuts
// down gracefully (requests in flight get cfg.ShutdownTimeout).
func (s *Server) Start(ctx context.Context) (*Running, error) {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	var extra []string
	if h, _, err := net.SplitHostPort(s.cfg.Listen); err == nil {
		extra = append(extra, h)
	}
	if u, err := url.Parse(s.cfg.PublicURL); err == nil && u.Hostname() != "" {
		extra = append(extra, u.Hostname())
	}
	cert, created, err := loadOrCreateCert(s.cfg.DataDir, s.cfg.TLSCert, s.cfg.TLSKey, extra, s.now())
	if err != nil {
		ln.Close()
		return nil, err
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			ln.Close()
			return nil, fmt.Errorf("parse TLS certificate: %w", err)
		}
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if s.baseURL == "" {
		s.baseURL = DefaultPublicURL(net.JoinHostPort(hostOf(s.cfg.Listen), port))
	}
	srv := &http.Server{
		Handler:           s.mux,
		TLSConfig:         serverTLSConfig(cert),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	// Shutdown does not wait for hijacked connections: the report streams
	// are stopped with it and waited for after it.
	srv.RegisterOnShutdown(s.streams.shutdown)
	run := &Running{Addr: ln.Addr(), URL: s.baseURL, Fingerprint: Fingerprint(leaf.Raw), CertCreated: created, done: make(chan error, 1)}
	s.started.Store(run)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ServeTLS(ln, "", "") }()
	go s.sweep(ctx)
	go s.store.WatchSensors(ctx)
	go s.recordSeen(ctx)
	go func() {
		select {
		case err := <-serveErr:
			run.done <- fmt.Errorf("serve: %w", err)
			return
		case <-ctx.Done():
		}
		s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
		defer cancel()
		err := srv.Shutdown(sctx)
		s.streams.wait(sctx)
		if e := <-serveErr; e != nil && !errors.Is(e, http.ErrServerClosed) && err == nil {
			err = e
		}
		run.done <- err
	}()
	return run, nil
}

func hostOf(listen string) string {
	h, _, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	return h
}

// sweep deletes expired credentials every 10 minutes.
func (s *Server) sweep(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		if err := s.rotateKeys(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("rotate signing keys", "err", err)
		}
		if n, err := s.store.DeleteExpired(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("delete expired credentials", "err", err)
		} else if n > 0 {
			s.log.Debug("deleted expired credentials", "rows", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
