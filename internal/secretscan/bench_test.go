package secretscan

import (
	"context"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/testenv"
)

// TestCleanRootfs: the debootstrapped minbase tree holds no secret, and
// the scan finds none there.
func TestCleanRootfs(t *testing.T) {
	root := testenv.BookwormRootfs(t, testenv.RootfsMinbase)
	res, err := newScanner(t, Config{}).ScanDir(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Findings {
		t.Errorf("false positive: %s %s:%d (%s)", f.RuleID, f.Path, f.Line, f.Redacted)
	}
	if res.Files < 1000 || len(res.Errors) > 0 || res.Truncated {
		t.Errorf("read %d files, %d errors, truncated %v: want the whole tree", res.Files, len(res.Errors), res.Truncated)
	}
	t.Logf("minbase: %d text files, %d MB read, %d binaries skipped, %d over the size limit", res.Files, res.Bytes>>20, res.Binary, len(res.Skipped))
}

// BenchmarkScanDirMinbase scans the bookworm minbase root filesystem
// (about 200 MB): files/s and MB/s of text read.
func BenchmarkScanDirMinbase(b *testing.B) {
	root := testenv.BookwormRootfs(b, testenv.RootfsMinbase)
	benchScan(b, func(s *Scanner) (*Result, error) { return s.ScanDir(context.Background(), root) })
}

// BenchmarkScanDockerArchiveMinbase scans the minbase image as a docker
// save archive, its layer streamed.
func BenchmarkScanDockerArchiveMinbase(b *testing.B) {
	archive := testenv.DockerArchive(b, testenv.RootfsMinbase)
	benchScan(b, func(s *Scanner) (*Result, error) {
		return s.ScanTarget(context.Background(), "docker-archive:"+archive, TargetOptions{})
	})
}

func benchScan(b *testing.B, scan func(*Scanner) (*Result, error)) {
	s := newScanner(b, Config{})
	var files, bytes int64
	start := time.Now()
	b.ResetTimer()
	for b.Loop() {
		res, err := scan(s)
		if err != nil {
			b.Fatal(err)
		}
		files += res.Files
		bytes += res.Bytes
	}
	sec := time.Since(start).Seconds()
	b.ReportMetric(float64(files)/sec, "files/s")
	b.ReportMetric(float64(bytes)/sec/1e6, "MB/s")
}
