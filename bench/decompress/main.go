// Command decompress is the baseline of the image benchmark: it reads a
// docker save or OCI archive and merely decompresses every layer (with the
// same gzip implementation the scanner uses), discarding the bytes. The
// scan of the same archive should take at most 1.5 times as long.
package main

import (
	"archive/tar"
	"bufio"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/riskmap/riskmap/internal/inventory/image"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: decompress ARCHIVE")
		os.Exit(2)
	}
	start := time.Now()
	n, err := run(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "decompress:", err)
		os.Exit(1)
	}
	fmt.Printf("%d bytes of layers in %.3fs\n", n, time.Since(start).Seconds())
}

func run(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var total int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		br := bufio.NewReaderSize(tr, 64<<10)
		head, _ := br.Peek(512)
		if !isLayer(head) {
			continue
		}
		rc, err := image.Decompress(br)
		if err != nil {
			return total, err
		}
		// A layer is a tar: walk it like the scanner does (headers and
		// content), without looking at anything.
		lr := tar.NewReader(rc)
		for {
			_, err := lr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return total, err
			}
			n, err := io.Copy(io.Discard, lr)
			total += n
			if err != nil {
				return total, err
			}
		}
		rc.Close()
	}
}

func isLayer(head []byte) bool {
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return true
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return true
	}
	return false
}
