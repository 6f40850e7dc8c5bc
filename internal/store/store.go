// Package store owns the console's database: opening SQLite (embedded, the
// default) or PostgreSQL, applying the one set of embedded migrations at
// start, and the queries for organisations, users, sessions, API keys,
// invitations, password resets, refresh tokens and their families, signing
// keys, sign-in throttles and the audit log. Queries are written once with `?` placeholders and rebound for
// PostgreSQL. Later packages reach the database through Tx/Read and add
// their tables with new migrations in migrations/.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names a database back end.
type Dialect string

// The supported back ends.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Errors callers branch on.
var (
	ErrNotFound          = errors.New("not found")
	ErrConflict          = errors.New("already exists")
	ErrLastAdmin         = errors.New("the last active admin cannot be removed, disabled or demoted")
	ErrAlreadyRegistered = errors.New("the console already has its first user")
	ErrExpired           = errors.New("expired")
	ErrUsed              = errors.New("already used")
	ErrTokenReuse        = errors.New("refresh token reused; its token family is revoked")
)

// Config says which database to open.
type Config struct {
	// URL is postgres://... (or postgresql://) for PostgreSQL, or a SQLite
	// file path, optionally as sqlite:PATH. Empty means SQLite at
	// DataDir/riskmap.db.
	URL     string
	DataDir string
	Logger  *slog.Logger
	Now     func() time.Time
}

// Store is the console database. It is safe for concurrent use.
type Store struct {
	dialect Dialect
	w       *sql.DB // writes (one connection on SQLite: one writer at a time)
	r       *sql.DB // reads
	ck      *sql.DB // SQLite: the WAL checkpointer's own connection
	// wc and rc cache prepared statements of w and r (SQLite only).
	wc, rc *stmtCache
	ckStop chan struct{}
	ckDone chan struct{}
	log    *slog.Logger
	now    func() time.Time
	where  string // redacted location, for messages
	url    string // PostgreSQL: the URL, for Listen's own connection
	// sensors caches the rows sensor requests are authenticated against
	// (sensorcache.go).
	sensors sensorCache
}

//go:embed migrations/*.sql
var migrationFS embed.FS

