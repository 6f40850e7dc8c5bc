package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/integrations"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/registries"
	"github.com/riskmap/riskmap/internal/reports"
	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/secrets"
)

// backbone is what the console's job kinds and event consumers are made
// of: the modules that do the work.
type backbone struct {
	cfg      config.Console
	scans    *scans.Service
	findings *findings.Service
	kb       *feeds.KB
	vault    *secrets.Vault
	integ    *integrations.Service
	regs     *registries.Service
	reports  *reports.Service
}

// wireBackbone is THE list of the console's background work: every job
// kind, every periodic schedule and every event consumer, registered in one
// place. Adding a kind, a schedule or a consumer is one line here (the
// module provides its constructor).
func wireBackbone(q *jobs.Queue, bus *events.Bus, b backbone) error {
	if err := q.Register(
		b.scans.ScanKind(scans.TypeVulnerability), // scan.vulnerability: run by sensors (an inventory, matched here)
		b.scans.ScanKind(scans.TypeSecret),        // scan.secret: run by sensors (their engine's findings)
		b.scans.ScanKind(scans.TypeMalware),       // scan.malware: run by sensors (their engine's findings)
		b.scans.ScanKind(scans.TypeCompliance),    // scan.compliance: run by sensors (no sensor runs it yet: fails at claim, naming the type)
		b.scans.AutoScanKind(),                    // scans.autoscan: new hosts and images, per the settings
		b.scans.SchedulesKind(),                   // scans.schedules: due scan schedules
		followFirst(b.kb, b.scans.RematchKind()),  // scans.rematch: latest inventories against a new knowledge base (this replica's caught up first)
		b.scans.InheritKind(),                     // scans.inherit: running containers adopt their image node's latest scan
		b.kb.UpdateKind(),                         // feeds.update
		b.kb.RebuildKind(),                        // kb.rebuild
		retentionKind(q, bus),                     // retention.prune
		b.vault.ResealKind(),                      // secrets.reseal: secrets sealed by older keys, after a rotation
		b.integ.DeliverKind(),                     // integrations.deliver: one destination's outbox, in order (one job per destination)
		b.integ.DigestKind(),                      // integrations.digest: due digest rules' messages gathered into digests
		b.integ.PruneKind(),                       // integrations.prune: old delivery history
		b.regs.SyncKind(),                         // registries.sync: one account's catalogue (unique per account)
		b.regs.SchedulesKind(),                    // registries.schedules: the syncs whose scheduled time has come
		b.regs.ScanKind(),                         // registries.scan: a registry image scanned by the console
		b.regs.LinkKind(),                         // registries.link: running containers adopt their registry image's scan
		b.reports.SchedulesKind(),                 // reports.schedules: due scheduled findings reports made and delivered
	); err != nil {
		return fmt.Errorf("job kinds: %w", err)
	}
	periodic := []jobs.Periodic{
		scans.SchedulesEvery(0),
		{Name: kindRetention, Kind: kindRetention, Cron: "@daily"},
		secrets.ResealEvery(),
		b.integ.DigestEvery(),
		integrations.PruneEvery(),
		b.regs.SchedulesEvery(),
		reports.SchedulesEvery(),
	}
	if b.cfg.FeedInterval > 0 {
		periodic = append(periodic, feeds.UpdateEvery(b.cfg.FeedInterval))
	}
	if err := q.AddPeriodic(periodic...); err != nil {
		return fmt.Errorf("periodic jobs: %w", err)
	}
	for _, c := range []events.Consumer{
		b.findings.RescoreConsumer(), // node.changed, node.gone → rescore findings
		b.scans.AutoScanConsumer(),   // node.appeared → scans.autoscan job
		b.scans.RematchConsumer(),    // feeds.updated → scans.rematch job
		b.scans.InheritConsumer(),    // scan.finished (image nodes), node.appeared (containers) → scans.inherit job
		b.integ.RouteConsumer(),      // findings.new/fixed, scan.failed, sensor.offline, node.exposed → destinations' outboxes
		b.regs.LinkConsumer(),        // scan.finished (registry images), node.appeared → registries.link job
	} {
		if err := bus.Subscribe(c); err != nil {
			return fmt.Errorf("event consumers: %w", err)
		}
	}
	return nil
}

const kindRetention = "retention.prune"

// retentionKind deletes finished jobs and delivered events past their
// retention.
func retentionKind(q *jobs.Queue, bus *events.Bus) jobs.Kind {
	return jobs.Kind{Name: kindRetention, MaxAttempts: 3, Timeout: time.Hour, Work: func(ctx context.Context, _ jobs.Job) error {
		if _, err := q.Prune(ctx); err != nil {
			return err
		}
		_, err := bus.Prune(ctx)
		return err
	}}
}

// followFirst has a job of kind k bring this replica's knowledge base up
// to the replicas' latest before it works (a rematch on feeds.updated may
// run on a replica that has not taken the new feeds yet).
func followFirst(kb *feeds.KB, k jobs.Kind) jobs.Kind {
	work := k.Work
	k.Work = func(ctx context.Context, j jobs.Job) error {
		if err := kb.Follow(ctx); err != nil {
			return fmt.Errorf("%s: take the other replicas' feeds first: %w", k.Name, err)
		}
		return work(ctx, j)
	}
	return k
}
