package registries

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/topology"
)

// Registry images meet the topology by digest. A container's image is
// known to the topology by its image id (the config digest, which Docker
// reports) and its repo digests (the manifest's or the index's digest it
// was pulled by; containerd's image names carry them): a use matches the
// registry image with that digest or config digest, or, known only by an
// index's digest, the index's image for the host's architecture.
//
// A running container adopts the scan of its registry image (scans.Adopt):
// the registries.link job gives it a scan with the image's inventory,
// whose findings are ranked with the container's exposure, when the
// image's scan completes and when the container appears.

// usesMatch caches the match of the topology's uses to registry images.
type usesMatch struct {
	mu    sync.Mutex
	at    time.Time
	key   *topology.ImageUse
	n     int
	byUse map[string]string // use node id → registry image digest
}

// matchUses maps each use to the registry image it runs (uses matching
// none are absent).
func (s *Service) matchUses(ctx context.Context, uses []topology.ImageUse) (map[string]string, error) {
	out := map[string]string{}
	var all []string
	for _, u := range uses {
		all = append(all, u.Digests...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	images := map[string]*manifest{}  // by digest and by config digest: images
	indexes := map[string]*manifest{} // by digest
	for i := 0; i < len(all); i += 300 {
		part := anys(all[i:min(i+300, len(all))])
		ph := placeholders(len(part))
		rows, err := s.st.Read().QueryContext(ctx, `SELECT digest, kind, config_digest, platform, children FROM registry_images
			WHERE digest IN (`+ph+`) OR config_digest IN (`+ph+`)`, append(part, part...)...)
		if err != nil {
			return nil, fmt.Errorf("match running images: %w", err)
		}
		for rows.Next() {
			m := &manifest{}
			var children string
			if err := rows.Scan(&m.digest, &m.kind, &m.configDigest, &m.platform, &children); err != nil {
				rows.Close()
				return nil, fmt.Errorf("match running images: %w", err)
			}
			switch m.kind {
			case imageKindImage:
				images[m.digest] = m
				if m.configDigest != "" {
					if o := images[m.configDigest]; o == nil || o.digest > m.digest {
						images[m.configDigest] = m
					}
				}
			case imageKindIndex:
				_ = jsonUnmarshal(children, &m.children)
				indexes[m.digest] = m
			}
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("match running images: %w", err)
		}
	}
	var needChildren []string
	for _, m := range indexes {
		needChildren = append(needChildren, m.children...)
	}
	children, err := s.knownManifests(ctx, needChildren)
	if err != nil {
		return nil, err
	}
	for _, u := range uses {
		for _, d := range u.Digests {
			if m := images[d]; m != nil {
				out[u.NodeID] = m.digest
				break
			}
		}
		if _, ok := out[u.NodeID]; ok {
			continue
		}
		arch := u.Arch
		if arch == "" {
			arch = "amd64"
		}
		for _, d := range u.Digests {
			idx := indexes[d]
			if idx == nil {
				continue
			}
			for _, c := range idx.children {
				cm := children[c]
				if cm == nil || cm.kind != imageKindImage {
					continue
				}
				if p := strings.Split(cm.platform, "/"); len(p) >= 2 && p[0] == "linux" && p[1] == arch {
					out[u.NodeID] = cm.digest
					break
				}
			}
			if _, ok := out[u.NodeID]; ok {
				break
			}
		}
	}
	return out, nil
}

// running returns the topology's uses and, for each registry image
// digest, the uses that run it (cached for a few seconds).
func (s *Service) running(ctx context.Context) (map[string][]RegistryImageUse, error) {
	if s.topo == nil {
		return map[string][]RegistryImageUse{}, nil
	}
	uses := s.topo.ImageUses()
	var key *topology.ImageUse
	if len(uses) > 0 {
		key = &uses[0]
	}
	s.uses.mu.Lock()
	defer s.uses.mu.Unlock()
	if s.uses.byUse == nil || s.uses.key != key || s.uses.n != len(uses) || s.now().Sub(s.uses.at) > 5*time.Second {
		m, err := s.matchUses(ctx, uses)
		if err != nil {
			return nil, err
		}
		s.uses.byUse, s.uses.key, s.uses.n, s.uses.at = m, key, len(uses), s.now()
	}
	out := map[string][]RegistryImageUse{}
	for _, u := range uses {
		if d, ok := s.uses.byUse[u.NodeID]; ok {
			out[d] = append(out[d], RegistryImageUse{NodeID: u.NodeID, Kind: u.Kind, Label: u.Label, HostID: u.HostID, Host: u.Host})
		}
	}
	return out, nil
}

type linkPayload struct {
	// ScanIDs are complete scans of registry images; Nodes containers or
	// images that appeared.
	ScanIDs []string `json:"scanIds,omitempty"`
	Nodes   []string `json:"nodes,omitempty"`
}

// LinkKind is the registries.link job kind: the running containers (and
// the images on hosts) of registry images adopt their images' scans.
func (s *Service) LinkKind() jobs.Kind {
	return jobs.Kind{Name: KindLink, MaxAttempts: 3, Timeout: 30 * time.Minute, Work: func(ctx context.Context, j jobs.Job) error {
		var p linkPayload
		if err := j.Decode(&p); err != nil {
			return jobs.Permanent(err)
		}
		n, err := s.Link(ctx, p.ScanIDs, p.Nodes)
		if n > 0 {
			s.log.Info("running containers adopted their registry image's scan", "scans", n)
		}
		return err
	}}
}

// LinkConsumer turns completed registry image scans and new containers
// and images into registries.link jobs.
func (s *Service) LinkConsumer() events.Consumer {
	return events.Consumer{Name: "registries.link", Types: []string{scans.EventFinished, topology.EventNodesAppeared}, Gather: topology.GatherAppeared,
		Handle: func(ctx context.Context, evs []events.Event) error {
			var p linkPayload
			for _, e := range evs {
				switch e.Type {
				case scans.EventFinished:
					var f scans.ScanFinished
					if err := e.Decode(&f); err != nil {
						s.log.Warn("registries.link: undecodable event skipped", "seq", e.Seq, "err", err)
						continue
					}
					if f.Target.Kind == scans.KindRegistry && f.Status == scans.StatusComplete && (f.Type == "" || f.Type == scans.TypeVulnerability) {
						p.ScanIDs = append(p.ScanIDs, f.ScanID)
					}
				case topology.EventNodesAppeared:
					var a topology.NodesAppeared
					if err := e.Decode(&a); err != nil {
						s.log.Warn("registries.link: undecodable event skipped", "seq", e.Seq, "err", err)
						continue
					}
					for _, n := range a.Nodes {
						if n.Kind == topology.KindContainer || n.Kind == topology.KindImage {
							p.Nodes = append(p.Nodes, n.ID)
						}
					}
				}
			}
			if len(p.ScanIDs) == 0 && len(p.Nodes) == 0 {
				return events.Skip
			}
			_, _, err := s.jobs.Insert(ctx, KindLink, p, jobs.InsertOpts{})
			return err
		}}
}

// Link gives the uses of registry images their images' complete scans:
// the uses of the images of scanIDs, and the uses among nodes. It returns
// how many scans it made.
func (s *Service) Link(ctx context.Context, scanIDs, nodes []string) (int, error) {
	if s.topo == nil || (len(scanIDs) == 0 && len(nodes) == 0) {
		return 0, nil
	}
	// New containers appear all the time in a large estate; with no
	// registry image catalogued there is nothing to link them to, and the
	// uses (every container and image of the graph) are not gathered.
	var one int
	switch err := s.st.Read().QueryRowContext(ctx, `SELECT 1 FROM registry_images LIMIT 1`).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("link registry images: %w", err)
	}
	uses := s.topo.ImageUses()
	byUse, err := s.matchUses(ctx, uses)
	if err != nil {
		return 0, err
	}
	wantNode := map[string]bool{}
	for _, n := range nodes {
		wantNode[n] = true
	}
	wantDigest := map[string]bool{}
	if len(scanIDs) > 0 {
		for _, u := range uses {
			if d, ok := byUse[u.NodeID]; ok {
				wantDigest[d] = false
			}
		}
	}
	// The digests of the scans given (any image of those digests counts).
	var ds []string
	for d := range wantDigest {
		ds = append(ds, d)
	}
	for u := range wantNode {
		if d, ok := byUse[u]; ok {
			ds = append(ds, d)
		}
	}
	slices.Sort(ds)
	ds = slices.Compact(ds)
	have, err := s.scans.DigestScans(ctx, ds)
	if err != nil {
		return 0, err
	}
	scanned := map[string]bool{}
	for _, id := range scanIDs {
		scanned[id] = true
	}
	for d, h := range have {
		if h.Complete != nil && scanned[h.Complete.ID] {
			wantDigest[d] = true
		}
	}
	groups := map[string][]scans.Target{} // source scan → targets
	var errs []error
	for _, u := range uses {
		d, ok := byUse[u.NodeID]
		if !ok || !(wantNode[u.NodeID] || wantDigest[d]) {
			continue
		}
		h, ok := have[d]
		if !ok || h.Complete == nil {
			continue
		}
		st, err := s.topo.ScanTarget(u.NodeID)
		if err != nil {
			continue // no live sensor reports it any more
		}
		groups[h.Complete.ID] = append(groups[h.Complete.ID], scans.Target{NodeID: st.NodeID, SensorID: st.SensorID, Kind: st.Kind, Ref: st.Ref})
	}
	made := 0
	for from, ts := range groups {
		got, err := s.scans.Adopt(ctx, from, ts)
		made += len(got)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return made, errors.Join(errs...)
}
