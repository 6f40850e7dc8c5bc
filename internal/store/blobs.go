package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"time"
)

// Shared blobs: files every replica on one PostgreSQL keeps the same (the
// feeds behind the knowledge base, the malware rule bundle), published
// by the replica that changed them as numbered generations (migration
// 00047, docs/replicas.md). Only the latest two generations are kept: a
// replica still reading the previous one finishes.

// BlobChunk is the most compressed bytes one chunk row holds.
const BlobChunk = 4 << 20

// ErrBlobGone: the generation being read was pruned (two newer ones were
// published meanwhile) or its chunks do not add up; read the latest again.
var ErrBlobGone = errors.New("shared blob generation gone or incomplete")

// BlobInfo describes one published generation.
type BlobInfo struct {
	Name       string
	Generation int64
	SHA256     string // of the content, uncompressed
	Size       int64  // of the content, uncompressed
	Chunks     int
	// Meta is the publisher's JSON about the content.
	Meta      string
	Replica   string
	CreatedAt time.Time
}

// Shared reports whether this store is shared by replicas (PostgreSQL).
// On SQLite there is one console and nothing to publish.
func (s *Store) Shared() bool { return s.dialect == Postgres }

// sharedLockKey is the advisory lock key of a shared blob's name.
func sharedLockKey(name string) int64 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int64(0x72697368)<<32 | int64(h.Sum32()) // "rish" + hash
}

// LockShared takes the advisory lock of the shared blob name, held on a
// connection of its own until unlock is called: the replicas' changes of
// the blob's content run one at a time. On SQLite (one console) it does
// nothing. Waiting for the lock ends with ctx.
func (s *Store) LockShared(ctx context.Context, name string) (unlock func(), err error) {
	unlock, _, err = s.lockShared(ctx, name, true)
	return unlock, err
}

// TryLockShared is LockShared that does not wait: ok is false when
// another session holds the lock.
func (s *Store) TryLockShared(ctx context.Context, name string) (unlock func(), ok bool, err error) {
	return s.lockShared(ctx, name, false)
}

func (s *Store) lockShared(ctx context.Context, name string, wait bool) (unlock func(), ok bool, err error) {
	if s.dialect != Postgres {
		return func() {}, true, nil
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("lock shared %s: %w", name, err)
	}
	key := sharedLockKey(name)
	if wait {
		_, err = conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key)
		ok = err == nil
	} else {
		err = conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok)
	}
	if err != nil {
		dropConn(conn)
		return nil, false, fmt.Errorf("lock shared %s: %w", name, err)
	}
	if !ok {
		conn.Close()
		return nil, false, nil
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
			// The session would keep the lock in the pool: close it,
			// which releases the lock on the server.
			s.log.Warn("unlock shared blob failed; closing its connection", "name", name, "err", err)
			dropConn(conn)
			return
		}
		conn.Close()
	}, true, nil
}

