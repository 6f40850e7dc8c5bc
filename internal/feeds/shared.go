package feeds

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/vulndb"
)

// Console replicas on one PostgreSQL share the feeds (docs/replicas.md):
// an update, import or rebuild runs under the feeds' advisory lock on the
// latest published generation and publishes the data directory's feeds
// as an export bundle (a store.Replicated named SharedName); every other
// replica imports it, compiling the same knowledge base (same build time)
// without writing a FeedsUpdated event or an audit entry of its own: the
// replica that made the change wrote them, once.

// SharedName is the shared blob of the feeds.
const SharedName = "feeds"

// FollowEvery is how often a replica looks for feeds another published.
const FollowEvery = 10 * time.Second

// sharedMeta travels with a published bundle.
type sharedMeta struct {
	// BuiltAt is the publisher's knowledge base build time, which the
	// followers' builds take.
	BuiltAt time.Time `json:"builtAt"`
	// State is the publisher's state file: sources' times, validators
	// for its conditional GETs, last errors.
	State *State `json:"state"`
}

// newShared wires the KB's replication (a no-op without a shared store).
func (k *KB) newShared() *store.Replicated {
	return &store.Replicated{Store: k.cfg.Store, Name: SharedName, StateFile: filepath.Join(k.feeds.Dir(), "shared.json"),
		Export: k.exportShared, Import: k.importShared, Replica: k.cfg.Replica, Logger: k.log}
}

// exportShared writes the stored feeds as a bundle (nothing before any
// feed is stored).
func (k *KB) exportShared(ctx context.Context, w io.Writer) (string, bool, error) {
	files, err := k.feeds.storedFiles()
	if err != nil || len(files) == 0 {
		return "", false, err
	}
	if _, err := k.feeds.Export(ctx, w); err != nil {
		return "", false, err
	}
	st, err := k.feeds.loadState()
	if err != nil {
		return "", false, err
	}
	meta := sharedMeta{State: st}
	if db, err := vulndb.Open(k.feeds.KBPath()); err == nil {
		meta.BuiltAt = db.Meta().BuiltAt
		db.Close()
	}
	b, err := json.Marshal(meta)
	return string(b), true, err
}

// importShared takes the bundle another replica published and loads the
// knowledge base it compiles to: no event, no audit entry (the publisher
// wrote them).
func (k *KB) importShared(ctx context.Context, path string, info store.BlobInfo) error {
	var meta sharedMeta
	if err := json.Unmarshal([]byte(info.Meta), &meta); err != nil {
		return fmt.Errorf("feeds published by %s: %w", info.Replica, err)
	}
	if meta.State == nil {
		meta.State = &State{}
	}
	if _, err := k.feeds.importFollowed(ctx, path, meta.State, meta.BuiltAt); err != nil {
		return err
	}
	if err := k.reload(); err != nil {
		return fmt.Errorf("reload knowledge base: %w", err)
	}
	k.mu.Lock()
	k.lastError = ""
	k.mu.Unlock()
	return nil
}

// Follow brings this replica's feeds and knowledge base up to the latest
// the replicas published (nothing on SQLite). A job that reads the
// knowledge base right after another replica changed it (the rematch on
// feeds.updated) calls it first.
func (k *KB) Follow(ctx context.Context) error {
	return k.shared.CatchUp(ctx)
}

// RunFollow follows the other replicas' feeds every FollowEvery until ctx
// ends, the first time at once (started with the console; returns at once
// on SQLite).
func (k *KB) RunFollow(ctx context.Context) { k.shared.Run(ctx, FollowEvery) }

// Ready fails until this replica has taken the published feeds once
// (console.Readier: /readyz).
func (k *KB) Ready(context.Context) error { return k.shared.Ready() }

// Shared reports the generation of the replicas' feeds this replica runs.
func (k *KB) Shared() store.ReplicatedStatus { return k.shared.Status() }
