package topology

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/report"
)

// benchTopology builds, in memory, an estate of hosts with 40 host
// processes and 4 containers of 3 processes each (about 60 nodes a host),
// loopback, cross-host and internet connections, through the ingest
// planner (no store).
func benchTopology(b *testing.B, hosts int) *Topology {
	b.Helper()
	tp := newMemTopology()
	for h := range hosts {
		ip := fmt.Sprintf("10.%d.%d.%d", h/65536, (h/256)%256, h%256)
		r := &report.Report{Version: report.Version, SensorID: fmt.Sprintf("h%d", h), RunID: "r", Seq: 1, Kind: report.KindFull, Time: time.Unix(2e9, 0),
			Host: &report.Host{Hostname: fmt.Sprintf("host-%d", h), Interfaces: []report.Interface{{Name: "eth0", Addrs: []string{ip + "/8"}}}}}
		for c := range 4 {
			r.Containers = append(r.Containers, report.Container{ID: fmt.Sprintf("c%d-%d", h, c), Runtime: "docker", ImageID: fmt.Sprintf("sha256:%d", c),
				Pod: &report.PodRef{UID: fmt.Sprintf("pod-%d-%d", h, c), Name: fmt.Sprintf("p%d", c), Namespace: fmt.Sprintf("ns%d", h%20)}})
		}
		for p := range 52 {
			proc := report.Process{PID: 100 + p, StartTicks: 1, Name: fmt.Sprintf("proc%d", p%14), Exe: fmt.Sprintf("/usr/bin/proc%d", p%14),
				Loaded: []string{"/usr/lib/libc.so.6", "/usr/lib/libssl.so.3", fmt.Sprintf("/usr/bin/proc%d", p%14)}}
			if p >= 40 {
				proc.ContainerID = fmt.Sprintf("c%d-%d", h, (p-40)/3)
			}
			if p%5 == 0 {
				proc.Listen = []report.Endpoint{{Addr: "0.0.0.0", Port: uint16(8000 + p)}}
				r.Connections = append(r.Connections, report.Connection{Source: "proc", State: "LISTEN", Local: proc.Listen[0], ProcessKey: proc.Key()})
			}
			r.Processes = append(r.Processes, proc)
		}
		k := func(i int) string { return r.Processes[i].Key() }
		peer := (h + 1) % hosts
		r.Connections = append(r.Connections,
			report.Connection{Source: "proc", State: "ESTABLISHED", Local: report.Endpoint{Addr: "127.0.0.1", Port: 40000}, Remote: report.Endpoint{Addr: "127.0.0.1", Port: 8005}, ProcessKey: k(1)},
			report.Connection{Source: "proc", State: "ESTABLISHED", Local: report.Endpoint{Addr: ip, Port: 40001}, Remote: report.Endpoint{Addr: fmt.Sprintf("10.%d.%d.%d", peer/65536, (peer/256)%256, peer%256), Port: 8010}, ProcessKey: k(2)},
			report.Connection{Source: "proc", State: "ESTABLISHED", Local: report.Endpoint{Addr: ip, Port: 40002}, Remote: report.Endpoint{Addr: "93.184.216.34", Port: 443}, ProcessKey: k(3)})
		if h%10 == 0 {
			r.Connections = append(r.Connections, report.Connection{Source: "proc", State: "ESTABLISHED", Local: report.Endpoint{Addr: ip, Port: 8000}, Remote: report.Endpoint{Addr: "198.51.100.9", Port: 50000}, ProcessKey: k(0)})
		}
		tp.applyReport(r)
	}
	return tp
}

func benchGraph(b *testing.B, hosts int, q GraphQuery) {
	tp := benchTopology(b, hosts)
	b.ResetTimer()
	var g *Graph
	for b.Loop() {
		var err error
		if g, err = tp.Graph(q); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(tp.g.nodes)), "nodes")
	b.ReportMetric(float64(len(g.Nodes)), "shown")
}

