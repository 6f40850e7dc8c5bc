package registries

import (
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/fields"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/topology"
)

// Job kinds of the registries module.
const (
	// KindSync syncs one account's catalogue (unique per account).
	KindSync = "registries.sync"
	// KindScan is a scan of a registry image run by the console (a scan
	// of internal/scans; its id is the scan's).
	KindScan = "registries.scan"
	// KindSchedules queues the syncs of the accounts whose time has come
	// (periodic).
	KindSchedules = "registries.schedules"
	// KindLink gives running containers the scans of their registry
	// images.
	KindLink = "registries.link"
)

// secretOwner names the module's secrets in the vault (ref: account id).
const secretOwner = "registries"

// Vault keeps the accounts' secret settings (internal/secrets).
type Vault interface {
	PutTx(ctx context.Context, tx store.Querier, orgID, owner, ref string, value []byte) error
	Get(ctx context.Context, owner, ref string) ([]byte, error)
	DeleteTx(ctx context.Context, tx store.Querier, owner, ref string) error
}

// Scans is what the module needs of internal/scans.
type Scans interface {
	ConsoleKind(name string, concurrency int, run scans.ConsoleRun) jobs.Kind
	StartImageScans(ctx context.Context, consoleKind string, targets []scans.Target, by string,
		audit func(ctx context.Context, tx store.Querier, queued []scans.QueuedScan) error) ([]scans.Scan, error)
	DigestScans(ctx context.Context, digests []string) (map[string]scans.DigestScans, error)
	Adopt(ctx context.Context, from string, targets []scans.Target) ([]scans.Scan, error)
}

// Topology is what the module needs of the topology: where images run,
// how a node is scanned, which sensors report.
type Topology interface {
	ImageUses() []topology.ImageUse
	ScanTarget(id string) (topology.ScanTarget, error)
	Sensors() []topology.SensorInfo
}

// Config are the module's dependencies and tunables. Zero values take
// the defaults.
type Config struct {
	Store    *store.Store
	Vault    Vault
	Jobs     *jobs.Queue
	Scans    Scans
	Topology Topology
	// Kinds are the provider kinds (default: Kinds()).
	Kinds []provider.Kind
	// RootCAs are the trusted roots of registry connections (nil: the
	// system's); an account's CA certificates are added to them.
	RootCAs *x509.CertPool
	// RequestTimeout bounds one registry API request (default 60 s).
	RequestTimeout time.Duration
	// ResolveConcurrency is how many manifest requests a sync makes at
	// once (default 8).
	ResolveConcurrency int
	// ScanConcurrency is how many registry images one console scans at
	// once (default 2: a scan streams layers and extracts on the CPU).
	ScanConcurrency int
	// SyncAttempts and SyncBackoff: a sync failing for an unavailable
	// registry is tried SyncAttempts times (default 3), waiting
	// SyncBackoff (default 30 s) doubling in between.
	SyncAttempts int
	SyncBackoff  time.Duration
	// ScheduleEvery is how often due syncs are looked for (default 30 s).
	ScheduleEvery time.Duration
	Logger        *slog.Logger
	Now           func() time.Time
}

