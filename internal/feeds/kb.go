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
	"sync"
	"time"

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
	needsRebuild bool
}

// KBConfig are a KB's optional dependencies.
type KBConfig struct {
	// Store receives the FeedsUpdated events (none without it).
	Store *store.Store
	// Events is woken after an event was written.
	Events *events.Bus
	Logger *slog.Logger
	Now    func() time.Time
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
	k := &KB{feeds: m, cfg: cfg, log: cfg.Logger, now: cfg.Now}
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
	return k.after(ctx, "rebuild", k.feeds.Rebuild(ctx))
}

// Update fetches the feeds (conditional GETs) and reloads the knowledge base.
func (k *KB) Update(ctx context.Context) error {
	k.run.Lock()
	defer k.run.Unlock()
	rep, err := k.feeds.Update(ctx)
	if err == nil {
		err = rep.Failed()
	}
	return k.after(ctx, "update", err)
}

// Import imports an uploaded feed file or bundle (air-gapped sites).
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
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return nil, fmt.Errorf("import feeds: read upload: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("import feeds: %w", err)
	}
	rep, err := k.feeds.Import(ctx, p)
	if err != nil {
		return nil, k.after(ctx, "import", err)
	}
	return rep, k.after(ctx, "import", rep.Failed())
}

func (k *KB) after(ctx context.Context, op string, err error) error {
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
	if rerr := k.reload(); rerr != nil {
		return errors.Join(err, fmt.Errorf("reload knowledge base: %w", rerr))
	}
	db := k.DB()
	if db.Meta().BuiltAt.Equal(before) {
		return err
	}
	if perr := k.publish(ctx, FeedsUpdated{Op: op, Vulns: db.NumVulns(), BuiltAt: db.Meta().BuiltAt}); perr != nil {
		return errors.Join(err, perr)
	}
	return err
}

// publish writes an event when the KB has a store.
func (k *KB) publish(ctx context.Context, e events.Typed) error {
	if k.cfg.Store == nil {
		return nil
	}
	if err := k.cfg.Store.Tx(ctx, func(tx store.Querier) error { return events.Publish(ctx, tx, k.now(), e) }); err != nil {
		return fmt.Errorf("record %s: %w", e.EventType(), err)
	}
	if k.cfg.Events != nil {
		k.cfg.Events.Notify()
	}
	return nil
}

// FeedStatus is the knowledge base's state for the diagnosis endpoint.
type FeedStatus struct {
	Loaded    bool           `json:"loaded"`
	Path      string         `json:"path"`
	BuiltAt   *time.Time     `json:"builtAt,omitempty"`
	LoadedAt  *time.Time     `json:"loadedAt,omitempty"`
	Vulns     int            `json:"vulnerabilities"`
	SizeBytes int64          `json:"sizeBytes"`
	LastRun   *time.Time     `json:"lastUpdate,omitempty"`
	LastError string         `json:"lastError,omitempty"`
	Sources   []SourceStatus `json:"sources"`
}

// Status reports the knowledge base and feed files.
func (k *KB) Status() FeedStatus {
	k.mu.RLock()
	defer k.mu.RUnlock()
	fs := FeedStatus{Path: k.feeds.KBPath(), LastError: k.lastError, Sources: []SourceStatus{}}
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
	if st, err := k.feeds.Status(); err == nil {
		fs.Sources = st
	} else if fs.LastError == "" {
		fs.LastError = "feed status: " + err.Error()
	}
	return fs
}