// Open opens (creating if needed) the database and applies pending
// migrations.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Store{log: cfg.Logger, now: cfg.Now}
	var err error
	switch {
	case strings.HasPrefix(cfg.URL, "postgres://") || strings.HasPrefix(cfg.URL, "postgresql://"):
		s.dialect = Postgres
		u, perr := url.Parse(cfg.URL)
		if perr != nil {
			return nil, fmt.Errorf("open database: parse URL: %w", perr)
		}
		s.where, s.url = u.Redacted(), cfg.URL
		s.w, err = openPostgres(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("open database %s: %w", s.where, err)
		}
		s.w.SetMaxOpenConns(20)
		s.w.SetMaxIdleConns(20)
		s.w.SetConnMaxIdleTime(5 * time.Minute)
		s.r = s.w
	default:
		s.dialect = SQLite
		path := strings.TrimPrefix(cfg.URL, "sqlite:")
		if path == "" {
			if cfg.DataDir == "" {
				return nil, errors.New("open database: neither a database URL nor a data directory is set")
			}
			path = filepath.Join(cfg.DataDir, "riskmap.db")
		}
		if strings.ContainsAny(path, "?#") {
			return nil, fmt.Errorf("open database: SQLite path %q must not contain ? or #", path)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("open database: create directory for %s: %w", path, err)
		}
		s.where = path
		// WAL lets readers run beside the writer; synchronous=FULL makes every
		// acknowledged commit durable across power loss, not just crashes.
		const pragmas = "_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
		// The writer never checkpoints (wal_autocheckpoint=0): a checkpoint
		// inside a commit copies the WAL into the database and fsyncs it,
		// stalling every queued write for tens of milliseconds. The
		// checkpointer goroutine does it beside the writer instead. Its
		// statement journals stay in memory (temp_store=MEMORY): a
		// multi-row upsert inside a transaction keeps the pages it changes
		// for a rollback of that statement alone, and past 64 KiB SQLite
		// spills them into a temporary file it creates, writes and deletes
		// within the statement.
		s.w, err = sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=wal_autocheckpoint(0)&_pragma=temp_store(MEMORY)&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("open database %s: %w", path, err)
		}
		s.w.SetMaxOpenConns(1)
		s.w.SetConnMaxIdleTime(0)
		s.r, err = sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=query_only(1)")
		if err != nil {
			s.w.Close()
			return nil, fmt.Errorf("open database %s: %w", path, err)
		}
		s.r.SetMaxOpenConns(4)
		s.ck, err = sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=wal_autocheckpoint(0)")
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("open database %s: %w", path, err)
		}
		s.ck.SetMaxOpenConns(1)
		s.wc, s.rc = newStmtCache(s.w), newStmtCache(s.r)
	}
	if err := s.w.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open database %s: %w", s.where, err)
	}
	if s.dialect == SQLite {
		// Make the file private before anything sensitive lands in it.
		_ = os.Chmod(s.where, 0o600)
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.checkSchema(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if s.ck != nil {
		s.ckStop, s.ckDone = make(chan struct{}), make(chan struct{})
		go s.checkpointLoop()
	}
	// On SQLite this process makes every change of a sensor row.
	s.sensors.live = s.dialect == SQLite
	return s, nil
}

// checkpointEvery is how often the checkpointer copies the SQLite WAL into
// the database. PASSIVE checkpoints run beside the writer and readers
// without blocking them; the WAL restarts from its beginning once a
// checkpoint has covered it and no reader needs it. Under a constant stream
// of commits a passive checkpoint may never cover the whole WAL, so above
// walRestartBytes a TRUNCATE checkpoint (which holds new writes back while it
// finishes, then empties the file) bounds it. Every 3 s rather than every
// second: a page the writer changes again within the interval (an index
// page of a busy table) is copied once, not three times; at 2,000 sensors
// that is about 5% of the console's CPU (paired runs, docs/sizing.md).
const (
	checkpointEvery = 3 * time.Second
	walRestartBytes = 64 << 20
)

func (s *Store) checkpointLoop() {
	defer close(s.ckDone)
	tick := time.NewTicker(checkpointEvery)
	defer tick.Stop()
	for {
		select {
		case <-s.ckStop:
			return
		case <-tick.C:
			mode := "PASSIVE"
			if fi, err := os.Stat(s.where + "-wal"); err == nil && fi.Size() > walRestartBytes {
				mode = "TRUNCATE"
			}
			began := time.Now()
			var busy, logFrames, done int
			if err := s.ck.QueryRow("PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &logFrames, &done); err != nil {
				s.log.Warn("checkpoint SQLite WAL", "path", s.where, "mode", mode, "err", err)
			}
			// A slow one is a warning: a TRUNCATE checkpoint holds new
			// writes back while it runs.
			took, level := time.Since(began), slog.LevelDebug
			if took > 500*time.Millisecond {
				level = slog.LevelWarn
			}
			s.log.Log(context.Background(), level, "checkpoint SQLite WAL", "mode", mode, "took", took, "busy", busy, "wal_frames", logFrames, "copied", done)
		}
	}
}

// Close releases the database.
func (s *Store) Close() error {
	var errs []error
	s.wc.close()
	s.rc.close()
	if s.ck != nil {
		if s.ckStop != nil {
			close(s.ckStop)
			<-s.ckDone
		}
		// Leave a short WAL behind: everything committed is copied into
		// the database file.
		if _, err := s.ck.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			s.log.Warn("checkpoint SQLite WAL at close", "path", s.where, "err", err)
		}
		errs = append(errs, s.ck.Close())
	}
	if s.r != nil && s.r != s.w {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	return errors.Join(errs...)
}

// Dialect reports the back end.
func (s *Store) Dialect() Dialect { return s.dialect }

// Location is where the database is (path or redacted URL).
func (s *Store) Location() string { return s.where }

// Ping checks the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping database %s: %w", s.where, err)
	}
	return nil
}

