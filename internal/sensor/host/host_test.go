package host

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/riskmap/riskmap/internal/report"
)

func TestHostFromFakeFS(t *testing.T) {
	proc := fstest.MapFS{
		"sys/kernel/hostname":  {Data: []byte("node-7\n")},
		"sys/kernel/osrelease": {Data: []byte("6.18.0-1-amd64\n")},
		"stat":                 {Data: []byte("cpu  1 2 3\ncpu0 1 2 3\ncpu1 1 2 3\nintr 5\nbtime 1795780800\nprocesses 9\n")},
		"meminfo":              {Data: []byte("MemTotal:       24576000 kB\nMemFree:        1000 kB\n")},
	}
	root := fstest.MapFS{
		"etc/machine-id": {Data: []byte("0123456789abcdef0123456789abcdef\n")},
		"etc/os-release": {Data: []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n")},
	}
	ifs := []report.Interface{{Name: "lo", Up: true, Addrs: []string{"127.0.0.1/8"}}}
	p := New(Config{Proc: proc, HostRoot: root, Interfaces: func() ([]report.Interface, error) { return ifs, nil }})
	got, errs := p.Host(context.Background())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := &report.Host{Hostname: "node-7", MachineID: "0123456789abcdef0123456789abcdef",
		OS: report.OS{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux 12 (bookworm)"}, Kernel: "6.18.0-1-amd64",
		Arch: got.Arch, CPUs: 2, MemoryBytes: 24576000 * 1024, BootTime: time.Unix(1795780800, 0).UTC(), Interfaces: ifs}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestHostMissingFilesAreNamed(t *testing.T) {
	p := New(Config{Proc: fstest.MapFS{}, HostRoot: fstest.MapFS{}, Interfaces: func() ([]report.Interface, error) { return nil, nil }})
	h, errs := p.Host(context.Background())
	if h == nil || len(errs) == 0 || !strings.Contains(errs[0].Error(), "sys/kernel/hostname") {
		t.Fatalf("errs = %v, want the missing hostname file named", errs)
	}
}

func TestHostLive(t *testing.T) {
	h, errs := New(Config{}).Host(context.Background())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	hn, _ := os.Hostname()
	if h.Hostname != hn || h.Kernel == "" || h.CPUs < 1 || h.MemoryBytes == 0 || h.BootTime.IsZero() || h.OS.ID == "" {
		t.Fatalf("live host = %+v", h)
	}
	if !slices.ContainsFunc(h.Interfaces, func(i report.Interface) bool { return i.Name == "lo" && slices.Contains(i.Addrs, "127.0.0.1/8") }) {
		t.Fatalf("interfaces %+v lack lo with 127.0.0.1/8", h.Interfaces)
	}
}

func FuzzParseHostFiles(f *testing.F) {
	f.Add([]byte("cpu0 1\nbtime 1795780800\nMemTotal: 100 kB\nID=\"debian\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseStat(b)
		parseMemTotal(b)
		ParseOSRelease(b)
	})
}
