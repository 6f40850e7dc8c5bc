package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"reflect"
	"sort"
)

// DefaultFullEvery is how often, in reports, a full report is sent even
// when the console has not asked for one.
const DefaultFullEvery = 20

// Tracker turns the sensor's current picture into full and delta reports.
// Deltas are computed against what the console acknowledged: after a failed
// send the next report is full, so a lost or rejected report never leaves
// the console with a gap. A Tracker is not safe for concurrent use.
type Tracker struct {
	fullEvery int
	seq       uint64
	acked     uint64
	sinceFull int
	needFull  bool
	state     *hashes
	// early is how many reports early the first periodic full report
	// comes (Stagger).
	early int
}

type hashes struct {
	host uint64
	sets map[string]map[string]uint64
}

// NewTracker returns a tracker sending a full report every fullEvery
// reports (DefaultFullEvery when fullEvery <= 0).
func NewTracker(fullEvery int) *Tracker {
	if fullEvery <= 0 {
		fullEvery = DefaultFullEvery
	}
	return &Tracker{fullEvery: fullEvery, needFull: true}
}

// Stagger makes the first periodic full report come early reports early
// (0 <= early < the tracker's fullEvery), and every later one fullEvery
// reports after it. Sensors started together (a fleet's rollout) that
// stagger by a random amount spread their periodic full reports over
// fullEvery intervals, instead of sending them all in the same one.
func (t *Tracker) Stagger(early int) {
	t.early = max(0, min(early, t.fullEvery-1))
}

// RequestFull makes the next report full (the console asked, or the sensor
// reconnected).
func (t *Tracker) RequestFull() { t.needFull = true }

// Failed records that the last report was not acknowledged.
func (t *Tracker) Failed() { t.needFull = true }

// Next numbers a report built from cur, the sensor's whole current picture
// (cur.Kind is ignored), and returns it as a full report or a delta. cur is
// not modified; the returned report shares items with it.
func (t *Tracker) Next(cur *Report) *Report {
	t.seq++
	out := *cur
	out.Version = Version
	out.Seq = t.seq
	out.Removed = nil
	out.BaseSeq = 0
	if t.needFull || t.state == nil || t.sinceFull+1 >= t.fullEvery {
		out.Kind = KindFull
		return &out
	}
	out.Kind = KindDelta
	out.BaseSeq = t.acked
	st := t.state
	rm := &Removed{}
	if cur.Host != nil && hashOf(cur.Host) == st.host {
		out.Host = nil
	}
	out.Processes, rm.Processes = deltaOf(cur.Processes, (*Process).Key, st.sets["processes"])
	out.Connections, rm.Connections = deltaOf(cur.Connections, (*Connection).Key, st.sets["connections"])
	out.Containers, rm.Containers = deltaOf(cur.Containers, (*Container).Key, st.sets["containers"])
	out.Images, rm.Images = deltaOf(cur.Images, (*Image).Key, st.sets["images"])
	var k Kubernetes
	if cur.Kubernetes != nil {
		k = *cur.Kubernetes
	}
	k.Pods, rm.Pods = deltaOf(k.Pods, (*Pod).Key, st.sets["pods"])
	k.Namespaces, rm.Namespaces = deltaOf(k.Namespaces, (*Namespace).Key, st.sets["namespaces"])
	k.Services, rm.Services = deltaOf(k.Services, (*Service).Key, st.sets["services"])
	k.Nodes, rm.Nodes = deltaOf(k.Nodes, (*Node).Key, st.sets["nodes"])
	if cur.Kubernetes != nil {
		out.Kubernetes = &k
	}
	if !rm.empty() {
		out.Removed = rm
	}
	return &out
}