// migrationsFS returns the embedded migrations, with the one documented
// per-dialect substitution: BLOB becomes BYTEA on PostgreSQL.
func (s *Store) migrationsFS() (fs.FS, error) {
	sub, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	if s.dialect == SQLite {
		return sub, nil
	}
	return rewriteFS{sub, func(b []byte) []byte {
		return []byte(strings.ReplaceAll(string(b), " BLOB", " BYTEA"))
	}}, nil
}

func (s *Store) migrate(ctx context.Context) error {
	fsys, err := s.migrationsFS()
	if err != nil {
		return fmt.Errorf("migrate %s: %w", s.where, err)
	}
	var opts []goose.ProviderOption
	dialect := goose.DialectSQLite3
	if s.dialect == Postgres {
		dialect = goose.DialectPostgres
		// Replicas starting together take turns migrating.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return fmt.Errorf("migrate %s: %w", s.where, err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, s.w, fsys, opts...)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", s.where, err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", s.where, err)
	}
	for _, r := range results {
		s.log.Info("applied migration", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// MigrationVersion returns the highest applied migration.
func (s *Store) MigrationVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.Read().QueryRowContext(ctx, "SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied = ?", true).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("migration version: %w", err)
	}
	return v, nil
}

// Rebind turns `?` placeholders into the dialect's ($1, $2... on
// PostgreSQL). Question marks inside single-quoted literals are left alone.
func (s *Store) Rebind(q string) string { return rebind(s.dialect, q) }

func rebind(d Dialect, q string) string {
	if d != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	inQuote := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inQuote = !inQuote
			b.WriteByte(c)
		case c == '?' && !inQuote:
			n++
			fmt.Fprintf(&b, "$%d", n)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Querier runs rebound queries; both Tx and the read handle implement it.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type rebound struct {
	d Dialect
	q interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

func (r rebound) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return r.q.ExecContext(ctx, rebind(r.d, q), args...)
}

func (r rebound) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return r.q.QueryContext(ctx, rebind(r.d, q), args...)
}

func (r rebound) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return r.q.QueryRowContext(ctx, rebind(r.d, q), args...)
}

// Read returns a Querier for reads outside a transaction.
func (s *Store) Read() Querier {
	if s.rc != nil {
		return rebound{s.dialect, cachedDB{s.r, s.rc}}
	}
	return rebound{s.dialect, s.r}
}

// Tx runs fn in a write transaction, committing when fn returns nil. On
// SQLite the transaction takes the write lock at BEGIN (no upgrade
// deadlocks).
func (s *Store) Tx(ctx context.Context, fn func(q Querier) error) error {
	s.wc.preparePending(ctx)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	var q Querier = rebound{s.dialect, tx}
	if s.wc != nil {
		q = rebound{s.dialect, cachedTx{tx, s.wc}}
	}
	if err := fn(q); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// NewID returns a 128-bit identifier whose hex form sorts by creation time
// (48-bit millisecond timestamp, then 80 random bits). Within a process IDs
// are strictly increasing: in the same millisecond (or if the clock steps
// back) the previous ID's random part is incremented, as in monotonic ULIDs.
func NewID(now time.Time) string {
	idMu.Lock()
	defer idMu.Unlock()
	var b [16]byte
	ms := uint64(now.UnixMilli())
	if ms <= idLastMS {
		ms = idLastMS
		b = idLast
		for i := 15; i >= 6; i-- {
			b[i]++
			if b[i] != 0 {
				break
			}
		}
	} else {
		for i := 5; i >= 0; i-- {
			b[i] = byte(ms >> (8 * (5 - i)))
		}
		_, _ = rand.Read(b[6:])
		b[6] &= 0x7f // leave room to increment
	}
	idLastMS, idLast = ms, b
	return hex.EncodeToString(b[:])
}

var (
	idMu     sync.Mutex
	idLastMS uint64
	idLast   [16]byte
)

func (s *Store) newID() string { return NewID(s.now()) }

// Millis converts a time to the stored form (Unix milliseconds).
func Millis(t time.Time) int64 { return t.UnixMilli() }

// FromMillis converts a stored time back (UTC).
func FromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func fromNullMillis(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := FromMillis(n.Int64)
	return &t
}

// IsUniqueViolation reports whether err is a unique or primary-key
// constraint failure on either back end.
func IsUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return false
}

