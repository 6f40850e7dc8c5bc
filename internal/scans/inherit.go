package scans

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/topology"
)

// A running container inherits its image's findings without a rescan: it
// adopts (Adopt) the latest complete scan of its image node, matched and
// ranked with the container's own exposure, when that scan completes and
// when the container appears. A container scanned itself keeps its own
// scan (the live filesystem is the better evidence). Registry images are
// the registries module's (registries.link); this is the image a sensor
// scanned on its host.

// KindInherit is the scans.inherit job kind.
const KindInherit = "scans.inherit"

type inheritPayload struct {
	// ScanIDs are complete scans of image nodes; Containers appeared.
	ScanIDs    []string `json:"scanIds,omitempty"`
	Containers []string `json:"containers,omitempty"`
}

// imageContainers is the topology's list of the live containers of an
// image node.
type imageContainers interface {
	ContainersOf(imageID string) []string
}

// InheritKind is the scans.inherit job kind.
func (s *Service) InheritKind() jobs.Kind {
	return jobs.Kind{Name: KindInherit, MaxAttempts: 3, Timeout: 30 * time.Minute, Work: func(ctx context.Context, j jobs.Job) error {
		var p inheritPayload
		if err := j.Decode(&p); err != nil {
			return jobs.Permanent(err)
		}
		n, err := s.Inherit(ctx, p.ScanIDs, p.Containers)
		if n > 0 {
			s.log.Info("running containers inherited their image's scan", "scans", n)
		}
		return err
	}}
}

// InheritConsumer turns completed image scans and new containers into
// scans.inherit jobs.
func (s *Service) InheritConsumer() events.Consumer {
	return events.Consumer{Name: "scans.inherit", Types: []string{EventFinished, topology.EventNodesAppeared}, Gather: topology.GatherAppeared,
		Handle: func(ctx context.Context, evs []events.Event) error {
			var p inheritPayload
			for _, e := range evs {
				switch e.Type {
				case EventFinished:
					var f ScanFinished
					if err := e.Decode(&f); err != nil {
						s.log.Warn("scans.inherit: undecodable event skipped", "seq", e.Seq, "err", err)
						continue
					}
					if f.Target.Kind == KindImage && f.Target.NodeID != "" && f.Status == StatusComplete && (f.Type == "" || f.Type == TypeVulnerability) {
						p.ScanIDs = append(p.ScanIDs, f.ScanID)
					}
				case topology.EventNodesAppeared:
					var a topology.NodesAppeared
					if err := e.Decode(&a); err != nil {
						s.log.Warn("scans.inherit: undecodable event skipped", "seq", e.Seq, "err", err)
						continue
					}
					for _, n := range a.Nodes {
						if n.Kind == KindContainer {
							p.Containers = append(p.Containers, n.ID)
						}
					}
				}
			}
			if len(p.ScanIDs) == 0 && len(p.Containers) == 0 {
				return events.Skip
			}
			_, _, err := s.jobs.Insert(ctx, KindInherit, p, jobs.InsertOpts{})
			return err
		}}
}

// Inherit gives live containers their image node's latest complete scan:
// the containers of the images of scanIDs (when that scan is still its
// image's latest), and the containers among containers. It returns how
// many scans it made.
func (s *Service) Inherit(ctx context.Context, scanIDs, containers []string) (int, error) {
	ic, ok := s.topo.(imageContainers)
	if s.topo == nil || !ok {
		return 0, nil
	}
	groups := map[string][]string{} // source scan → containers
	for _, id := range scanIDs {
		sc, err := s.Queue.Get(ctx, id)
		if err != nil {
			return 0, err
		}
		if sc.Status != StatusComplete || sc.Type != TypeVulnerability || sc.Target.Kind != KindImage || sc.NodeID == "" {
			continue
		}
		if latest, err := s.latestComplete(ctx, sc.targetKey); err != nil {
			return 0, err
		} else if latest != id {
			continue // a later scan of the image replaced it
		}
		groups[id] = append(groups[id], ic.ContainersOf(sc.NodeID)...)
	}
	if len(containers) > 0 {
		byImage := map[string][]string{}
		for id, ni := range s.topo.Lookup(containers...) {
			if ni.Kind == KindContainer && ni.Image != "" && !ni.Gone {
				byImage[ni.Image] = append(byImage[ni.Image], id)
			}
		}
		for img, cs := range byImage {
			from, err := s.latestComplete(ctx, targetKey(Target{NodeID: img, Kind: KindImage}))
			if err != nil {
				return 0, err
			}
			if from != "" {
				groups[from] = append(groups[from], cs...)
			}
		}
	}
	made := 0
	var errs []error
	for from, cs := range groups {
		slices.Sort(cs)
		var ts []Target
		for _, c := range slices.Compact(cs) {
			st, err := s.topo.ScanTarget(c)
			if err != nil {
				continue // no live sensor reports it any more
			}
			ts = append(ts, Target{NodeID: st.NodeID, SensorID: st.SensorID, Kind: st.Kind, Ref: st.Ref})
		}
		got, err := s.Adopt(ctx, from, ts)
		made += len(got)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return made, errors.Join(errs...)
}

// latestComplete is the id of the latest complete scan of a target key
// ("" when it has none).
func (s *Service) latestComplete(ctx context.Context, key string) (string, error) {
	var id string
	err := s.st.Read().QueryRowContext(ctx, `SELECT id FROM scans WHERE target_key = ? AND latest = 1 AND status = ?`, key, StatusComplete).Scan(&id)
	if errors.Is(err, errNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("latest scan of %s: %w", key, err)
	}
	return id, nil
}