// Ack records that the console accepted sent (as returned by Next and
// possibly trimmed by Marshal): later deltas are relative to it.
func (t *Tracker) Ack(sent *Report) {
	if sent.Kind == KindFull || t.state == nil {
		t.state = &hashes{sets: map[string]map[string]uint64{}}
		t.sinceFull, t.early = t.early, 0
		t.needFull = false
	} else {
		t.sinceFull++
	}
	st := t.state
	if sent.Host != nil {
		st.host = hashOf(sent.Host)
	}
	commit(st, "processes", sent.Processes, (*Process).Key)
	commit(st, "connections", sent.Connections, (*Connection).Key)
	commit(st, "containers", sent.Containers, (*Container).Key)
	commit(st, "images", sent.Images, (*Image).Key)
	if k := sent.Kubernetes; k != nil {
		commit(st, "pods", k.Pods, (*Pod).Key)
		commit(st, "namespaces", k.Namespaces, (*Namespace).Key)
		commit(st, "services", k.Services, (*Service).Key)
		commit(st, "nodes", k.Nodes, (*Node).Key)
	}
	if rm := sent.Removed; rm != nil {
		for name, keys := range map[string][]string{"processes": rm.Processes, "connections": rm.Connections,
			"containers": rm.Containers, "images": rm.Images, "pods": rm.Pods, "namespaces": rm.Namespaces,
			"services": rm.Services, "nodes": rm.Nodes} {
			for _, key := range keys {
				delete(st.sets[name], key)
			}
		}
	}
	t.acked = sent.Seq
}

