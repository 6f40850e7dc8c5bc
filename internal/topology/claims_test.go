package topology

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestClaimSetActsAsASet: a claim set answers as a map of the same
// additions and removals would, through one sensor, several and back.
func TestClaimSetActsAsASet(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	ids := []string{"s1", "s2", "s3", "s4"}
	var c claimSet
	want := map[string]struct{}{}
	for step := range 2000 {
		id := ids[rnd.IntN(len(ids))]
		if rnd.IntN(2) == 0 {
			c.add(id)
			want[id] = struct{}{}
		} else {
			c.del(id)
			delete(want, id)
		}
		got := slices.Sorted(c.all())
		if !slices.Equal(got, slices.Sorted(maps.Keys(want))) || c.len() != len(want) {
			t.Fatalf("step %d: set %v (len %d), want %v", step, got, c.len(), slices.Sorted(maps.Keys(want)))
		}
		for _, x := range ids {
			if _, ok := want[x]; c.has(x) != ok {
				t.Fatalf("step %d: has(%s) = %v", step, x, c.has(x))
			}
		}
		if len(want) <= 1 && c.many != nil {
			t.Fatalf("step %d: a map kept for %d sensors", step, len(want))
		}
	}
}
