package scans

import (
	"context"
	"time"
)

// RunConfig sets the background work's pace.
type RunConfig struct {
	// ReapEvery is how often leases are checked (default a third of the
	// lease, between 1 s and 15 s); the first
	// check runs at start, so scans a killed console left running are
	// driven on once their lease has passed.
	ReapEvery time.Duration
	// ScheduleEvery is how often due schedules are looked for (default 30 s).
	ScheduleEvery time.Duration
	// FeedInterval is the knowledge base refresh period (0: no scheduled
	// updates; air-gapped sites upload instead).
	FeedInterval time.Duration
}

// Run does the module's background work until ctx ends: the lease reaper,
// scheduled scans and feed updates. Risk is not swept: it is recomputed
// on events (inventory arrival, TopologyChanged, knowledge base change).
func (s *Service) Run(ctx context.Context, rc RunConfig) {
	if rc.ReapEvery <= 0 {
		rc.ReapEvery = min(max(s.Queue.cfg.Lease/3, time.Second), 15*time.Second)
	}
	if rc.ScheduleEvery <= 0 {
		rc.ScheduleEvery = 30 * time.Second
	}
	if s.KB != nil {
		go s.KB.Run(ctx, rc.FeedInterval)
	}
	reap := time.NewTicker(rc.ReapEvery)
	defer reap.Stop()
	sched := time.NewTicker(rc.ScheduleEvery)
	defer sched.Stop()
	s.reap(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-reap.C:
			s.reap(ctx)
		case <-sched.C:
			if n, err := s.RunDueSchedules(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("scheduled scans", "err", err)
			} else if n > 0 {
				s.log.Info("scheduled scans queued", "scans", n)
			}
		}
	}
}

func (s *Service) reap(ctx context.Context) {
	if _, err := s.Queue.Reap(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("reap scans", "err", err)
	}
}
