package conntrack

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/riskmap/riskmap/internal/report"
)

func TestFlow(t *testing.T) {
	tests := []struct {
		name string
		flow netlink.ConntrackFlow
		want report.Connection
		ok   bool
	}{
		{name: "dnat_to_pod", ok: true,
			flow: netlink.ConntrackFlow{Forward: netlink.IPTuple{Protocol: unix.IPPROTO_TCP, SrcIP: net.ParseIP("10.0.0.5"), SrcPort: 40000, DstIP: net.ParseIP("10.96.0.10"), DstPort: 443},
				Reverse:   netlink.IPTuple{Protocol: unix.IPPROTO_TCP, SrcIP: net.ParseIP("10.244.1.7"), SrcPort: 8443, DstIP: net.ParseIP("10.0.0.5"), DstPort: 40000},
				ProtoInfo: &netlink.ProtoInfoTCP{State: 3}},
			want: report.Connection{Source: "conntrack", Proto: "tcp", State: "ESTABLISHED", Local: report.Endpoint{Addr: "10.0.0.5", Port: 40000},
				Remote: report.Endpoint{Addr: "10.96.0.10", Port: 443}, Translated: &report.Endpoint{Addr: "10.244.1.7", Port: 8443}}},
		{name: "udp_not_nated", ok: true,
			flow: netlink.ConntrackFlow{Forward: netlink.IPTuple{Protocol: unix.IPPROTO_UDP, SrcIP: net.ParseIP("::1"), SrcPort: 5000, DstIP: net.ParseIP("::1"), DstPort: 53},
				Reverse: netlink.IPTuple{Protocol: unix.IPPROTO_UDP, SrcIP: net.ParseIP("::1"), SrcPort: 53, DstIP: net.ParseIP("::1"), DstPort: 5000}},
			want: report.Connection{Source: "conntrack", Proto: "udp", Local: report.Endpoint{Addr: "::1", Port: 5000}, Remote: report.Endpoint{Addr: "::1", Port: 53}}},
		{name: "icmp_ignored", flow: netlink.ConntrackFlow{Forward: netlink.IPTuple{Protocol: unix.IPPROTO_ICMP}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Flow(&tc.flow)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if diff := cmp.Diff(tc.want, got); ok && diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCollectBoundAndErrors(t *testing.T) {
	p := New(Config{MaxFlows: 3})
	flow := &netlink.ConntrackFlow{Forward: netlink.IPTuple{Protocol: unix.IPPROTO_TCP, SrcIP: net.ParseIP("127.0.0.1"), DstIP: net.ParseIP("127.0.0.1")}}
	p.list = func(netlink.InetFamily) ([]*netlink.ConntrackFlow, error) {
		return []*netlink.ConntrackFlow{flow, flow}, nil
	}
	got, err := p.Collect(context.Background())
	if err != nil || len(got) != 3 {
		t.Fatalf("got %d flows, %v; want 3 (bounded)", len(got), err)
	}
	p.list = func(netlink.InetFamily) ([]*netlink.ConntrackFlow, error) {
		return nil, errors.New("protocol not supported")
	}
	if _, err := p.Collect(context.Background()); err == nil || !strings.Contains(err.Error(), "conntrack: list family 2") {
		t.Fatalf("err = %v", err)
	}
}

// TestCollectLive reads the real conntrack table (root only); every flow
// returned must be well formed.
func TestCollectLive(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("conntrack netlink needs CAP_NET_ADMIN")
	}
	flows, err := New(Config{}).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flows {
		if f.Local.Addr == "" || f.Remote.Addr == "" || (f.Proto != "tcp" && f.Proto != "udp") {
			t.Fatalf("malformed flow %+v", f)
		}
	}
	t.Logf("%d conntrack flows", len(flows))
}