// dropConn closes the connection instead of returning it to the pool.
func dropConn(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

// LatestBlob returns the latest published generation of name; ok is false
// when none was published. One indexed row: cheap enough to poll.
func (s *Store) LatestBlob(ctx context.Context, name string) (info BlobInfo, ok bool, err error) {
	var created int64
	err = s.Read().QueryRowContext(ctx, "SELECT name, generation, sha256, size, chunks, meta, replica, created_at FROM shared_blobs WHERE name = ? ORDER BY generation DESC LIMIT 1", name).
		Scan(&info.Name, &info.Generation, &info.SHA256, &info.Size, &info.Chunks, &info.Meta, &info.Replica, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return BlobInfo{}, false, nil
	}
	if err != nil {
		return BlobInfo{}, false, fmt.Errorf("latest shared %s: %w", name, err)
	}
	info.CreatedAt = FromMillis(created)
	return info, true, nil
}

// PublishBlob stores the content read from r as the next generation of
// name (gzip-compressed, in chunks of BlobChunk), in one transaction with
// its row, and prunes all but the latest two generations. Callers hold
// LockShared(name). replica names the publisher (InstanceName).
func (s *Store) PublishBlob(ctx context.Context, name, meta, replica string, r io.Reader) (BlobInfo, error) {
	info := BlobInfo{Name: name, Meta: meta, Replica: replica, CreatedAt: s.now()}
	err := s.Tx(ctx, func(q Querier) error {
		if err := q.QueryRowContext(ctx, "SELECT COALESCE(MAX(generation), 0) + 1 FROM shared_blobs WHERE name = ?", name).Scan(&info.Generation); err != nil {
			return err
		}
		cw := &chunkWriter{flush: func(n int, data []byte) error {
			_, err := q.ExecContext(ctx, "INSERT INTO shared_blob_chunks (name, generation, n, data) VALUES (?, ?, ?, ?)", name, info.Generation, n, data)
			return err
		}}
		gz, _ := gzip.NewWriterLevel(cw, gzip.BestSpeed)
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(gz, h), r)
		if err != nil {
			return err
		}
		if err := gz.Close(); err != nil {
			return err
		}
		if err := cw.close(); err != nil {
			return err
		}
		info.Size, info.SHA256, info.Chunks = n, hex.EncodeToString(h.Sum(nil)), cw.n
		if _, err := q.ExecContext(ctx, "INSERT INTO shared_blobs (name, generation, sha256, size, chunks, encoding, meta, replica, created_at) VALUES (?, ?, ?, ?, ?, 'gzip', ?, ?, ?)",
			name, info.Generation, info.SHA256, info.Size, info.Chunks, meta, replica, Millis(info.CreatedAt)); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, "DELETE FROM shared_blob_chunks WHERE name = ? AND generation < ?", name, info.Generation-1); err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, "DELETE FROM shared_blobs WHERE name = ? AND generation < ?", name, info.Generation-1)
		return err
	})
	if err != nil {
		return BlobInfo{}, fmt.Errorf("publish shared %s: %w", name, err)
	}
	return info, nil
}

// chunkWriter cuts what is written into rows of BlobChunk bytes.
type chunkWriter struct {
	buf   bytes.Buffer
	n     int
	flush func(n int, data []byte) error
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	for w.buf.Len() >= BlobChunk {
		if err := w.flush(w.n, w.buf.Next(BlobChunk)); err != nil {
			return 0, err
		}
		w.n++
	}
	return len(p), nil
}

func (w *chunkWriter) close() error {
	if w.buf.Len() == 0 && w.n > 0 {
		return nil
	}
	if err := w.flush(w.n, w.buf.Bytes()); err != nil {
		return err
	}
	w.n++
	return nil
}

// ReadBlob writes the content of the generation info to w, checked
// against its size and SHA-256. ErrBlobGone: it was pruned meanwhile.
func (s *Store) ReadBlob(ctx context.Context, info BlobInfo, w io.Writer) error {
	cr := &chunkReader{ctx: ctx, s: s, info: info}
	gz, err := gzip.NewReader(cr)
	if err != nil {
		return fmt.Errorf("read shared %s generation %d: %w", info.Name, info.Generation, errors.Join(ErrBlobGone, err))
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), gz)
	if err != nil {
		return fmt.Errorf("read shared %s generation %d: %w", info.Name, info.Generation, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != info.Size || got != info.SHA256 {
		return fmt.Errorf("read shared %s generation %d: got %d bytes sha256:%s, want %d sha256:%s: %w", info.Name, info.Generation, n, got, info.Size, info.SHA256, ErrBlobGone)
	}
	return nil
}

// chunkReader reads a generation's chunks in order, one row at a time.
type chunkReader struct {
	ctx  context.Context
	s    *Store
	info BlobInfo
	next int
	cur  []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.next >= r.info.Chunks {
			return 0, io.EOF
		}
		var data []byte
		err := r.s.Read().QueryRowContext(r.ctx, "SELECT data FROM shared_blob_chunks WHERE name = ? AND generation = ? AND n = ?", r.info.Name, r.info.Generation, r.next).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("chunk %d: %w", r.next, ErrBlobGone)
		}
		if err != nil {
			return 0, fmt.Errorf("chunk %d: %w", r.next, err)
		}
		r.cur, r.next = data, r.next+1
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}
