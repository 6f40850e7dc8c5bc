package integrations

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/secrets"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/topology"
)

// secretOwner names the module's secrets in the vault (ref: the
// destination id).
const secretOwner = "integrations"

// Nodes is what the module needs of the topology: where a node sits.
type Nodes interface {
	Describe(ids ...string) map[string]topology.NodeContext
}

// DeliveryConfig tunes the flush jobs.
type DeliveryConfig struct {
	// BackoffBase and BackoffMax bound the wait after a failure: base ×
	// 2^(failures-1), at most max, ±20 % jitter, never less than the
	// target's Retry-After (defaults 2 s and 5 min).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// MaxAge dead-letters a message that waited this long (default 72 h).
	MaxAge time.Duration
	// Concurrency is how many destinations a console process flushes at
	// once (default 8).
	Concurrency int
	// DigestEvery is how often due digests are built (default 1 min).
	DigestEvery time.Duration
	// HistoryKeep is how long delivery history is kept (default 30 days).
	HistoryKeep time.Duration
	// MaxDigestFindings is the most findings one digest message carries;
	// more go in further messages (default 10,000).
	MaxDigestFindings int
	// TestTimeout bounds a test send (default 20 s).
	TestTimeout time.Duration
	// Lease is the flush job's lease (default 1 min): how long a flush
	// held by a console that died waits before another takes it over.
	Lease time.Duration
	// Linger is how long a flush job whose outbox is empty waits for more
	// messages before it ends (default 3 s): a stream of events is sent
	// by one running job, woken in-process when the router queues,
	// without a job claimed and completed for each.
	Linger time.Duration
}

// DefaultDelivery returns the documented defaults.
func DefaultDelivery() DeliveryConfig {
	return DeliveryConfig{BackoffBase: 2 * time.Second, BackoffMax: 5 * time.Minute, MaxAge: 72 * time.Hour, Concurrency: 8,
		DigestEvery: time.Minute, HistoryKeep: 30 * 24 * time.Hour, MaxDigestFindings: 10000, TestTimeout: 20 * time.Second, Lease: time.Minute, Linger: 3 * time.Second}
}

func (d *DeliveryConfig) fill() {
	def := DefaultDelivery()
	if d.BackoffBase <= 0 {
		d.BackoffBase = def.BackoffBase
	}
	if d.BackoffMax <= 0 {
		d.BackoffMax = def.BackoffMax
	}
	if d.MaxAge <= 0 {
		d.MaxAge = def.MaxAge
	}
	if d.Concurrency <= 0 {
		d.Concurrency = def.Concurrency
	}
	if d.DigestEvery <= 0 {
		d.DigestEvery = def.DigestEvery
	}
	if d.HistoryKeep <= 0 {
		d.HistoryKeep = def.HistoryKeep
	}
	if d.MaxDigestFindings <= 0 {
		d.MaxDigestFindings = def.MaxDigestFindings
	}
	if d.TestTimeout <= 0 {
		d.TestTimeout = def.TestTimeout
	}
	if d.Lease <= 0 {
		d.Lease = def.Lease
	}
	if d.Linger == 0 {
		d.Linger = def.Linger
	}
}

// Config configures the module.
type Config struct {
	Store *store.Store
	Jobs  *jobs.Queue
	Vault *secrets.Vault
	// Nodes describes nodes for rules' place filters and messages (nil:
	// messages name nodes by id only, place filters match nothing).
	Nodes Nodes
	// Kinds are the destination kinds (default Kinds()).
	Kinds []dest.Kind
	// ConsoleURL is the console's public URL, for links in messages.
	ConsoleURL string
	// Version is the console's version (the tool in SARIF and CycloneDX
	// documents some destinations attach).
	Version  string
	HTTP     HTTPConfig
	Delivery DeliveryConfig
	Logger   *slog.Logger
	Now      func() time.Time
}