func hashOf(v any) uint64 {
	b, _ := json.Marshal(v)
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

func deltaOf[T any](cur []T, key func(*T) string, acked map[string]uint64) (changed []T, removed []string) {
	seen := make(map[string]struct{}, len(cur))
	for i := range cur {
		k := key(&cur[i])
		seen[k] = struct{}{}
		if h, ok := acked[k]; !ok || h != hashOf(&cur[i]) {
			changed = append(changed, cur[i])
		}
	}
	for k := range acked {
		if _, ok := seen[k]; !ok {
			removed = append(removed, k)
		}
	}
	sort.Strings(removed)
	return changed, removed
}

func commit[T any](st *hashes, name string, items []T, key func(*T) string) {
	m := st.sets[name]
	if m == nil {
		m = map[string]uint64{}
		st.sets[name] = m
	}
	for i := range items {
		m[key(&items[i])] = hashOf(&items[i])
	}
}

// ErrNeedFull is returned by Snapshot.Apply when a delta does not apply to
// the snapshot (another run, or a base the snapshot does not hold); the
// console answers with fullReportRequested.
var ErrNeedFull = errors.New("full report needed")

// Snapshot is what one sensor currently reports, rebuilt from its full and
// delta reports (the console's view of one sensor).
type Snapshot struct {
	SensorID string
	RunID    string
	Seq      uint64
	Report   Report // Kind full, collections keyed below
	procs    keyed[Process]
	conns    keyed[Connection]
	ctrs     keyed[Container]
	imgs     keyed[Image]
	pods     keyed[Pod]
	nss      keyed[Namespace]
	svcs     keyed[Service]
	nodes    keyed[Node]
}

// keyed is one collection of a snapshot by key: its values in a slice,
// kept in key order between reports (a delta usually changes values, not
// which keys there are), so that Full neither sorts nor copies.
type keyed[T any] struct {
	at     map[string]int // key → index in vals and keys
	vals   []T
	keys   []string
	sorted bool // vals and keys are in key order
}

func (k *keyed[T]) put(items []T, key func(*T) string) {
	if k.at == nil {
		k.at = make(map[string]int, len(items))
	}
	for i := range items {
		id := key(&items[i])
		if j, ok := k.at[id]; ok {
			k.vals[j] = items[i]
			continue
		}
		k.at[id] = len(k.vals)
		k.vals = append(k.vals, items[i])
		k.keys = append(k.keys, id)
		k.sorted = false
	}
}

func (k *keyed[T]) del(keys []string) {
	for _, id := range keys {
		j, ok := k.at[id]
		if !ok {
			continue
		}
		last := len(k.vals) - 1
		k.vals[j], k.keys[j] = k.vals[last], k.keys[last]
		k.at[k.keys[j]] = j
		var zero T
		k.vals[last] = zero
		k.vals, k.keys = k.vals[:last], k.keys[:last]
		delete(k.at, id)
		k.sorted = false
	}
}

func (k *keyed[T]) len() int { return len(k.vals) }

// byKey sorts a keyed's values and keys together, by key.
type byKey[T any] struct{ k *keyed[T] }

func (b byKey[T]) Len() int           { return len(b.k.keys) }
func (b byKey[T]) Less(i, j int) bool { return b.k.keys[i] < b.k.keys[j] }
func (b byKey[T]) Swap(i, j int) {
	b.k.keys[i], b.k.keys[j] = b.k.keys[j], b.k.keys[i]
	b.k.vals[i], b.k.vals[j] = b.k.vals[j], b.k.vals[i]
}

// inOrder returns the values in key order (nil when empty). The slice is
// the snapshot's own: read it before the next Apply, and do not change it.
func (k *keyed[T]) inOrder() []T {
	if len(k.vals) == 0 {
		return nil
	}
	if !k.sorted {
		sort.Sort(byKey[T]{k}) // in place: the arrays' room stays for the next put
		for i, id := range k.keys {
			k.at[id] = i
		}
		k.sorted = true
	}
	return k.vals[:len(k.vals):len(k.vals)]
}

// Apply applies a validated report to the snapshot.
func (s *Snapshot) Apply(r *Report) error {
	if r.Kind == KindDelta {
		if s.RunID != r.RunID || s.SensorID != r.SensorID || s.Seq != r.BaseSeq || s.procs.at == nil {
			return fmt.Errorf("apply delta seq %d on base %d (snapshot run %q seq %d): %w", r.Seq, r.BaseSeq, s.RunID, s.Seq, ErrNeedFull)
		}
	} else {
		*s = Snapshot{SensorID: r.SensorID, RunID: r.RunID}
		s.procs.at = map[string]int{} // a full report: deltas apply from now on
		s.Report.Host = nil
	}
	s.Seq = r.Seq
	meta := s.Report
	meta.Version, meta.SensorID, meta.RunID, meta.SensorVersion = r.Version, r.SensorID, r.RunID, r.SensorVersion
	meta.Seq, meta.Time, meta.IntervalSeconds, meta.Probes, meta.Truncated = r.Seq, r.Time, r.IntervalSeconds, r.Probes, r.Truncated
	if r.Host != nil {
		meta.Host = r.Host
	}
	s.Report = meta
	s.procs.put(r.Processes, (*Process).Key)
	s.conns.put(r.Connections, (*Connection).Key)
	s.ctrs.put(r.Containers, (*Container).Key)
	s.imgs.put(r.Images, (*Image).Key)
	if k := r.Kubernetes; k != nil {
		s.pods.put(k.Pods, (*Pod).Key)
		s.nss.put(k.Namespaces, (*Namespace).Key)
		s.svcs.put(k.Services, (*Service).Key)
		s.nodes.put(k.Nodes, (*Node).Key)
		if s.Report.Kubernetes == nil {
			s.Report.Kubernetes = &Kubernetes{}
		}
		s.Report.Kubernetes.ClusterID, s.Report.Kubernetes.ClusterName, s.Report.Kubernetes.NodeName = k.ClusterID, k.ClusterName, k.NodeName
	}
	if rm := r.Removed; rm != nil {
		s.procs.del(rm.Processes)
		s.conns.del(rm.Connections)
		s.ctrs.del(rm.Containers)
		s.imgs.del(rm.Images)
		s.pods.del(rm.Pods)
		s.nss.del(rm.Namespaces)
		s.svcs.del(rm.Services)
		s.nodes.del(rm.Nodes)
	}
	return nil
}

// Full returns the snapshot as one full report, collections sorted by key.
// Its collections are the snapshot's own (Full copies nothing): read them
// before the next Apply, and do not change them.
func (s *Snapshot) Full() *Report {
	r := s.Report
	r.Kind = KindFull
	r.BaseSeq, r.Removed = 0, nil
	r.Processes = s.procs.inOrder()
	r.Connections = s.conns.inOrder()
	r.Containers = s.ctrs.inOrder()
	r.Images = s.imgs.inOrder()
	if r.Kubernetes != nil || s.pods.len()+s.nss.len()+s.svcs.len()+s.nodes.len() > 0 {
		k := Kubernetes{}
		if r.Kubernetes != nil {
			k = *r.Kubernetes
		}
		k.Pods, k.Namespaces, k.Services, k.Nodes = s.pods.inOrder(), s.nss.inOrder(), s.svcs.inOrder(), s.nodes.inOrder()
		r.Kubernetes = &k
	}
	return &r
}

// Rebase returns r, a full report of the snapshot's sensor and run newer
// than the snapshot, as a delta on the snapshot: the items that differ from
// it, and the keys it no longer has. Applying the delta leaves the snapshot
// as applying r would, and a console that derives deltas from what they
// change pays for what changed, not for the whole picture a sensor sends
// every DefaultFullEvery reports. It returns nil when r is not such a
// report, or a delta cannot say it (r drops the host or the Kubernetes
// part).
func (s *Snapshot) Rebase(r *Report) *Report {
	if r.Kind != KindFull || s.procs.at == nil || s.SensorID != r.SensorID || s.RunID != r.RunID || r.Seq <= s.Seq {
		return nil
	}
	if r.Host == nil && s.Report.Host != nil || r.Kubernetes == nil && s.Report.Kubernetes != nil {
		return nil
	}
	out := *r
	out.Kind, out.BaseSeq, out.Removed = KindDelta, s.Seq, nil
	if r.Host != nil && s.Report.Host != nil && reflect.DeepEqual(r.Host, s.Report.Host) {
		out.Host = nil
	}
	rm := &Removed{}
	out.Processes, rm.Processes = rebase(&s.procs, r.Processes, (*Process).Key)
	out.Connections, rm.Connections = rebase(&s.conns, r.Connections, (*Connection).Key)
	out.Containers, rm.Containers = rebase(&s.ctrs, r.Containers, (*Container).Key)
	out.Images, rm.Images = rebase(&s.imgs, r.Images, (*Image).Key)
	if r.Kubernetes != nil {
		k := *r.Kubernetes
		k.Pods, rm.Pods = rebase(&s.pods, k.Pods, (*Pod).Key)
		k.Namespaces, rm.Namespaces = rebase(&s.nss, k.Namespaces, (*Namespace).Key)
		k.Services, rm.Services = rebase(&s.svcs, k.Services, (*Service).Key)
		k.Nodes, rm.Nodes = rebase(&s.nodes, k.Nodes, (*Node).Key)
		out.Kubernetes = &k
	}
	if !rm.empty() {
		out.Removed = rm
	}
	return &out
}

// rebase returns the items of cur that k does not hold as they are, and
// the keys k holds that cur does not have. An item whose key cur names
// again is kept whatever it is: put, like a full report's, keeps the last.
func rebase[T any](k *keyed[T], cur []T, key func(*T) string) (changed []T, removed []string) {
	found := make([]bool, len(k.vals)) // by index in k
	matched := 0
	for i := range cur {
		id := key(&cur[i])
		j, held := k.at[id]
		switch {
		case !held, found[j]: // new, or named again
			changed = append(changed, cur[i])
		default:
			found[j] = true
			matched++
			if !reflect.DeepEqual(&k.vals[j], &cur[i]) {
				changed = append(changed, cur[i])
			}
		}
	}
	if matched < len(k.vals) {
		for j, was := range found {
			if !was {
				removed = append(removed, k.keys[j])
			}
		}
		sort.Strings(removed)
	}
	return changed, removed
}

// ProcessKeys returns the keys of the processes the last Full returned, in
// the same order (Process.Key of each, without making them again). The
// slice is the snapshot's own: read it before the next Apply.
func (s *Snapshot) ProcessKeys() []string {
	if len(s.procs.keys) == 0 {
		return nil
	}
	s.procs.inOrder()
	return s.procs.keys[:len(s.procs.keys):len(s.procs.keys)]
}

// SortByKey sorts a full report's collections by key, so that reports built
// in any order compare equal.
func SortByKey(r *Report) {
	sortBy(r.Processes, (*Process).Key)
	sortBy(r.Connections, (*Connection).Key)
	sortBy(r.Containers, (*Container).Key)
	sortBy(r.Images, (*Image).Key)
	if k := r.Kubernetes; k != nil {
		sortBy(k.Pods, (*Pod).Key)
		sortBy(k.Namespaces, (*Namespace).Key)
		sortBy(k.Services, (*Service).Key)
		sortBy(k.Nodes, (*Node).Key)
	}
}

func sortBy[T any](s []T, key func(*T) string) {
	sort.SliceStable(s, func(i, j int) bool { return key(&s[i]) < key(&s[j]) })
}
