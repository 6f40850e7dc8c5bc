package registries_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/registries"
	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

// pushMany pushes n small random images, one tag each, spread over repos
// repositories (8 at a time), and returns their digests.
func pushMany(t testing.TB, reg *testenv.RegistryServer, repos, n int) []string {
	t.Helper()
	digests := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || failed.Load() != nil {
					return
				}
				img := randomImage(t, t0.Add(time.Duration(i)*time.Minute))
				d, err := img.Digest()
				if err != nil {
					failed.Store(err)
					return
				}
				digests[i] = d.String()
				if err := pushOne(reg, fmt.Sprintf("scale/repo%03d", i%repos), fmt.Sprintf("v%04d", i), img); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		t.Fatal(err)
	}
	return digests
}

func pushOne(reg *testenv.RegistryServer, repo, tag string, img v1.Image) error {
	ref, err := name.ParseReference(reg.Host + "/" + repo + ":" + tag)
	if err != nil {
		return err
	}
	return remote.Write(ref, img, reg.Remote(context.Background())...)
}

// TestSync1000TagsAndScanEveryDigest syncs 1,000 tags of 1,000 images
// with auto-scan on: the sync completes, and the scan of every new digest
// reaches a terminal state (complete: random images have no packages).
func TestSync1000TagsAndScanEveryDigest(t *testing.T) {
	if testing.Short() {
		t.Skip("pushes 1,000 images")
	}
	reg := testenv.Registry(t, testenv.RegistryToken)
	start := time.Now()
	digests := pushMany(t, reg, 10, 1000)
	t.Logf("pushed 1,000 images in %s", time.Since(start).Round(time.Millisecond))
	e := newEnv(t, reg, envOpts{cfg: registries.Config{ScanConcurrency: 4}})
	start = time.Now()
	auto := true
	a := e.account(reg, registries.RegistryAccountInput{AutoScan: &auto})
	t.Logf("synced 1,000 tags in %s", time.Since(start).Round(time.Millisecond))
	if l := a.Sync.Last; l.Status != registries.SyncComplete || l.Tags != 1000 || l.NewImages != 1000 || l.ScansQueued != 1000 {
		t.Fatalf("sync: %+v", l)
	}
	start = time.Now()
	st := e.waitJobs(10*time.Minute, registries.KindScan)
	t.Logf("scanned 1,000 images in %s", time.Since(start).Round(time.Millisecond))
	if st[registries.KindScan][jobs.Completed] != 1000 {
		t.Errorf("scan jobs %v; want 1,000 completed", st[registries.KindScan])
	}
	have, err := e.scans.DigestScans(context.Background(), digests)
	if err != nil {
		t.Fatal(err)
	}
	done := 0
	for _, d := range digests {
		if h, ok := have[d]; ok && h.Latest.Status == scans.StatusComplete {
			done++
		}
	}
	if done != 1000 {
		t.Errorf("%d of 1,000 digests have a complete scan", done)
	}
	// Another sync: nothing new, nothing queued.
	a = e.sync(a.ID)
	if l := a.Sync.Last; l.NewTags != 0 || l.NewImages != 0 || l.ScansQueued != 0 {
		t.Errorf("second sync: %+v", l)
	}
}