func (c *Config) fill() {
	if c.Kinds == nil {
		c.Kinds = Kinds()
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 60 * time.Second
	}
	if c.ResolveConcurrency <= 0 {
		c.ResolveConcurrency = 8
	}
	if c.ScanConcurrency <= 0 {
		c.ScanConcurrency = 2
	}
	if c.SyncAttempts <= 0 {
		c.SyncAttempts = 3
	}
	if c.SyncBackoff <= 0 {
		c.SyncBackoff = 30 * time.Second
	}
	if c.ScheduleEvery <= 0 {
		c.ScheduleEvery = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Service is the registries module.
type Service struct {
	cfg   Config
	st    *store.Store
	vault Vault
	jobs  *jobs.Queue
	scans Scans
	topo  Topology
	kinds map[string]provider.Kind
	log   *slog.Logger
	now   func() time.Time
	uses  usesMatch
}

// New builds the module; register its job kinds and consumers
// (internal/cli/backbone.go) before the job system runs.
func New(cfg Config) *Service {
	cfg.fill()
	s := &Service{cfg: cfg, st: cfg.Store, vault: cfg.Vault, jobs: cfg.Jobs, scans: cfg.Scans, topo: cfg.Topology,
		kinds: map[string]provider.Kind{}, log: cfg.Logger, now: cfg.Now}
	for _, k := range cfg.Kinds {
		s.kinds[k.Name] = k
	}
	return s
}

// Kinds lists the provider kinds and their settings forms.
func (s *Service) Kinds() []RegistryKind {
	out := make([]RegistryKind, 0, len(s.cfg.Kinds))
	for _, k := range s.cfg.Kinds {
		out = append(out, RegistryKind{Name: k.Name, Title: k.Title, Fields: k.Fields})
	}
	return out
}

const accountCols = `id, org_id, kind, name, host, settings, secret_names, ca_cert, repo_globs, tag_regex, latest_tags, schedule,
	next_sync_at, auto_scan, scanner, created_by, created_at, updated_by, updated_at, sync_job`

func scanAccount(sc interface{ Scan(...any) error }) (RegistryAccount, error) {
	var a RegistryAccount
	var settings, secretNames, globs string
	var next sql.NullInt64
	var created, updated int64
	err := sc.Scan(&a.ID, &a.orgID, &a.Kind, &a.Name, &a.Host, &settings, &secretNames, &a.CACert, &globs, &a.Filters.TagRegex,
		&a.Filters.LatestTags, &a.Schedule, &next, &a.AutoScan, &a.ScanBy, &a.CreatedBy, &created, &a.UpdatedBy, &updated, &a.syncJob)
	if err != nil {
		return a, err
	}
	a.Settings, a.Filters.Repositories = map[string]string{}, []string{}
	_ = json.Unmarshal([]byte(settings), &a.Settings)
	_ = json.Unmarshal([]byte(secretNames), &a.secretNames)
	_ = json.Unmarshal([]byte(globs), &a.Filters.Repositories)
	a.Secrets = map[string]RegistrySecret{}
	for _, n := range a.secretNames {
		a.Secrets[n] = RegistrySecret{Set: true}
	}
	if a.ScanBy == "" {
		a.ScanBy = ScanByConsole
	}
	a.CreatedAt, a.UpdatedAt = store.FromMillis(created), store.FromMillis(updated)
	if next.Valid {
		t := store.FromMillis(next.Int64)
		a.nextSync = &t
	}
	return a, nil
}

// getAccount reads one account's row.
func getAccount(ctx context.Context, q store.Querier, id string) (RegistryAccount, error) {
	a, err := scanAccount(q.QueryRowContext(ctx, `SELECT `+accountCols+` FROM registry_accounts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("registry account %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("registry account %s: %w", id, err)
	}
	return a, nil
}

// Account returns one account with its sync state and counts.
func (s *Service) Account(ctx context.Context, id string) (RegistryAccount, error) {
	a, err := getAccount(ctx, s.st.Read(), id)
	if err != nil {
		return a, err
	}
	if err := s.decorate(ctx, []*RegistryAccount{&a}); err != nil {
		return a, err
	}
	return a, nil
}

// Accounts lists the accounts, by name.
func (s *Service) Accounts(ctx context.Context) ([]RegistryAccount, error) {
	rows, err := s.st.Read().QueryContext(ctx, `SELECT `+accountCols+` FROM registry_accounts ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("list registry accounts: %w", err)
	}
	out := []RegistryAccount{}
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list registry accounts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("list registry accounts: %w", err)
	}
	ptrs := make([]*RegistryAccount, len(out))
	for i := range out {
		ptrs[i] = &out[i]
	}
	return out, s.decorate(ctx, ptrs)
}

// decorate adds the sync state and the catalogue counts.
func (s *Service) decorate(ctx context.Context, as []*RegistryAccount) error {
	for _, a := range as {
		q := s.st.Read()
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM registry_repositories WHERE account_id = ? AND gone_at IS NULL`, a.ID).Scan(&a.Repositories); err != nil {
			return fmt.Errorf("registry account %s: %w", a.ID, err)
		}
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT digest) FROM registry_tags WHERE account_id = ? AND gone_at IS NULL`, a.ID).
			Scan(&a.Tags, &a.Images); err != nil {
			return fmt.Errorf("registry account %s: %w", a.ID, err)
		}
		st, err := s.syncState(ctx, a)
		if err != nil {
			return err
		}
		a.Sync = st
	}
	return nil
}

// input is an AccountInput checked and merged with the stored account.
type input struct {
	kind     provider.Kind
	name     string
	settings map[string]string
	secrets  map[string]string // the whole set: stored ones kept, given ones replaced
	caCert   string
	filters  RegistryFilters
	schedule string
	autoScan bool
	scanBy   string
	// connection says whether what the connection depends on changed.
	connection bool
}

// Limits of an account's settings.
const (
	maxName     = 200
	maxSettings = 40
	maxAccounts = 1000
)

// check validates in, merged over was (nil for a new account).
func (s *Service) check(ctx context.Context, was *RegistryAccount, in RegistryAccountInput) (input, error) {
	var out input
	kindName := in.Kind
	if was != nil {
		if in.Kind != "" && in.Kind != was.Kind {
			return out, fmt.Errorf("%w: kind: an account's kind cannot change (it is %s); add another account", ErrInvalid, was.Kind)
		}
		kindName = was.Kind
	}
	k, ok := s.kinds[kindName]
	if !ok {
		names := slices.Sorted(maps.Keys(s.kinds))
		return out, fmt.Errorf("%w: kind: %q is not a registry kind (want one of %s)", ErrInvalid, truncate(kindName, 60), strings.Join(names, ", "))
	}
	out.kind = k
	secretField := map[string]bool{}
	for _, f := range k.Fields {
		secretField[f.Name] = f.Secret
	}
	if len(in.Settings) > maxSettings || len(in.Secrets) > maxSettings {
		return out, fmt.Errorf("%w: settings: at most %d", ErrInvalid, maxSettings)
	}
	for n := range in.Settings {
		if sec, known := secretField[n]; known && sec {
			return out, fmt.Errorf("%w: settings.%s is a secret: give it in secrets", ErrInvalid, n)
		}
	}
	for n := range in.Secrets {
		if sec, known := secretField[n]; known && !sec {
			return out, fmt.Errorf("%w: secrets.%s is not secret: give it in settings", ErrInvalid, n)
		}
	}
	for _, n := range in.ClearSecrets {
		if !secretField[n] {
			return out, fmt.Errorf("%w: clearSecrets: %q is not a secret setting of %s", ErrInvalid, truncate(n, 60), k.Name)
		}
	}
	// Merge over the stored account.
	out.name, out.settings, out.secrets = in.Name, map[string]string{}, map[string]string{}
	out.filters, out.scanBy = RegistryFilters{Repositories: []string{}}, ScanByConsole
	if was != nil {
		if out.name == "" {
			out.name = was.Name
		}
		maps.Copy(out.settings, was.Settings)
		out.caCert, out.filters, out.schedule, out.autoScan, out.scanBy = was.CACert, was.Filters, was.Schedule, was.AutoScan, was.ScanBy
		if len(was.secretNames) > 0 {
			stored, err := s.secretsOf(ctx, was.ID)
			if err != nil {
				return out, err
			}
			maps.Copy(out.secrets, stored)
		}
	}
	for n, v := range in.Settings {
		if v == "" {
			delete(out.settings, n)
		} else {
			out.settings[n] = v
		}
		out.connection = true
	}
	for n, v := range in.Secrets {
		if v != "" {
			out.secrets[n] = v
			out.connection = true
		}
	}
	for _, n := range in.ClearSecrets {
		delete(out.secrets, n)
		out.connection = true
	}
	if in.CACert != nil {
		out.caCert = strings.TrimSpace(*in.CACert)
		out.connection = true
	}
	if in.Filters != nil {
		out.filters = *in.Filters
		if out.filters.Repositories == nil {
			out.filters.Repositories = []string{}
		}
	}
	if in.Schedule != nil {
		out.schedule = strings.TrimSpace(*in.Schedule)
	}
	if in.AutoScan != nil {
		out.autoScan = *in.AutoScan
	}
	if in.ScanBy != nil {
		out.scanBy = strings.TrimSpace(*in.ScanBy)
	}
	if was == nil {
		out.connection = true
	}
	// Check.
	if err := checkName(out.name); err != nil {
		return out, err
	}
	values := maps.Clone(out.settings)
	maps.Copy(values, out.secrets)
	if err := fields.Check(k.Fields, values, nil); err != nil {
		return out, fmt.Errorf("%w: settings: %w", ErrInvalid, err)
	}
	if out.caCert != "" {
		if _, err := fields.Certificates(out.caCert); err != nil {
			return out, fmt.Errorf("%w: caCert: %w", ErrInvalid, err)
		}
	}
	if _, err := out.filters.Compile(); err != nil {
		return out, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if out.schedule != "" {
		if _, err := jobs.ParseCron(out.schedule); err != nil {
			return out, fmt.Errorf("%w: schedule: %w", ErrInvalid, err)
		}
	}
	if out.scanBy == "" {
		out.scanBy = ScanByConsole
	}
	if out.scanBy != ScanByConsole {
		known := false
		if s.topo != nil {
			for _, si := range s.topo.Sensors() {
				known = known || si.ID == out.scanBy
			}
		}
		if !known {
			return out, fmt.Errorf("%w: scanBy: no sensor %q reports to this console (give \"console\" or the id of a sensor that reaches the registry)",
				ErrInvalid, truncate(out.scanBy, 100))
		}
	}
	return out, nil
}

func checkName(n string) error {
	switch {
	case strings.TrimSpace(n) == "":
		return fmt.Errorf("%w: name: required", ErrInvalid)
	case len(n) > maxName:
		return fmt.Errorf("%w: name: longer than %d characters", ErrInvalid, maxName)
	case strings.IndexFunc(n, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: name: control characters", ErrInvalid)
	}
	return nil
}

// accountAudit is an account as the audit log records it: its settings,
// which secrets are set (never their values), filters and schedule.
type accountAudit struct {
	Kind     string            `json:"kind"`
	Name     string            `json:"name"`
	Host     string            `json:"host"`
	Settings map[string]string `json:"settings"`
	Secrets  []string          `json:"secretsSet"`
	CACert   bool              `json:"caCert"`
	Filters  RegistryFilters   `json:"filters"`
	Schedule string            `json:"schedule"`
	AutoScan bool              `json:"autoScan"`
	ScanBy   string            `json:"scanBy"`
}

func (a RegistryAccount) audit() accountAudit {
	names := slices.Clone(a.secretNames)
	if names == nil {
		names = []string{}
	}
	return accountAudit{Kind: a.Kind, Name: a.Name, Host: a.Host, Settings: a.Settings, Secrets: names, CACert: a.CACert != "",
		Filters: a.Filters, Schedule: a.Schedule, AutoScan: a.AutoScan, ScanBy: a.ScanBy}
}

func (a RegistryAccount) auditTarget() string {
	return "registry account " + a.ID + " (" + a.Name + ")"
}

// secretsOf opens an account's secret settings.
func (s *Service) secretsOf(ctx context.Context, id string) (map[string]string, error) {
	b, err := s.vault.Get(ctx, secretOwner, id)
	if err != nil {
		return nil, fmt.Errorf("secrets of registry account %s: %w", id, err)
	}
	out := map[string]string{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("secrets of registry account %s: %w", id, err)
	}
	return out, nil
}

// Create adds an account, tests its connection (unless in.SkipTest) and
// queues its first sync. The change is audited (secrets as set or not).
func (s *Service) Create(ctx context.Context, in RegistryAccountInput) (RegistryAccount, error) {
	c, err := s.check(ctx, nil, in)
	if err != nil {
		return RegistryAccount{}, err
	}
	var n int
	if err := s.st.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM registry_accounts`).Scan(&n); err != nil {
		return RegistryAccount{}, fmt.Errorf("create registry account: %w", err)
	}
	if n >= maxAccounts {
		return RegistryAccount{}, fmt.Errorf("%w: at most %d registry accounts", ErrConflict, maxAccounts)
	}
	host, err := s.testOrHost(ctx, c, in.SkipTest)
	if err != nil {
		return RegistryAccount{}, err
	}
	now := s.now()
	by, org := caller(ctx)
	a := RegistryAccount{ID: store.NewID(now), orgID: org, Kind: c.kind.Name, Name: c.name, Host: host, Settings: c.settings, CACert: c.caCert,
		Filters: c.filters, Schedule: c.schedule, AutoScan: c.autoScan, ScanBy: c.scanBy, CreatedBy: by, CreatedAt: now, UpdatedBy: by, UpdatedAt: now,
		secretNames: slices.Sorted(maps.Keys(c.secrets))}
	a.nextSync = s.nextSync(a.Schedule, now)
	err = s.st.Tx(ctx, func(tx store.Querier) error {
		if err := s.writeAccount(ctx, tx, a, true); err != nil {
			return err
		}
		if err := s.putSecrets(ctx, tx, a, c.secrets); err != nil {
			return err
		}
		if err := s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditRegistryAccountCreate, a.auditTarget(), nil, a.audit())); err != nil {
			return err
		}
		_, err := s.queueSyncTx(ctx, tx, a.ID, "account added by "+by)
		return err
	})
	if err != nil {
		if isUnique(err) {
			return RegistryAccount{}, fmt.Errorf("%w: a registry account named %q exists", ErrConflict, a.Name)
		}
		return RegistryAccount{}, fmt.Errorf("create registry account %q: %w", a.Name, err)
	}
	s.jobs.Wake()
	s.log.Info("registry account added", "account", a.ID, "kind", a.Kind, "host", a.Host)
	return s.Account(ctx, a.ID)
}

// Update changes an account (absent members keep their value; a secret
// given as "" keeps its value), testing the connection again when what
// it depends on changed (unless in.SkipTest). Audited with the account
// before and after.
func (s *Service) Update(ctx context.Context, id string, in RegistryAccountInput) (RegistryAccount, error) {
	was, err := getAccount(ctx, s.st.Read(), id)
	if err != nil {
		return RegistryAccount{}, err
	}
	c, err := s.check(ctx, &was, in)
	if err != nil {
		return RegistryAccount{}, err
	}
	host := was.Host
	if c.connection {
		if host, err = s.testOrHost(ctx, c, in.SkipTest); err != nil {
			return RegistryAccount{}, err
		}
	}
	now := s.now()
	by, _ := caller(ctx)
	a := was
	a.Name, a.Host, a.Settings, a.CACert, a.Filters, a.Schedule, a.AutoScan, a.ScanBy = c.name, host, c.settings, c.caCert, c.filters, c.schedule, c.autoScan, c.scanBy
	a.secretNames = slices.Sorted(maps.Keys(c.secrets))
	a.UpdatedBy, a.UpdatedAt = by, now
	if a.Schedule != was.Schedule {
		a.nextSync = s.nextSync(a.Schedule, now)
	}
	err = s.st.Tx(ctx, func(tx store.Querier) error {
		cur, err := getAccount(ctx, tx, id)
		if err != nil {
			return err
		}
		if !cur.UpdatedAt.Equal(was.UpdatedAt) {
			return fmt.Errorf("%w: registry account %s changed meanwhile; read it again", ErrConflict, id)
		}
		if err := s.writeAccount(ctx, tx, a, false); err != nil {
			return err
		}
		if c.connection {
			if err := s.putSecrets(ctx, tx, a, c.secrets); err != nil {
				return err
			}
		}
		return s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditRegistryAccountUpdate, a.auditTarget(), was.audit(), a.audit()))
	})
	if err != nil {
		if isUnique(err) {
			return RegistryAccount{}, fmt.Errorf("%w: a registry account named %q exists", ErrConflict, a.Name)
		}
		return RegistryAccount{}, fmt.Errorf("update registry account %s: %w", id, err)
	}
	return s.Account(ctx, id)
}

// Delete removes an account, its catalogue, its sync history and its
// secrets, and cancels a waiting sync. Scans and findings of its images
// stay (they are the estate's history). Audited.
func (s *Service) Delete(ctx context.Context, id string) error {
	err := events.Tx(ctx, s.st, s.now, func(ctx context.Context, tx store.Querier) error {
		was, err := getAccount(ctx, tx, id)
		if err != nil {
			return err
		}
		if was.syncJob != "" {
			if _, err := s.jobs.CancelTx(ctx, tx, was.syncJob, "registry account deleted"); err != nil &&
				!errors.Is(err, jobs.ErrConflict) && !errors.Is(err, jobs.ErrNotFound) {
				return err
			}
		}
		for _, q := range []string{`DELETE FROM registry_tags WHERE account_id = ?`, `DELETE FROM registry_repositories WHERE account_id = ?`,
			`DELETE FROM registry_syncs WHERE account_id = ?`, `DELETE FROM registry_accounts WHERE id = ?`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return fmt.Errorf("delete registry account %s: %w", id, err)
			}
		}
		if err := s.vault.DeleteTx(ctx, tx, secretOwner, id); err != nil {
			return err
		}
		return s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditRegistryAccountDelete, was.auditTarget(), was.audit(), nil))
	})
	if err != nil {
		return err
	}
	s.log.Info("registry account deleted", "account", id)
	return nil
}

func (s *Service) writeAccount(ctx context.Context, tx store.Querier, a RegistryAccount, insert bool) error {
	settings, _ := json.Marshal(a.Settings)
	names, _ := json.Marshal(a.secretNames)
	if a.secretNames == nil {
		names = []byte("[]")
	}
	globs, _ := json.Marshal(a.Filters.Repositories)
	scanBy := a.ScanBy
	if scanBy == ScanByConsole {
		scanBy = ""
	}
	var next any
	if a.nextSync != nil {
		next = store.Millis(*a.nextSync)
	}
	var err error
	if insert {
		_, err = tx.ExecContext(ctx, `INSERT INTO registry_accounts (id, org_id, kind, name, host, settings, secret_names, ca_cert, repo_globs,
			tag_regex, latest_tags, schedule, next_sync_at, auto_scan, scanner, created_by, created_at, updated_by, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.orgID, a.Kind, a.Name, a.Host, string(settings), string(names), a.CACert, string(globs), a.Filters.TagRegex,
			a.Filters.LatestTags, a.Schedule, next, a.AutoScan, scanBy, a.CreatedBy, store.Millis(a.CreatedAt), a.UpdatedBy, store.Millis(a.UpdatedAt))
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE registry_accounts SET name = ?, host = ?, settings = ?, secret_names = ?, ca_cert = ?, repo_globs = ?,
			tag_regex = ?, latest_tags = ?, schedule = ?, next_sync_at = ?, auto_scan = ?, scanner = ?, updated_by = ?, updated_at = ? WHERE id = ?`,
			a.Name, a.Host, string(settings), string(names), a.CACert, string(globs), a.Filters.TagRegex, a.Filters.LatestTags, a.Schedule, next,
			a.AutoScan, scanBy, a.UpdatedBy, store.Millis(a.UpdatedAt), a.ID)
	}
	if err != nil {
		return fmt.Errorf("store registry account %s: %w", a.ID, err)
	}
	return nil
}

func (s *Service) putSecrets(ctx context.Context, tx store.Querier, a RegistryAccount, secrets map[string]string) error {
	if len(secrets) == 0 {
		return s.vault.DeleteTx(ctx, tx, secretOwner, a.ID)
	}
	b, err := json.Marshal(secrets)
	if err != nil {
		return err
	}
	return s.vault.PutTx(ctx, tx, a.orgID, secretOwner, a.ID, b)
}

// nextSync is when a schedule next runs after now (nil: on demand only).
func (s *Service) nextSync(schedule string, now time.Time) *time.Time {
	if schedule == "" {
		return nil
	}
	sch, err := jobs.ParseCron(schedule)
	if err != nil {
		return nil
	}
	t := sch.Next(now.UTC()).Truncate(time.Millisecond)
	return &t
}

// caller is the request's user (email) and organisation.
func caller(ctx context.Context) (email, org string) {
	if p, ok := console.PrincipalFrom(ctx); ok {
		return p.User.Email, p.User.OrgID
	}
	return "system", ""
}

func isUnique(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "unique") || strings.Contains(s, "duplicate key")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
