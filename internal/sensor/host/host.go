// Package host is the sensor's host probe: hostname, machine id, OS
// release, kernel, CPUs, memory, boot time and network interfaces, read
// from /proc and the host's root filesystem (both passed in as fs.FS).
package host

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/report"
)

// Name is the probe's name in reports.
const Name = "host"

// Config configures the probe.
type Config struct {
	// Proc is the proc filesystem (default os.DirFS("/proc")).
	Proc fs.FS
	// HostRoot is the host's root filesystem (default os.DirFS("/")), for
	// os-release and machine-id.
	HostRoot fs.FS
	// Interfaces lists network interfaces (default: the sensor's network
	// namespace through package net, the host's when run with host
	// networking).
	Interfaces func() ([]report.Interface, error)
}

// Probe reads host facts.
type Probe struct{ cfg Config }

// New returns a probe.
func New(cfg Config) *Probe {
	if cfg.Proc == nil {
		cfg.Proc = os.DirFS("/proc")
	}
	if cfg.HostRoot == nil {
		cfg.HostRoot = os.DirFS("/")
	}
	if cfg.Interfaces == nil {
		cfg.Interfaces = Interfaces
	}
	return &Probe{cfg: cfg}
}

// Host returns the host's facts. Facts that cannot be read are left empty
// and named in the returned error list; the rest is still returned.
func (p *Probe) Host(ctx context.Context) (*report.Host, []error) {
	var errs []error
	read := func(f fs.FS, name string) []byte {
		b, err := fs.ReadFile(f, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("host: read %s: %w", name, err))
		}
		return b
	}
	h := &report.Host{Arch: runtime.GOARCH}
	h.Hostname = strings.TrimSpace(string(read(p.cfg.Proc, "sys/kernel/hostname")))
	h.Kernel = strings.TrimSpace(string(read(p.cfg.Proc, "sys/kernel/osrelease")))
	if b, err := fs.ReadFile(p.cfg.HostRoot, "etc/machine-id"); err == nil {
		h.MachineID = strings.TrimSpace(string(b))
	}
	osr, err := fs.ReadFile(p.cfg.HostRoot, "etc/os-release")
	if err != nil {
		osr = read(p.cfg.HostRoot, "usr/lib/os-release")
	}
	h.OS = ParseOSRelease(osr)
	h.CPUs, h.BootTime = parseStat(read(p.cfg.Proc, "stat"))
	h.MemoryBytes = parseMemTotal(read(p.cfg.Proc, "meminfo"))
	ifs, err := p.cfg.Interfaces()
	if err != nil {
		errs = append(errs, fmt.Errorf("host: interfaces: %w", err))
	}
	h.Interfaces = ifs
	return h, errs
}

// ParseOSRelease reads ID, VERSION_ID and PRETTY_NAME from os-release.
func ParseOSRelease(b []byte) report.OS {
	var o report.OS
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, `"'`)
		}
		switch k {
		case "ID":
			o.ID = v
		case "VERSION_ID":
			o.VersionID = v
		case "PRETTY_NAME":
			o.Name = v
		}
	}
	return o
}

// parseStat counts the cpuN lines and reads btime from /proc/stat.
func parseStat(b []byte) (cpus int, boot time.Time) {
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		switch {
		case bytes.HasPrefix(line, []byte("cpu")) && len(line) > 3 && line[3] >= '0' && line[3] <= '9':
			cpus++
		case bytes.HasPrefix(line, []byte("btime ")):
			if s, err := strconv.ParseInt(string(bytes.TrimSpace(line[6:])), 10, 64); err == nil && s > 0 {
				boot = time.Unix(s, 0).UTC()
			}
		}
	}
	return cpus, boot
}

// parseMemTotal reads MemTotal (kB) from /proc/meminfo.
func parseMemTotal(b []byte) uint64 {
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		if rest, ok := bytes.CutPrefix(line, []byte("MemTotal:")); ok {
			f := strings.Fields(string(rest))
			if len(f) >= 1 {
				if kb, err := strconv.ParseUint(f[0], 10, 64); err == nil {
					return kb * 1024
				}
			}
		}
	}
	return 0
}

// Interfaces lists the network interfaces of the caller's network
// namespace with their addresses in CIDR form.
func Interfaces() ([]report.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := make([]report.Interface, 0, len(ifs))
	for _, ifc := range ifs {
		ri := report.Interface{Name: ifc.Name, MAC: ifc.HardwareAddr.String(), Up: ifc.Flags&net.FlagUp != 0}
		if addrs, err := ifc.Addrs(); err == nil {
			for _, a := range addrs {
				ri.Addrs = append(ri.Addrs, a.String())
			}
		}
		out = append(out, ri)
	}
	return out, nil
}
