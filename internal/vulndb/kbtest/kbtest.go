// Package kbtest gives tests a knowledge base compiled from the real shared
// feeds (../shared/feeds), built once per test binary.
package kbtest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/vulndb"
)

var (
	once   sync.Once
	dir    string
	kbPath string
	err    error
)

// Now is the pinned clock of the shared knowledge base.
var Now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// SharedDataDir imports the shared feeds into a process-wide temporary data
// directory (removed at exit by the OS temp cleaner; tests never write to
// it) and returns its path.
func SharedDataDir(t testing.TB) string {
	t.Helper()
	src := testenv.SharedFeeds(t)
	once.Do(func() {
		dir, err = os.MkdirTemp("", "riskmap-kbtest-")
		if err != nil {
			return
		}
		m := feeds.New(feeds.Config{DataDir: dir, Now: func() time.Time { return Now }})
		var rep *feeds.Report
		rep, err = m.Import(context.Background(), src)
		if err == nil {
			err = rep.Failed()
		}
		kbPath = filepath.Join(dir, vulndb.FileName)
	})
	if err != nil {
		t.Fatalf("import shared feeds: %v", err)
	}
	return dir
}

// Shared opens the knowledge base compiled from the shared feeds.
func Shared(t testing.TB) *vulndb.DB {
	t.Helper()
	SharedDataDir(t)
	db, err := vulndb.Open(kbPath)
	if err != nil {
		t.Fatal(err)
	}
	return db
}
