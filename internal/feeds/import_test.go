package feeds

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/vulndb"
)

// importShared imports the shared feeds once per test binary into a
// temporary data dir and returns the manager.
func importShared(t *testing.T) *Manager {
	t.Helper()
	m := New(Config{DataDir: t.TempDir(), Now: func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }})
	rep, err := m.Import(context.Background(), testenv.SharedFeeds(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Failed(); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestImportShared(t *testing.T) {
	m := importShared(t)
	db, err := vulndb.Open(m.KBPath())
	if err != nil {
		t.Fatal(err)
	}
	meta := db.Meta()
	t.Logf("kb: %d bytes, %d vulns, %d package keys, %d CVEs", db.Size(), meta.Vulns, meta.Packages, meta.CVEs)
	// CVE-2023-4863 (libwebp) is in KEV, EPSS and the CVSS CSV.
	info, ok := db.CVE("CVE-2023-4863")
	if !ok || info.KEV == nil || info.CVSS == nil || !info.HasEPSS || info.CVSS.BaseScore != 8.8 {
		t.Fatalf("CVE-2023-4863 enrichment = %+v", info)
	}
	if meta.Vulns < 30000 || meta.CVEs < 360000 {
		t.Errorf("meta = %+v", meta)
	}
}

// BenchmarkImportShared imports all of the shared feeds into a fresh data
// directory: parse, validate and compile (goal: ≤ 30 s).
func BenchmarkImportShared(b *testing.B) {
	src := testenv.SharedFeeds(b)
	for b.Loop() {
		m := New(Config{DataDir: b.TempDir()})
		rep, err := m.Import(context.Background(), src)
		if err != nil || rep.Failed() != nil {
			b.Fatal(err, rep.Failed())
		}
	}
}

// uploadFile is one file given to Import on its own, the way the console
// receives it (POST /api/v1/feeds/import?name=NAME): copied into a fresh
// temporary directory under NAME.
type uploadFile struct {
	shared  string // path under the shared feeds, or
	data    []byte // the file's bytes
	name    string // ?name=
	wantErr string // what the refusal says besides the file's name; "" when accepted
}

func (u uploadFile) importInto(t *testing.T, m *Manager) error {
	t.Helper()
	data := u.data
	if u.shared != "" {
		var err error
		if data, err = os.ReadFile(filepath.Join(testenv.SharedFeeds(t), u.shared)); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := os.MkdirTemp(t.TempDir(), "riskmap-feed-upload-")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, u.name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := m.Import(context.Background(), p)
	if err != nil {
		return err
	}
	return rep.Failed()
}

// osvZip is an OSV export of the given records.
func osvZip(t *testing.T, records ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for i, r := range records {
		w, err := zw.Create(fmt.Sprintf("R-%d.json", i))
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(r))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// osvRecord is a valid OSV record affecting a package in each ecosystem.
func osvRecord(id string, ecosystems ...string) string {
	var aff []string
	for _, eco := range ecosystems {
		aff = append(aff, `{"package":{"ecosystem":"`+eco+`","name":"p"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0"}]}]}`)
	}
	return `{"id":"` + id + `","modified":"2026-01-01T00:00:00Z","affected":[` + strings.Join(aff, ",") + `]}`
}

// TestImportSingleFile uploads single feed files and checks which source
// each is filed under: by content, never by the upload's temporary
// directory, replacing the stored copy of that source; files that are no
// feed are refused, naming the file, and what is stored stays.
func TestImportSingleFile(t *testing.T) {
	goZip := uploadFile{shared: "osv/Go/all.zip", name: "all.zip"}
	goStatus := SourceStatus{Source: "osv:Go", Path: "osv/Go/all.zip", Records: 4291}
	tests := []struct {
		name    string
		uploads []uploadFile
		want    []SourceStatus
	}{
		{
			name:    "go_all_zip_twice",
			uploads: []uploadFile{goZip, goZip},
			want:    []SourceStatus{goStatus},
		},
		{
			name:    "osv_export_under_another_name",
			uploads: []uploadFile{{shared: "osv/crates.io/all.zip", name: "rustsec-osv.zip"}},
			want:    []SourceStatus{{Source: "osv:crates.io", Path: "osv/crates.io/all.zip", Records: 1206}},
		},
		{
			name:    "osv_ecosystem_with_releases",
			uploads: []uploadFile{{shared: "osv/AlmaLinux/all.zip", name: "all.zip"}},
			want:    []SourceStatus{{Source: "osv:AlmaLinux", Path: "osv/AlmaLinux/all.zip", Records: 5637}},
		},
		{
			name: "osv_records_in_several_ecosystems",
			uploads: []uploadFile{{name: "all.zip", data: osvZip(t,
				osvRecord("GHSA-1", "PyPI", "npm"), osvRecord("GHSA-2", "npm"), osvRecord("GHSA-3", "Maven", "npm"))}},
			want: []SourceStatus{{Source: "osv:npm", Path: "osv/npm/all.zip", Records: 3}},
		},
		{
			name:    "kev",
			uploads: []uploadFile{{shared: "kev/known_exploited_vulnerabilities.json", name: "known_exploited_vulnerabilities.json"}},
			want:    []SourceStatus{{Source: "kev", Path: "kev/known_exploited_vulnerabilities.json", Records: 1662}},
		},
		{
			name: "older_kev_replaces_the_stored_one",
			uploads: []uploadFile{
				{shared: "kev/known_exploited_vulnerabilities.json", name: "known_exploited_vulnerabilities.json"},
				{shared: "kev/history/known_exploited_vulnerabilities-2025.08.25.json", name: "kev.json"},
			},
			want: []SourceStatus{{Source: "kev", Path: "kev/known_exploited_vulnerabilities.json", Records: 1404}},
		},
		{
			name:    "epss",
			uploads: []uploadFile{{shared: "epss/epss_scores.csv.gz", name: "scores-2026-08-16.csv.gz"}},
			want:    []SourceStatus{{Source: "epss", Path: "epss/epss_scores.csv.gz", Records: 360142}},
		},
		{
			name:    "cvss_csv",
			uploads: []uploadFile{{shared: "cvss/cve_cvss.csv.gz", name: "cve_cvss.csv.gz"}},
			want:    []SourceStatus{{Source: "cvss", Path: "cvss/cve_cvss.csv.gz", Records: 65554}},
		},
		{
			name: "alpine_secdb",
			uploads: []uploadFile{
				{shared: "alpine/secdb/edge/main.json", name: "main.json"},
				{shared: "alpine/secdb/edge/community.json", name: "secdb.json"},
				{shared: "alpine/secdb/edge/main.json", name: "main.json"},
			},
			want: []SourceStatus{
				{Source: "alpine:edge/community", Path: "alpine/secdb/edge/community.json", Records: 479},
				{Source: "alpine:edge/main", Path: "alpine/secdb/edge/main.json", Records: 286},
			},
		},
		{
			name: "garbage_keeps_what_is_stored",
			uploads: []uploadFile{
				goZip,
				{data: []byte("this is not a feed\n"), name: "garbage.bin", wantErr: "not a feed file: want an OSV export"},
			},
			want: []SourceStatus{goStatus},
		},
		{
			name: "mixed_ecosystems_refused",
			uploads: []uploadFile{
				goZip,
				{name: "all.zip", data: osvZip(t, osvRecord("GO-1", "Go"), osvRecord("RUSTSEC-1", "crates.io"), osvRecord("RUSTSEC-2", "crates.io")),
					wantErr: "OSV export mixes ecosystems: Go (1 record), crates.io (2 records)"},
			},
			want: []SourceStatus{goStatus},
		},
		{
			name: "ecosystem_that_cannot_name_a_directory",
			uploads: []uploadFile{{name: "all.zip", data: osvZip(t, osvRecord("X-1", "../../kev")),
				wantErr: `ecosystem "../../kev" cannot name a directory`}},
		},
		{
			name: "secdb_without_reponame",
			uploads: []uploadFile{{name: "secdb.json", data: []byte(`{"distroversion":"v3.20","packages":[]}`),
				wantErr: `reponame "" must each name a directory`}},
		},
		{
			name:    "zip_of_other_json",
			uploads: []uploadFile{{shared: "npm/nodejs-security-wg-vulns.zip", name: "nodejs-security-wg-vulns.zip", wantErr: "not an OSV export"}},
		},
		{
			name:    "kev_schema",
			uploads: []uploadFile{{shared: "kev/known_exploited_vulnerabilities_schema.json", name: "known_exploited_vulnerabilities_schema.json", wantErr: "not a feed file"}},
		},
		{
			name:    "debian_tracker_list",
			uploads: []uploadFile{{shared: "debian/security-tracker-2023-04/DSA-list", name: "DSA-list", wantErr: "not a feed file"}},
		},
		{
			name:    "empty_file",
			uploads: []uploadFile{{name: "all.zip", wantErr: "empty file"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(Config{DataDir: t.TempDir(), Now: func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }})
			for _, u := range tt.uploads {
				err := u.importInto(t, m)
				switch {
				case u.wantErr == "" && err != nil:
					t.Fatalf("import %s: %v", u.name, err)
				case u.wantErr != "" && err == nil:
					t.Fatalf("import %s accepted, want %q", u.name, u.wantErr)
				case u.wantErr != "" && (!strings.Contains(err.Error(), u.wantErr) || !strings.Contains(err.Error(), u.name)):
					t.Fatalf("import %s: %v, want the file's name and %q", u.name, err, u.wantErr)
				}
			}
			got, err := m.Status()
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(SourceStatus{}, "UpdatedAt", "CheckedAt")); d != "" {
				t.Errorf("Status (-want +got):\n%s", d)
			}
			if len(tt.want) == 0 {
				return
			}
			// The knowledge base is compiled from exactly the stored sources.
			db, err := vulndb.Open(m.KBPath())
			if err != nil {
				t.Fatal(err)
			}
			var want, sources []string
			for _, s := range tt.want {
				want = append(want, s.Source+" "+s.Path)
			}
			for _, s := range db.Meta().Sources {
				sources = append(sources, s.Name+" "+s.Detail)
			}
			if d := cmp.Diff(want, sources); d != "" {
				t.Errorf("knowledge base sources (-want +got):\n%s", d)
			}
		})
	}
}