// Service is the integrations module.
type Service struct {
	st    *store.Store
	jobs  *jobs.Queue
	vault *secrets.Vault
	nodes Nodes
	kinds map[string]dest.Kind
	order []string
	cfg   Config
	log   *slog.Logger
	now   func() time.Time

	limits *limiter

	sendersMu sync.Mutex
	senders   map[string]cachedSender

	// wakeups wake this process's running flush job of a destination when
	// the router queued for it.
	wakeMu  sync.Mutex
	wakeups map[string]chan struct{}
}

type cachedSender struct {
	updatedAt int64
	s         sender
}

// New returns the module.
func New(cfg Config) *Service {
	if cfg.Kinds == nil {
		cfg.Kinds = Kinds()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Delivery.fill()
	cfg.ConsoleURL = strings.TrimRight(cfg.ConsoleURL, "/")
	s := &Service{st: cfg.Store, jobs: cfg.Jobs, vault: cfg.Vault, nodes: cfg.Nodes, cfg: cfg, log: cfg.Logger, now: cfg.Now,
		kinds: map[string]dest.Kind{}, senders: map[string]cachedSender{}, wakeups: map[string]chan struct{}{}}
	for _, k := range cfg.Kinds {
		s.kinds[k.Name] = k
		s.order = append(s.order, k.Name)
	}
	s.limits = newLimiter(cfg.Now)
	return s
}

// KindInfo is a destination kind as the API lists it.
type KindInfo struct {
	Name   string      `json:"name"`
	Title  string      `json:"title"`
	Batch  int         `json:"batch"`
	Fields []FormField `json:"fields"`
}

// FormField is a setting of a destination kind (dest.Field, under a name
// of its own in the API's schemas).
type FormField dest.Field

// KindInfos lists the destination kinds with their settings forms.
func (s *Service) KindInfos() []KindInfo {
	out := make([]KindInfo, 0, len(s.order))
	for _, n := range s.order {
		k := s.kinds[n]
		f := make([]FormField, len(k.Fields))
		for i, x := range k.Fields {
			f[i] = FormField(x)
		}
		out = append(out, KindInfo{Name: k.Name, Title: k.Title, Batch: max(k.Batch, 1), Fields: f})
	}
	return out
}

func (s *Service) kind(name string) (dest.Kind, error) {
	k, ok := s.kinds[name]
	if !ok {
		return k, invalid("kind: %q is not a destination kind (%s)", name, strings.Join(s.order, ", "))
	}
	return k, nil
}

// caller is who makes a change: the signed-in user's email and org.
func caller(ctx context.Context) (email, org string) {
	if p, ok := console.PrincipalFrom(ctx); ok {
		return p.User.Email, p.User.OrgID
	}
	return store.AuditSystem, ""
}

// destRow is a stored destination.
type destRow struct {
	id, orgID, kind, name string
	settings, hints       map[string]string
	caPEM                 string
	rate                  int
	enabled               bool
	failures              int
	lastError             string
	lastSuccess, nextAt   sql.NullInt64
	createdBy, updatedBy  string
	createdAt, updatedAt  int64
}

const destCols = `id, org_id, kind, name, settings, secret_hints, ca_pem, rate_per_minute, enabled, failures, last_error, last_success_at,
	next_attempt_at, created_by, created_at, updated_by, updated_at`

func scanDest(sc interface{ Scan(...any) error }) (destRow, error) {
	var r destRow
	var settings, hints string
	var enabled int
	err := sc.Scan(&r.id, &r.orgID, &r.kind, &r.name, &settings, &hints, &r.caPEM, &r.rate, &enabled, &r.failures, &r.lastError, &r.lastSuccess,
		&r.nextAt, &r.createdBy, &r.createdAt, &r.updatedBy, &r.updatedAt)
	if err != nil {
		return r, err
	}
	r.enabled = enabled != 0
	r.settings, r.hints = map[string]string{}, map[string]string{}
	_ = json.Unmarshal([]byte(settings), &r.settings)
	_ = json.Unmarshal([]byte(hints), &r.hints)
	return r, nil
}

func getDest(ctx context.Context, q store.Querier, id string) (destRow, error) {
	r, err := scanDest(q.QueryRowContext(ctx, `SELECT `+destCols+` FROM integration_destinations WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("destination %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("read destination %s: %w", id, err)
	}
	return r, nil
}

// view is the API's form of a stored destination (no secret values).
func (r destRow) view() Destination {
	d := Destination{ID: r.id, Kind: r.kind, Name: r.name, Enabled: r.enabled, Settings: r.settings, Secrets: map[string]SecretState{},
		CACert: r.caPEM, RatePerMinute: r.rate, CreatedBy: r.createdBy, CreatedAt: store.FromMillis(r.createdAt),
		UpdatedBy: r.updatedBy, UpdatedAt: store.FromMillis(r.updatedAt),
		Status: Status{Failures: r.failures, LastError: r.lastError, LastSuccessAt: ptime(r.lastSuccess), NextAttemptAt: ptime(r.nextAt)}}
	for k, h := range r.hints {
		d.Secrets[k] = SecretState{Set: true, Hint: h}
	}
	return d
}

// audited is a destination as the audit log records it: settings, which
// secrets are set (never their values), the rest of its configuration.
func (r destRow) audited() map[string]any {
	set := make([]string, 0, len(r.hints))
	for k := range r.hints {
		set = append(set, k)
	}
	slices.Sort(set)
	return map[string]any{"id": r.id, "kind": r.kind, "name": r.name, "enabled": r.enabled, "settings": r.settings,
		"secretsSet": set, "caCert": r.caPEM != "", "ratePerMinute": r.rate}
}

func ptime(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := store.FromMillis(n.Int64)
	return &t
}

func auditTarget(r destRow) string { return "integration " + r.id + " (" + r.name + ")" }

// secretsOf opens a destination's secrets.
func (s *Service) secretsOf(ctx context.Context, id string) (map[string]string, error) {
	b, err := s.vault.Get(ctx, secretOwner, id)
	if errors.Is(err, secrets.ErrNotFound) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("secrets of destination %s: %w", id, err)
	}
	return m, nil
}

// build makes the destination of a kind with these settings, checking
// them the kind's way.
func (s *Service) build(kind dest.Kind, name string, c checkedDestination) (dest.Destination, error) {
	client, err := NewHTTPClient(s.cfg.HTTP, c.caPEM)
	if err != nil {
		return nil, invalid("caCert: %v", err)
	}
	settings := clone(c.settings)
	for _, f := range kind.Fields {
		if _, ok := settings[f.Name]; !ok && !f.Secret && f.Default != "" {
			settings[f.Name] = f.Default
		}
	}
	d, err := kind.New(dest.Config{Name: name, Settings: settings, Secrets: clone(c.secrets), HTTP: client, ConsoleURL: s.cfg.ConsoleURL, Version: s.cfg.Version})
	if err != nil {
		return nil, invalid("%v", err)
	}
	return d, nil
}

// Destinations lists the destinations with their delivery status.
func (s *Service) Destinations(ctx context.Context) ([]Destination, error) {
	rows, err := s.st.Read().QueryContext(ctx, `SELECT `+destCols+` FROM integration_destinations ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list destinations: %w", err)
	}
	var out []Destination
	for rows.Next() {
		r, err := scanDest(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list destinations: %w", err)
		}
		out = append(out, r.view())
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list destinations: %w", err)
	}
	if out == nil {
		return []Destination{}, nil
	}
	pending, dead, err := s.counts(ctx, "")
	if err != nil {
		return nil, err
	}
	for i := range out {
		p := pending[out[i].ID]
		out[i].Status.Pending, out[i].Status.OldestPendingAt, out[i].Status.Dead = p.n, p.oldest, dead[out[i].ID]
	}
	return out, nil
}

type pendingCount struct {
	n      int
	oldest *time.Time
}

// counts counts the pending messages and dead letters per destination
// (one destination when id is not empty).
func (s *Service) counts(ctx context.Context, id string) (map[string]pendingCount, map[string]int, error) {
	cond, args := "", []any{}
	if id != "" {
		cond, args = " WHERE destination_id = ?", []any{id}
	}
	pending := map[string]pendingCount{}
	rows, err := s.st.Read().QueryContext(ctx, `SELECT destination_id, COUNT(*), MIN(created_at) FROM integration_outbox`+cond+` GROUP BY destination_id`, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("count pending messages: %w", err)
	}
	for rows.Next() {
		var d string
		var n int
		var oldest int64
		if err := rows.Scan(&d, &n, &oldest); err != nil {
			rows.Close()
			return nil, nil, err
		}
		t := store.FromMillis(oldest)
		pending[d] = pendingCount{n, &t}
	}
	rows.Close()
	dead := map[string]int{}
	rows, err = s.st.Read().QueryContext(ctx, `SELECT destination_id, COUNT(*) FROM integration_dead`+cond+` GROUP BY destination_id`, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("count dead letters: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d string
		var n int
		if err := rows.Scan(&d, &n); err != nil {
			return nil, nil, err
		}
		dead[d] = n
	}
	return pending, dead, rows.Err()
}

// DestinationKind is the kind of one destination (ErrNotFound when there
// is none): other modules check what a destination can take through it.
func (s *Service) DestinationKind(ctx context.Context, id string) (string, error) {
	r, err := getDest(ctx, s.st.Read(), id)
	return r.kind, err
}

// Destination returns one destination with its status.
func (s *Service) Destination(ctx context.Context, id string) (Destination, error) {
	r, err := getDest(ctx, s.st.Read(), id)
	if err != nil {
		return Destination{}, err
	}
	d := r.view()
	pending, dead, err := s.counts(ctx, id)
	if err != nil {
		return Destination{}, err
	}
	d.Status.Pending, d.Status.OldestPendingAt, d.Status.Dead = pending[id].n, pending[id].oldest, dead[id]
	return d, nil
}

// CreateDestination checks a new destination (its kind's own checks
// included), stores it and its secrets (sealed, in the same transaction)
// and audits it.
func (s *Service) CreateDestination(ctx context.Context, in DestinationInput) (Destination, error) {
	kind, err := s.kind(in.Kind)
	if err != nil {
		return Destination{}, err
	}
	c, err := checkDestination(kind, in, nil)
	if err != nil {
		return Destination{}, err
	}
	if _, err := s.build(kind, c.name, c); err != nil {
		return Destination{}, err
	}
	by, org := caller(ctx)
	now := s.now()
	r := destRow{id: store.NewID(now), orgID: org, kind: kind.Name, name: c.name, settings: c.settings, hints: c.hints, caPEM: c.caPEM,
		rate: c.rate, enabled: c.enabled, createdBy: by, updatedBy: by, createdAt: store.Millis(now), updatedAt: store.Millis(now)}
	settings, _ := json.Marshal(r.settings)
	hints, _ := json.Marshal(r.hints)
	sec, _ := json.Marshal(c.secrets)
	err = s.st.Tx(ctx, func(tx store.Querier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO integration_destinations (id, org_id, kind, name, settings, secret_hints, ca_pem, rate_per_minute,
			enabled, created_by, created_at, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.id, r.orgID, r.kind, r.name, string(settings), string(hints), r.caPEM, r.rate, boolInt(r.enabled), by, r.createdAt, by, r.updatedAt)
		if store.IsUniqueViolation(err) {
			return fmt.Errorf("%w: name: a destination named %q exists", ErrConflict, r.name)
		}
		if err != nil {
			return err
		}
		if err := s.vault.PutTx(ctx, tx, org, secretOwner, r.id, sec); err != nil {
			return err
		}
		return s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditIntegrationCreate, auditTarget(r), nil, r.audited()))
	})
	if err != nil {
		return Destination{}, fmt.Errorf("create destination %q: %w", c.name, err)
	}
	return r.view(), nil
}

// UpdateDestination changes a destination: absent members and secrets
// given as "" keep their values. A destination waiting after failures
// is tried again at once (the change may have fixed it).
func (s *Service) UpdateDestination(ctx context.Context, id string, in DestinationInput) (Destination, error) {
	old, err := getDest(ctx, s.st.Read(), id)
	if err != nil {
		return Destination{}, err
	}
	kind, err := s.kind(old.kind)
	if err != nil {
		return Destination{}, err
	}
	if in.Kind != "" && in.Kind != old.kind {
		return Destination{}, invalid("kind: a destination's kind cannot change (it is %s); create another destination", old.kind)
	}
	oldSecrets, err := s.secretsOf(ctx, id)
	if err != nil {
		return Destination{}, err
	}
	cur := checkedDestination{name: old.name, enabled: old.enabled, settings: old.settings, secrets: oldSecrets, hints: old.hints, caPEM: old.caPEM, rate: old.rate}
	c, err := checkDestination(kind, in, &cur)
	if err != nil {
		return Destination{}, err
	}
	if _, err := s.build(kind, c.name, c); err != nil {
		return Destination{}, err
	}
	by, org := caller(ctx)
	r := old
	r.name, r.enabled, r.settings, r.hints, r.caPEM, r.rate, r.updatedBy = c.name, c.enabled, c.settings, c.hints, c.caPEM, c.rate, by
	r.updatedAt = max(store.Millis(s.now()), old.updatedAt+1)
	settings, _ := json.Marshal(r.settings)
	hints, _ := json.Marshal(r.hints)
	sec, _ := json.Marshal(c.secrets)
	kicked := false
	err = events.Tx(ctx, s.st, s.now, func(ctx context.Context, tx store.Querier) error {
		res, err := tx.ExecContext(ctx, `UPDATE integration_destinations SET name = ?, settings = ?, secret_hints = ?, ca_pem = ?, rate_per_minute = ?,
			enabled = ?, updated_by = ?, updated_at = ? WHERE id = ? AND updated_at = ?`,
			r.name, string(settings), string(hints), r.caPEM, r.rate, boolInt(r.enabled), by, r.updatedAt, id, old.updatedAt)
		if store.IsUniqueViolation(err) {
			return fmt.Errorf("%w: name: a destination named %q exists", ErrConflict, r.name)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: the destination changed meanwhile; read it again", ErrConflict)
		}
		if !mapsEqual(c.secrets, oldSecrets) {
			if err := s.vault.PutTx(ctx, tx, org, secretOwner, id, sec); err != nil {
				return err
			}
		}
		if err := s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditIntegrationUpdate, auditTarget(r), old.audited(), r.audited())); err != nil {
			return err
		}
		if r.enabled {
			kicked, err = s.kickTx(ctx, tx, id, true)
		}
		return err
	})
	if err != nil {
		return Destination{}, fmt.Errorf("update destination %s: %w", id, err)
	}
	if kicked {
		s.jobs.Wake()
	}
	s.wake(id)
	return s.Destination(ctx, id)
}

// DeleteDestination removes a destination, its rules, outbox, history,
// dead letters and secrets.
func (s *Service) DeleteDestination(ctx context.Context, id string) error {
	err := s.st.Tx(ctx, func(tx store.Querier) error {
		r, err := getDest(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM integration_destinations WHERE id = ?`, id); err != nil {
			return err
		}
		if err := s.vault.DeleteTx(ctx, tx, secretOwner, id); err != nil {
			return err
		}
		return s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditIntegrationDelete, auditTarget(r), r.audited(), nil))
	})
	if err != nil {
		return fmt.Errorf("delete destination %s: %w", id, err)
	}
	s.sendersMu.Lock()
	delete(s.senders, id)
	s.sendersMu.Unlock()
	return nil
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
