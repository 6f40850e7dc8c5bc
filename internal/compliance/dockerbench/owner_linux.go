package dockerbench

import (
	"io/fs"
	"syscall"
)

// ownerOf is a file's owner and group, when its file system gives them.
func ownerOf(fi fs.FileInfo) (uid, gid uint32, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return st.Uid, st.Gid, true
}
