package feeds

import (
	"context"
	"time"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/store"
)

// Job kinds of the feeds module.
const (
	// KindUpdate downloads what changed in the feeds and reloads the
	// knowledge base (periodic; one at a time).
	KindUpdate = "feeds.update"
	// KindRebuild compiles the stored feeds into the knowledge base again
	// (after an upgrade changed its schema).
	KindRebuild = "kb.rebuild"
)

// EventUpdated is the type of FeedsUpdated.
const EventUpdated = "feeds.updated"

// FeedsUpdated says a new knowledge base was loaded.
type FeedsUpdated struct {
	Op      string    `json:"op"` // update, import, rebuild
	Vulns   int       `json:"vulnerabilities"`
	BuiltAt time.Time `json:"builtAt"`
}

func (FeedsUpdated) EventType() string { return EventUpdated }
func (FeedsUpdated) EventKey() string  { return "feeds" }

// UpdateKind is the feeds.update job kind.
func (k *KB) UpdateKind() jobs.Kind {
	return jobs.Kind{Name: KindUpdate, MaxAttempts: 3, Lease: 2 * time.Minute, Timeout: 2 * time.Hour,
		Backoff: jobs.DefaultBackoff(time.Minute, 30*time.Minute),
		Work: func(ctx context.Context, j jobs.Job) error {
			// Audited as the system's change (via job) when it updated a
			// source or rebuilt the knowledge base.
			return k.update(ctx, func(_ context.Context, action, target string, before, after any) store.AuditEntry {
				return console.JobAudit(KindUpdate+" "+j.ID, action, target, before, after)
			}, false)
		}}
}

// RebuildKind is the kb.rebuild job kind.
func (k *KB) RebuildKind() jobs.Kind {
	return jobs.Kind{Name: KindRebuild, MaxAttempts: 3, Lease: 2 * time.Minute, Timeout: time.Hour,
		Work: func(ctx context.Context, _ jobs.Job) error { return k.Rebuild(ctx) }}
}

// UpdateEvery is the periodic feed update (interval > 0).
func UpdateEvery(interval time.Duration) jobs.Periodic {
	return jobs.Periodic{Name: KindUpdate, Kind: KindUpdate, Every: interval}
}

// UpdateUniqueKey is the unique key of the periodic update's jobs: an
// update asked for now with it waits for, or joins, a running one.
const UpdateUniqueKey = "periodic:" + KindUpdate
