package scanner

import (
	"sync"
	"testing"

	"github.com/riskmap/riskmap/internal/testenv"
)

func TestProgressEvents(t *testing.T) {
	var mu sync.Mutex
	var events []Event
	target := "docker-archive:" + testenv.DockerArchive(t, testenv.RootfsMinbase)
	inv := scan(t, target, Options{Progress: func(e Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}})
	if len(events) < 3 {
		t.Fatalf("%d events, want resolve, read and done at least", len(events))
	}
	if events[0].Stage != StageResolve {
		t.Errorf("first event %+v, want %s", events[0], StageResolve)
	}
	last := events[len(events)-1]
	if last.Stage != StageDone || last.Done != int64(len(inv.Packages)) {
		t.Errorf("last event %+v, want %s with %d packages", last, StageDone, len(inv.Packages))
	}
	var read, extract int
	var prev int64
	for _, e := range events {
		switch e.Stage {
		case StageRead:
			read++
			if e.Done < prev || e.Total <= 0 || e.Done > e.Total {
				t.Errorf("read event %+v after %d bytes", e, prev)
			}
			prev = e.Done
		case StageExtract:
			extract++
		}
	}
	if read == 0 || extract == 0 {
		t.Errorf("read events %d, extract events %d; want both", read, extract)
	}
}
