package topology

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/riskmap/riskmap/internal/report"
)

// simHost is a simulated sensor's host, as bench/loadgen builds it: about
// 57 processes (45 on the host, 4 containers of 3), listeners, loopback,
// cross-host and internet connections, 3 images; churn changes it the way
// a real host changes between two passes, and its tracker sends deltas
// (a full report every report.DefaultFullEvery reports).
type simHost struct {
	id      int
	hosts   int
	cur     *report.Report
	tr      *report.Tracker
	rnd     *rand.Rand
	nextPID int
	ip      string
	eph     map[string]uint16
}

var simProgs = []struct {
	name, exe string
	port      uint16
}{
	{"systemd", "/usr/lib/systemd/systemd", 0}, {"sshd", "/usr/sbin/sshd", 22}, {"nginx", "/usr/sbin/nginx", 80},
	{"java", "/usr/lib/jvm/java-17/bin/java", 8080}, {"python3", "/usr/bin/python3.11", 8000}, {"node", "/usr/bin/node", 3000},
	{"postgres", "/usr/lib/postgresql/15/bin/postgres", 5432}, {"redis-server", "/usr/bin/redis-server", 6379},
	{"containerd", "/usr/bin/containerd", 0}, {"dockerd", "/usr/bin/dockerd", 0}, {"cron", "/usr/sbin/cron", 0},
	{"rsyslogd", "/usr/sbin/rsyslogd", 0}, {"bash", "/usr/bin/bash", 0}, {"node_exporter", "/usr/local/bin/node_exporter", 9100},
}

var simLibs = func() []string {
	var l []string
	for _, s := range []string{"libc.so.6", "libssl.so.3", "libcrypto.so.3", "libz.so.1", "libpthread.so.0", "libm.so.6", "libstdc++.so.6",
		"libgcc_s.so.1", "libpcre2-8.so.0", "libsystemd.so.0", "liblzma.so.5", "libzstd.so.1", "libcap.so.2", "libselinux.so.1",
		"libffi.so.8", "libexpat.so.1", "libsqlite3.so.0", "libyaml-0.so.2", "libxml2.so.2", "libcurl.so.4"} {
		l = append(l, "/usr/lib/x86_64-linux-gnu/"+s)
	}
	return l
}()

func simIP(i int) string { return fmt.Sprintf("10.%d.%d.%d", 10+i/65536, (i/256)%256, i%256) }

func newSimHost(i, hosts int, seed uint64) *simHost {
	s := &simHost{id: i, hosts: hosts, tr: report.NewTracker(report.DefaultFullEvery), rnd: rand.New(rand.NewPCG(uint64(i), seed)),
		nextPID: 1000, ip: simIP(i), eph: map[string]uint16{}}
	s.build()
	return s
}

func (s *simHost) sensorID() string { return fmt.Sprintf("sensor-%05d", s.id) }

func (s *simHost) proc(name, exe string, port uint16, ctr string) report.Process {
	s.nextPID++
	p := report.Process{PID: s.nextPID, PPID: 1, StartTicks: uint64(s.nextPID * 10), Name: name, Exe: exe, ContainerID: ctr,
		User: "root", Cmdline: []string{exe, "--config", "/etc/" + name + ".conf"}, RSSBytes: uint64(s.rnd.IntN(200 << 20))}
	n := 5 + s.rnd.IntN(15)
	p.Loaded = append([]string{exe}, simLibs[:n]...)
	slices.Sort(p.Loaded)
	if port != 0 {
		p.Listen = []report.Endpoint{{Addr: "0.0.0.0", Port: port}}
	}
	return p
}

