package scans

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/console"
)

// Rate is a token bucket: Burst requests at once, one more every Every.
type Rate struct {
	Burst int
	Every time.Duration
}

// SensorLimits are the per-sensor rate limits of the sensor scan routes
// (429 with Retry-After beyond them). A sensor is its credential's user
// and the sensor id: one API key shared by a DaemonSet's sensors still
// limits each sensor on its own.
type SensorLimits struct {
	// Poll limits POST /api/v1/sensor/commands/poll (a sensor polls every
	// 5 s).
	Poll Rate
	// Status limits POST /api/v1/sensor/scans/{id}/status (a status change
	// or heartbeat every 15 s per running scan).
	Status Rate
	// Inventory limits PUT /api/v1/sensor/scans/{id}/inventory (one per
	// finished scan).
	Inventory Rate
}

// DefaultSensorLimits are generous for a sensor working as documented and
// stop one that loops.
func DefaultSensorLimits() SensorLimits {
	return SensorLimits{Poll: Rate{Burst: 10, Every: time.Second}, Status: Rate{Burst: 30, Every: 250 * time.Millisecond},
		Inventory: Rate{Burst: 10, Every: 5 * time.Second}}
}

func (l *SensorLimits) fill() {
	d := DefaultSensorLimits()
	for _, p := range []struct{ r, d *Rate }{{&l.Poll, &d.Poll}, {&l.Status, &d.Status}, {&l.Inventory, &d.Inventory}} {
		if p.r.Burst <= 0 || p.r.Every <= 0 {
			*p.r = *p.d
		}
	}
}

// limitHuma answers 429 with Retry-After when key is over the limit.
func limitHuma(l *auth.Buckets, key, what string) error {
	ok, wait := l.Allow(key)
	if ok {
		return nil
	}
	h := http.Header{}
	console.SetRetryAfter(h, wait)
	return huma.ErrorWithHeaders(huma.Error429TooManyRequests(fmt.Sprintf("%s: this sensor is over its rate limit; retry in %ss", what, h.Get("Retry-After"))), h)
}

// limitRaw is limitHuma for raw handlers; it reports whether to go on.
func limitRaw(w http.ResponseWriter, l *auth.Buckets, key, what string) bool {
	ok, wait := l.Allow(key)
	if ok {
		return true
	}
	console.SetRetryAfter(w.Header(), wait)
	console.WriteProblem(w, http.StatusTooManyRequests, fmt.Sprintf("%s: this sensor is over its rate limit; retry in %ss", what, w.Header().Get("Retry-After")))
	return false
}

// scanSensorKey is the rate-limit key of a request about a scan: the
// caller and the sensor the scan belongs to (the caller's own id when the
// scan is unknown, so unknown ids are limited too).
func (s *Service) scanSensorKey(ctx context.Context, uid, scanID string) string {
	if sc, err := s.Queue.Get(ctx, scanID); err == nil {
		return uid + "|" + sc.SensorID
	}
	return uid + "|"
}
