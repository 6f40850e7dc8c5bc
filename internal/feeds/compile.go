package feeds

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riskmap/riskmap/internal/feeds/alpine"
	cvssfeed "github.com/riskmap/riskmap/internal/feeds/cvss"
	"github.com/riskmap/riskmap/internal/feeds/epss"
	"github.com/riskmap/riskmap/internal/feeds/kev"
	osvfeed "github.com/riskmap/riskmap/internal/feeds/osv"
	"github.com/riskmap/riskmap/internal/vuln/cvss"
	"github.com/riskmap/riskmap/internal/vuln/osv"
	"github.com/riskmap/riskmap/internal/vulndb"
)

// verifyChecksum checks the object-store digests a server sends: Google
// Cloud Storage's `x-goog-hash: crc32c=…,md5=…` (osv.dev's bucket) and
// `Content-MD5`.
func verifyChecksum(h http.Header, data []byte) error {
	for _, v := range h.Values("X-Goog-Hash") {
		for _, part := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok {
				continue
			}
			want, err := base64.StdEncoding.DecodeString(val)
			if err != nil {
				return fmt.Errorf("bad x-goog-hash %q", part)
			}
			switch k {
			case "crc32c":
				got := binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
				if !bytes.Equal(got, want) {
					return errors.New("crc32c mismatch: download corrupt or partial")
				}
			case "md5":
				got := md5.Sum(data)
				if !bytes.Equal(got[:], want) {
					return errors.New("md5 mismatch: download corrupt or partial")
				}
			}
		}
	}
	if v := h.Get("Content-MD5"); v != "" {
		want, err := base64.StdEncoding.DecodeString(v)
		got := md5.Sum(data)
		if err != nil || !bytes.Equal(got[:], want) {
			return errors.New("Content-MD5 mismatch: download corrupt or partial")
		}
	}
	return nil
}

func encodeCVSSCSV(byCVE map[string][]cvss.Metric) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	w := csv.NewWriter(gz)
	w.Write([]string{"cve", "source", "cvss_version", "vector", "base_score", "base_severity", "score_origin", "referenced_by"})
	ids := make([]string, 0, len(byCVE))
	for k := range byCVE {
		ids = append(ids, k)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, m := range byCVE[id] {
			w.Write([]string{id, m.Source, m.Version, m.Vector, strconv.FormatFloat(m.BaseScore, 'f', 1, 64), strings.ToUpper(m.Severity), "published", ""})
		}
	}
	w.Flush()
	gz.Close()
	return buf.Bytes()
}

// OpenKB opens the knowledge base. A file of another schema version (written
// by an older or newer riskmap) is rebuilt from the stored feeds first;
// rebuilt is then called with the reason, before the rebuild starts.
func (m *Manager) OpenKB(ctx context.Context, rebuilt func(reason error)) (*vulndb.DB, error) {
	db, err := vulndb.Open(m.KBPath())
	if !errors.Is(err, vulndb.ErrSchema) {
		return db, err
	}
	if rebuilt != nil {
		rebuilt(err)
	}
	if rerr := m.Rebuild(ctx); rerr != nil {
		return nil, fmt.Errorf("rebuild knowledge base %s (%v): %w", m.KBPath(), err, rerr)
	}
	return vulndb.Open(m.KBPath())
}

// Rebuild compiles the stored feeds into the knowledge base.
func (m *Manager) Rebuild(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, err := m.loadState()
	if err != nil {
		return err
	}
	return m.compile(ctx, st)
}

type storedFile struct {
	rel  string
	kind Kind
}

func (m *Manager) storedFiles() ([]storedFile, error) {
	var out []storedFile
	root := m.feedsDir()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == root {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if k := kindOf(rel); k != KindUnknown {
			out = append(out, storedFile{filepath.ToSlash(rel), k})
		}
		return nil
	})
	return out, err
}

// compile builds the knowledge base from every stored file. OSV exports are
// parsed in parallel; records are added in path order so the output is
// deterministic.
func (m *Manager) compile(ctx context.Context, st *State) error {
	return m.compileWith(ctx, st, nil)
}

