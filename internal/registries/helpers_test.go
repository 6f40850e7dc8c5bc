package registries_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/registries"
	"github.com/riskmap/riskmap/internal/risk"
	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/secrets"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/topology"
	"github.com/riskmap/riskmap/internal/vulndb/kbtest"
)

// env is the console's backbone around the registries module, running:
// store, vault, job system, events, findings, scans and registries, on a
// fake topology (the test says which containers run which image digests).
type env struct {
	t     testing.TB
	st    *store.Store
	q     *jobs.Queue
	bus   *events.Bus
	fnd   *findings.Service
	scans *scans.Service
	reg   *registries.Service
	topo  *fakeTopology
	logs  *syncBuffer
	// stop stops the background work and closes the store (once).
	stop func()
}

type envOpts struct {
	backend testenv.Backend
	kb      bool // the shared feeds' knowledge base (real findings)
	cfg     registries.Config
}

func newEnv(t testing.TB, reg *testenv.RegistryServer, o envOpts) *env {
	t.Helper()
	if o.backend.Name == "" {
		o.backend = testenv.Backends[0]
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, store.Config{URL: o.backend.URL(t)})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, topo: &fakeTopology{}, logs: &syncBuffer{}}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ring, err := secrets.LoadKeyring(filepath.Join(t.TempDir(), "secrets.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	vault := secrets.NewVault(st, ring, log, nil)
	e.bus = events.New(st, events.Config{PollEvery: 20 * time.Millisecond, Logger: log})
	e.q = jobs.New(st, jobs.Config{PollEvery: 20 * time.Millisecond, RescueEvery: 200 * time.Millisecond, Logger: log})
	var kb findings.KnowledgeBase
	if o.kb {
		k := feeds.NewKB(feeds.New(feeds.Config{DataDir: kbtest.SharedDataDir(t)}), feeds.KBConfig{})
		if k.DB() == nil {
			t.Fatal("no knowledge base")
		}
		kb = k
	}
	e.fnd = findings.New(findings.Config{Store: st, KB: kb, Exposure: e.topo, Logger: log})
	e.scans = scans.NewService(scans.ServiceConfig{Store: st, Jobs: e.q, Findings: e.fnd, Topology: e.topo, Logger: log,
		Queue: scans.QueueConfig{RetryBase: 100 * time.Millisecond, RetryMax: 500 * time.Millisecond}})
	cfg := o.cfg
	cfg.Store, cfg.Vault, cfg.Jobs, cfg.Scans, cfg.Topology, cfg.Logger = st, vault, e.q, e.scans, e.topo, log
	if reg != nil && reg.CAPEM != nil && cfg.RootCAs == nil {
		cfg.RootCAs = x509.NewCertPool()
		cfg.RootCAs.AppendCertsFromPEM(reg.CAPEM)
	}
	if cfg.SyncBackoff == 0 {
		cfg.SyncBackoff = 100 * time.Millisecond
	}
	e.reg = registries.New(cfg)
	e.q.MustRegister(e.scans.VulnerabilityKind(), e.scans.RematchKind(), e.reg.SyncKind(), e.reg.SchedulesKind(), e.reg.ScanKind(), e.reg.LinkKind())
	if err := e.bus.Subscribe(e.reg.LinkConsumer()); err != nil {
		t.Fatal(err)
	}
	if err := e.bus.Init(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); e.q.Run(ctx) }()
	go func() { defer wg.Done(); e.bus.Run(ctx) }()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			st.Close()
		})
	}
	t.Cleanup(e.stop)
	return e
}

// account creates a v2 account for the registry and waits for its first
// sync.
func (e *env) account(reg *testenv.RegistryServer, in registries.RegistryAccountInput) registries.RegistryAccount {
	e.t.Helper()
	if in.Kind == "" {
		in.Kind = "v2"
	}
	if in.Name == "" {
		in.Name = "test registry " + reg.Host
	}
	if in.Settings == nil {
		in.Settings = map[string]string{}
	}
	if _, ok := in.Settings["url"]; !ok {
		in.Settings["url"] = reg.URL
	}
	if reg.Username != "" {
		in.Settings["username"] = reg.Username
		if in.Secrets == nil {
			in.Secrets = map[string]string{"password": reg.Password}
		}
	}
	a, err := e.reg.Create(context.Background(), in)
	if err != nil {
		e.t.Fatalf("create account: %v", err)
	}
	return e.waitSync(a.ID, "")
}

