package topology_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/topology"
)

// TestImageUses: the digests by which the registries module finds where
// an image runs: a Docker container's image id and its image's repo
// digests; a containerd container's image (known by name) through the
// image listed under that name with its target digest; images on the
// host; the host's label and architecture. Gone containers are left out.
func TestImageUses(t *testing.T) {
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	e := startConsole(t, t.TempDir(), "", clk, topology.Config{SensorBurst: 100, GoneAfter: 5 * time.Minute})
	e.register()
	const (
		cfg = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
		idx = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
		tgt = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
	)
	r := &report.Report{Version: report.Version, SensorID: "node-1", RunID: "run-i", Seq: 1, Kind: report.KindFull, Time: time.Now().UTC(),
		Host: &report.Host{Hostname: "node-1", Arch: "arm64"},
		Containers: []report.Container{
			{ID: "d0d0d0d0d0d0d0d0", Runtime: "docker", Name: "/web", Image: "registry.example/team/web:1", ImageID: cfg, State: "running"},
			{ID: "c0c0c0c0c0c0c0c0", Runtime: "containerd", Namespace: "k8s.io", Name: "api", Image: "docker.io/library/nginx:1", State: "running"},
		},
		Images: []report.Image{
			{ID: cfg, Runtime: "docker", RepoTags: []string{"registry.example/team/web:1"}, RepoDigests: []string{"registry.example/team/web@" + idx}},
			{ID: tgt, Runtime: "containerd", Namespace: "k8s.io", RepoTags: []string{"docker.io/library/nginx:1", "docker.io/library/nginx@" + tgt}},
		},
	}
	push(t, e.sensorClient(), r)
	uses := e.topo.ImageUses()
	got := map[string][]string{}
	for _, u := range uses {
		got[u.Kind+" "+u.Label] = u.Digests
		if u.Host != "node-1" || u.Arch != "arm64" || u.HostID == "" {
			t.Errorf("%s %s: host %q (%s), arch %q", u.Kind, u.Label, u.Host, u.HostID, u.Arch)
		}
	}
	want := map[string][]string{
		"container web":                     {cfg, idx},
		"container api":                     {tgt},
		"image registry.example/team/web:1": {cfg, idx},
		"image docker.io/library/nginx:1":   {tgt},
	}
	for k := range want {
		slices.Sort(want[k])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("image uses (-want +got):\n%s", diff)
	}
	// The sensor falls silent: its containers and images are gone.
	clk.Advance(6 * time.Minute)
	if err := e.topo.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	if uses := e.topo.ImageUses(); len(uses) != 0 {
		t.Errorf("uses of a silent sensor: %+v", uses)
	}
}
