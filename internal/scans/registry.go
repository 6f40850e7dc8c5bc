package scans

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/store"
)

// Registry images: scans the console runs itself (ConsoleKind), scans by
// digest (DigestScans) and findings adopted by the running containers of
// an image (Adopt). The registries module owns the registry catalogue and
// decides what to scan; the scans stay here, so findings, SBOM and report
// downloads, diffs and rematches work for them as for any scan.

var refDigest = regexp.MustCompile(`^[^\s@]+@(sha256:[0-9a-f]{64})$`)

// RefDigest is the digest of a reference by digest
// (HOST/REPOSITORY@sha256:...), or "".
func RefDigest(ref string) string {
	if len(ref) > 1000 {
		return ""
	}
	m := refDigest.FindStringSubmatch(ref)
	if m == nil {
		return ""
	}
	return m[1]
}

// DigestKey is the target key of the scans of a registry image: its
// digest, whichever repository, tag or scanner named it.
func DigestKey(digest string) string { return "registry:" + digest }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ConsoleRun builds the inventory of a scan's target on the console (a
// registry image: its layers streamed from the registry). An error that
// retrying cannot mend is jobs.Permanent.
type ConsoleRun func(ctx context.Context, sc Scan) (*inventory.Inventory, error)

// ConsoleKind is a job kind of scans the console runs itself (the
// registries module's registries.scan): each job is a scan queued by
// StartImageScans for a target without a sensor; run builds its
// inventory, which is stored and matched like a sensor's upload, and the
// scan's row, findings and events follow the job as for
// scan.vulnerability (same attempts, backoff and queue timeout).
// concurrency bounds the scans one console runs at once.
func (s *Service) ConsoleKind(name string, concurrency int, run ConsoleRun) jobs.Kind {
	c := s.Queue.cfg
	return jobs.Kind{Name: name, Concurrency: max(concurrency, 1), MaxAttempts: c.MaxAttempts, QueueTimeout: c.QueueTimeout,
		Lease: time.Minute, Timeout: time.Hour, OnState: s.Queue.onState, Backoff: s.Queue.backoff,
		Work: func(ctx context.Context, j jobs.Job) error {
			sc, err := s.Queue.Get(ctx, j.ID)
			if err != nil {
				return jobs.Permanent(err)
			}
			inv, err := run(ctx, sc)
			if err != nil {
				return err
			}
			if len(inv.Packages) > sensorproto.MaxPackages {
				return jobs.Permanent(fmt.Errorf("%w: %d packages, more than %d", sensorproto.ErrTooLarge, len(inv.Packages), sensorproto.MaxPackages))
			}
			gz, err := sensorproto.EncodeInventory(inv)
			if err != nil {
				return jobs.Permanent(err)
			}
			rows, uncovered, err := s.findings.Match(ctx, sc.origin(), inv)
			if err != nil {
				return err
			}
			if _, err := s.storeInventory(ctx, sc, gz, rows, uncovered, len(inv.Packages)); err != nil {
				return err
			}
			return nil
		}}
}

// StartImageScans queues scans of registry images (targets of
// KindRegistry): by the console as jobs of consoleKind when a target has
// no sensor, else by that sensor. A digest with a scan queued or running
// gets that scan back. audit, when set, records the request in the
// transaction that queues the scans (it is given those it queued).
func (s *Service) StartImageScans(ctx context.Context, consoleKind string, targets []Target, by string,
	audit func(ctx context.Context, tx store.Querier, queued []QueuedScan) error) ([]Scan, error) {
	if consoleKind == "" {
		return nil, errors.New("start image scans: no console job kind")
	}
	for _, t := range targets {
		if t.Kind != KindRegistry {
			return nil, fmt.Errorf("%w: target kind %q: image scans are of registry images", ErrInvalid, t.Kind)
		}
	}
	return s.Queue.enqueue(ctx, TypeVulnerability, "", targets, by, "", consoleKind, audit)
}

// DigestScans are the scans of one registry image.
type DigestScans struct {
	// Latest is the latest scan, whatever its status; Complete the latest
	// complete one (nil when none completed).
	Latest   Scan  `json:"latest"`
	Complete *Scan `json:"complete,omitempty"`
}

// DigestScans returns the scans of the registry images of digests, by
// digest; an image never scanned is absent.
func (s *Service) DigestScans(ctx context.Context, digests []string) (map[string]DigestScans, error) {
	out := map[string]DigestScans{}
	for i := 0; i < len(digests); i += 400 {
		part := digests[i:min(i+400, len(digests))]
		args := make([]any, len(part))
		for k, d := range part {
			args[k] = DigestKey(d)
		}
		rows, err := s.st.Read().QueryContext(ctx, `SELECT `+scanCols+` FROM scans WHERE target_key IN (`+
			strings.TrimSuffix(strings.Repeat("?, ", len(part)), ", ")+`) ORDER BY id`, args...)
		if err != nil {
			return nil, fmt.Errorf("scans of registry images: %w", err)
		}
		for rows.Next() {
			sc, err := scanRow(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("scans of registry images: %w", err)
			}
			d := strings.TrimPrefix(sc.targetKey, "registry:")
			ds := out[d]
			ds.Latest = sc
			if sc.Status == StatusComplete {
				c := sc
				ds.Complete = &c
			}
			out[d] = ds
		}
		err = rows.Close()
		if err != nil {
			return nil, fmt.Errorf("scans of registry images: %w", err)
		}
	}
	return out, nil
}

