// Package conntrack is the sensor's conntrack probe: the TCP and UDP flows
// the kernel's connection tracking holds for the host network namespace,
// through netlink (github.com/vishvananda/netlink). It sees NAT-ed flows
// (the reply's source shows where a service address really went) and
// short-lived connections that socket tables miss. When connection tracking
// is not loaded the probe reports that and the sensor goes on without it.
package conntrack

import (
	"context"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/riskmap/riskmap/internal/report"
)

// Name is the probe's name in reports.
const Name = "conntrack"

// Config configures the probe.
type Config struct {
	// MaxFlows bounds the flows reported per pass (default 20,000).
	MaxFlows int
}

// Probe lists conntrack flows.
type Probe struct {
	cfg  Config
	list func(netlink.InetFamily) ([]*netlink.ConntrackFlow, error)
}

// New returns a probe.
func New(cfg Config) *Probe {
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = 20_000
	}
	return &Probe{cfg: cfg, list: func(f netlink.InetFamily) ([]*netlink.ConntrackFlow, error) {
		return netlink.ConntrackTableList(netlink.ConntrackTable, f)
	}}
}

var tcpStates = []string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}

// Collect returns the tracked TCP and UDP flows, IPv4 and IPv6.
func (p *Probe) Collect(ctx context.Context) ([]report.Connection, error) {
	var out []report.Connection
	for _, fam := range []netlink.InetFamily{unix.AF_INET, unix.AF_INET6} {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		flows, err := p.list(fam)
		if err != nil {
			return out, fmt.Errorf("conntrack: list family %d: %w", fam, err)
		}
		for _, f := range flows {
			if len(out) >= p.cfg.MaxFlows {
				return out, nil
			}
			if c, ok := Flow(f); ok {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// Flow converts one flow; ok is false for protocols other than TCP and UDP.
func Flow(f *netlink.ConntrackFlow) (report.Connection, bool) {
	var proto string
	switch f.Forward.Protocol {
	case unix.IPPROTO_TCP:
		proto = "tcp"
	case unix.IPPROTO_UDP:
		proto = "udp"
	default:
		return report.Connection{}, false
	}
	c := report.Connection{Source: report.SourceConntrack, Proto: proto,
		Local:  report.Endpoint{Addr: ipString(f.Forward.SrcIP), Port: f.Forward.SrcPort},
		Remote: report.Endpoint{Addr: ipString(f.Forward.DstIP), Port: f.Forward.DstPort}}
	if tcp, ok := f.ProtoInfo.(*netlink.ProtoInfoTCP); ok && int(tcp.State) < len(tcpStates) {
		c.State = tcpStates[tcp.State]
	}
	// The reply comes from the endpoint that really answered: if it is not
	// the original destination, the flow was NAT-ed.
	replySrc := report.Endpoint{Addr: ipString(f.Reverse.SrcIP), Port: f.Reverse.SrcPort}
	if replySrc != c.Remote && replySrc.Addr != "" {
		c.Translated = &replySrc
	}
	return c, true
}

func ipString(ip net.IP) string {
	if ip == nil {
		return ""
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.String()
}
