package process

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/riskmap/riskmap/internal/report"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    stat
		wantErr string
	}{
		{name: "plain", in: "1234 (nginx) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 5000 1000000 250 18446744073709551615\n",
			want: stat{Comm: "nginx", State: 'S', PPID: 1, UTime: 7, STime: 3, StartTicks: 5000, RSSPages: 250}},
		{name: "comm_with_parens_and_spaces", in: "77 (my (odd) prog) R 5 77 77 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 9 100 3",
			want: stat{Comm: "my (odd) prog", State: 'R', PPID: 5, UTime: 1, STime: 2, StartTicks: 9, RSSPages: 3}},
		{name: "negative_rss_clamped", in: "9 (x) S 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 100 -1",
			want: stat{Comm: "x", State: 'S', PPID: 1, StartTicks: 9}},
		{name: "truncated", in: "1234 (nginx) S 1 1234", wantErr: "fields after comm"},
		{name: "no_comm", in: "1234 nginx S", wantErr: "no (comm)"},
		{name: "bad_ppid", in: "9 (x) S -4 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 100 1", wantErr: "ppid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseContainerID(t *testing.T) {
	tests := map[string]string{
		"cgroup_docker_v2":      "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa99887766554433221100",
		"cgroup_docker_v1":      "aaaa5d6c7b8a99887766554433221100ffeeddccbbaa99887766554433221100",
		"cgroup_k8s_containerd": "bbbb5d6c7b8a99887766554433221100ffeeddccbbaa99887766554433221100",
		"cgroup_k8s_cgroupfs":   "cccc5d6c7b8a99887766554433221100ffeeddccbbaa99887766554433221100",
		"cgroup_crio":           "dddd5d6c7b8a99887766554433221100ffeeddccbbaa99887766554433221100",
		"cgroup_host":           "",
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", name+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			if got := parseContainerID(b); got != want {
				t.Errorf("container id = %q, want %q", got, want)
			}
		})
	}
}

