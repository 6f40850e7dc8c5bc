package cli

import (
	"fmt"
	"io"
	"os"
)

// writeOutput writes an --output file through write. A regular file (or a
// new one) is written to a temporary file beside it and renamed over it,
// so readers see the old content or the whole new one, never a part; the
// result is 0644. Anything else that exists (/dev/null, /dev/stdout, a
// FIFO) is written in place: renaming over a device would replace it with
// a regular file.
func writeOutput(path string, write func(io.Writer) error) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return fmt.Errorf("is a directory")
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		if err := write(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	tmp, err := os.CreateTemp(dirOf(path), ".riskmap-output-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
