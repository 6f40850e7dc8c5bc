package scans

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/topology"
	"github.com/riskmap/riskmap/internal/vulndb/kbtest"
)

// clock is the tests' settable clock.
type clock = testenv.Clock

func forEachBackend(t *testing.T, fn func(t *testing.T, st *store.Store, clk *clock)) {
	t.Helper()
	for _, b := range testenv.Backends {
		t.Run(b.Name, func(t *testing.T) {
			clk := testenv.NewClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
			st, err := store.Open(context.Background(), store.Config{URL: b.URL(t), Now: clk.Now})
			if err != nil {
				t.Fatalf("open store: %v", err)
			}
			t.Cleanup(func() { st.Close() })
			fn(t, st, clk)
		})
	}
}

// fakeTopology answers the scans module's questions from nodes the test
// adds, the way internal/topology answers them from its graph.
type fakeTopology struct {
	mu    sync.Mutex
	nodes map[string]topology.NodeInfo
}

func (f *fakeTopology) add(n topology.NodeInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nodes == nil {
		f.nodes = map[string]topology.NodeInfo{}
	}
	f.nodes[n.ID] = n
}

func target(n topology.NodeInfo) (topology.ScanTarget, error) {
	st := topology.ScanTarget{NodeID: n.ID, Kind: n.Kind, Ref: n.Key, SensorID: n.SensorID}
	if n.ScanRef != "" {
		st.Ref = n.ScanRef
	}
	switch n.Kind {
	case KindHost, KindContainer:
		if st.SensorID == "" {
			return st, fmt.Errorf("%w: node %s has no sensor", topology.ErrNotScannable, n.ID)
		}
	case KindImage:
		if len(n.Sensors) == 0 {
			return st, fmt.Errorf("%w: no live sensor holds image %s", topology.ErrNotScannable, n.ID)
		}
		st.SensorID = n.Sensors[0]
	default:
		return st, fmt.Errorf("%w: node %s is a %s", topology.ErrNotScannable, n.ID, n.Kind)
	}
	return st, nil
}

func (f *fakeTopology) ScanTarget(id string) (topology.ScanTarget, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nodes[id]
	if !ok {
		return topology.ScanTarget{}, fmt.Errorf("node %q: %w", id, topology.ErrNodeNotFound)
	}
	return target(n)
}

func (f *fakeTopology) ScanTargets(flt topology.TargetFilter) ([]topology.ScanTarget, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []topology.ScanTarget
	for _, n := range f.nodes {
		if n.Kind != flt.Kind || (flt.NameContains != "" && !strings.Contains(strings.ToLower(n.Label), strings.ToLower(flt.NameContains))) {
			continue
		}
		if flt.SensorID != "" && n.SensorID != flt.SensorID && !slices.Contains(n.Sensors, flt.SensorID) {
			continue
		}
		if st, err := target(n); err == nil {
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b topology.ScanTarget) int { return strings.Compare(a.NodeID, b.NodeID) })
	return out, nil
}

func (f *fakeTopology) Lookup(ids ...string) map[string]topology.NodeInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]topology.NodeInfo{}
	for _, id := range ids {
		if n, ok := f.nodes[id]; ok {
			out[id] = n
		}
	}
	return out
}

// ContainersOf is the topology's live containers of an image.
func (f *fakeTopology) ContainersOf(image string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, n := range f.nodes {
		if n.Kind == KindContainer && n.Image == image && !n.Gone {
			out = append(out, n.ID)
		}
	}
	slices.Sort(out)
	return out
}

// addNode adds a topology node as a sensor would report it.
func addNode(t *testing.T, s *Service, id, kind, key, name, sensor string) {
	t.Helper()
	n := topology.NodeInfo{ID: id, Kind: kind, Key: key, Label: name, SensorID: sensor}
	if kind == KindImage {
		n.SensorID, n.Sensors = "", []string{sensor}
	}
	s.topo.(*fakeTopology).add(n)
}

// newService builds the scans module as the console does, on a fake
// topology: the job system (not running: sensors drive scan jobs, the test
// drives the rescuer), the findings module with the shared feeds'
// knowledge base when withKB, and ex as the topology's exposure answer.
func newService(t testing.TB, st *store.Store, clk *clock, ex findings.ExposureSource, withKB bool) *Service {
	t.Helper()
	var kb findings.KnowledgeBase
	if withKB {
		k := feeds.NewKB(feeds.New(feeds.Config{DataDir: kbtest.SharedDataDir(t)}), feeds.KBConfig{Now: clk.Now})
		if k.DB() == nil {
			t.Fatal("no knowledge base")
		}
		kb = k
	}
	q := jobs.New(st, jobs.Config{Now: clk.Now})
	fnd := findings.New(findings.Config{Store: st, KB: kb, Exposure: ex, Now: clk.Now})
	s := NewService(ServiceConfig{Store: st, Jobs: q, Findings: fnd, Topology: &fakeTopology{}, Now: clk.Now,
		Queue: QueueConfig{Lease: 60 * time.Second, MaxAttempts: 3, RetryBase: 30 * time.Second, QueueTimeout: time.Hour, CancelGrace: time.Minute}})
	q.MustRegister(s.VulnerabilityKind(), s.AutoScanKind(), s.SchedulesKind(), s.RematchKind())
	return s
}
