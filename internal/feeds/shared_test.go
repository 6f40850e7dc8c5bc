package feeds

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

// replica is one console replica's knowledge base: its own data
// directory, its own connections to the shared database.
type replica struct {
	name string
	kb   *KB
	st   *store.Store
}

func newReplica(t *testing.T, url, name string, srv *httptest.Server) *replica {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// A real clock: each build has its own time, as in a console.
	m := New(Config{DataDir: t.TempDir(), OSVBaseURL: srv.URL + "/osv", OSVEcosystems: []string{"Go"},
		KEVURL: srv.URL + "/kev/known_exploited.json", HTTP: srv.Client()})
	return &replica{name: name, kb: NewKB(m, KBConfig{Store: st, Replica: name}), st: st}
}

func (r *replica) upload(t *testing.T, rel string) {
	t.Helper()
	if err := r.tryUpload(t, rel); err != nil {
		t.Fatal(err)
	}
}

func (r *replica) tryUpload(t *testing.T, rel string) error {
	f, err := os.Open(filepath.Join(testenv.SharedFeeds(t), rel))
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := r.kb.Import(context.Background(), f, filepath.Base(rel))
	if err == nil {
		err = rep.Failed()
	}
	if err != nil {
		return fmt.Errorf("%s: import %s: %w", r.name, rel, err)
	}
	return nil
}

func (r *replica) follow(t *testing.T) {
	t.Helper()
	if err := r.kb.Follow(context.Background()); err != nil {
		t.Fatalf("%s: follow: %v", r.name, err)
	}
}

// view is what a replica serves: its knowledge base and feed status.
type view struct {
	Generation int64
	BuiltAt    string
	Vulns      int
	Records    map[string]int
	Sources    map[string]int
	GHSA       bool
}

func (r *replica) view(t *testing.T) view {
	t.Helper()
	db := r.kb.DB()
	if db == nil {
		t.Fatalf("%s: no knowledge base loaded", r.name)
	}
	v := view{Generation: r.kb.Shared().Generation, BuiltAt: db.Meta().BuiltAt.String(), Vulns: db.NumVulns(), Records: map[string]int{}, Sources: map[string]int{}}
	for _, s := range db.Meta().Sources {
		v.Records[s.Name] = s.Records
	}
	st := r.kb.Status()
	for _, s := range st.Sources {
		v.Sources[s.Path] = s.Records
	}
	if st.Replica == nil || st.Replica.Generation != v.Generation || !st.Replica.Synced {
		t.Fatalf("%s: feed status says replica %+v, the follower generation %d", r.name, st.Replica, v.Generation)
	}
	return v
}

