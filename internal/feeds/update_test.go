package feeds

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/vulndb"
)

// feedServer serves the shared feed files on loopback the way the public
// hosts do: ETag and Last-Modified with conditional GETs, and GCS-style
// x-goog-hash digests on the OSV exports.
type feedServer struct {
	mu       sync.Mutex
	files    map[string][]byte // URL path → body
	status   map[string]int    // forced status per path
	badHash  map[string]bool   // send a digest that does not match
	requests map[string]int
}

func newFeedServer(t *testing.T) (*feedServer, *httptest.Server) {
	dir := testenv.SharedFeeds(t)
	fs := &feedServer{files: map[string][]byte{}, status: map[string]int{}, badHash: map[string]bool{}, requests: map[string]int{}}
	for path, file := range map[string]string{
		"/osv/Go/all.zip":                  "osv/Go/all.zip",
		"/osv/crates.io/all.zip":           "osv/crates.io/all.zip",
		"/alpine/edge/main.json":           "alpine/secdb/edge/main.json",
		"/kev/known_exploited.json":        "kev/known_exploited_vulnerabilities.json",
		"/epss/epss_scores-current.csv.gz": "epss/epss_scores.csv.gz",
	} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		fs.files[path] = b
	}
	srv := httptest.NewServer(fs)
	t.Cleanup(srv.Close)
	return fs, srv
}

func (fs *feedServer) set(path string, body []byte) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.files[path] = body
}

func (fs *feedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fs.mu.Lock()
	body, ok := fs.files[r.URL.Path]
	code := fs.status[r.URL.Path]
	bad := fs.badHash[r.URL.Path]
	fs.requests[r.URL.Path]++
	fs.mu.Unlock()
	if code != 0 {
		http.Error(w, "forced failure", code)
		return
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	if strings.HasPrefix(r.URL.Path, "/osv/") {
		c := crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli))
		if bad {
			c++
		}
		w.Header().Set("X-Goog-Hash", "crc32c="+base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, c)))
	}
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(body)
}

func testManager(t *testing.T, srv *httptest.Server, dir string) *Manager {
	return New(Config{
		DataDir:        dir,
		OSVBaseURL:     srv.URL + "/osv",
		OSVEcosystems:  []string{"Go", "crates.io"},
		KEVURL:         srv.URL + "/kev/known_exploited.json",
		EPSSURL:        srv.URL + "/epss/epss_scores-current.csv.gz",
		AlpineBaseURL:  srv.URL + "/alpine",
		AlpineBranches: []string{"edge"},
		AlpineRepos:    []string{"main"},
		HTTP:           srv.Client(),
		Now:            func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) },
	})
}

func statuses(rep *Report) map[string]string {
	out := map[string]string{}
	for _, it := range rep.Items {
		out[it.Path] = it.Status
	}
	return out
}

func all(status string) map[string]string {
	return map[string]string{
		"osv/Go/all.zip": status, "osv/crates.io/all.zip": status, "alpine/secdb/edge/main.json": status,
		"kev/known_exploited_vulnerabilities.json": status, "epss/epss_scores.csv.gz": status,
	}
}

func kbRecords(t *testing.T, m *Manager) map[string]int {
	t.Helper()
	db, err := vulndb.Open(m.KBPath())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, s := range db.Meta().Sources {
		out[s.Name] = s.Records
	}
	return out
}