func TestParseMaps(t *testing.T) {
	b, err := os.ReadFile("testdata/maps_nginx.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/usr/sbin/nginx", "/usr/lib/x86_64-linux-gnu/libc.so.6",
		"/usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)", "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13"}
	if diff := cmp.Diff(want, parseMaps(b, 100)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := parseMaps(b, 2); len(got) != 2 {
		t.Errorf("bounded to 2: got %d", len(got))
	}
	// A JVM: its executable and libraries, and the archives it reads its
	// classes from (mapped read-only); not its data files.
	b, err = os.ReadFile("testdata/maps_java.txt")
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"/usr/lib/jvm/java-17-openjdk-amd64/bin/java", "/usr/share/java/log4j-core.jar", "/opt/app/lib/app.war (deleted)",
		"/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so"}
	if diff := cmp.Diff(want, parseMaps(b, 100)); diff != "" {
		t.Errorf("java (-want +got):\n%s", diff)
	}
}

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "nul_separated", in: "/usr/bin/python3\x00-m\x00http.server\x00", want: []string{"/usr/bin/python3", "-m", "http.server"}},
		{name: "rewritten_title", in: "postgres: checkpointer ", want: []string{"postgres: checkpointer "}},
		{name: "empty", in: "", want: nil},
		{name: "invalid_utf8", in: "a\xffb\x00", want: []string{"a\uFFFDb"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, parseCmdline([]byte(tc.in))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// fakeProc builds a /proc with two processes, a kernel thread and a zombie.
func fakeProc(utime int) fstest.MapFS {
	link := func(target string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink}
	}
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	return fstest.MapFS{
		"1/stat":     file("1 (init) S 0 1 1 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 1 100 200"),
		"1/cmdline":  file("/sbin/init\x00"),
		"1/exe":      link("/usr/lib/systemd/systemd"),
		"1/status":   file("Name:\tinit\nUid:\t0\t0\t0\t0\n"),
		"1/cgroup":   file("0::/init.scope\n"),
		"1/maps":     file("5500-5600 r-xp 00000000 08:01 12 /usr/lib/systemd/systemd\n"),
		"1/ns/net":   link("net:[4026531840]"),
		"1/fd/0":     link("/dev/null"),
		"1/fd/3":     link("socket:[777]"),
		"1/fd/4":     link("socket:[778]"),
		"2/stat":     file("2 (kthreadd) S 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 2 0 0"),
		"3/stat":     file("3 (kworker/0:0) I 2 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 3 0 0"),
		"40/stat":    file("40 (web server) S 1 40 40 0 -1 0 0 0 0 0 " + strconv.Itoa(utime) + " 0 0 0 20 0 1 0 400 100 50"),
		"40/cmdline": file("/usr/sbin/nginx\x00-g\x00daemon off;\x00"),
		"40/exe":     link("/usr/sbin/nginx"),
		"40/status":  file("Uid:\t33\t33\t33\t33\n"),
		"40/cgroup":  file("0::/system.slice/docker-3f4e5d6c7b8a99887766554433221100ffeeddccbbaa99887766554433221100.scope\n"),
		"40/maps":    file("5500-5600 r-xp 00000000 08:01 12 /usr/sbin/nginx\n7f00-7f10 r-xp 0 08:01 13 /usr/lib/x86_64-linux-gnu/libc.so.6\n"),
		"40/ns/net":  link("net:[4026532000]"),
		"41/stat":    file("41 (defunct) Z 40 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 401 0 0"),
		"41/ns/net":  link("net:[4026532000]"),
		"self":       link("40"),
	}
}

func TestPassOnFakeProc(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	root := fstest.MapFS{"etc/passwd": {Data: []byte("root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n")}}
	p := New(Config{Proc: fakeProc(100), HostRoot: root, PageSize: 4096, Now: func() time.Time { return now }})
	first, err := p.Pass(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Ten seconds later nginx used 2 more seconds of CPU: 20%.
	now = now.Add(10 * time.Second)
	p.cfg.Proc = fakeProc(300)
	second, err := p.Pass(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []report.Process{
		{PID: 1, StartTicks: 1, Name: "init", Cmdline: []string{"/sbin/init"}, Exe: "/usr/lib/systemd/systemd", UID: 0, User: "root",
			NetNS: 4026531840, RSSBytes: 200 * 4096, Loaded: []string{"/usr/lib/systemd/systemd"}},
		{PID: 40, PPID: 1, StartTicks: 400, Name: "web server", Cmdline: []string{"/usr/sbin/nginx", "-g", "daemon off;"}, Exe: "/usr/sbin/nginx",
			UID: 33, User: "www-data", ContainerID: "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa99887766554433221100",
			NetNS: 4026532000, CPUPercent: 20, RSSBytes: 50 * 4096, Loaded: []string{"/usr/sbin/nginx", "/usr/lib/x86_64-linux-gnu/libc.so.6"}},
		{PID: 41, PPID: 40, StartTicks: 401, Name: "defunct", UID: -1, NetNS: 4026532000},
	}
	if diff := cmp.Diff(want, second.Processes); diff != "" {
		t.Errorf("second pass (-want +got):\n%s", diff)
	}
	if first.Processes[1].CPUPercent != 0 {
		t.Errorf("first pass CPU = %v, want 0 (no previous sample)", first.Processes[1].CPUPercent)
	}
	if diff := cmp.Diff(map[uint64][]int{4026531840: {1}, 4026532000: {40, 41}}, second.NetNS); diff != "" {
		t.Errorf("netns (-want +got):\n%s", diff)
	}
	inodes, err := p.SocketInodes(1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint64{777, 778}, inodes); diff != "" {
		t.Errorf("socket inodes (-want +got):\n%s", diff)
	}
}

// TestPassOnLiveProc checks the probe against this machine's real /proc: the
// test binary itself must appear with its executable, libraries or binary
// mapped, and a child process with its parent link.
func TestPassOnLiveProc(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux /proc")
	}
	p := New(Config{})
	pass, err := p.Pass(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	exe, _ := os.Executable()
	i := slices.IndexFunc(pass.Processes, func(p report.Process) bool { return p.PID == self })
	if i < 0 {
		t.Fatalf("own pid %d not among %d processes", self, len(pass.Processes))
	}
	me := pass.Processes[i]
	if me.Exe != exe || me.PPID != os.Getppid() || me.UID != os.Geteuid() || me.RSSBytes == 0 || me.NetNS == 0 {
		t.Errorf("own process = %+v, want exe %s ppid %d uid %d and RSS, netns set", me, exe, os.Getppid(), os.Geteuid())
	}
	if !slices.Contains(me.Loaded, exe) {
		t.Errorf("loaded files %v do not include the executable %s", me.Loaded, exe)
	}
	if len(pass.Errors) > 0 {
		t.Errorf("per-process errors on a live system: %v", pass.Errors)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1234 (nginx) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 5000 1000000 250 18446744073709551615\n"))
	f.Add([]byte("77 (a) b) R 5"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseStat(b)
		if err == nil && s.PPID < 0 {
			t.Fatalf("negative ppid %d", s.PPID)
		}
	})
}

func FuzzParseProcFiles(f *testing.F) {
	for _, name := range []string{"maps_nginx", "cgroup_docker_v2", "cgroup_k8s_containerd"} {
		b, err := os.ReadFile(filepath.Join("testdata", name+".txt"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("Name:\tx\nUid:\t1\t2\t3\t4\n"))
	f.Add([]byte("root:x:0:0::/root:/bin/sh\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got := parseMaps(b, 16); len(got) > 16 {
			t.Fatalf("parseMaps returned %d paths, bound 16", len(got))
		}
		if id := parseContainerID(b); id != "" && len(id) != 64 {
			t.Fatalf("container id %q", id)
		}
		if uid, err := parseUID(b); err == nil && uid < 0 {
			t.Fatalf("uid %d", uid)
		}
		parsePasswd(b)
		if args := parseCmdline(b); len(args) > 65 {
			t.Fatalf("%d args", len(args))
		}
		parseNSLink(string(b))
		parseSocketLink(string(b))
	})
}

// cpuTime is this process's user+system CPU time: on a loaded machine it
// measures the work of a pass better than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkPassLive(b *testing.B) {
	p := New(Config{})
	p.Pass(context.Background()) // warm the per-process cache
	var n int
	c0 := cpuTime()
	defer func() { b.ReportMetric(float64(cpuTime()-c0)/float64(b.N)/1e6, "cpu-ms/op") }()
	for b.Loop() {
		pass, err := p.Pass(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		n = len(pass.Processes)
	}
	b.ReportMetric(float64(n), "processes")
}

// BenchmarkPassLiveCold is a first pass: every process's static facts and
// mapped files are read.
func BenchmarkPassLiveCold(b *testing.B) {
	var n int
	c0 := cpuTime()
	defer func() { b.ReportMetric(float64(cpuTime()-c0)/float64(b.N)/1e6, "cpu-ms/op") }()
	for b.Loop() {
		pass, err := New(Config{}).Pass(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		n = len(pass.Processes)
	}
	b.ReportMetric(float64(n), "processes")
}
