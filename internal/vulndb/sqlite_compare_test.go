package vulndb_test

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/riskmap/riskmap/internal/vulndb"
	"github.com/riskmap/riskmap/internal/vulndb/kbtest"
	_ "modernc.org/sqlite"
)

// These benchmarks back the storage choice (docs/scan.md): the same data
// in a modernc.org/sqlite v1.62.0 file (one row per package key with its
// affected entries, one row per record) against the riskmap.kb format,
// each opened cold and queried for 1,000 package keys.

func sampleKeys(db *vulndb.DB, n int) [][2]string {
	var all [][2]string
	db.Keys(func(eco, name string) bool { all = append(all, [2]string{eco, name}); return true })
	var out [][2]string
	for i := 0; i < n; i++ {
		out = append(out, all[i*len(all)/n])
	}
	return out
}

func buildSQLite(b *testing.B, db *vulndb.DB) string {
	path := filepath.Join(b.TempDir(), "kb.sqlite")
	s, err := sql.Open("sqlite", path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for _, q := range []string{
		`PRAGMA journal_mode=OFF`, `PRAGMA synchronous=OFF`,
		`CREATE TABLE pkg (eco TEXT NOT NULL, name TEXT NOT NULL, affected BLOB NOT NULL, PRIMARY KEY (eco, name)) WITHOUT ROWID`,
		`CREATE TABLE vuln (idx INTEGER PRIMARY KEY, body BLOB NOT NULL)`,
	} {
		if _, err := s.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	tx, _ := s.Begin()
	db.Keys(func(eco, name string) bool {
		es, _ := db.Lookup(eco, name)
		js, _ := json.Marshal(es)
		if _, err := tx.Exec(`INSERT INTO pkg VALUES (?,?,?)`, eco, name, js); err != nil {
			b.Fatal(err)
		}
		return true
	})
	for i := 0; i < db.NumVulns(); i++ {
		v, _ := db.Vuln(uint32(i))
		js, _ := json.Marshal(v)
		tx.Exec(`INSERT INTO vuln VALUES (?,?)`, i, js)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return path
}

func BenchmarkStoreRiskmapKB(b *testing.B) {
	db := kbtest.Shared(b)
	keys := sampleKeys(db, 1000)
	b.ReportMetric(float64(db.Size())/1e6, "file-MB")
	b.ResetTimer()
	for b.Loop() {
		d, err := vulndb.Open(db.Path())
		if err != nil {
			b.Fatal(err)
		}
		for _, k := range keys {
			if _, err := d.Lookup(k[0], k[1]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkStoreSQLite(b *testing.B) {
	db := kbtest.Shared(b)
	keys := sampleKeys(db, 1000)
	path := buildSQLite(b, db)
	if fi, err := os.Stat(path); err == nil {
		b.ReportMetric(float64(fi.Size())/1e6, "file-MB")
	}
	b.ResetTimer()
	for b.Loop() {
		s, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			b.Fatal(err)
		}
		st, err := s.Prepare(`SELECT affected FROM pkg WHERE eco = ? AND name = ?`)
		if err != nil {
			b.Fatal(err)
		}
		for _, k := range keys {
			var blob []byte
			if err := st.QueryRow(vulndb.NormalizeEcosystem(k[0]), k[1]).Scan(&blob); err != nil {
				b.Fatal(err)
			}
			var es []vulndb.Affected
			if err := json.Unmarshal(blob, &es); err != nil {
				b.Fatal(err)
			}
		}
		st.Close()
		s.Close()
	}
}