// compileWith uses already parsed advisories for the files in parsed (just
// validated and written by Import) and parses the others.
func (m *Manager) compileWith(ctx context.Context, st *State, parsed map[string][]*osv.Vulnerability) error {
	files, err := m.storedFiles()
	if err != nil {
		return fmt.Errorf("compile knowledge base: %w", err)
	}
	at := m.cfg.Now()
	if !m.buildAt.IsZero() {
		at = m.buildAt // a replica following another's build
	}
	b := vulndb.NewBuilder(at)
	type parseResult struct {
		vulns []*osv.Vulnerability
		err   error
	}
	results := make([]parseResult, len(files))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, f := range files {
		if f.kind != KindOSV && f.kind != KindAlpine {
			continue
		}
		if vs, ok := parsed[f.rel]; ok {
			results[i].vulns = vs
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			data, err := os.ReadFile(filepath.Join(m.feedsDir(), f.rel))
			if err != nil {
				results[i].err = err
				return
			}
			if f.kind == KindAlpine {
				db, err := alpine.Parse(bytes.NewReader(data))
				if err != nil {
					results[i].err = err
					return
				}
				results[i].vulns = db.ToOSV()
				return
			}
			_, err = osvfeed.ReadZip(ctx, data, func(v *osv.Vulnerability) error {
				results[i].vulns = append(results[i].vulns, v)
				return nil
			})
			results[i].err = err
		}()
	}
	wg.Wait()
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		src := vulndb.Source{Name: sourceOf(f.rel), Detail: f.rel}
		if fs := st.Files[f.rel]; fs != nil {
			src.UpdatedAt = fs.UpdatedAt
		}
		switch f.kind {
		case KindOSV, KindAlpine:
			if results[i].err != nil {
				return fmt.Errorf("compile knowledge base: %s: %w", f.rel, results[i].err)
			}
			source := strings.TrimSuffix(strings.TrimPrefix(f.rel, "osv/"), "/all.zip")
			if f.kind == KindAlpine {
				source = alpine.Name
			}
			for _, v := range results[i].vulns {
				b.AddOSV(v, source)
			}
			src.Records = len(results[i].vulns)
			results[i].vulns = nil
		default:
			n, err := m.loadEnrichment(b, f)
			if err != nil {
				return fmt.Errorf("compile knowledge base: %s: %w", f.rel, err)
			}
			src.Records = n
		}
		b.AddSource(src)
	}
	if err := os.MkdirAll(m.cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("compile knowledge base: %w", err)
	}
	return b.WriteFile(m.KBPath())
}

func (m *Manager) loadEnrichment(b *vulndb.Builder, f storedFile) (int, error) {
	file, err := os.Open(filepath.Join(m.feedsDir(), f.rel))
	if err != nil {
		return 0, err
	}
	defer file.Close()
	switch f.kind {
	case KindKEV:
		c, err := kev.Parse(file)
		if err != nil {
			return 0, err
		}
		for _, e := range c.Vulnerabilities {
			b.AddKEV(e.CVE, vulndb.KEV{DateAdded: e.DateAdded, DueDate: e.DueDate, Ransomware: e.Ransomware(), Name: e.VulnerabilityName})
		}
		return len(c.Vulnerabilities), nil
	case KindEPSS:
		_, n, err := epss.Parse(file, func(s epss.Score) { b.AddEPSS(s.CVE, s.EPSS, s.Percentile) })
		return n, err
	case KindCVSS:
		return cvssfeed.ReadCSV(file, b.AddCVSS)
	}
	return 0, nil
}

// Import copies feed files into the data directory and rebuilds the
// knowledge base. path is a directory laid out like the data directory's
// feeds/ (e.g. ../shared/feeds), a bundle written by Export, or a single
// feed file, which replaces the stored copy of the source its content
// belongs to (see identify) whatever its name; a file whose source cannot
// be told is refused and nothing stored changes. Every file is validated
// first; invalid ones are reported and the stored copy is kept.
func (m *Manager) Import(ctx context.Context, path string) (*Report, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.importLocked(ctx, path, nil)
}

