package scans

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

	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/vulndb"
)

// KB holds the console's knowledge base: the compiled file in the feeds
// data directory (internal/feeds), reopened after every update or import.
type KB struct {
	feeds *feeds.Manager
	log   *slog.Logger
	now   func() time.Time

	mu        sync.RWMutex
	db        *vulndb.DB
	loadedAt  time.Time
	lastError string
	lastRun   time.Time
	// onChange is called after a new knowledge base is loaded.
	onChange func(ctx context.Context)
}

// NewKB opens the knowledge base of the feeds manager m (missing is not an
// error: the console then stores inventories without findings until feeds
// arrive).
func NewKB(m *feeds.Manager, log *slog.Logger, now func() time.Time) *KB {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	k := &KB{feeds: m, log: log, now: now}
	if err := k.reload(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("knowledge base not loaded", "path", m.KBPath(), "err", err)
		k.lastError = err.Error()
	}
	return k
}

// DB returns the current knowledge base, or nil when there is none.
func (k *KB) DB() *vulndb.DB {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.db
}

func (k *KB) reload() error {
	// A file of another schema (an upgraded console) is rebuilt from the
	// stored feeds rather than left unloaded until the next feed update.
	db, err := k.feeds.OpenKB(context.Background(), func(reason error) {
		k.log.Info("rebuilding the knowledge base from the stored feeds", "path", k.feeds.KBPath(), "reason", reason)
	})
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.db, k.loadedAt = db, k.now()
	k.mu.Unlock()
	return nil
}

// Update fetches the feeds (conditional GETs) and reloads the knowledge base.
func (k *KB) Update(ctx context.Context) error {
	rep, err := k.feeds.Update(ctx)
	if err == nil {
		err = rep.Failed()
	}
	return k.after(ctx, "update", err)
}

// Import imports an uploaded feed file or bundle (air-gapped sites).
func (k *KB) Import(ctx context.Context, r io.Reader, name string) (*feeds.Report, error) {
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
	k.mu.Unlock()
	if rerr := k.reload(); rerr != nil {
		return errors.Join(err, fmt.Errorf("reload knowledge base: %w", rerr))
	}
	if k.onChange != nil {
		k.onChange(ctx)
	}
	return err
}

// Run updates the feeds every interval until ctx ends (0: never).
func (k *KB) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := k.Update(ctx); err != nil && ctx.Err() == nil {
			k.log.Warn("feed update", "err", err)
		} else {
			k.log.Info("feeds updated")
		}
	}
}

// FeedStatus is the knowledge base's state for the diagnosis endpoint.
type FeedStatus struct {
	Loaded    bool                 `json:"loaded"`
	Path      string               `json:"path"`
	BuiltAt   *time.Time           `json:"builtAt,omitempty"`
	LoadedAt  *time.Time           `json:"loadedAt,omitempty"`
	Vulns     int                  `json:"vulnerabilities"`
	SizeBytes int64                `json:"sizeBytes"`
	LastRun   *time.Time           `json:"lastUpdate,omitempty"`
	LastError string               `json:"lastError,omitempty"`
	Sources   []feeds.SourceStatus `json:"sources"`
}

// Status reports the knowledge base and feed files.
func (k *KB) Status() FeedStatus {
	k.mu.RLock()
	defer k.mu.RUnlock()
	fs := FeedStatus{Path: k.feeds.KBPath(), LastError: k.lastError, Sources: []feeds.SourceStatus{}}
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