// rewriteFS applies a transformation to every file read from an fs.FS.
type rewriteFS struct {
	fs.FS
	fn func([]byte) []byte
}

func (r rewriteFS) Open(name string) (fs.File, error) {
	f, err := r.FS.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		return f, err
	}
	defer f.Close()
	b, err := fs.ReadFile(r.FS, name)
	if err != nil {
		return nil, err
	}
	return &memFile{name: name, data: r.fn(b), mod: st.ModTime()}, nil
}

func (r rewriteFS) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(r.FS, name) }

// IntegrityCheck verifies the database file's structure (SQLite's
// integrity_check and foreign_key_check); PostgreSQL guards its own.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	if s.dialect != SQLite {
		return s.Ping(ctx)
	}
	var res string
	if err := s.r.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil {
		return fmt.Errorf("integrity check of %s: %w", s.where, err)
	}
	if res != "ok" {
		return fmt.Errorf("integrity check of %s: %s", s.where, res)
	}
	rows, err := s.r.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return fmt.Errorf("foreign key check of %s: %w", s.where, err)
	}
	defer rows.Close()
	if rows.Next() {
		return fmt.Errorf("foreign key check of %s: violations found", s.where)
	}
	return rows.Err()
}

// MaxRowsPerStatement bounds the rows of one multi-row statement built by
// ExecValues (PostgreSQL takes at most 65,535 parameters, SQLite 32,766).
const MaxRowsPerStatement = 400

// ExecValues runs head + " VALUES (?, ...), ..." + tail for n rows of
// width values each, in chunks of at most MaxRowsPerStatement rows: a
// chunked multi-row INSERT (tail is typically an ON CONFLICT clause).
// row(i, args) appends row i's width values to args.
func ExecValues(ctx context.Context, q Querier, head string, width, n int, tail string, row func(i int, args []any) ([]any, error)) error {
	if n == 0 {
		return nil
	}
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
	for start := 0; start < n; start += MaxRowsPerStatement {
		end := min(start+MaxRowsPerStatement, n)
		var b strings.Builder
		b.WriteString(head)
		b.WriteString(" VALUES ")
		args := make([]any, 0, (end-start)*width)
		for i := start; i < end; i++ {
			if i > start {
				b.WriteString(", ")
			}
			b.WriteString(tuple)
			var err error
			if args, err = row(i, args); err != nil {
				return err
			}
		}
		if len(args) != (end-start)*width {
			return fmt.Errorf("%s: %d values for %d rows of %d", head, len(args), end-start, width)
		}
		if tail != "" {
			b.WriteString(" ")
			b.WriteString(tail)
		}
		if _, err := q.ExecContext(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// Size is the database's size on disk: PostgreSQL's database size, or the
// SQLite file with its WAL and shared-memory files.
func (s *Store) Size(ctx context.Context) (int64, error) {
	if s.dialect == Postgres {
		var n int64
		if err := s.r.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&n); err != nil {
			return 0, fmt.Errorf("database size: %w", err)
		}
		return n, nil
	}
	var n int64
	for _, suf := range []string{"", "-wal", "-shm"} {
		if fi, err := os.Stat(s.where + suf); err == nil {
			n += fi.Size()
		}
	}
	return n, nil
}

// InstanceName names this console process where processes sharing the
// database take leases (jobs, event consumers): host, process id and a
// random part, so a restarted process is a new owner.
func InstanceName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), NewID(time.Now())[20:])
}
