package scans

import (
	"net/http"
	"time"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

// Rate is a token bucket: Burst requests at once, one more every Every.
type Rate struct {
	Burst int
	Every time.Duration
}

// SensorLimits are the per-sensor rate limits of the sensor scan routes
// (429 with Retry-After beyond them), keyed on the authenticated sensor
// and checked before the body is read.
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

// SensorLimits are the module's per-sensor route limits, which the
// console checks against the authenticated sensor before the handler reads
// the body (console.SensorLimits).
func (s *Service) SensorLimits() []console.RouteLimit {
	return []console.RouteLimit{
		{Method: http.MethodPost, Pattern: sensorproto.PathPoll, Buckets: s.limits.poll, What: "poll commands"},
		{Method: http.MethodPost, Pattern: sensorproto.PathScanStatus, Buckets: s.limits.status, What: "scan status"},
		{Method: http.MethodPut, Pattern: sensorproto.PathInventory, Buckets: s.limits.inventory, What: "upload inventory"},
		// Results share the inventory's bucket: each scan uploads one or
		// the other.
		{Method: http.MethodPut, Pattern: sensorproto.PathResults, Buckets: s.limits.inventory, What: "upload results"},
	}
}
