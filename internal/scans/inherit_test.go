package scans

import (
	"context"
	"testing"

	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/risk"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/topology"
)

// lookupExposure is the topology as findings see it: exposure and lookup.
type lookupExposure struct {
	*staticExposure
	topo *fakeTopology
}

func (l *lookupExposure) Lookup(ids ...string) map[string]topology.NodeInfo {
	return l.topo.Lookup(ids...)
}

// A running container inherits its image's findings, ranked with its own
// exposure, when the image's scan completes and when the container
// appears; a later image scan replaces them; a container scanned itself
// keeps its own findings; a gone container inherits nothing.
func TestInherit(t *testing.T) {
	urllib3Fixed := urllib3New
	urllib3Fixed.Version, urllib3Fixed.PURL = "99.0.0", "pkg:pypi/urllib3@99.0.0"
	forEachBackend(t, func(t *testing.T, st *store.Store, clk *clock) {
		ctx := context.Background()
		ex := &staticExposure{m: map[string]risk.Exposure{}}
		le := &lookupExposure{staticExposure: ex}
		s := newService(t, st, clk, le, true)
		topo := s.topo.(*fakeTopology)
		le.topo = topo
		addNode(t, s, "i1", KindImage, "sha256:1111", "acme/web:1", "s1")
		container := func(id, name string, gone bool) {
			topo.add(topology.NodeInfo{ID: id, Kind: KindContainer, Key: id + "-key", Label: name, SensorID: "s1", Image: "i1", Gone: gone})
		}
		container("c1", "web-1", false)
		container("c2", "web-2", false)
		container("c9", "web-old", true)
		// web-1 listens on the network with the vulnerable library loaded;
		// the image itself runs nowhere as far as its own exposure goes.
		ex.set("c1", risk.Exposure{Known: true, Processes: []risk.Process{{PID: 1, Name: "python3",
			LoadedFiles: []string{"/usr/lib/python3.11/site-packages/urllib3-1.26.0.dist-info/METADATA"},
			Listening:   []risk.Endpoint{{Proto: "tcp", Addr: "0.0.0.0", Port: 80}}}}})
		ex.set("i1", risk.Exposure{NotDeployed: true})
		// web-2 was scanned itself, before.
		own := runScan(t, s, Target{NodeID: "c2", SensorID: "s1", Kind: KindContainer, Ref: "c2-key"}, testInventory(xtext))

		img := runScan(t, s, Target{NodeID: "i1", SensorID: "s1", Kind: KindImage, Ref: "sha256:1111"}, testInventory(urllib3Old))
		if n, err := s.Inherit(ctx, []string{img.ID}, nil); err != nil || n != 1 {
			t.Fatalf("inherit after the image scan made %d scans (want web-1's only): %v", n, err)
		}
		nodeFindings := func(node string) []findings.NodeFinding {
			t.Helper()
			fs, _, err := s.findings.Findings(ctx, findings.Filter{NodeID: node, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			return fs
		}
		onImage, onC1 := nodeFindings("i1"), nodeFindings("c1")
		if len(onImage) == 0 || len(onC1) != len(onImage) {
			t.Fatalf("web-1 inherited %d findings of the image's %d", len(onC1), len(onImage))
		}
		if onC1[0].Risk.Score <= onImage[0].Risk.Score {
			t.Errorf("the running container's finding scores %v, not above the idle image's %v", onC1[0].Risk.Score, onImage[0].Risk.Score)
		}
		if got := nodeFindings("c2"); len(got) == 0 || got[0].ScanID != own.ID {
			t.Errorf("web-2 lost its own scan's findings: %+v", got)
		}
		if got := nodeFindings("c9"); len(got) != 0 {
			t.Errorf("a gone container inherited: %+v", got)
		}
		// By image: the image's findings with its containers'; the worst is
		// the running, listening container's.
		byImage, _, err := s.findings.Groups(ctx, findings.GroupByImage, findings.Filter{}, 10)
		if err != nil || len(byImage) != 1 {
			t.Fatalf("by image: %+v %v", byImage, err)
		}
		if g := byImage[0]; g.Key != "i1" || g.Label != "acme/web:1" || g.Nodes != 3 ||
			g.Findings != len(onImage)+len(onC1)+len(nodeFindings("c2")) || g.Top.NodeID != "c1" || g.MaxScore != onC1[0].Risk.Score {
			t.Errorf("by image: %+v", g)
		}

		// Again: nothing new to adopt.
		if n, err := s.Inherit(ctx, []string{img.ID}, []string{"c1"}); err != nil || n != 0 {
			t.Errorf("inherit again made %d scans: %v", n, err)
		}

		// A container that appears later inherits the image's latest scan.
		container("c3", "web-3", false)
		if n, err := s.Inherit(ctx, nil, []string{"c3"}); err != nil || n != 1 {
			t.Fatalf("inherit for a new container made %d scans: %v", n, err)
		}
		if len(nodeFindings("c3")) != len(onImage) {
			t.Errorf("web-3 inherited %d findings", len(nodeFindings("c3")))
		}

		// The image, upgraded past every known vulnerability and scanned again: its containers follow, and
		// the older scan is not adopted again.
		img2 := runScan(t, s, Target{NodeID: "i1", SensorID: "s1", Kind: KindImage, Ref: "sha256:1111"}, testInventory(urllib3Fixed))
		if n, err := s.Inherit(ctx, []string{img.ID, img2.ID}, nil); err != nil || n != 2 {
			t.Fatalf("inherit after the second image scan made %d scans (want web-1 and web-3): %v", n, err)
		}
		for _, c := range []string{"c1", "c3"} {
			if got := nodeFindings(c); len(got) != 0 {
				t.Errorf("%s keeps %d findings the upgraded image no longer has: %v (image: %v)", c, len(got), ids(got), ids(nodeFindings("i1")))
			}
		}
	})
}
