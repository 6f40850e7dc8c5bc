package extract

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	rpmdb "github.com/erikvarga/go-rpmdb/pkg"
	scalibrfs "github.com/google/osv-scalibr/fs"
)

// rpmFiles reads the files each package of the rpm database at dbPath
// (relative to the root) owns, keyed by "name version-release". The
// database is copied out of fsys first (SQLite and Berkeley DB readers need
// a real file, and the copy never follows a link out of the root), with its
// SQLite write-ahead log when there is one.
func rpmFiles(ctx context.Context, fsys scalibrfs.FS, dbPath string, timeout time.Duration) (map[string][]string, error) {
	tmp, err := os.MkdirTemp("", "riskmap-rpmdb-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	local := filepath.Join(tmp, path.Base(dbPath))
	if err := copyOut(fsys, dbPath, local); err != nil {
		return nil, err
	}
	for _, sfx := range []string{"-wal", "-shm"} {
		_ = copyOut(fsys, dbPath+sfx, local+sfx) // absent for non-SQLite formats
	}
	db, err := rpmdb.Open(local)
	if err != nil {
		return nil, fmt.Errorf("open rpmdb %s: %w", dbPath, err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pkgs, err := db.ListPackagesWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list rpmdb %s: %w", dbPath, err)
	}
	out := make(map[string][]string, len(pkgs))
	for _, p := range pkgs {
		files, err := p.InstalledFiles()
		if err != nil {
			continue // a package without file metadata (gpg-pubkey)
		}
		var paths []string
		for _, f := range files {
			if f.Mode&0o170000 == 0o040000 { // directory
				continue
			}
			paths = append(paths, f.Path)
		}
		out[p.Name+" "+p.Version+"-"+p.Release] = paths
	}
	return out, nil
}

func copyOut(fsys scalibrfs.FS, src, dst string) error {
	in, err := fsys.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, io.LimitReader(in, 4<<30)); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

// rpmKey is the key of rpmFiles for a package version as riskmap reports
// it ("epoch:version-release").
func rpmKey(name, version string) string {
	if i := strings.IndexByte(version, ':'); i >= 0 {
		version = version[i+1:]
	}
	return name + " " + version
}
