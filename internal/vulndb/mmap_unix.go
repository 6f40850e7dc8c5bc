//go:build linux || darwin || freebsd

package vulndb

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps a knowledge base read-only. The file is never modified in
// place (updates write a new file and rename it), so a mapping stays valid
// and keeps the old data after a replacement.
func mapFile(path string) (data []byte, unmap func() error, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := fi.Size()
	if size == 0 || size != int64(int(size)) {
		return nil, nil, fmt.Errorf("size %d not mappable", size)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("mmap: %w", err)
	}
	return b, func() error { return syscall.Munmap(b) }, nil
}