// importFollowed imports a bundle another replica published (see
// KB.shared): its files, then its state file in place of this data
// directory's, and compiles the knowledge base as of builtAt, so every
// replica holds the same one.
func (m *Manager) importFollowed(ctx context.Context, path string, st *State, builtAt time.Time) (*Report, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buildAt = builtAt
	defer func() { m.buildAt = time.Time{} }()
	return m.importLocked(ctx, path, st)
}

func (m *Manager) importLocked(ctx context.Context, path string, followed *State) (*Report, error) {
	start := m.cfg.Now()
	st, err := m.loadState()
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	var files []importFile
	switch {
	case fi.IsDir():
		err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(path, p)
			rel = filepath.ToSlash(rel)
			rel = strings.TrimPrefix(rel, "feeds/")
			if strings.Contains(rel, "/history/") {
				return nil // older catalogs kept for reference
			}
			if kindOf(rel) != KindUnknown {
				files = append(files, importFile{rel: rel, read: func() ([]byte, error) { return os.ReadFile(p) }})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", path, err)
		}
	case isTar(path):
		bundle, err := readBundle(path)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", path, err)
		}
		for rel, data := range bundle {
			files = append(files, importFile{rel: rel, read: func() ([]byte, error) { return data, nil }})
		}
		sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	default:
		f, err := identify(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", path, err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("import %s: no feed files found", path)
	}
	// Validate in parallel (each file is parsed in full), then store in order.
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i := range files {
		f := &files[i]
		if f.checked {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			f.data, f.err = f.read()
			if f.err == nil {
				f.records, f.vulns, f.err = validate(ctx, kindOf(f.rel), f.data)
			}
		}()
	}
	wg.Wait()
	rep := &Report{}
	changed := false
	parsed := map[string][]*osv.Vulnerability{}
	for i := range files {
		f := &files[i]
		res := ItemResult{Source: sourceOf(f.rel), Path: f.rel, Records: f.records}
		data, err := f.data, f.err
		if err == nil {
			err = writeAtomic(filepath.Join(m.feedsDir(), f.rel), data)
		}
		fs := st.Files[f.rel]
		if fs == nil {
			fs = &FileState{Source: res.Source}
			st.Files[f.rel] = fs
		}
		if err != nil {
			res.Status, res.Error = StatusFailed, err.Error()
			fs.LastError = "import: " + err.Error()
		} else {
			sum := sha256Hex(data)
			if sum == fs.SHA256 {
				res.Status = StatusUnchanged
			} else {
				res.Status = StatusUpdated
				changed = true
			}
			*fs = FileState{Source: res.Source, URL: "file://" + path, SHA256: sum, Size: int64(len(data)), Records: res.Records, UpdatedAt: m.cfg.Now(), CheckedAt: m.cfg.Now()}
		}
		rep.Items = append(rep.Items, res)
		if err == nil && f.vulns != nil {
			parsed[f.rel] = f.vulns
		}
		*f = importFile{} // let the data go
	}
	if followed != nil {
		if failed := rep.Failed(); failed != nil {
			return rep, failed
		}
		// The publisher's feeds, no more: drop what it does not hold.
		if err := m.keepOnly(rep); err != nil {
			return rep, err
		}
		st = followed
		if st.Files == nil {
			st.Files = map[string]*FileState{}
		}
		changed = true // the knowledge base is the publisher's build
	}
	if err := m.saveState(st); err != nil {
		return rep, err
	}
	if _, err := os.Stat(m.KBPath()); changed || err != nil {
		if err := m.compileWith(ctx, st, parsed); err != nil {
			return rep, err
		}
		rep.Rebuilt = true
	}
	rep.Duration = m.cfg.Now().Sub(start)
	return rep, nil
}

// keepOnly removes the stored feed files an import did not name.
func (m *Manager) keepOnly(rep *Report) error {
	keep := map[string]bool{}
	for _, it := range rep.Items {
		keep[it.Path] = true
	}
	stored, err := m.storedFiles()
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	for _, f := range stored {
		if !keep[f.rel] {
			if err := os.Remove(filepath.Join(m.feedsDir(), f.rel)); err != nil {
				return fmt.Errorf("import: %w", err)
			}
		}
	}
	return nil
}

