package store

import (
	"bytes"
	"io/fs"
	"time"
)

// memFile is a read-only in-memory file for rewriteFS.
type memFile struct {
	name string
	data []byte
	mod  time.Time
	r    *bytes.Reader
}

func (f *memFile) Stat() (fs.FileInfo, error) { return memInfo{f}, nil }
func (f *memFile) Read(p []byte) (int, error) {
	if f.r == nil {
		f.r = bytes.NewReader(f.data)
	}
	return f.r.Read(p)
}
func (f *memFile) Close() error { return nil }

type memInfo struct{ f *memFile }

func (i memInfo) Name() string       { return i.f.name }
func (i memInfo) Size() int64        { return int64(len(i.f.data)) }
func (i memInfo) Mode() fs.FileMode  { return 0o444 }
func (i memInfo) ModTime() time.Time { return i.f.mod }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }
