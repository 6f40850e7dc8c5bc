package scanner

import (
	"archive/tar"
	"bufio"
	"context"
	"io"
	"os"
	"testing"

	"github.com/riskmap/riskmap/internal/inventory/image"
	"github.com/riskmap/riskmap/internal/testenv"
)

// Benchmarks on the real test targets; bench/sbom.sh prints the wall time
// and peak RSS comparison with syft, and the in-process ratio of an archive
// scan to merely decompressing its layers (BenchmarkDecompress*, the same
// work as bench/decompress without the process start).

func BenchmarkScanDirMinbase(b *testing.B) {
	benchScan(b, "dir:"+testenv.BookwormRootfs(b, testenv.RootfsMinbase))
}

func BenchmarkScanDirFull(b *testing.B) {
	benchScan(b, "dir:"+testenv.BookwormRootfs(b, testenv.RootfsFull))
}

func BenchmarkScanDockerArchiveMinbase(b *testing.B) {
	benchScan(b, "docker-archive:"+testenv.DockerArchive(b, testenv.RootfsMinbase))
}

func BenchmarkScanDockerArchiveFull(b *testing.B) {
	benchScan(b, "docker-archive:"+testenv.DockerArchive(b, testenv.RootfsFull))
}

func BenchmarkDecompressDockerArchiveMinbase(b *testing.B) {
	benchDecompress(b, testenv.DockerArchive(b, testenv.RootfsMinbase))
}

func BenchmarkDecompressDockerArchiveFull(b *testing.B) {
	benchDecompress(b, testenv.DockerArchive(b, testenv.RootfsFull))
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

// benchDecompress reads every layer of an archive to its end through its
// decompressor and a tar reader (headers and content), looking at nothing.
func benchDecompress(b *testing.B, archive string) {
	b.ReportAllocs()
	for b.Loop() {
		f, err := os.Open(archive)
		if err != nil {
			b.Fatal(err)
		}
		tr := tar.NewReader(f)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if h.Typeflag != tar.TypeReg {
				continue
			}
			br := bufio.NewReaderSize(tr, 64<<10)
			rc, err := image.Decompress(br)
			if err != nil {
				b.Fatal(err)
			}
			lr := tar.NewReader(rc)
			for {
				if _, err := lr.Next(); err != nil {
					break // EOF, or not a tar (manifest, config)
				}
				if _, err := io.Copy(io.Discard, lr); err != nil {
					b.Fatal(err)
				}
			}
			rc.Close()
		}
		f.Close()
	}
}

// gzipArchive is the minbase docker save compressed with gzip, cached
// beside it (`docker save img | gzip > img.tar.gz`).
func gzipArchive(b *testing.B) string {
	b.Helper()
	src := testenv.DockerArchive(b, testenv.RootfsMinbase)
	dst := src + ".gz"
	if _, err := os.Stat(dst); err != nil {
		compressFile(b, src, dst+".tmp", "gz")
		if err := os.Rename(dst+".tmp", dst); err != nil {
			b.Fatal(err)
		}
	}
	return dst
}

func BenchmarkScanGzipDockerArchiveMinbase(b *testing.B) {
	benchScan(b, gzipArchive(b))
}

// BenchmarkGunzipDockerArchiveMinbase only decompresses the same file: the
// floor of a gzip archive scan, which cannot skip what it does not want.
func BenchmarkGunzipDockerArchiveMinbase(b *testing.B) {
	p := gzipArchive(b)
	b.ReportAllocs()
	for b.Loop() {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		rc, err := image.Decompress(f)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
		f.Close()
	}
}