// waitSync waits until the account's sync job after (a job id, "" for
// any) has ended and returns the account.
func (e *env) waitSync(id, after string) registries.RegistryAccount {
	e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		a, err := e.reg.Account(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		switch a.Sync.State {
		case registries.StateIdle, registries.StateFailed:
			if a.Sync.JobID != after {
				return a
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("sync of %s did not end in 2 min: %+v", id, a.Sync)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sync runs a sync of the account now and waits for it.
func (e *env) sync(id string) registries.RegistryAccount {
	e.t.Helper()
	before, err := e.reg.Account(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	a, err := e.reg.SyncNow(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	if a.Sync.JobID == before.Sync.JobID {
		e.t.Fatalf("sync now did not queue a new job")
	}
	return e.waitSync(id, before.Sync.JobID)
}

// tags lists an account's tags as repo:tag → tag.
func (e *env) tags(accountID string, gone bool) map[string]registries.RegistryTag {
	e.t.Helper()
	out := map[string]registries.RegistryTag{}
	for off := 0; ; {
		got, total, err := e.reg.Tags(context.Background(), registries.TagFilter{AccountID: accountID, IncludeGone: gone, Limit: 500, Offset: off})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, tg := range got {
			out[tg.Repository+":"+tg.Name] = tg
		}
		off += len(got)
		if len(got) == 0 || off >= total {
			return out
		}
	}
}

// waitJobs waits until no job of the kinds is waiting or running.
func (e *env) waitJobs(timeout time.Duration, kinds ...string) map[string]map[string]int {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := e.q.Stats(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		busy := 0
		for _, k := range kinds {
			busy += st[k][jobs.Available] + st[k][jobs.Running]
		}
		if busy == 0 {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("jobs still waiting or running after %s: %v", timeout, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eventually waits until cond holds (a minute at most).
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not after a minute", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// adopted waits until a node has a scan (the link job's, after the event
// of its image's scan) and returns its scans.
func (e *env) adopted(node string) []scans.Scan {
	e.t.Helper()
	var got []scans.Scan
	e.eventually("a scan of "+node, func() bool {
		var err error
		got, _, err = e.scans.Queue.List(context.Background(), scans.ListFilter{NodeID: node})
		if err != nil {
			e.t.Fatal(err)
		}
		return len(got) > 0 && got[0].SourceScan != ""
	})
	e.waitJobs(time.Minute, registries.KindLink)
	return got
}

// pushImage writes img to the registry under repo:tag and returns its
// digest.
func pushImage(t testing.TB, reg *testenv.RegistryServer, repo, tag string, img v1.Image) string {
	t.Helper()
	ref, err := name.ParseReference(reg.Host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, reg.Remote(context.Background())...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// randomImage is a small random image created at created (platform
// linux/amd64 unless given).
func randomImage(t testing.TB, created time.Time, platform ...string) v1.Image {
	t.Helper()
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if len(platform) == 2 {
		cf.OS, cf.Architecture = platform[0], platform[1]
	}
	cf.Created = v1.Time{Time: created}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// pushIndex writes a multi-platform index of amd64 and arm64 images (and
// an attestation manifest, as buildx makes) under repo:tag; it returns
// the index digest and the images' digests by architecture.
func pushIndex(t testing.TB, reg *testenv.RegistryServer, repo, tag string, created time.Time) (string, map[string]string) {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, "application/vnd.oci.image.index.v1+json")
	digests := map[string]string{}
	for _, arch := range []string{"amd64", "arm64"} {
		img := randomImage(t, created, "linux", arch)
		d, _ := img.Digest()
		digests[arch] = d.String()
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	att := randomImage(t, created, "unknown", "unknown")
	idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"}}})
	ref, err := name.ParseReference(reg.Host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx, reg.Remote(context.Background())...); err != nil {
		t.Fatalf("push index %s: %v", ref, err)
	}
	d, _ := idx.Digest()
	return d.String(), digests
}

// fakeTopology answers the module's topology questions from what the
// test says runs (the real topology's ImageUses is tested in its package).
type fakeTopology struct {
	mu   sync.Mutex
	uses []topology.ImageUse
}

func (f *fakeTopology) run(u topology.ImageUse) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.uses = append(slices.Clone(f.uses), u)
}

func (f *fakeTopology) ImageUses() []topology.ImageUse {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.uses
}

func (f *fakeTopology) ScanTarget(id string) (topology.ScanTarget, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.uses {
		if u.NodeID == id {
			return topology.ScanTarget{NodeID: id, SensorID: u.SensorID, Kind: u.Kind, Ref: u.Label}, nil
		}
	}
	return topology.ScanTarget{}, fmt.Errorf("node %q: %w", id, topology.ErrNodeNotFound)
}

func (f *fakeTopology) ScanTargets(topology.TargetFilter) ([]topology.ScanTarget, error) {
	return nil, nil
}

func (f *fakeTopology) Lookup(ids ...string) map[string]topology.NodeInfo {
	return map[string]topology.NodeInfo{}
}

func (f *fakeTopology) Sensors() []topology.SensorInfo {
	return []topology.SensorInfo{{ID: "sensor-in-the-dmz"}}
}

// Exposure says every container runs a Python server that has urllib3
// loaded, listens, and is reachable from the internet.
func (f *fakeTopology) Exposure(_ context.Context, nodeID string) (risk.Exposure, error) {
	return risk.Exposure{Known: true, Internet: true, Path: []risk.Hop{{NodeID: topology.InternetInbound, Kind: "internet", Name: "The Internet"}},
		Processes: []risk.Process{{NodeID: nodeID + "-python", PID: 42, Name: "python3", Listening: []risk.Endpoint{{Proto: "tcp", Addr: "0.0.0.0", Port: 8080}},
			LoadedFiles: []string{"/usr/bin/python3.11", "/usr/lib/python3/dist-packages/urllib3/__init__.py",
				"/usr/lib/python3/dist-packages/urllib3-1.26.0.dist-info/METADATA"}}}}, nil
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
