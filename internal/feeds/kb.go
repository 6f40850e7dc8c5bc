package feeds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/vulndb"
)

// KB holds the console's knowledge base: the compiled file in the feeds
// data directory, reopened after every update, import or rebuild. Each
// change that loads a new knowledge base writes a FeedsUpdated event, on
// which the findings of stored inventories are matched again.
type KB struct {
	feeds *Manager
	cfg   KBConfig
	log   *slog.Logger
	now   func() time.Time

	// run serialises updates, imports and rebuilds in this process.
	run sync.Mutex

	mu           sync.RWMutex
	db           *vulndb.DB
	loadedAt     time.Time
	lastError    string
	lastRun      time.Time
	lastReport   *RunSummary
	needsRebuild bool

	// shared keeps the feeds the same on every replica sharing the
	// store (shared.go; nothing on SQLite).
	shared *store.Replicated
}

// KBConfig are a KB's optional dependencies.
type KBConfig struct {
	// Store receives the FeedsUpdated events (none without it). On
	// PostgreSQL the replicas share the feeds through it (shared.go).
	Store *store.Store
	// Replica names this console process in what it publishes to the
	// other replicas (default store.InstanceName()).
	Replica string
	// Events is woken after an event was written.
	Events *events.Bus
	Logger *slog.Logger
	Now    func() time.Time
	// Interval is how often the feeds.update job runs (0: never; the
	// status then shows no next update).
	Interval time.Duration
}

// NewKB opens the knowledge base of the feeds manager m. A missing file is
// not an error (the console stores inventories without findings until
// feeds arrive); a file of another schema is left for Rebuild (the
// kb.rebuild job) and NeedsRebuild says so.
func NewKB(m *Manager, cfg KBConfig) *KB {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Replica == "" {
		cfg.Replica = store.InstanceName()
	}
	k := &KB{feeds: m, cfg: cfg, log: cfg.Logger, now: cfg.Now}
	k.shared = k.newShared()
	db, err := vulndb.Open(m.KBPath())
	switch {
	case err == nil:
		k.db, k.loadedAt = db, k.now()
	case errors.Is(err, vulndb.ErrSchema):
		k.needsRebuild = true
		k.lastError = "the knowledge base file is of another schema; it is rebuilt from the stored feeds"
		k.log.Info("knowledge base of another schema: a rebuild from the stored feeds is due", "path", m.KBPath(), "reason", err)
	case !errors.Is(err, fs.ErrNotExist):
		k.log.Warn("knowledge base not loaded", "path", m.KBPath(), "err", err)
		k.lastError = err.Error()
	}
	return k
}

// NeedsRebuild reports whether the file on disk is of another schema.
func (k *KB) NeedsRebuild() bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.needsRebuild
}

// DB returns the current knowledge base, or nil when there is none.
func (k *KB) DB() *vulndb.DB {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.db
}

func (k *KB) reload() error {
	db, err := vulndb.Open(k.feeds.KBPath())
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.db, k.loadedAt, k.needsRebuild = db, k.now(), false
	k.mu.Unlock()
	return nil
}

// Rebuild compiles the stored feeds into the knowledge base again and
// loads it.
func (k *KB) Rebuild(ctx context.Context) error {
	k.run.Lock()
	defer k.run.Unlock()
	k.log.Info("rebuilding the knowledge base from the stored feeds", "path", k.feeds.KBPath())
	err := k.shared.Change(ctx, func(ctx context.Context) (bool, error) {
		err := k.feeds.Rebuild(ctx)
		return err == nil, err
	})
	return k.after(ctx, "rebuild", err, nil)
}

// auditor builds the audit entry of a change: console.Audit for the
// caller of a request, or a job's entry (console.JobAudit).
type auditor func(ctx context.Context, action, target string, before, after any) store.AuditEntry

// kbState is the knowledge base as the audit log shows it.
type kbState struct {
	BuiltAt time.Time `json:"builtAt,omitzero"`
	Vulns   int       `json:"vulnerabilities"`
}

func (k *KB) state() kbState {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.db == nil {
		return kbState{}
	}
	return kbState{BuiltAt: k.db.Meta().BuiltAt, Vulns: k.db.NumVulns()}
}

// feedsChange is what an update or import did, as the audit log shows it.
type feedsChange struct {
	File    string       `json:"file,omitempty"` // an import's file name
	Size    int64        `json:"sizeBytes,omitempty"`
	Updated []ItemResult `json:"updated"`
	Failed  []ItemResult `json:"failed,omitempty"`
	// Unchanged counts the sources that were checked and had nothing new.
	Unchanged int     `json:"unchanged,omitempty"`
	Records   int     `json:"records"` // in the updated sources
	Rebuilt   bool    `json:"rebuilt"`
	KB        kbState `json:"knowledgeBase"`
}