// 10,000 nodes: 170 hosts; 25,000: 425 hosts.
func BenchmarkGraphProcesses10k(b *testing.B) { benchGraph(b, 170, GraphQuery{View: ViewProcesses}) }
func BenchmarkGraphProcesses25k(b *testing.B) { benchGraph(b, 425, GraphQuery{View: ViewProcesses}) }
func BenchmarkGraphContainers25k(b *testing.B) {
	benchGraph(b, 425, GraphQuery{View: ViewContainers, Group: "namespace"})
}
func BenchmarkGraphHosts25k(b *testing.B) { benchGraph(b, 425, GraphQuery{View: ViewHosts}) }
func BenchmarkGraphPods25k(b *testing.B)  { benchGraph(b, 425, GraphQuery{View: ViewPods}) }

func BenchmarkNodesSearch25k(b *testing.B) {
	tp := benchTopology(b, 425)
	for b.Loop() {
		if _, _, err := tp.Nodes(NodeQuery{Q: "proc1", Sort: "lastSeen", Limit: 50}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExposure25k: one host's exposure, the reachability cached.
func BenchmarkExposure25k(b *testing.B) {
	tp := benchTopology(b, 425)
	ctx := context.Background()
	for b.Loop() {
		if _, err := tp.Exposure(ctx, HostNodeID("h10")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIngestPlan: deriving and planning one host's full report.
func BenchmarkIngestPlan(b *testing.B) {
	tp := benchTopology(b, 200)
	var r *report.Report
	for id := range tp.g.sensors {
		r = tp.holder(id).snap.Full()
		break
	}
	for b.Loop() {
		r.Seq++
		r.Kind = report.KindFull
		tp.applyReport(r)
	}
}

// applyReport plans and applies one report in memory (no store), as a
// batch of one.
func (t *Topology) applyReport(r *report.Report) *sensorPlan {
	pl := &plan{now: t.now(), upNodes: map[string]*Node{}, upEdges: map[edgeKey]*Edge{}, claimDelta: map[string]int{}, edgeDelta: map[edgeKey]int{}}
	sp := t.planOne(&job{r: r, done: make(chan result, 1)}, pl)
	pl.sensors = append(pl.sensors, sp)
	t.finishPlan(pl)
	t.apply(pl)
	return sp
}

// planOne prepares and plans one job, as process does for a batch.
func (t *Topology) planOne(j *job, pl *plan) *sensorPlan {
	return t.planJob(j, t.prepareJob(j, pl.now), pl)
}

// BenchmarkReachability25k: the internet reachability with the attack
// paths' entry points, computed afresh (as after every graph change).
func BenchmarkReachability25k(b *testing.B) {
	tp := benchTopology(b, 425)
	for b.Loop() {
		tp.reach = nil
		tp.reachabilityOf(true)
	}
	b.ReportMetric(float64(tp.reach.labels.len()), "reached")
}

// BenchmarkReachable25k: the threat graph's layers, from a fresh
// reachability.
func BenchmarkReachable25k(b *testing.B) {
	tp := benchTopology(b, 425)
	ctx := context.Background()
	var n int
	for b.Loop() {
		tp.reach = nil
		got, err := tp.Reachable(ctx)
		if err != nil {
			b.Fatal(err)
		}
		n = len(got)
	}
	b.ReportMetric(float64(n), "nodes")
}

// BenchmarkReachUpdate25k: the internet reachability brought up to date
// after one host's report changed what the internet reaches (an inbound
// connection to one of its listeners comes or goes), as after each batch
// of reports; the report's ingest is not timed.
func BenchmarkReachUpdate25k(b *testing.B) {
	tp := benchTopology(b, 425)
	tp.reachabilityOf(true)
	var reports []*report.Report
	for h := range 425 {
		reports = append(reports, tp.holder(fmt.Sprintf("h%d", h)).snap.Full())
	}
	i := 0
	for b.Loop() {
		b.StopTimer()
		r := reports[i%len(reports)]
		i++
		if n := len(r.Connections); r.Connections[n-1].Remote.Addr == "198.51.100.10" {
			r.Connections = r.Connections[:n-1]
		} else {
			r.Connections = append(r.Connections, report.Connection{Source: "proc", State: "ESTABLISHED", Local: r.Processes[5].Listen[0],
				Remote: report.Endpoint{Addr: "198.51.100.10", Port: 50001}, ProcessKey: r.Processes[5].Key()})
		}
		r.Seq++
		r.Kind = report.KindFull
		tp.applyReport(r)
		b.StartTimer()
		tp.reachabilityOf(true)
	}
	b.ReportMetric(float64(tp.reach.labels.len()), "reached")
}