func TestUpdateFromLoopback(t *testing.T) {
	fs, srv := newFeedServer(t)
	m := testManager(t, srv, t.TempDir())
	ctx := context.Background()

	// First run downloads everything and builds the knowledge base.
	rep, err := m.Update(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(all(StatusUpdated), statuses(rep)); d != "" || !rep.Rebuilt {
		t.Fatalf("first update (-want +got):\n%s rebuilt=%v", d, rep.Rebuilt)
	}
	before := kbRecords(t, m)
	if before["osv:Go"] != 4291 || before["kev"] != 1662 {
		t.Fatalf("records after first update: %v", before)
	}
	kbInfo, _ := os.Stat(m.KBPath())

	t.Run("unchanged_etag_skips", func(t *testing.T) {
		rep, err := m.Update(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(all(StatusUnchanged), statuses(rep)); d != "" || rep.Rebuilt {
			t.Fatalf("second update (-want +got):\n%s rebuilt=%v", d, rep.Rebuilt)
		}
		now, _ := os.Stat(m.KBPath())
		if !now.ModTime().Equal(kbInfo.ModTime()) {
			t.Error("knowledge base rewritten although nothing changed")
		}
	})

	t.Run("older_schema_rebuilt_although_unchanged", func(t *testing.T) {
		kb, err := os.ReadFile(m.KBPath())
		if err != nil {
			t.Fatal(err)
		}
		old := slices.Clone(kb)
		binary.LittleEndian.PutUint32(old[8:], vulndb.SchemaVersion-1)
		if err := os.WriteFile(m.KBPath(), old, 0o600); err != nil {
			t.Fatal(err)
		}
		var reason error
		db, err := m.OpenKB(ctx, func(r error) { reason = r })
		if err != nil || !errors.Is(reason, vulndb.ErrSchema) {
			t.Fatalf("OpenKB of an older schema: %v (reason %v)", err, reason)
		}
		db.Close()
		// The same through an update where no feed changed.
		os.WriteFile(m.KBPath(), old, 0o600)
		rep, err := m.Update(ctx)
		if err != nil || !rep.Rebuilt {
			t.Fatalf("update over an older schema: rebuilt=%v err=%v", rep != nil && rep.Rebuilt, err)
		}
		if v, err := vulndb.FileSchema(m.KBPath()); err != nil || v != vulndb.SchemaVersion {
			t.Errorf("schema after update: %d %v", v, err)
		}
		if got := kbRecords(t, m); !cmp.Equal(got, before) {
			t.Errorf("records after the rebuild %v, before %v", got, before)
		}
		kbInfo, _ = os.Stat(m.KBPath())
	})

	t.Run("corrupt_zip_keeps_old_data", func(t *testing.T) {
		good := fs.files["/osv/crates.io/all.zip"]
		fs.set("/osv/crates.io/all.zip", good[:len(good)/2]) // truncated upload, new ETag
		defer fs.set("/osv/crates.io/all.zip", good)
		rep, err := m.Update(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := all(StatusUnchanged)
		want["osv/crates.io/all.zip"] = StatusFailed
		if d := cmp.Diff(want, statuses(rep)); d != "" {
			t.Fatalf("statuses (-want +got):\n%s", d)
		}
		if rep.Failed() == nil || !strings.Contains(rep.Failed().Error(), "keeping the previous copy") {
			t.Errorf("error = %v", rep.Failed())
		}
		stored, _ := os.ReadFile(filepath.Join(m.cfg.DataDir, "feeds", "osv", "crates.io", "all.zip"))
		if !bytes.Equal(stored, good) {
			t.Error("stored export replaced by the corrupt download")
		}
		if d := cmp.Diff(before, kbRecords(t, m)); d != "" {
			t.Errorf("knowledge base changed (-before +after):\n%s", d)
		}
		st, _ := m.Status()
		for _, s := range st {
			if s.Path == "osv/crates.io/all.zip" && s.LastError == "" {
				t.Error("status does not report the failure")
			}
		}
	})

	t.Run("checksum_mismatch_rejected", func(t *testing.T) {
		good := fs.files["/osv/Go/all.zip"]
		fs.set("/osv/Go/all.zip", append(bytes.Clone(good[:len(good)-1]), good[len(good)-1]^0xff))
		fs.mu.Lock()
		fs.badHash["/osv/Go/all.zip"] = true
		fs.mu.Unlock()
		defer func() {
			fs.set("/osv/Go/all.zip", good)
			fs.mu.Lock()
			delete(fs.badHash, "/osv/Go/all.zip")
			fs.mu.Unlock()
		}()
		rep, err := m.Update(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := statuses(rep)["osv/Go/all.zip"]; got != StatusFailed {
			t.Fatalf("Go export status %s, want failed", got)
		}
		if !strings.Contains(rep.Failed().Error(), "crc32c mismatch") {
			t.Errorf("error = %v", rep.Failed())
		}
	})

	t.Run("one_source_failing_does_not_block_others", func(t *testing.T) {
		fs.mu.Lock()
		fs.status["/kev/known_exploited.json"] = http.StatusServiceUnavailable
		fs.mu.Unlock()
		defer func() { fs.mu.Lock(); delete(fs.status, "/kev/known_exploited.json"); fs.mu.Unlock() }()
		// A newer KEV catalog would be missed, but a newer EPSS file is taken.
		hist, err := os.ReadFile(filepath.Join(testenv.SharedFeeds(t), "epss", "epss_scores.csv.gz"))
		if err != nil {
			t.Fatal(err)
		}
		fs.set("/epss/epss_scores-current.csv.gz", []byte(strings.Replace(gunzip(t, hist), "CVE-1999-0001,0.03351", "CVE-1999-0001,0.50000", 1)))
		rep, err := m.Update(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := statuses(rep)
		if got["kev/known_exploited_vulnerabilities.json"] != StatusFailed || got["epss/epss_scores.csv.gz"] != StatusUpdated || !rep.Rebuilt {
			t.Fatalf("statuses = %v rebuilt=%v", got, rep.Rebuilt)
		}
		db, err := vulndb.Open(m.KBPath())
		if err != nil {
			t.Fatal(err)
		}
		if info, _ := db.CVE("CVE-1999-0001"); info.EPSS != 0.5 {
			t.Errorf("EPSS not updated: %+v", info)
		}
		if kbRecords(t, m)["kev"] != 1662 {
			t.Error("KEV data lost after a failed fetch")
		}
	})
}

func TestExportImportBundle(t *testing.T) {
	_, srv := newFeedServer(t)
	a := testManager(t, srv, t.TempDir())
	if _, err := a.Update(context.Background()); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "feeds.tar")
	f, err := os.Create(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Export(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b := New(Config{DataDir: t.TempDir()})
	rep, err := b.Import(context.Background(), bundle)
	if err != nil || rep.Failed() != nil {
		t.Fatal(err, rep.Failed())
	}
	if d := cmp.Diff(kbRecords(t, a), kbRecords(t, b)); d != "" {
		t.Errorf("imported bundle differs (-exported +imported):\n%s", d)
	}
}

func TestImportInvalidKeepsData(t *testing.T) {
	m := New(Config{DataDir: t.TempDir()})
	dir := testenv.SharedFeeds(t)
	if _, err := m.Import(context.Background(), filepath.Join(dir, "kev", "known_exploited_vulnerabilities.json")); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "known_exploited_vulnerabilities.json")
	os.WriteFile(bad, []byte(`{"count":5,"vulnerabilities":[{"cveID":"CVE-2020-1"}]}`), 0o644)
	rep, err := m.Import(context.Background(), bad)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() == nil {
		t.Fatal("invalid catalog accepted")
	}
	if kbRecords(t, m)["kev"] != 1662 {
		t.Error("previous KEV data lost")
	}
}

func gunzip(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestOfflineUpdateSaysWhatFailed: an update with every source out of
// reach (a closed loopback server) loads nothing, and the status says so
// honestly: the run updated nothing, each source failed with its reason in
// one line, each source row is named, and the next periodic update is
// announced.
func TestOfflineUpdateSaysWhatFailed(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	k := NewKB(testManager(t, srv, t.TempDir()), KBConfig{Now: func() time.Time { return now }, Interval: 6 * time.Hour})
	if err := k.Update(context.Background()); err == nil {
		t.Fatal("an update with every source unreachable reported no error")
	}
	st := k.Status()
	if st.Vulns != 0 || st.Run == nil || st.Run.Op != "update" {
		t.Fatalf("status %+v", st)
	}
	if len(st.Run.Updated) != 0 || st.Run.Unchanged != 0 || len(st.Run.Failed) != 5 {
		t.Errorf("run: updated %v, unchanged %d, failed %d; want every one of 5 sources failed", st.Run.Updated, st.Run.Unchanged, len(st.Run.Failed))
	}
	for _, f := range st.Run.Failed {
		if f.Source == "" || f.Error == "" || strings.ContainsAny(f.Error, "\r\n") || len(f.Error) > 300 || !strings.Contains(f.Error, "connect") {
			t.Errorf("failed source %+v: want its name and the reason in one line", f)
		}
	}
	for _, s := range st.Sources {
		if s.Source == "" || s.LastError == "" || s.AgeSeconds != 0 {
			t.Errorf("source row %+v: want a name, the last error and no age", s)
		}
	}
	if st.NextUpdate == nil || !st.NextUpdate.Equal(now.Add(6*time.Hour)) || st.Dir == "" {
		t.Errorf("next update %v, dir %q", st.NextUpdate, st.Dir)
	}
	b, _ := json.Marshal(st)
	if strings.Contains(string(b), `"age":`) {
		t.Errorf("the status shows a raw duration: %s", b)
	}
}