func changeOf(rep *Report, kb kbState) feedsChange {
	c := feedsChange{Updated: []ItemResult{}, Rebuilt: rep.Rebuilt, KB: kb}
	for _, it := range rep.Items {
		switch it.Status {
		case StatusUpdated:
			c.Updated = append(c.Updated, it)
			c.Records += it.Records
		case StatusFailed:
			c.Failed = append(c.Failed, it)
		default:
			c.Unchanged++
		}
	}
	return c
}

// Update fetches the feeds (conditional GETs) and reloads the knowledge
// base. It is audited as the change of the request in ctx (an admin's
// POST /api/v1/feeds/update), whatever it found.
func (k *KB) Update(ctx context.Context) error {
	return k.update(ctx, console.Audit, true)
}

// update is Update with the audit entry's author. always records an
// entry for a run that changed nothing (a user asked for it); otherwise
// only a run that updated a source or rebuilt the knowledge base is
// recorded (the periodic job checks often).
func (k *KB) update(ctx context.Context, by auditor, always bool) error {
	k.run.Lock()
	defer k.run.Unlock()
	var before kbState
	var rep *Report
	err := k.shared.Change(ctx, func(ctx context.Context) (bool, error) {
		before = k.state() // after taking the other replicas' latest
		var err error
		rep, err = k.feeds.Update(ctx)
		if err == nil {
			err = rep.Failed()
		}
		return stored(rep), err
	})
	k.summarize("update", rep)
	var audit func(kbState) *store.AuditEntry
	if rep != nil {
		audit = func(after kbState) *store.AuditEntry {
			c := changeOf(rep, after)
			if !always && len(c.Updated) == 0 && !c.Rebuilt {
				return nil
			}
			e := by(ctx, store.AuditFeedsUpdate, "feeds", before, c)
			return &e
		}
	}
	return k.after(ctx, "update", err, audit)
}

// Import imports an uploaded feed file or bundle (air-gapped sites). An
// import that stored anything is audited as the change of the request in
// ctx (its file name and size, the sources it updated or failed); an
// upload refused as a whole is not.
func (k *KB) Import(ctx context.Context, r io.Reader, name string) (*Report, error) {
	k.run.Lock()
	defer k.run.Unlock()
	dir, err := os.MkdirTemp("", "riskmap-feed-upload-")
	if err != nil {
		return nil, fmt.Errorf("import feeds: %w", err)
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, filepath.Base(filepath.Clean("/"+name)))
	f, err := os.Create(p)
	if err != nil {
		return nil, fmt.Errorf("import feeds: %w", err)
	}
	size, err := io.Copy(f, r)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("import feeds: read upload: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("import feeds: %w", err)
	}
	var before kbState
	var rep *Report
	err = k.shared.Change(ctx, func(ctx context.Context) (bool, error) {
		before = k.state() // after taking the other replicas' latest
		var err error
		rep, err = k.feeds.Import(ctx, p)
		return stored(rep), err
	})
	if rep == nil {
		return nil, k.after(ctx, "import", err, nil)
	}
	// err: storing, compiling or publishing failed after the files were
	// read; what was stored is recorded with the error.
	k.summarize("import", rep)
	return rep, k.after(ctx, "import", errors.Join(err, rep.Failed()), func(after kbState) *store.AuditEntry {
		c := changeOf(rep, after)
		c.File, c.Size = name, size
		e := console.Audit(ctx, store.AuditFeedsImport, "feeds import "+name, before, c)
		return &e
	})
}

// stored: a run stored a feed file or rebuilt the knowledge base (the
// other replicas are to take it).
func stored(rep *Report) bool {
	if rep == nil {
		return false
	}
	for _, it := range rep.Items {
		if it.Status == StatusUpdated {
			return true
		}
	}
	return rep.Rebuilt
}

// summarize keeps what a run did for the status (none: a run that failed
// as a whole, which the last error says).
func (k *KB) summarize(op string, rep *Report) {
	if rep == nil {
		return
	}
	k.mu.Lock()
	k.lastReport = summaryOf(op, k.now(), rep)
	k.mu.Unlock()
}