func (s *simHost) build() {
	host := fmt.Sprintf("node-%05d", s.id)
	r := &report.Report{Version: report.Version, SensorID: s.sensorID(), RunID: fmt.Sprintf("run-%d", s.id), SensorVersion: "sim",
		Kind: report.KindFull, IntervalSeconds: 10,
		Host: &report.Host{Hostname: host, OS: report.OS{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux 12 (bookworm)"},
			Kernel: "6.1.0-18-amd64", Arch: "amd64", CPUs: 4, MemoryBytes: 16 << 30,
			Interfaces: []report.Interface{{Name: "lo", Up: true, Addrs: []string{"127.0.0.1/8"}}, {Name: "eth0", Up: true, Addrs: []string{s.ip + "/8"}}}}}
	for j := range 45 {
		pg := simProgs[j%len(simProgs)]
		port := pg.port
		if j >= len(simProgs) {
			port = 0
		}
		r.Processes = append(r.Processes, s.proc(pg.name, pg.exe, port, ""))
	}
	for k := range 4 {
		img := fmt.Sprintf("sha256:%064d", k%3)
		cid := fmt.Sprintf("%016x%048d", s.id, k)
		r.Containers = append(r.Containers, report.Container{ID: cid, Runtime: "docker", Name: fmt.Sprintf("/app-%d", k),
			Image: fmt.Sprintf("registry.example.com/app-%d:1.%d", k%3, k%3), ImageID: img, State: "running",
			Ports: []report.Port{{HostPort: uint16(8100 + k), ContainerPort: 80, Proto: "tcp"}}})
		for m := range 3 {
			port := uint16(0)
			if m == 0 {
				port = 80
			}
			r.Processes = append(r.Processes, s.proc(fmt.Sprintf("app%d-%d", k, m), "/app/server", port, cid))
		}
	}
	for k := range 3 {
		r.Images = append(r.Images, report.Image{ID: fmt.Sprintf("sha256:%064d", k), Runtime: "docker",
			RepoTags: []string{fmt.Sprintf("registry.example.com/app-%d:1.%d", k, k)}, SizeBytes: 120 << 20})
	}
	s.cur = r
	s.churn(true)
}

// churn is bench/loadgen's: a process replaced now and then, a few CPU
// figures, a quarter of the client connections on new ephemeral ports,
// short-lived inbound internet requests on one host in ten.
func (s *simHost) churn(first bool) {
	r := s.cur
	if !first && s.rnd.IntN(3) == 0 {
		i := 20 + s.rnd.IntN(20)
		old := r.Processes[i]
		r.Processes[i] = s.proc(old.Name, old.Exe, 0, old.ContainerID)
	}
	if first {
		for i := range r.Processes {
			if i%5 == 0 {
				r.Processes[i].CPUPercent = float64(s.rnd.IntN(50)) / 10
			}
		}
	} else {
		for range 4 {
			i := 5 * s.rnd.IntN(len(r.Processes)/5)
			r.Processes[i].CPUPercent = float64(s.rnd.IntN(50)) / 10
		}
	}
	eph := func(flow string, life int) uint16 {
		p, ok := s.eph[flow]
		if !ok || s.rnd.IntN(life) == 0 {
			p = uint16(32768 + s.rnd.IntN(28000))
			s.eph[flow] = p
		}
		return p
	}
	r.Connections = r.Connections[:0]
	for i := range r.Processes {
		p := &r.Processes[i]
		for _, l := range p.Listen {
			r.Connections = append(r.Connections, report.Connection{Source: "proc", Proto: "tcp", State: "LISTEN", Local: l, ProcessKey: p.Key(), PID: p.PID})
		}
	}
	add := func(p *report.Process, local, remote report.Endpoint) {
		r.Connections = append(r.Connections, report.Connection{Source: "proc", Proto: "tcp", State: "ESTABLISHED", Local: local, Remote: remote, ProcessKey: p.Key(), PID: p.PID})
	}
	byName := map[string]*report.Process{}
	for i := range r.Processes {
		if _, ok := byName[r.Processes[i].Name]; !ok {
			byName[r.Processes[i].Name] = &r.Processes[i]
		}
	}
	for _, pair := range [][2]string{{"nginx", "java"}, {"nginx", "python3"}, {"java", "postgres"}, {"java", "redis-server"}, {"node", "redis-server"}} {
		a, b := byName[pair[0]], byName[pair[1]]
		if a == nil || b == nil || len(b.Listen) == 0 {
			continue
		}
		for k := range 3 {
			port := eph(fmt.Sprintf("%s>%s#%d", pair[0], pair[1], k), 4)
			add(a, report.Endpoint{Addr: "127.0.0.1", Port: port}, report.Endpoint{Addr: "127.0.0.1", Port: b.Listen[0].Port})
			add(b, report.Endpoint{Addr: "127.0.0.1", Port: b.Listen[0].Port}, report.Endpoint{Addr: "127.0.0.1", Port: port})
		}
	}
	for _, d := range []int{1, 7} {
		peer := (s.id + d) % max(1, s.hosts)
		if j := byName["java"]; j != nil {
			add(j, report.Endpoint{Addr: s.ip, Port: eph(fmt.Sprintf("peer%d", d), 4)}, report.Endpoint{Addr: simIP(peer), Port: 5432})
		}
	}
	if ng := byName["nginx"]; ng != nil && s.id%10 == 0 {
		for range 3 + s.rnd.IntN(5) {
			add(ng, report.Endpoint{Addr: s.ip, Port: 80}, report.Endpoint{Addr: fmt.Sprintf("198.51.100.%d", s.rnd.IntN(250)+1), Port: uint16(32768 + s.rnd.IntN(28000))})
		}
	}
	if py := byName["python3"]; py != nil {
		for k := range 2 {
			add(py, report.Endpoint{Addr: s.ip, Port: eph(fmt.Sprintf("api%d", k), 4)}, report.Endpoint{Addr: fmt.Sprintf("93.184.216.%d", 10+k), Port: 443})
		}
	}
	r.Time = time.Unix(2e9, 0).UTC()
}

// next churns (unless first) and returns the report the sensor sends:
// gzip-compressed as on the wire, and as the tracker built it. The caller
// acknowledges it (ack) or asks for a full report (s.tr.RequestFull).
func (s *simHost) next(first bool) (*report.Report, []byte) {
	if !first {
		s.churn(false)
	}
	out := s.tr.Next(s.cur)
	gz, err := report.Marshal(out, report.DefaultLimits())
	if err != nil {
		panic(err)
	}
	return out, gz
}
