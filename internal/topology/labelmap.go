package topology

import (
	"hash/maphash"
	"iter"
	"maps"
)

// labelMap is the reachability's labels by process, in shards: an update
// (reachUpdate) copies only the shards it writes, not every reached
// process's entry (a whole copy was a tenth of the console's allocations
// at 2,000 sensors). A labelMap is read-only once published in a reach.
type labelMap struct {
	shards [labelShards]map[string][]label
	// owned marks the shards this map may write: its own, not shared
	// with the map it was derived from.
	owned [labelShards / 64]uint64
	n     int
}

const labelShards = 256

var labelSeed = maphash.MakeSeed()

func labelShard(id string) int { return int(maphash.String(labelSeed, id) % labelShards) }

func (m *labelMap) get(id string) []label {
	if s := m.shards[labelShard(id)]; s != nil {
		return s[id]
	}
	return nil
}

func (m *labelMap) len() int { return m.n }

// derive returns a map equal to m that shares its shards until written.
func (m *labelMap) derive() *labelMap {
	return &labelMap{shards: m.shards, n: m.n}
}

// shard returns shard i for writing.
func (m *labelMap) shard(i int) map[string][]label {
	if m.owned[i/64]&(1<<(i%64)) == 0 {
		m.shards[i] = maps.Clone(m.shards[i])
		if m.shards[i] == nil {
			m.shards[i] = map[string][]label{}
		}
		m.owned[i/64] |= 1 << (i % 64)
	}
	return m.shards[i]
}

func (m *labelMap) set(id string, ls []label) {
	s := m.shard(labelShard(id))
	if _, ok := s[id]; !ok {
		m.n++
	}
	s[id] = ls
}

func (m *labelMap) del(id string) {
	i := labelShard(id)
	if _, ok := m.shards[i][id]; !ok {
		return
	}
	delete(m.shard(i), id)
	m.n--
}

// all yields every process and its labels, in no order.
func (m *labelMap) all() iter.Seq2[string, []label] {
	return func(yield func(string, []label) bool) {
		for _, s := range m.shards {
			for id, ls := range s {
				if !yield(id, ls) {
					return
				}
			}
		}
	}
}
