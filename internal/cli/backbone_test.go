package cli

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

// TestFollowFirst: a job wrapped by followFirst (the rematch on
// feeds.updated) runs on a replica that had not yet taken the feeds
// another published with the new knowledge base.
func TestFollowFirst(t *testing.T) {
	url := testenv.PostgresURL(t)
	ctx := context.Background()
	kb := func(name string) *feeds.KB {
		st, err := store.Open(ctx, store.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return feeds.NewKB(feeds.New(feeds.Config{DataDir: t.TempDir()}), feeds.KBConfig{Store: st, Replica: name})
	}
	a, b := kb("a"), kb("b")
	if err := b.Follow(ctx); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(testenv.SharedFeeds(t), "osv", "crates.io", "all.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := a.Import(ctx, f, "all.zip"); err != nil {
		t.Fatal(err)
	}
	ran := false
	k := followFirst(b, jobs.Kind{Name: "test.rematch", Work: func(context.Context, jobs.Job) error {
		ran = true
		if db := b.DB(); db == nil || db.NumVulns() != a.DB().NumVulns() {
			t.Errorf("the job ran on b before b took a's knowledge base")
		}
		return nil
	}})
	if err := k.Work(ctx, jobs.Job{ID: "j1", Kind: k.Name}); err != nil || !ran {
		t.Fatalf("work: %v, ran %v", err, ran)
	}
}