func sha256Hex(b []byte) string {
	s := sha256Sum(b)
	return s
}

func isTar(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	r, err := tarStream(f)
	if err != nil {
		return false
	}
	var hdr [263]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return false
	}
	return string(hdr[257:262]) == "ustar"
}

// tarStream reads a tar, gunzipping a .tar.gz (a gzipped single feed file,
// an EPSS CSV, is no tar: its content says so).
func tarStream(f io.ReadSeeker) (io.Reader, error) {
	var magic [2]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if magic != [2]byte{0x1f, 0x8b} {
		return f, nil
	}
	return gzip.NewReader(f)
}

// folderRel is where a member of a tar of a feeds folder goes: the part of
// its path from the first component that starts a feed path (osv/, kev/,
// alpine/secdb/, epss/, cvss/), so "feeds/osv/Go/all.zip",
// "./osv/Go/all.zip" and "shared/feeds/osv/Go/all.zip" all file osv/Go/all.zip;
// "" for what is no feed file (README.md, MANIFEST.json, older KEV
// catalogues kept under history/).
func folderRel(name string) string {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	parts := strings.Split(name, "/")
	if slices.Contains(parts, "..") || slices.Contains(parts, "history") {
		return ""
	}
	for i := range parts {
		if rel := strings.Join(parts[i:], "/"); kindOf(rel) != KindUnknown {
			return rel
		}
	}
	return ""
}

// bundleMarker names the bundle's manifest member.
const bundleMarker = "riskmap-feeds-bundle.json"

// Export writes every stored feed file and the state into a tar bundle that
// `riskmap feeds import` reads on another install.
func (m *Manager) Export(ctx context.Context, out io.Writer) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	files, err := m.storedFiles()
	if err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	if len(files) == 0 {
		return 0, errors.New("export: no feeds stored (run riskmap feeds update or import first)")
	}
	tw := tar.NewWriter(out)
	man := []byte(fmt.Sprintf(`{"format":"riskmap-feeds-bundle","version":1,"created":%q,"files":%d}`, m.cfg.Now().UTC().Format("2006-01-02T15:04:05Z"), len(files)))
	if err := writeTarFile(tw, bundleMarker, man); err != nil {
		return 0, err
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		data, err := os.ReadFile(filepath.Join(m.feedsDir(), f.rel))
		if err != nil {
			return 0, fmt.Errorf("export %s: %w", f.rel, err)
		}
		if err := writeTarFile(tw, "feeds/"+f.rel, data); err != nil {
			return 0, err
		}
	}
	if err := tw.Close(); err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	return len(files), nil
}

func writeTarFile(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	return nil
}

// MaxBundleFile bounds one member of an imported bundle.
const MaxBundleFile = 2 << 30

// readBundle reads a tar (or .tar.gz) of feed files: a bundle of
// `riskmap feeds export` (its marker, its files under feeds/), or a tar of
// a feeds folder in the same layout, as the shared feeds folder is (tar -C
// FOLDER -cf feeds.tar .), whose members are filed by folderRel.
func readBundle(path string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := tarStream(f)
	if err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	tr := tar.NewReader(r)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read bundle: %w", err)
		}
		if h.Name == bundleMarker {
			continue
		}
		rel := folderRel(h.Name)
		if rel == "" || h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Size > MaxBundleFile {
			return nil, fmt.Errorf("read bundle: %s too large", h.Name)
		}
		data, err := io.ReadAll(io.LimitReader(tr, MaxBundleFile))
		if err != nil {
			return nil, fmt.Errorf("read bundle %s: %w", h.Name, err)
		}
		out[rel] = data
	}
	if len(out) == 0 {
		return nil, errors.New("no feed file in the tar: want a bundle of riskmap feeds export or a tar of a feeds folder (osv/<Ecosystem>/all.zip, kev/, epss/, cvss/, alpine/secdb/...)")
	}
	return out, nil
}
