package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Replicated keeps files of this replica's data directory (the feeds, the
// malware rule bundle) the same as the other replicas' through a shared
// blob: a change runs under the blob's advisory lock on the latest
// published generation and publishes the result (Change); the replicas
// import each newer generation (CatchUp, Run). On SQLite (one console)
// Change only runs the change and nothing else happens.
type Replicated struct {
	Store *Store
	// Name is the shared blob's name.
	Name string
	// StateFile records which generation this replica's copy is, so a
	// restart does not import it again.
	StateFile string
	// Export writes this replica's copy and returns the metadata its
	// importers get; ok false: there is nothing to publish yet.
	Export func(ctx context.Context, w io.Writer) (meta string, ok bool, err error)
	// Import replaces this replica's copy with the content at path (what
	// another replica's Export wrote), published as info.
	Import func(ctx context.Context, path string, info BlobInfo) error
	// Local fingerprints this replica's copy, to notice a change made
	// outside Change (a CLI import into the data directory), which is then
	// published; nil: none is looked for.
	Local func() (string, error)
	// Replica names this process in what it publishes (InstanceName).
	Replica string
	Logger  *slog.Logger

	mu        sync.Mutex // one change or catch-up at a time in this process
	st        replicatedState
	loaded    bool
	synced    bool
	checkedAt time.Time
	lastErr   string
}

type replicatedState struct {
	Generation int64  `json:"generation"`
	SHA256     string `json:"sha256,omitempty"`
	// Local is the Local fingerprint of the copy at that generation.
	Local string `json:"local,omitempty"`
}

// ReplicatedStatus is what a replica holds of a shared blob.
type ReplicatedStatus struct {
	// Shared: the store is shared by replicas (PostgreSQL).
	Shared bool `json:"shared"`
	// Generation is the published generation this replica's copy is (0:
	// none yet).
	Generation int64 `json:"generation"`
	// Synced: this replica has caught up at least once since it started.
	Synced    bool      `json:"synced"`
	CheckedAt time.Time `json:"checkedAt,omitzero"`
	LastError string    `json:"lastError,omitempty"`
}

func (r *Replicated) log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// Status reports this replica's generation.
func (r *Replicated) Status() ReplicatedStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Store == nil || !r.Store.Shared() {
		return ReplicatedStatus{}
	}
	r.load()
	return ReplicatedStatus{Shared: true, Generation: r.st.Generation, Synced: r.synced, CheckedAt: r.checkedAt, LastError: r.lastErr}
}

// Ready fails until this replica has caught up with the published
// generation once (a new replica gets the shared files before serving).
func (r *Replicated) Ready() error {
	st := r.Status()
	if st.Shared && !st.Synced {
		if st.LastError != "" {
			return fmt.Errorf("%s not yet taken from the other replicas: %s", r.Name, st.LastError)
		}
		return fmt.Errorf("%s not yet taken from the other replicas", r.Name)
	}
	return nil
}

// load reads the state file once.
func (r *Replicated) load() {
	if r.loaded {
		return
	}
	r.loaded = true
	b, err := os.ReadFile(r.StateFile)
	if err != nil {
		return
	}
	if err := json.Unmarshal(b, &r.st); err != nil {
		r.log().Warn("shared state unreadable; the latest generation is imported again", "file", r.StateFile, "err", err)
		r.st = replicatedState{}
	}
}

func (r *Replicated) save() error {
	b, _ := json.Marshal(r.st)
	tmp := r.StateFile + ".tmp"
	if err := os.MkdirAll(filepath.Dir(r.StateFile), 0o755); err != nil {
		return fmt.Errorf("save %s: %w", r.StateFile, err)
	}
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("save %s: %w", r.StateFile, err)
	}
	if err := os.Rename(tmp, r.StateFile); err != nil {
		return fmt.Errorf("save %s: %w", r.StateFile, err)
	}
	return nil
}

// Change runs op, which changes this replica's copy (changed: it stored
// something), as the replicas' one change of the moment: under the
// blob's advisory lock, after bringing the copy up to the latest
// generation, then publishing what op left. So two replicas never
// publish from diverging copies and no change is lost. op's error is
// returned; a change that partly failed but stored something is
// published too.
func (r *Replicated) Change(ctx context.Context, op func(ctx context.Context) (changed bool, err error)) error {
	if r.Store == nil || !r.Store.Shared() {
		_, err := op(ctx)
		return err
	}
	unlock, err := r.Store.LockShared(ctx, r.Name)
	if err != nil {
		return err
	}
	defer unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.load()
	if err := r.catchUp(ctx, true); err != nil {
		return fmt.Errorf("before changing %s: %w", r.Name, err)
	}
	changed, opErr := op(ctx)
	if !changed {
		return opErr
	}
	_, perr := r.publish(ctx)
	return errors.Join(opErr, perr)
}

