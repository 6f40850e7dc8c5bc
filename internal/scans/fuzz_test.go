package scans

import (
	"testing"
)

// FuzzParseCron: schedule specs parse or fail with ErrInvalid.
func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"0 3 * * *", "@daily", "@every 6h", "*/5 * * * 1-5", "61 * * * *", "", "@every -1s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		_, _ = ParseCron(spec)
	})
}
