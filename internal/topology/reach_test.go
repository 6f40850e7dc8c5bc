package topology

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/riskmap/riskmap/internal/report"
)

// TestReachIncrementalMatchesFull: the reachability kept up to date from
// what each batch touched equals one computed from scratch, label for
// label (entry points, order, predecessors, hops, routes, reasons), after
// every few reports of a fleet whose exposure keeps changing: hosts gain
// and lose a public address, containers publish ports and switch to the
// host's network, processes start and stop taking internet traffic or
// calling a hub database (more entry points than a process keeps),
// front processes restart, and public Kubernetes services come and go.
// ExposureScope names every process whose entry points changed.
func TestReachIncrementalMatchesFull(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { reachMatches(t, seed) })
	}
}

func reachMatches(t *testing.T, seed uint64) {
	const hosts, rounds, batch = 24, 20, 3
	tp := newMemTopology()
	rnd := rand.New(rand.NewPCG(seed, 99))
	var fleet []*simHost
	exp := map[int]*exposure{}
	for i := range hosts {
		h := newSimHost(i, hosts, seed)
		if i%3 == 0 {
			kube(h, "cluster-a")
		}
		fleet = append(fleet, h)
		exp[i] = &exposure{}
	}
	tp.ExposureScope(nil) // start recording
	prev := &labelMap{}
	var incremental, changes, capped, deepest int
	sent := 0
	for round := range rounds {
		for _, h := range fleet {
			if round > 0 {
				h.churn(false)
				exp[h.id].mutate(h, rnd)
			}
			exp[h.id].apply(h)
			out := h.tr.Next(h.cur)
			if got := ingestMem(t, tp, out); got.full && round > 0 && out.Kind == report.KindDelta {
				t.Fatalf("round %d: host %d's delta refused", round, h.id)
			}
			h.tr.Ack(out)
			sent++
			if sent%batch != 0 {
				continue
			}
			wasAll := tp.g.touchedAll
			scope := tp.ExposureScope(nil)
			if !wasAll {
				incremental++
			}
			inc := tp.reachabilityOf(true)
			tp.g.mu.RLock()
			full := tp.g.reachFrom(nil)
			tp.g.mu.RUnlock()
			sameReach(t, round, inc, full)
			// Every process reached differently is in the scope.
			for _, id := range changedLabels(&reach{labels: prev}, full) {
				changes++
				if !slices.Contains(scope, id) {
					t.Fatalf("round %d: process %s is reached differently (%v → %v) but ExposureScope did not name it", round, id, entries(prev.get(id)), entries(full.labels.get(id)))
				}
			}
			for _, ls := range full.labels.all() {
				if len(ls) == MaxPaths {
					capped++
				}
				for _, l := range ls {
					deepest = max(deepest, l.hops)
				}
			}
			prev = full.labels
		}
	}
	if prev.len() < 20 || incremental < rounds*hosts/batch-2 || changes < 50 || capped == 0 {
		t.Fatalf("the test does not exercise the incremental path: %d processes reached at the end, %d incremental updates, %d changes, %d processes at the MaxPaths cap",
			prev.len(), incremental, changes, capped)
	}
	t.Logf("%d processes reached at the end, %d incremental updates, %d changes of entry points, %d capped, deepest label %d hops", prev.len(), incremental, changes, capped, deepest)
}

func entries(ls []label) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.entry)
	}
	return out
}

func sameReach(t *testing.T, round int, inc, full *reach) {
	t.Helper()
	if !slices.Equal(slices.Sorted(maps.Keys(maps.Collect(inc.labels.all()))), slices.Sorted(maps.Keys(maps.Collect(full.labels.all())))) {
		var extra, missing []string
		for id := range inc.labels.all() {
			if full.labels.get(id) == nil {
				extra = append(extra, id)
			}
		}
		for id := range full.labels.all() {
			if inc.labels.get(id) == nil {
				missing = append(missing, id)
			}
		}
		t.Fatalf("round %d: incremental reach has %d processes, from scratch %d; extra %v, missing %v", round, inc.labels.len(), full.labels.len(), extra, missing)
	}
	for id, want := range full.labels.all() {
		got := inc.labels.get(id)
		if !slices.EqualFunc(got, want, func(a, b label) bool {
			return a.entry == b.entry && a.pred == b.pred && a.hops == b.hops && a.reason == b.reason && slices.Equal(a.route, b.route)
		}) {
			t.Fatalf("round %d: process %s labels differ:\nincremental %+v\nfrom scratch %+v", round, id, got, want)
		}
	}
}

