package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/testenv"
)

func openPG(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestSharedBlobs: generations larger than a chunk (incompressible) read
// back as published; the latest two are kept, an older one reads as
// ErrBlobGone.
func TestSharedBlobs(t *testing.T) {
	s := openPG(t, testenv.PostgresURL(t))
	ctx := context.Background()
	if _, ok, err := s.LatestBlob(ctx, "x"); ok || err != nil {
		t.Fatalf("latest of nothing: %v %v", ok, err)
	}
	var gens [][]byte
	var infos []BlobInfo
	for i := range 3 {
		data := make([]byte, 2*BlobChunk+12345*i)
		rand.Read(data)
		info, err := s.PublishBlob(ctx, "x", fmt.Sprintf(`{"i":%d}`, i), "test", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if info.Generation != int64(i+1) || info.Size != int64(len(data)) || info.Chunks != 3 {
			t.Fatalf("generation %d: %+v", i+1, info)
		}
		gens, infos = append(gens, data), append(infos, info)
	}
	latest, ok, err := s.LatestBlob(ctx, "x")
	if err != nil || !ok || latest.Generation != 3 || latest.Meta != `{"i":2}` || latest.SHA256 != infos[2].SHA256 {
		t.Fatalf("latest: %+v %v %v", latest, ok, err)
	}
	for _, i := range []int{1, 2} {
		var got bytes.Buffer
		if err := s.ReadBlob(ctx, infos[i], &got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), gens[i]) {
			t.Fatalf("generation %d read back differs", i+1)
		}
	}
	if err := s.ReadBlob(ctx, infos[0], io.Discard); !errors.Is(err, ErrBlobGone) {
		t.Fatalf("pruned generation 1: %v, want ErrBlobGone", err)
	}
	// A damaged chunk is refused.
	if _, err := s.Read().ExecContext(ctx, "UPDATE shared_blob_chunks SET data = ? WHERE name = 'x' AND generation = 3 AND n = 1", make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if err := s.ReadBlob(ctx, infos[2], io.Discard); err == nil {
		t.Fatal("damaged generation read without error")
	}
}

// dirCopy is a Replicated over one file, content.txt, of a directory.
func dirCopy(t *testing.T, s *Store, name string) (*Replicated, string) {
	dir := t.TempDir()
	file := filepath.Join(dir, "content.txt")
	r := &Replicated{Store: s, Name: "test", StateFile: filepath.Join(dir, "shared.json"), Replica: name,
		Export: func(_ context.Context, w io.Writer) (string, bool, error) {
			b, err := os.ReadFile(file)
			if errors.Is(err, os.ErrNotExist) {
				return "", false, nil
			}
			_, err = w.Write(b)
			return "{}", err == nil, err
		},
		Import: func(_ context.Context, path string, _ BlobInfo) error {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(file, b, 0o644)
		}}
	return r, file
}

func read(t *testing.T, file string) string {
	t.Helper()
	b, _ := os.ReadFile(file)
	return string(b)
}

// TestReplicatedTakesWhileAnotherChanges: a replica starting while another
// runs a long change (holding the lock) takes the last published
// generation at once and is ready; the change, published, is taken next.
func TestReplicatedTakesWhileAnotherChanges(t *testing.T) {
	url := testenv.PostgresURL(t)
	ctx := context.Background()
	a, fa := dirCopy(t, openPG(t, url), "a")
	if err := a.Change(ctx, func(context.Context) (bool, error) { return true, os.WriteFile(fa, []byte("one"), 0o644) }); err != nil {
		t.Fatal(err)
	}
	inChange, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- a.Change(ctx, func(context.Context) (bool, error) {
			close(inChange)
			<-release
			return true, os.WriteFile(fa, []byte("two"), 0o644)
		})
	}()
	<-inChange
	b, fb := dirCopy(t, openPG(t, url), "b")
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.CatchUp(cctx); err != nil {
		t.Fatalf("catch up while another replica changes: %v", err)
	}
	if err := b.Ready(); err != nil || read(t, fb) != "one" {
		t.Fatalf("b: %v, content %q; want ready with one", err, read(t, fb))
	}
	// b's own change waits for a's, then starts from it.
	bDone := make(chan error)
	go func() {
		bDone <- b.Change(ctx, func(context.Context) (bool, error) {
			prev := read(t, fb)
			return true, os.WriteFile(fb, []byte(prev+"+three"), 0o644)
		})
	}()
	time.Sleep(200 * time.Millisecond)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-bDone; err != nil {
		t.Fatal(err)
	}
	if err := a.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if read(t, fa) != "two+three" || read(t, fb) != "two+three" || a.Status().Generation != 3 || b.Status().Generation != 3 {
		t.Fatalf("a %q gen %d, b %q gen %d; want two+three at 3", read(t, fa), a.Status().Generation, read(t, fb), b.Status().Generation)
	}
}
