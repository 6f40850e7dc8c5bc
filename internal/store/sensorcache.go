package store

import (
	"context"
	"sync"
	"time"
)

// Every sensor request is authenticated against its sensor's row (revoked?
// which key generation?), which was a database read per report. The rows
// change only when a sensor's key is rotated or the sensor is revoked, so
// AuthSensor keeps them in memory, but only while every change is heard:
//
//   - on SQLite, one console process owns the database and the changes are
//     made through this Store, which drops the row it changed after commit;
//   - on PostgreSQL, other replicas change rows too: the changing
//     transaction sends NOTIFY riskmap_sensors with the sensor's id, and
//     WatchSensors listens on a connection of its own. Rows are cached only
//     while that listener is connected; when it is lost the cache is emptied
//     and every request reads the database again until it is back.
//
// A read that began before a change and ends after the change was heard is
// not cached (gen), so a revocation is never undone by a slow reader.

// sensorChannel is the NOTIFY channel of changed sensor rows.
const sensorChannel = "riskmap_sensors"

// sensorCacheTTL bounds how long a row is trusted without a change heard
// (a safety net: changes are heard, not waited for).
const sensorCacheTTL = 5 * time.Minute

// sensorCacheMax bounds the cached rows (the fleet's size, times a margin).
const sensorCacheMax = 100_000

type sensorCache struct {
	mu   sync.Mutex
	live bool   // changes are heard (SQLite: always; PostgreSQL: while listening)
	gen  uint64 // bumped by every change heard
	rows map[string]cachedSensor
	// hits and reads count lookups answered from memory and from the
	// database (tests, diagnosis).
	hits, reads int64
}

type cachedSensor struct {
	x  Sensor
	at time.Time
}

// AuthSensor is SensorByID for authenticating a sensor's request, from
// memory when the row's changes are heard (see above).
func (s *Store) AuthSensor(ctx context.Context, id string) (Sensor, error) {
	c := &s.sensors
	now := s.now()
	c.mu.Lock()
	if e, ok := c.rows[id]; ok && c.live && now.Sub(e.at) < sensorCacheTTL && !now.Before(e.at) {
		c.hits++
		c.mu.Unlock()
		return e.x, nil
	}
	gen, live := c.gen, c.live
	c.reads++
	c.mu.Unlock()
	x, err := s.SensorByID(ctx, id)
	if err != nil || !live {
		return x, err
	}
	c.mu.Lock()
	if c.live && c.gen == gen {
		if c.rows == nil || len(c.rows) >= sensorCacheMax {
			c.rows = map[string]cachedSensor{}
		}
		c.rows[id] = cachedSensor{x: x, at: now}
	}
	c.mu.Unlock()
	return x, nil
}

// SensorCacheStats returns how many AuthSensor lookups were answered from
// memory and how many read the database.
func (s *Store) SensorCacheStats() (hits, reads int64) {
	s.sensors.mu.Lock()
	defer s.sensors.mu.Unlock()
	return s.sensors.hits, s.sensors.reads
}

// sensorChanged drops a changed sensor's row ("" drops them all).
func (c *sensorCache) changed(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if id == "" {
		clear(c.rows)
		return
	}
	delete(c.rows, id)
}

// setLive turns caching on or off, emptying the cache either way.
func (c *sensorCache) setLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.live = live
	clear(c.rows)
}

// notifySensorChanged tells the other replicas, when tx commits, that a
// sensor's row changed (PostgreSQL; nothing to tell on SQLite).
func (s *Store) notifySensorChanged(ctx context.Context, q Querier, id string) error {
	if s.dialect != Postgres {
		return nil
	}
	_, err := q.ExecContext(ctx, "SELECT pg_notify(?, ?)", sensorChannel, id)
	return err
}

// WatchSensors hears the other replicas' changes of sensor rows until ctx
// ends, so that AuthSensor may answer from memory (PostgreSQL; on SQLite it
// returns at once, the cache being live from Open).
func (s *Store) WatchSensors(ctx context.Context) {
	if s.dialect != Postgres {
		return
	}
	defer s.sensors.setLive(false)
	_ = s.listen(ctx, sensorChannel, listener{
		up:     func() { s.sensors.setLive(true) },
		notify: s.sensors.changed,
		down:   func() { s.sensors.setLive(false) },
	})
}
