package osv

import (
	"archive/zip"
	"bytes"
	"context"
	"testing"

	"github.com/riskmap/riskmap/internal/vuln/osv"
)

func FuzzReadZip(f *testing.F) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create("A.json")
	w.Write([]byte(`{"id":"A","modified":"2023-01-01T00:00:00Z"}`))
	zw.Close()
	f.Add(b.Bytes())
	f.Add([]byte("PK\x03\x04garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ReadZip(context.Background(), data, func(*osv.Vulnerability) error { return nil })
	})
}
