package feeds

import (
	"context"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/vulndb"
)

// importShared imports the shared feeds once per test binary into a
// temporary data dir and returns the manager.
func importShared(t *testing.T) *Manager {
	t.Helper()
	m := New(Config{DataDir: t.TempDir(), Now: func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }})
	rep, err := m.Import(context.Background(), testenv.SharedFeeds(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Failed(); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestImportShared(t *testing.T) {
	m := importShared(t)
	db, err := vulndb.Open(m.KBPath())
	if err != nil {
		t.Fatal(err)
	}
	meta := db.Meta()
	t.Logf("kb: %d bytes, %d vulns, %d package keys, %d CVEs", db.Size(), meta.Vulns, meta.Packages, meta.CVEs)
	// CVE-2023-4863 (libwebp) is in KEV, EPSS and the CVSS CSV.
	info, ok := db.CVE("CVE-2023-4863")
	if !ok || info.KEV == nil || info.CVSS == nil || !info.HasEPSS || info.CVSS.BaseScore != 8.8 {
		t.Fatalf("CVE-2023-4863 enrichment = %+v", info)
	}
	if meta.Vulns < 30000 || meta.CVEs < 360000 {
		t.Errorf("meta = %+v", meta)
	}
}

// BenchmarkImportShared imports all of the shared feeds into a fresh data
// directory: parse, validate and compile (goal: ≤ 30 s).
func BenchmarkImportShared(b *testing.B) {
	src := testenv.SharedFeeds(b)
	for b.Loop() {
		m := New(Config{DataDir: b.TempDir()})
		rep, err := m.Import(context.Background(), src)
		if err != nil || rep.Failed() != nil {
			b.Fatal(err, rep.Failed())
		}
	}
}