// TestReplicasShareFeeds: replicas with their own data directories on one
// PostgreSQL serve the same knowledge base. An upload on A is taken by
// B (same build, same feed status) with one FeedsUpdated event and one
// audit entry in all; an upload on B while A runs an update are
// serialised and neither is lost; a replica started afterwards takes the
// feeds before it is ready; old generations are pruned.
func TestReplicasShareFeeds(t *testing.T) {
	url := testenv.PostgresURL(t)
	_, srv := newFeedServer(t)
	ctx := context.Background()
	a, b := newReplica(t, url, "a", srv), newReplica(t, url, "b", srv)
	for _, r := range []*replica{a, b} {
		if err := r.kb.Ready(ctx); err == nil {
			t.Fatalf("%s ready before it followed the others", r.name)
		}
		r.follow(t) // nothing published yet
		if err := r.kb.Ready(ctx); err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
	}

	a.upload(t, "osv/crates.io/all.zip")
	b.follow(t)
	va, vb := a.view(t), b.view(t)
	if va.Vulns == 0 || va.Generation != 1 {
		t.Fatalf("a after its upload: %+v", va)
	}
	if diff := cmp.Diff(va, vb); diff != "" {
		t.Fatalf("b differs from a after a's upload (-a +b):\n%s", diff)
	}
	countRows := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := a.st.Read().QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := countRows("SELECT COUNT(*) FROM events WHERE type = ?", EventUpdated); n != 1 {
		t.Errorf("%d feeds.updated events after one upload taken by two replicas, want 1", n)
	}
	if n := countRows("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'feeds.%'"); n != 1 {
		t.Errorf("%d feeds audit entries after one upload taken by two replicas, want 1", n)
	}

	// B's upload (alpine community, which A's update does not fetch)
	// while A's update fetches Go and KEV: one waits for the other,
	// starting from what it published.
	var wg sync.WaitGroup
	wg.Add(2)
	var updErr, upErr error
	go func() { defer wg.Done(); updErr = a.kb.Update(ctx) }()
	go func() { defer wg.Done(); upErr = b.tryUpload(t, "alpine/secdb/edge/community.json") }()
	wg.Wait()
	if updErr != nil || upErr != nil {
		t.Fatalf("a: update: %v; b: upload: %v", updErr, upErr)
	}
	a.follow(t)
	b.follow(t)
	va, vb = a.view(t), b.view(t)
	if diff := cmp.Diff(va, vb); diff != "" {
		t.Fatalf("a and b differ after concurrent changes (-a +b):\n%s", diff)
	}
	for _, src := range []string{"osv:crates.io", "osv:Go", "alpine:edge/community", "kev"} {
		if va.Records[src] == 0 {
			t.Errorf("source %s lost: records %v", src, va.Records)
		}
	}
	if va.Generation != 3 {
		t.Errorf("generation %d after three changes, want 3", va.Generation)
	}
	if n := countRows("SELECT COUNT(*) FROM events WHERE type = ?", EventUpdated); n != 3 {
		t.Errorf("%d feeds.updated events after three changes, want 3", n)
	}

	// A new replica takes the feeds at start, before it is ready; feeds
	// it held from before (a console that ran alone) are dropped.
	c := newReplica(t, url, "c", srv)
	if _, err := c.kb.feeds.Import(ctx, filepath.Join(testenv.SharedFeeds(t), "alpine/secdb/edge/main.json")); err != nil {
		t.Fatal(err)
	}
	if err := c.kb.Ready(ctx); err == nil {
		t.Fatal("c ready before it took the feeds")
	}
	c.follow(t)
	if err := c.kb.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(va, c.view(t)); diff != "" {
		t.Fatalf("c differs from a (-a +c):\n%s", diff)
	}
	// Matching answers the same.
	for _, r := range []*replica{b, c} {
		got, _ := r.kb.DB().CVE("CVE-2023-4863")
		want, _ := a.kb.DB().CVE("CVE-2023-4863")
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: CVE-2023-4863 differs (-a +%s):\n%s", r.name, r.name, diff)
		}
	}

	// Only the latest two generations are kept.
	if n := countRows("SELECT COUNT(*) FROM shared_blobs WHERE name = ?", SharedName); n != 2 {
		t.Errorf("%d generations kept, want 2", n)
	}
	if n := countRows("SELECT COUNT(*) FROM shared_blob_chunks WHERE name = ? AND generation < 2", SharedName); n != 0 {
		t.Errorf("%d chunks of pruned generations kept", n)
	}
	// A restarted replica does not import what it already has.
	fi, err := os.Stat(b.kb.feeds.KBPath())
	if err != nil {
		t.Fatal(err)
	}
	b2 := &replica{name: "b2", st: b.st, kb: NewKB(b.kb.feeds, KBConfig{Store: b.st, Replica: "b2"})}
	b2.follow(t)
	if fi2, err := os.Stat(b.kb.feeds.KBPath()); err != nil || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Errorf("restarted b compiled its knowledge base again (%v)", err)
	}
	if diff := cmp.Diff(vb, b2.view(t)); diff != "" {
		t.Errorf("restarted b differs (-before +after):\n%s", diff)
	}
}

// TestSharedFeedsSQLite: one console on SQLite publishes nothing and is
// always ready.
func TestSharedFeedsSQLite(t *testing.T) {
	_, srv := newFeedServer(t)
	r := newReplica(t, "sqlite:"+filepath.Join(t.TempDir(), "db"), "one", srv)
	if err := r.kb.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.upload(t, "osv/crates.io/all.zip")
	r.follow(t)
	var n int
	if err := r.st.Read().QueryRowContext(context.Background(), "SELECT COUNT(*) FROM shared_blobs").Scan(&n); err != nil || n != 0 {
		t.Fatalf("SQLite: %d shared generations (%v), want none", n, err)
	}
	if st := r.kb.Shared(); st.Shared || st.Generation != 0 {
		t.Fatalf("SQLite: shared status %+v", st)
	}
	if st := r.kb.Status(); st.Replica != nil {
		t.Fatalf("SQLite: feed status names a replica generation %+v", st.Replica)
	}
}

// BenchmarkFollowShared: a replica joining takes all of the shared feeds
// another published (read the generation from PostgreSQL, import,
// compile).
func BenchmarkFollowShared(b *testing.B) {
	url := testenv.PostgresURL(b)
	ctx := context.Background()
	open := func() *store.Store {
		st, err := store.Open(ctx, store.Config{URL: url})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	}
	a := NewKB(New(Config{DataDir: b.TempDir()}), KBConfig{Store: open(), Replica: "a"})
	start := time.Now()
	if err := a.shared.Change(ctx, func(ctx context.Context) (bool, error) {
		rep, err := a.feeds.Import(ctx, testenv.SharedFeeds(b))
		return stored(rep), err
	}); err != nil {
		b.Fatal(err)
	}
	if err := a.reload(); err != nil {
		b.Fatal(err)
	}
	info, _, _ := a.cfg.Store.LatestBlob(ctx, SharedName)
	b.Logf("import and publish: %s; generation %d bytes", time.Since(start).Round(time.Millisecond), info.Size)
	st := open()
	for b.Loop() {
		k := NewKB(New(Config{DataDir: b.TempDir()}), KBConfig{Store: st, Replica: "b"})
		if err := k.Follow(ctx); err != nil {
			b.Fatal(err)
		}
		if k.DB().NumVulns() != a.DB().NumVulns() {
			b.Fatal("followed knowledge base differs")
		}
	}
}