// exposure is a simulated host's changing exposure, applied after each
// churn (which rebuilds the connections).
type exposure struct {
	public, inbound, front, hub, scrape, hostNet, published bool
	service                                                 bool
}

func (e *exposure) mutate(h *simHost, rnd *rand.Rand) {
	flip := func(b *bool, oneIn int) {
		if rnd.IntN(oneIn) == 0 {
			*b = !*b
		}
	}
	flip(&e.public, 6)
	flip(&e.inbound, 4)
	flip(&e.front, 3)
	flip(&e.scrape, 3)
	flip(&e.hub, 3)
	flip(&e.hostNet, 8)
	flip(&e.published, 5)
	flip(&e.service, 4)
	if rnd.IntN(10) == 0 {
		// The front process restarts (a new process node).
		r := h.cur
		for i := range r.Processes {
			if r.Processes[i].Name == "nginx" {
				old := r.Processes[i]
				r.Processes[i] = h.proc(old.Name, old.Exe, 80, old.ContainerID)
				break
			}
		}
	}
}

func (e *exposure) apply(h *simHost) {
	r := h.cur
	addrs := []string{h.ip + "/8"}
	if e.public {
		addrs = append(addrs, fmt.Sprintf("203.0.113.%d/24", 1+h.id))
	}
	r.Host.Interfaces[1].Addrs = addrs
	for i := range r.Containers {
		c := &r.Containers[i]
		c.NetworkMode = ""
		if e.hostNet && i == 0 {
			c.NetworkMode = "host"
		}
		c.Ports = nil
		if e.published {
			c.Ports = []report.Port{{HostPort: uint16(8100 + i), ContainerPort: 80, Proto: "tcp"}}
		}
	}
	byName := map[string]*report.Process{}
	for i := range r.Processes {
		if _, ok := byName[r.Processes[i].Name]; !ok {
			byName[r.Processes[i].Name] = &r.Processes[i]
		}
	}
	add := func(p *report.Process, local, remote report.Endpoint) {
		r.Connections = append(r.Connections, report.Connection{Source: "proc", Proto: "tcp", State: "ESTABLISHED", Local: local, Remote: remote, ProcessKey: p.Key(), PID: p.PID})
	}
	if j := byName["java"]; j != nil && e.inbound {
		add(j, report.Endpoint{Addr: h.ip, Port: 8080}, report.Endpoint{Addr: "198.51.100.77", Port: 40000})
	}
	if ng := byName["nginx"]; ng != nil && e.front {
		// Only the front process changes: what it reaches three hops on
		// changes with it.
		add(ng, report.Endpoint{Addr: h.ip, Port: 80}, report.Endpoint{Addr: "198.51.100.78", Port: 40001})
	}
	if j := byName["java"]; j != nil && e.hub && h.id != 0 {
		add(j, report.Endpoint{Addr: h.ip, Port: uint16(45000 + h.id)}, report.Endpoint{Addr: simIP(0), Port: 5432})
	}
	if rd := byName["redis-server"]; rd != nil && (e.hub || h.id%2 == 0) {
		// A third hop, to the next host: nginx → java → redis → node_exporter.
		add(rd, report.Endpoint{Addr: h.ip, Port: uint16(46000 + h.id)}, report.Endpoint{Addr: simIP((h.id + 1) % h.hosts), Port: 9100})
	}
	if sh := byName["sshd"]; sh != nil && e.scrape {
		// A second way into the previous host's node_exporter: the
		// processes three hops behind it on the other way count too.
		add(sh, report.Endpoint{Addr: h.ip, Port: uint16(47000 + h.id)}, report.Endpoint{Addr: simIP((h.id + h.hosts - 1) % h.hosts), Port: 9100})
	}
	if k := r.Kubernetes; k != nil {
		for i := range k.Pods {
			k.Pods[i].Labels = map[string]string{"app": fmt.Sprint("app-", i%2)}
		}
		// The service stays; only its public address comes and goes (the
		// service node changes, not its edges).
		svc := report.Service{UID: fmt.Sprint("svc-", h.id), Name: fmt.Sprint("front-", h.id), Namespace: "shop", Type: "ClusterIP",
			Selector: map[string]string{"app": "app-0"}, Ports: []report.ServicePort{{Proto: "tcp", Port: 80, TargetPort: "80"}}}
		if e.service {
			svc.Type, svc.LoadBalancer = "LoadBalancer", []string{"203.0.113.200"}
		}
		k.Services = []report.Service{svc}
	}
}
