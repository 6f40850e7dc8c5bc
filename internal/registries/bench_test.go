package registries_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/registries"
	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/vulndb/kbtest"
)

var bench1000 struct {
	once sync.Once
	reg  *testenv.RegistryServer
}

// BenchmarkSync1000Tags is the first sync of an account of 1,000 tags
// (1,000 images, 10 repositories) on a local registry with token
// authentication: each iteration a fresh console database, the registry
// pushed once. Goal: under 30 s.
func BenchmarkSync1000Tags(b *testing.B) {
	bench1000.once.Do(func() {
		// The registry outlives the sub-benchmark runs: it is stopped at
		// exit by its process group's parent death signal.
		bench1000.reg = testenv.Registry(&keepAlive{b}, testenv.RegistryToken)
		start := time.Now()
		pushMany(b, bench1000.reg, 10, 1000)
		b.Logf("pushed 1,000 images in %s", time.Since(start).Round(time.Millisecond))
	})
	reg := bench1000.reg
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		e := newEnv(b, reg, envOpts{})
		b.StartTimer()
		start := time.Now()
		a := e.account(reg, registries.RegistryAccountInput{})
		d := time.Since(start)
		b.StopTimer()
		if l := a.Sync.Last; l == nil || l.Status != registries.SyncComplete || l.Tags != 1000 {
			b.Fatalf("sync: %+v", a.Sync.Last)
		}
		total += d
		e.stop()
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/sync")
	b.ReportMetric(1000*float64(b.N)/total.Seconds(), "tags/s")
}

// keepAlive lets the registry of a benchmark outlive the sub-benchmark
// that started it (its Cleanup would stop it after the first run).
type keepAlive struct{ testing.TB }

func (keepAlive) Cleanup(func()) {}

// BenchmarkRegistryImageScan scans the same registry image (Debian
// bookworm minbase and a vulnerable Python package, token authentication)
// on the console (queued, pulled, extracted, matched, stored: until the
// scan is complete) and with `riskmap scan registry:REF` (the CLI binary
// of RISKMAP_BENCH_BINARY, or built here; with the same knowledge base),
// alternately, and reports both times and their ratio. Goal: the console
// at most 1.2x the CLI.
func BenchmarkRegistryImageScan(b *testing.B) {
	reg := testenv.Registry(b, testenv.RegistryToken)
	img := withVulnerablePython(b, testenv.RootfsImage(b, testenv.RootfsMinbase))
	digest := pushImage(b, reg, "library/debian", "bookworm", img)
	ref := reg.Host + "/library/debian@" + digest
	e := newEnv(b, reg, envOpts{kb: true})
	e.account(reg, registries.RegistryAccountInput{})
	bin := os.Getenv("RISKMAP_BENCH_BINARY")
	if bin == "" {
		bin = filepath.Join(b.TempDir(), "riskmap")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/riskmap")
		cmd.Dir = testenv.ModuleRoot(b)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
	}
	ca := filepath.Join(b.TempDir(), "registry-ca.pem")
	if err := os.WriteFile(ca, reg.CAPEM, 0o600); err != nil {
		b.Fatal(err)
	}
	kbDir := kbtest.SharedDataDir(b)
	cli := func() time.Duration {
		cmd := exec.Command(bin, "scan", "--db", kbDir, "--quiet", "--format", "json", "--output", os.DevNull, "registry:"+ref)
		cmd.Env = append(os.Environ(), "RISKMAP_REGISTRY_USERNAME="+reg.Username, "RISKMAP_REGISTRY_PASSWORD="+reg.Password, "SSL_CERT_FILE="+ca)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("riskmap scan: %v\n%s", err, out)
		}
		return time.Since(start)
	}
	console := func() time.Duration {
		start := time.Now()
		res, err := e.reg.ScanImages(context.Background(), registries.RegistryScanRequest{Digests: []string{digest}, Force: true})
		if err != nil || len(res.Queued) != 1 {
			b.Fatalf("scan: %+v, %v", res, err)
		}
		for {
			sc, err := e.scans.Queue.Get(context.Background(), res.Queued[0].ID)
			if err != nil {
				b.Fatal(err)
			}
			if sc.Terminal() {
				if sc.Status != scans.StatusComplete || sc.Findings == 0 {
					b.Fatalf("console scan: %+v", sc)
				}
				return time.Since(start)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Warm both (caches, the knowledge base's pages).
	cli()
	console()
	var cs, ls []time.Duration
	for b.Loop() {
		cs = append(cs, console())
		ls = append(ls, cli())
	}
	med := func(d []time.Duration) time.Duration {
		s := append([]time.Duration(nil), d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[len(s)/2]
	}
	b.ReportMetric(med(cs).Seconds(), "console-s")
	b.ReportMetric(med(ls).Seconds(), "cli-s")
	b.ReportMetric(med(cs).Seconds()/med(ls).Seconds(), "console/cli")
}
