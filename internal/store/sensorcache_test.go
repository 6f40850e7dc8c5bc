package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/store"
)

// enrol enrols a sensor in u's organisation with a fresh enrolment token.
func enrol(t *testing.T, s *store.Store, u store.User, host string) store.Sensor {
	t.Helper()
	ctx := context.Background()
	tokHash := []byte("enrolment-" + host)
	if _, err := s.CreateEnrolmentToken(ctx, store.EnrolmentToken{OrgID: u.OrgID, Name: host, Prefix: "rme_x", ExpiresAt: time.Now().Add(time.Hour * 24 * 365),
		CreatedBy: u.Email}, tokHash); err != nil {
		t.Fatalf("CreateEnrolmentToken: %v", err)
	}
	x, _, err := s.EnrolSensor(ctx, tokHash, store.Sensor{Hostname: host}, []byte("key-"+host))
	if err != nil {
		t.Fatalf("EnrolSensor: %v", err)
	}
	return x
}

// authSensor is AuthSensor that fails the test on an error, returning
// whether the database was read.
func authSensor(t *testing.T, s *store.Store, id string) (store.Sensor, bool) {
	t.Helper()
	_, r0 := s.SensorCacheStats()
	x, err := s.AuthSensor(context.Background(), id)
	if err != nil {
		t.Fatalf("AuthSensor: %v", err)
	}
	_, r1 := s.SensorCacheStats()
	return x, r1 > r0
}

// TestAuthSensorCache: the sensor rows requests are authenticated against
// are read once and then answered from memory, and a rotation or a
// revocation is seen at the next request. On PostgreSQL the rows are
// cached only while the store hears the other replicas' changes
// (WatchSensors), and a change made by another replica's store reaches it.
func TestAuthSensorCache(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store, clk *clock, url string) {
		ctx := context.Background()
		u := register(t, s)
		x := enrol(t, s, u, "web-1")
		if s.Dialect() == store.Postgres {
			// Not watching: every request reads the row.
			for range 2 {
				if _, read := authSensor(t, s, x.ID); !read {
					t.Fatal("PostgreSQL without WatchSensors answered from memory: another replica's revocation would go unseen")
				}
			}
			wctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); s.WatchSensors(wctx) }()
			t.Cleanup(func() { cancel(); <-done })
			waitCached(t, s, x.ID)
		} else if _, read := authSensor(t, s, x.ID); !read {
			t.Fatal("the first request was answered without reading the row")
		}
		if _, read := authSensor(t, s, x.ID); read {
			t.Fatal("the row was read again; want it from memory")
		}
		if _, read := authSensor(t, s, x.ID); read {
			t.Fatal("the row was read a third time")
		}
		if _, err := s.RotateSensorKey(ctx, x.ID, []byte("key-2"), "rms_y", time.Minute); err != nil {
			t.Fatalf("RotateSensorKey: %v", err)
		}
		got, read := authSensor(t, s, x.ID)
		if !read || got.KeyGen != x.KeyGen+1 {
			t.Fatalf("after a rotation: key generation %d (read %v), want %d read from the database", got.KeyGen, read, x.KeyGen+1)
		}
		if _, err := s.RevokeSensor(ctx, x.ID, "admin@example.com"); err != nil {
			t.Fatalf("RevokeSensor: %v", err)
		}
		if got, _ := authSensor(t, s, x.ID); got.RevokedAt == nil {
			t.Fatal("after a revocation AuthSensor answered the row from before it")
		}
		// Past the TTL the row is read again even if no change was heard.
		authSensor(t, s, x.ID)
		clk.Advance(6 * time.Minute)
		if _, read := authSensor(t, s, x.ID); !read {
			t.Fatal("a row cached 6 minutes ago was trusted without a read")
		}

		if s.Dialect() != store.Postgres {
			return
		}
		// Another replica (its own store on the same database) revokes a
		// sensor this one has cached: the NOTIFY reaches this store.
		y := enrol(t, s, u, "web-2")
		waitCached(t, s, y.ID)
		other, err := store.Open(ctx, store.Config{URL: url, Now: clk.Now})
		if err != nil {
			t.Fatalf("Open the other replica's store: %v", err)
		}
		defer other.Close()
		if _, err := other.RevokeSensor(ctx, y.ID, "admin@example.com"); err != nil {
			t.Fatalf("RevokeSensor on the other replica: %v", err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			got, _ := authSensor(t, s, y.ID)
			if got.RevokedAt != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("another replica's revocation was not seen within 5 s")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// waitCached reads id until the next read is answered from memory (the
// listener is up).
func waitCached(t *testing.T, s *store.Store, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		authSensor(t, s, id)
		if _, read := authSensor(t, s, id); !read {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the sensor row was never answered from memory (WatchSensors not listening?)")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTouchSensors: the console's gathered requests are written in one
// call, each sensor's time and address, and an older time than the one
// stored does not replace it.
func TestTouchSensors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store, clk *clock, url string) {
		ctx := context.Background()
		u := register(t, s)
		a, b := enrol(t, s, u, "web-1"), enrol(t, s, u, "web-2")
		at := time.Now().Add(time.Hour).Truncate(time.Millisecond)
		if err := s.TouchSensors(ctx, []store.SensorTouch{{ID: a.ID, Addr: "192.0.2.1", At: at}, {ID: b.ID, Addr: "192.0.2.2", At: at.Add(time.Second)}}); err != nil {
			t.Fatalf("TouchSensors: %v", err)
		}
		if err := s.TouchSensors(ctx, []store.SensorTouch{{ID: a.ID, Addr: "192.0.2.9", At: at.Add(-time.Minute)}, {ID: "no-such-sensor", At: at}}); err != nil {
			t.Fatalf("TouchSensors with an older time and an unknown sensor: %v", err)
		}
		for _, want := range []struct {
			id, addr string
			at       time.Time
		}{{a.ID, "192.0.2.1", at}, {b.ID, "192.0.2.2", at.Add(time.Second)}} {
			x, err := s.SensorByID(ctx, want.id)
			if err != nil {
				t.Fatalf("SensorByID: %v", err)
			}
			if x.LastSeen == nil || !x.LastSeen.Equal(want.at) || x.LastAddr != want.addr {
				t.Errorf("sensor %s: last seen %v from %q, want %v from %q", x.Hostname, x.LastSeen, x.LastAddr, want.at, want.addr)
			}
		}
	})
}
