package scanner

import (
	"context"
	"testing"

	"github.com/riskmap/riskmap/internal/testenv"
)

// Benchmarks on the real test targets; bench/sbom.sh prints the wall time
// and peak RSS comparison with syft.

func BenchmarkScanDirMinbase(b *testing.B) {
	benchScan(b, "dir:"+testenv.BookwormRootfs(b, testenv.RootfsMinbase))
}

func BenchmarkScanDirFull(b *testing.B) {
	benchScan(b, "dir:"+testenv.BookwormRootfs(b, testenv.RootfsFull))
}

func BenchmarkScanDockerArchiveMinbase(b *testing.B) {
	benchScan(b, "docker-archive:"+testenv.DockerArchive(b, testenv.RootfsMinbase))
}

func benchScan(b *testing.B, target string) {
	b.ReportAllocs()
	for b.Loop() {
		inv, err := Scan(context.Background(), target, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(inv.Packages) == 0 {
			b.Fatal("no packages")
		}
	}
}
