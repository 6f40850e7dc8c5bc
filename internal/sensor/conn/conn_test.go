package conn

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensor/process"

	"github.com/riskmap/riskmap/internal/testenv"
)

func TestParseTCP(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		file string
		want []socket
	}{
		{file: "tcp_listen_and_established", want: []socket{
			{Local: ap("127.0.0.1:5432"), Remote: ap("0.0.0.0:0"), State: "LISTEN", UID: 107, Inode: 23456},
			{Local: ap("127.0.0.1:41652"), Remote: ap("127.0.0.1:5432"), State: "ESTABLISHED", UID: 1000, Inode: 34567},
			{Local: ap("127.0.0.1:5432"), Remote: ap("127.0.0.1:41652"), State: "ESTABLISHED", UID: 107, Inode: 34568},
			{Local: ap("10.0.0.5:54321"), Remote: ap("10.8.0.8:443"), State: "TIME_WAIT", UID: 0, Inode: 0},
		}},
		{file: "tcp6_listen", want: []socket{
			{Local: ap("[::]:80"), Remote: ap("[::]:0"), State: "LISTEN", Inode: 4567},
			{Local: ap("[::1]:631"), Remote: ap("[::]:0"), State: "LISTEN", Inode: 4568},
			{Local: ap("127.0.0.1:5432"), Remote: ap("127.0.0.1:41654"), State: "ESTABLISHED", Inode: 4569},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			f, err := os.Open("testdata/" + tc.file + ".txt")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var got []socket
			if err := parseTCP(f, func(s socket) { got = append(got, s) }); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseTCPErrors(t *testing.T) {
	head := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	tests := []struct{ name, row, want string }{
		{"short_row", "0: 0100007F:1538 00000000:0000 0A\n", "line 2: 4 fields"},
		{"bad_state", "0: 0100007F:1538 00000000:0000 FF 0:0 0:0 0 0 0 1\n", `state "FF"`},
		{"bad_address", "0: 01007F:1538 00000000:0000 0A 0:0 0:0 0 0 0 1\n", "address of 6 hex digits"},
		{"bad_port", "0: 0100007F:XYZ 00000000:0000 0A 0:0 0:0 0 0 0 1\n", "port"},
		{"bad_inode", "0: 0100007F:1538 00000000:0000 0A 0:0 0:0 0 0 0 -1\n", `inode "-1"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := parseTCP(strings.NewReader(head+tc.row), func(socket) {})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzParseTCP(f *testing.F) {
	for _, name := range []string{"tcp_listen_and_established", "tcp6_listen"} {
		b, err := os.ReadFile("testdata/" + name + ".txt")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = parseTCP(strings.NewReader(string(b)), func(s socket) {
			if !s.Local.IsValid() || !s.Remote.IsValid() || s.State == "" {
				t.Fatalf("invalid socket passed on: %+v", s)
			}
		})
	})
}

func TestMain(m *testing.M) {
	testenv.RunNetHelper()
	os.Exit(m.Run())
}

// TestCollectLive: a process listening on a loopback port appears with its
// listener, and another process's client connection to it appears owned by
// that process, on this machine's real /proc.
func TestCollectLive(t *testing.T) {
	addr, lpid := testenv.NetHelper(t, "listen")
	client, cpid := testenv.NetHelper(t, "connect:"+addr)
	lap, cap := netip.MustParseAddrPort(addr), netip.MustParseAddrPort(client)
	procs := process.New(process.Config{})
	probe := New(Config{})
	var conns []report.Connection
	var pass *process.Pass
	for range 2 { // the second pass uses the inode cache
		var err error
		pass, err = procs.Pass(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var errs []error
		conns, errs = probe.Collect(context.Background(), pass, procs)
		if len(errs) > 0 {
			t.Fatalf("collect errors: %v", errs)
		}
	}
	find := func(f func(c report.Connection) bool) *report.Connection {
		i := slices.IndexFunc(conns, f)
		if i < 0 {
			return nil
		}
		return &conns[i]
	}
	ln := find(func(c report.Connection) bool { return c.State == "LISTEN" && c.Local.Port == lap.Port() })
	if ln == nil || ln.PID != lpid || ln.Local.Addr != "127.0.0.1" || !strings.HasPrefix(ln.ProcessKey, fmt.Sprint(lpid)+":") {
		t.Fatalf("listener on %s = %+v, want owned by pid %d", addr, ln, lpid)
	}
	cl := find(func(c report.Connection) bool {
		return c.State == "ESTABLISHED" && c.Local.Port == cap.Port() && c.Remote.Port == lap.Port()
	})
	if cl == nil || cl.PID != cpid || cl.Remote.Addr != "127.0.0.1" {
		t.Fatalf("client connection %s -> %s = %+v, want owned by pid %d", client, addr, cl, cpid)
	}
	srv := find(func(c report.Connection) bool {
		return c.State == "ESTABLISHED" && c.Local.Port == lap.Port() && c.Remote.Port == cap.Port()
	})
	if srv == nil || srv.PID != lpid {
		t.Fatalf("accepted connection = %+v, want owned by listener pid %d", srv, lpid)
	}
	i := slices.IndexFunc(pass.Processes, func(p report.Process) bool { return p.PID == lpid })
	if i < 0 || !slices.Contains(pass.Processes[i].Listen, report.Endpoint{Addr: "127.0.0.1", Port: lap.Port()}) {
		t.Fatalf("listener process %d does not list its listen endpoint", lpid)
	}
}

func BenchmarkCollectLive(b *testing.B) {
	procs := process.New(process.Config{})
	probe := New(Config{})
	for b.Loop() {
		pass, err := procs.Pass(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		probe.Collect(context.Background(), pass, procs)
	}
}

// noSockets is a SocketLister with nothing to list.
type noSockets struct{}

func (noSockets) SocketInodes(int) ([]uint64, error) { return nil, nil }

// TestCollectExitedNamespace: a namespace whose processes all exited (or
// are zombies, their namespaces released) since the pass listed them is
// skipped without an error; one whose live process has no readable table
// is still an error naming the namespace.
func TestCollectExitedNamespace(t *testing.T) {
	tcp := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n"
	procfs := fstest.MapFS{
		"10/stat":    {Data: []byte("10 (app) S 1 10 10 0 -1")},
		"10/net/tcp": {Data: []byte(tcp)},
		"20/stat":    {Data: []byte("20 (zombie) Z 1 20 20 0 -1")}, // no net/ any more
		"40/stat":    {Data: []byte("40 (odd) S 1 40 40 0 -1")},    // alive, no table
	}
	pass := &process.Pass{Processes: []report.Process{{PID: 10}, {PID: 20}, {PID: 30}, {PID: 40}},
		NetNS: map[uint64][]int{1: {10}, 2: {20, 30}, 3: {40}}}
	conns, errs := New(Config{Proc: procfs}).Collect(context.Background(), pass, noSockets{})
	if len(conns) != 1 || conns[0].Local.Port != 8080 || conns[0].NetNS != 1 {
		t.Fatalf("connections %+v, want the listener of namespace 1", conns)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "netns 3:") {
		t.Fatalf("errors %v, want one, for namespace 3 (live process, no table)", errs)
	}
}