// CatchUp imports the latest published generation when it is newer than
// this replica's copy, and publishes the copy when none is published yet
// or Local says it changed outside Change. Taking a generation needs no
// lock (a published generation never changes), so a replica starting
// while another runs a long update takes the last generation at once;
// publishing tries the advisory lock and, while another replica holds
// it, waits for the next call.
func (r *Replicated) CatchUp(ctx context.Context) error {
	if r.Store == nil || !r.Store.Shared() {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.load()
	err := r.catchUpOrPublish(ctx)
	r.checked(err)
	return err
}

func (r *Replicated) catchUpOrPublish(ctx context.Context) error {
	latest, ok, err := r.Store.LatestBlob(ctx, r.Name)
	if err != nil {
		return err
	}
	if local := r.localChanged(); local || !ok {
		unlock, got, err := r.Store.TryLockShared(ctx, r.Name)
		if err != nil {
			return err
		}
		if got {
			defer unlock()
			return r.catchUp(ctx, false)
		}
		if local {
			// Not taking the published generation over this
			// replica's newer copy: publish it next time.
			return nil
		}
		// Another replica is publishing the first generation.
		r.synced = true
		return nil
	}
	if latest.Generation > r.st.Generation {
		if err := r.fetch(ctx, latest); err != nil {
			return err
		}
	}
	r.synced = true
	return nil
}

func (r *Replicated) checked(err error) {
	r.checkedAt = r.Store.now()
	r.lastErr = ""
	if err != nil {
		r.lastErr = err.Error()
	}
}

// localChanged: Local's fingerprint is not the one recorded for the
// generation held.
func (r *Replicated) localChanged() bool {
	if r.Local == nil || r.st.Generation == 0 {
		return false
	}
	fp, err := r.Local()
	return err == nil && fp != r.st.Local
}

// catchUp runs under the advisory lock and r.mu: a copy changed outside
// Change is published (the latest change wins); else a newer generation
// is imported; with none published yet, this replica's copy is (the
// first replica of an install that ran alone before). inChange: called
// before a change, which publishes itself.
func (r *Replicated) catchUp(ctx context.Context, inChange bool) error {
	latest, ok, err := r.Store.LatestBlob(ctx, r.Name)
	if err != nil {
		return err
	}
	switch {
	case r.localChanged():
		r.log().InfoContext(ctx, "shared files changed in this replica's data directory: publishing them", "name", r.Name, "generation", r.st.Generation)
		if _, err := r.publish(ctx); err != nil {
			return err
		}
	case ok && latest.Generation > r.st.Generation:
		if err := r.fetch(ctx, latest); err != nil {
			return err
		}
	case !ok && !inChange:
		if _, err := r.publish(ctx); err != nil {
			return err
		}
	}
	r.synced = true
	return nil
}

// fetch imports the generation info.
func (r *Replicated) fetch(ctx context.Context, info BlobInfo) error {
	start := time.Now()
	f, err := r.tempFile()
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	err = r.Store.ReadBlob(ctx, info, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := r.Import(ctx, f.Name(), info); err != nil {
		return fmt.Errorf("import shared %s generation %d: %w", r.Name, info.Generation, err)
	}
	r.st = replicatedState{Generation: info.Generation, SHA256: info.SHA256}
	if r.Local != nil {
		if r.st.Local, err = r.Local(); err != nil {
			return err
		}
	}
	r.log().InfoContext(ctx, "took the other replicas' shared files", "name", r.Name, "generation", info.Generation,
		"from", info.Replica, "bytes", info.Size, "took", time.Since(start).Round(time.Millisecond))
	return r.save()
}

// publish exports this replica's copy as the next generation (none when
// Export has nothing).
func (r *Replicated) publish(ctx context.Context) (BlobInfo, error) {
	f, err := r.tempFile()
	if err != nil {
		return BlobInfo{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	meta, ok, err := r.Export(ctx, f)
	if err != nil {
		return BlobInfo{}, fmt.Errorf("export %s: %w", r.Name, err)
	}
	if !ok {
		return BlobInfo{}, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return BlobInfo{}, err
	}
	info, err := r.Store.PublishBlob(ctx, r.Name, meta, r.Replica, f)
	if err != nil {
		return BlobInfo{}, err
	}
	r.st = replicatedState{Generation: info.Generation, SHA256: info.SHA256}
	if r.Local != nil {
		if r.st.Local, err = r.Local(); err != nil {
			return info, err
		}
	}
	r.log().InfoContext(ctx, "published shared files to the other replicas", "name", r.Name, "generation", info.Generation, "bytes", info.Size)
	return info, r.save()
}

func (r *Replicated) tempFile() (*os.File, error) {
	dir := filepath.Dir(r.StateFile)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("shared %s: %w", r.Name, err)
	}
	f, err := os.CreateTemp(dir, ".shared-*.tar")
	if err != nil {
		return nil, fmt.Errorf("shared %s: %w", r.Name, err)
	}
	return f, nil
}

// Run catches up every interval until ctx ends (the first time at once).
func (r *Replicated) Run(ctx context.Context, every time.Duration) {
	if r.Store == nil || !r.Store.Shared() {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := r.CatchUp(ctx); err != nil && ctx.Err() == nil {
			r.log().WarnContext(ctx, "following the other replicas' shared files failed", "name", r.Name, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