// TestRegistryDownDuringSync kills the registry while a sync runs: the
// sync is retried, then fails with the reason in the sync history; no job
// is left waiting or running. Scans queued just before the registry went
// down end too. Back up, the next sync completes.
func TestRegistryDownDuringSync(t *testing.T) {
	reg := testenv.Registry(t, testenv.RegistryHtpasswd)
	pushMany(t, reg, 100, 300)
	e := newEnv(t, reg, envOpts{cfg: registries.Config{ResolveConcurrency: 2, SyncAttempts: 3, SyncBackoff: 200 * time.Millisecond}})
	a, err := e.reg.Create(context.Background(), registries.RegistryAccountInput{Kind: "v2", Name: "dies",
		Settings: map[string]string{"url": reg.URL, "username": reg.Username}, Secrets: map[string]string{"password": reg.Password}})
	if err != nil {
		t.Fatal(err)
	}
	// Kill it once the sync is a few repositories in.
	deadline := time.Now().Add(time.Minute)
	for {
		h, err := e.reg.History(context.Background(), a.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) == 1 && strings.HasPrefix(h[0].Message, "repository ") && !strings.HasPrefix(h[0].Message, "repository 1 ") {
			break
		}
		if len(h) == 1 && h[0].Status != registries.SyncRunning {
			t.Fatalf("the sync ended before the registry went down: %+v", h[0])
		}
		if time.Now().After(deadline) {
			t.Fatal("the sync did not start")
		}
		time.Sleep(2 * time.Millisecond)
	}
	reg.Kill()
	e.waitJobs(2*time.Minute, registries.KindSync)
	a, err = e.reg.Account(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a.Sync.State != registries.StateFailed {
		t.Errorf("sync state %q; want failed", a.Sync.State)
	}
	h, err := e.reg.History(context.Background(), a.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 {
		t.Fatalf("history %+v; want three attempts", h)
	}
	for _, s := range h {
		if s.Status != registries.SyncError || s.FinishedAt == nil || !strings.Contains(s.Message, "unavailable") {
			t.Errorf("attempt %d: %s %q; want an error saying the registry is unavailable", s.Attempt, s.Status, s.Message)
		}
	}

	// Back up: the next sync completes, and queues the scans; the
	// registry dies again while they run, and every scan still ends.
	reg.Start()
	auto := true
	if _, err := e.reg.Update(context.Background(), a.ID, registries.RegistryAccountInput{AutoScan: &auto}); err != nil {
		t.Fatal(err)
	}
	a = e.sync(a.ID)
	if l := a.Sync.Last; l.Status != registries.SyncComplete || l.Tags != 300 || l.ScansQueued != 300 {
		t.Fatalf("sync after the registry came back: %+v", l)
	}
	reg.Kill()
	st := e.waitJobs(5*time.Minute, registries.KindScan, registries.KindSync)
	t.Logf("scan jobs after the registry died: %v", st[registries.KindScan])
	if n := st[registries.KindScan][jobs.Completed] + st[registries.KindScan][jobs.Failed]; n != 300 {
		t.Errorf("scan jobs %v; want 300 ended", st[registries.KindScan])
	}
}

// TestCredentialsNeverStoredOrShown: an account's password is in no API
// answer, log line, audit entry or byte of the database files.
func TestCredentialsNeverStoredOrShown(t *testing.T) {
	reg := testenv.Registry(t, testenv.RegistryToken)
	pushImage(t, reg, "secret/app", "1", randomImage(t, t0))
	dir := t.TempDir()
	path := filepath.Join(dir, "riskmap.db")
	e := newEnv(t, reg, envOpts{backend: testenv.Backend{Name: "sqlite", URL: func(testing.TB) string { return path }}})
	a := e.account(reg, registries.RegistryAccountInput{})
	if a.Secrets["password"] != (registries.RegistrySecret{Set: true}) {
		t.Errorf("secrets %+v; want password set", a.Secrets)
	}
	// A wrong password, tested and refused: the refusal names no secret.
	res, err := e.reg.Test(context.Background(), a.ID, registries.RegistryAccountInput{Secrets: map[string]string{"password": "not-" + reg.Password}})
	if err != nil || res.OK || !res.Unauthorized {
		t.Errorf("test with a wrong password: %+v, %v", res, err)
	}
	e.sync(a.ID)
	// Everything the API would answer.
	var answers []string
	all, _ := e.reg.Accounts(context.Background())
	one, _ := e.reg.Account(context.Background(), a.ID)
	hist, _ := e.reg.History(context.Background(), a.ID, 0)
	tags, _, _ := e.reg.Tags(context.Background(), registries.TagFilter{})
	kinds := e.reg.Kinds()
	status, _ := e.reg.Status(context.Background())
	for _, v := range []any{all, one, hist, tags, kinds, status, res} {
		answers = append(answers, fmt.Sprintf("%+v", v))
	}
	audit, _, err := e.st.FindAudit(context.Background(), store.AuditFilter{ActionPrefix: "registry."}, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range audit {
		answers = append(answers, string(en.Before), string(en.After), en.Target, en.Detail)
	}
	if len(audit) == 0 {
		t.Error("no audit entries")
	}
	for _, s := range answers {
		if strings.Contains(s, reg.Password) {
			t.Errorf("an answer holds the password: %s", s)
		}
	}
	if strings.Contains(e.logs.String(), reg.Password) {
		t.Errorf("the logs hold the password")
	}
	if !strings.Contains(e.logs.String(), "registry catalogue synced") {
		t.Errorf("the logs are not the module's (nothing logged?)")
	}
	// The database files: the main file, the WAL and its index.
	e.stop()
	found, plain := 0, false
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(path + suffix)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		found++
		if strings.Contains(string(b), reg.Password) {
			t.Errorf("%s holds the password in plain text", filepath.Base(path+suffix))
		}
		plain = plain || strings.Contains(string(b), reg.Username)
	}
	if found == 0 || !plain {
		// The username is a plain setting: not finding it means the test
		// did not read the database the account is in.
		t.Fatalf("%d database files read, username found: %v", found, plain)
	}
}