// after records the outcome of a run, reloads the knowledge base and, in
// one transaction, writes the run's audit entry (audit may be nil or
// return nil: none) and, when a new knowledge base was loaded, its
// FeedsUpdated event. The feed files on disk changed before; the
// transaction records them right after.
func (k *KB) after(ctx context.Context, op string, err error, audit func(after kbState) *store.AuditEntry) error {
	k.mu.Lock()
	k.lastRun = k.now()
	k.lastError = ""
	if err != nil {
		k.lastError = op + ": " + err.Error()
	}
	var before time.Time
	if k.db != nil {
		before = k.db.Meta().BuiltAt
	}
	k.mu.Unlock()
	var evs []events.Typed
	if rerr := k.reload(); rerr != nil {
		err = errors.Join(err, fmt.Errorf("reload knowledge base: %w", rerr))
	} else if db := k.DB(); !db.Meta().BuiltAt.Equal(before) {
		evs = append(evs, FeedsUpdated{Op: op, Vulns: db.NumVulns(), BuiltAt: db.Meta().BuiltAt})
	}
	var e *store.AuditEntry
	if audit != nil {
		e = audit(k.state())
	}
	if rerr := k.record(ctx, e, evs...); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

// record writes an audit entry and events in one transaction when the KB
// has a store.
func (k *KB) record(ctx context.Context, e *store.AuditEntry, evs ...events.Typed) error {
	if k.cfg.Store == nil || (e == nil && len(evs) == 0) {
		return nil
	}
	err := k.cfg.Store.Tx(ctx, func(tx store.Querier) error {
		if e != nil {
			if err := k.cfg.Store.AppendAuditTx(ctx, tx, *e); err != nil {
				return err
			}
		}
		return events.Publish(ctx, tx, k.now(), evs...)
	})
	if err != nil {
		return fmt.Errorf("record feeds %s: %w", k.feeds.KBPath(), err)
	}
	if len(evs) > 0 && k.cfg.Events != nil {
		k.cfg.Events.Notify()
	}
	return nil
}

// FeedStatus is the knowledge base's state for the diagnosis endpoint.
type FeedStatus struct {
	Loaded bool   `json:"loaded"`
	Path   string `json:"path"`
	// Dir is the feeds' data directory: `riskmap feeds import --db DIR`
	// on the console's machine fills it.
	Dir       string         `json:"dir"`
	BuiltAt   *time.Time     `json:"builtAt,omitempty"`
	LoadedAt  *time.Time     `json:"loadedAt,omitempty"`
	Vulns     int            `json:"vulnerabilities"`
	SizeBytes int64          `json:"sizeBytes"`
	LastRun   *time.Time     `json:"lastUpdate,omitempty"`
	LastError string         `json:"lastError,omitempty"`
	Sources   []SourceStatus `json:"sources"`
	// Run is what the last update or import of this process did: the
	// sources it updated, left unchanged and failed (each failure in one
	// line). A run whose every source failed updated nothing.
	Run *RunSummary `json:"lastRun,omitempty"`
	// NextUpdate is when the periodic update runs next (none when the
	// console does not update by itself: --feed-interval=0).
	NextUpdate *time.Time `json:"nextUpdate,omitempty"`
	// Replica is, with replicas on PostgreSQL, the published generation
	// of the feeds this replica runs and when it last looked (none on
	// SQLite).
	Replica *store.ReplicatedStatus `json:"replica,omitempty"`
}

// RunSummary is the outcome of one update or import.
type RunSummary struct {
	Op        string         `json:"op" enum:"update,import"`
	At        time.Time      `json:"at"`
	Updated   []string       `json:"updated"`
	Unchanged int            `json:"unchanged"`
	Failed    []FailedSource `json:"failed"`
	Rebuilt   bool           `json:"rebuilt"`
}

// FailedSource is a source an update or import failed on, and why, in one
// line.
type FailedSource struct {
	Source string `json:"source"`
	Path   string `json:"path"`
	Error  string `json:"error"`
}

// oneLine keeps an error's first line, at most 300 bytes.
func oneLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:297] + "..."
	}
	return s
}

func summaryOf(op string, at time.Time, rep *Report) *RunSummary {
	sum := &RunSummary{Op: op, At: at, Updated: []string{}, Failed: []FailedSource{}, Rebuilt: rep.Rebuilt}
	for _, it := range rep.Items {
		switch it.Status {
		case StatusUpdated:
			sum.Updated = append(sum.Updated, it.Source)
		case StatusFailed:
			sum.Failed = append(sum.Failed, FailedSource{Source: it.Source, Path: it.Path, Error: oneLine(it.Error)})
		default:
			sum.Unchanged++
		}
	}
	return sum
}

// Status reports the knowledge base and feed files.
func (k *KB) Status() FeedStatus {
	// Before k.mu: a change holds the shared lock while it takes k.mu.
	shared := k.Shared()
	k.mu.RLock()
	defer k.mu.RUnlock()
	fs := FeedStatus{Path: k.feeds.KBPath(), Dir: k.feeds.Dir(), LastError: k.lastError, Sources: []SourceStatus{}}
	if shared.Shared {
		fs.Replica = &shared
	}
	if k.db != nil {
		fs.Loaded = true
		b, l := k.db.Meta().BuiltAt, k.loadedAt
		fs.BuiltAt, fs.LoadedAt = &b, &l
		fs.Vulns, fs.SizeBytes = k.db.NumVulns(), k.db.Size()
	}
	if !k.lastRun.IsZero() {
		r := k.lastRun
		fs.LastRun = &r
	}
	fs.Run = k.lastReport
	if k.cfg.Interval > 0 {
		next := k.now().Add(k.cfg.Interval)
		if !k.lastRun.IsZero() && k.lastRun.Add(k.cfg.Interval).After(k.now()) {
			next = k.lastRun.Add(k.cfg.Interval)
		}
		fs.NextUpdate = &next
	}
	if st, err := k.feeds.Status(); err == nil {
		fs.Sources = st
	} else if fs.LastError == "" {
		fs.LastError = "feed status: " + err.Error()
	}
	return fs
}
