package topology

import (
	"fmt"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/report"
)

// TestImageUsesCached: ImageUses answers from its cache while only
// processes change (they churn with every report), and anew when a
// container changes.
func TestImageUsesCached(t *testing.T) {
	tp := newMemTopology()
	rep := func(n int, image string) *report.Report {
		r := &report.Report{Version: report.Version, SensorID: "s1", RunID: "r1", Seq: uint64(n), Kind: report.KindFull, IntervalSeconds: 10, Time: time.Unix(2e9, 0).UTC(),
			Host:       &report.Host{Hostname: "web-1", Arch: "amd64"},
			Containers: []report.Container{{ID: fmt.Sprintf("%064d", 1), Runtime: "docker", Name: "/app", Image: "app:1", ImageID: image, State: "running"}},
		}
		for p := range 3 {
			r.Processes = append(r.Processes, report.Process{PID: 100 + p + n, StartTicks: uint64(n + 1), Name: fmt.Sprintf("w%d-%d", p, n), Exe: "/usr/bin/w"})
		}
		return r
	}
	imgA, imgB := "sha256:"+fmt.Sprintf("%064x", 0xa), "sha256:"+fmt.Sprintf("%064x", 0xb)
	ingestMem(t, tp, rep(1, imgA))
	container := func(us []ImageUse) ImageUse {
		for _, u := range us {
			if u.Kind == KindContainer {
				return u
			}
		}
		t.Fatalf("no container among %+v", us)
		return ImageUse{}
	}
	u1 := tp.ImageUses()
	if c := container(u1); len(c.Digests) == 0 || c.Digests[0] != imgA {
		t.Fatalf("uses %+v, want the container with %s", u1, imgA)
	}
	ingestMem(t, tp, rep(2, imgA)) // new processes, same container
	if u2 := tp.ImageUses(); len(u2) != len(u1) || &u2[0] != &u1[0] {
		t.Errorf("processes changed and ImageUses computed its answer again (%p, %p)", u2, u1)
	}
	ingestMem(t, tp, rep(3, imgB)) // the container now runs another image
	if u3 := container(tp.ImageUses()); u3.Digests[0] != imgB {
		t.Errorf("after the container's image changed: %+v, want %s", u3, imgB)
	}
}