// Adopt gives each target (a running container, or an image on a host)
// the findings of from, a complete scan of its image (a registry image, or
// the image node a sensor scanned on its host), without
// scanning it: a complete scan of the target whose inventory is from's,
// matched and ranked with the target's own exposure, SourceScan naming
// from. It is the target's latest scan, so its findings are current,
// rescored when the topology changes and matched again when the feeds
// change, like any scan's. A target whose latest complete scan was run on
// the target itself keeps it (the live filesystem is the better
// evidence), as does one that adopted from already. It returns the scans
// it made.
func (s *Service) Adopt(ctx context.Context, from string, targets []Target) ([]Scan, error) {
	src, err := s.Queue.Get(ctx, from)
	if err != nil {
		return nil, err
	}
	if src.Status != StatusComplete || src.inventoryID == "" {
		return nil, fmt.Errorf("%w: scan %s is %s without an inventory to adopt", ErrConflict, from, src.Status)
	}
	var inv *inventory.Inventory
	var made []Scan
	var errs []error
	for _, t := range targets {
		if err := ctx.Err(); err != nil {
			return made, err
		}
		if t.Kind == KindRegistry {
			errs = append(errs, fmt.Errorf("%w: a registry image does not adopt another's scan", ErrInvalid))
			continue
		}
		if err := validTarget(t, false); err != nil {
			errs = append(errs, err)
			continue
		}
		key := targetKey(t)
		var source string
		err := s.st.Read().QueryRowContext(ctx, `SELECT source_scan FROM scans WHERE target_key = ? AND latest = 1`, key).Scan(&source)
		switch {
		case errors.Is(err, errNoRows):
		case err != nil:
			errs = append(errs, fmt.Errorf("adopt scan %s for %s: %w", from, key, err))
			continue
		case source == "" || source == from:
			continue
		}
		if inv == nil {
			var body []byte
			if err := s.st.Read().QueryRowContext(ctx, `SELECT body FROM inventories WHERE id = ?`, src.inventoryID).Scan(&body); err != nil {
				return made, fmt.Errorf("adopt scan %s: inventory: %w", from, err)
			}
			if inv, err = sensorproto.DecodeInventory(bytes.NewReader(body)); err != nil {
				return made, fmt.Errorf("adopt scan %s: inventory: %w", from, err)
			}
		}
		sc, ok, err := s.adoptOne(ctx, src, t, key, inv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			made = append(made, sc)
		}
	}
	return made, errors.Join(errs...)
}

func (s *Service) adoptOne(ctx context.Context, src Scan, t Target, key string, inv *inventory.Inventory) (Scan, bool, error) {
	now := s.now()
	id := store.NewID(now)
	sc := Scan{ID: id, NodeID: t.NodeID, SensorID: t.SensorID, Target: t, targetKey: key}
	rows, uncovered, err := s.findings.Match(ctx, sc.origin(), inv)
	if err != nil {
		return sc, false, err
	}
	what, by := "registry image "+src.Target.Ref, "registry image "+RefDigest(src.Target.Ref)
	if src.Target.Kind == KindImage {
		what = "image " + src.Target.Ref
		by = what
	}
	msg := fmt.Sprintf("findings of %s (scan %s), not scanned again", what, src.ID)
	err = events.Tx(ctx, s.st, s.now, func(ctx context.Context, tx store.Querier) error {
		// The source's state, checked in the transaction: it may have been
		// replaced meanwhile.
		var source string
		err := tx.QueryRowContext(ctx, `SELECT source_scan FROM scans WHERE target_key = ? AND latest = 1`, key).Scan(&source)
		if err == nil && (source == "" || source == src.ID) {
			return errSkip
		}
		if err != nil && !errors.Is(err, errNoRows) {
			return err
		}
		at := store.Millis(now)
		if _, err := tx.ExecContext(ctx, `INSERT INTO scans (id, node_ref, target_kind, target_ref, status, message, progress, requested_by, created_at,
			sensor_id, target_key, max_attempts, run_at, started_at, finished_at, inventory_id, finding_count, source_scan, uncovered)
			VALUES (?, ?, ?, ?, 'complete', ?, 100, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?)`,
			id, t.NodeID, t.Kind, t.Ref, msg, by, at, t.SensorID, key, at, at, at,
			src.inventoryID, len(rows), src.ID, encodeUncovered(uncovered)); err != nil {
			return fmt.Errorf("adopt scan %s for %s: %w", src.ID, key, err)
		}
		o := findings.Origin{ScanID: id, Target: t, Key: key}
		if err := s.findings.ReplaceTx(ctx, tx, o, rows, findings.StatePending); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE scans SET latest = CASE WHEN id = ? THEN 1 ELSE 0 END WHERE target_key = ? AND (latest = 1 OR id = ?)`,
			id, key, id); err != nil {
			return fmt.Errorf("adopt scan %s for %s: %w", src.ID, key, err)
		}
		if err := s.findings.CommitTx(ctx, tx, o); err != nil {
			return err
		}
		return events.Emit(ctx, tx, now, ScanFinished{ScanID: id, Status: StatusComplete, Message: msg, Target: t, Findings: len(rows)})
	})
	if errors.Is(err, errSkip) {
		return sc, false, nil
	}
	if err != nil {
		return sc, false, err
	}
	s.log.Info("image findings adopted", "scan", id, "from", src.ID, "target", key, "findings", len(rows))
	sc, err = s.Queue.Get(ctx, id)
	return sc, err == nil, err
}

var errSkip = errors.New("skip")
