//go:build !(linux || darwin || freebsd)

package vulndb

import "os"

// mapFile reads the whole file where mmap is not used.
func mapFile(path string) ([]byte, func() error, error) {
	b, err := os.ReadFile(path)
	return b, func() error { return nil }, err
}
