package topology

import (
	"fmt"
	"testing"
)

// TestLabelMapCopyOnWrite checks that a derived label map shares what it
// does not write and never changes the map it came from.
func TestLabelMapCopyOnWrite(t *testing.T) {
	a := &labelMap{}
	for i := range 2000 {
		a.set(fmt.Sprint("p", i), []label{{entry: fmt.Sprint("e", i)}})
	}
	b := a.derive()
	b.set("p1", []label{{entry: "changed"}})
	b.del("p2")
	b.set("new", []label{{entry: "x"}})
	b.del("absent")
	if got := a.get("p1")[0].entry; got != "e1" {
		t.Fatalf("the original's p1 became %q", got)
	}
	if a.get("p2") == nil || a.get("new") != nil || a.len() != 2000 {
		t.Fatalf("the original changed: p2 %v, new %v, %d entries", a.get("p2"), a.get("new"), a.len())
	}
	if b.get("p1")[0].entry != "changed" || b.get("p2") != nil || b.get("new") == nil || b.len() != 2000 {
		t.Fatalf("the derived map: p1 %v, p2 %v, new %v, %d entries", b.get("p1"), b.get("p2"), b.get("new"), b.len())
	}
	n, shared := 0, 0
	for id, ls := range b.all() {
		n++
		if id != "p1" && id != "new" && len(ls) != 1 {
			t.Fatalf("%s: %v", id, ls)
		}
	}
	for i := range b.shards {
		if b.shards[i] != nil && fmt.Sprintf("%p", b.shards[i]) == fmt.Sprintf("%p", a.shards[i]) {
			shared++
		}
	}
	if n != 2000 || shared < labelShards-3 {
		t.Fatalf("all() yielded %d entries; %d of %d shards shared, want all but the 3 written", n, shared, labelShards)
	}
}
