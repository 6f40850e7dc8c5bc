// Package conn is the sensor's connection probe: the TCP listening and
// connected sockets of every network namespace on the host, each with the
// process that owns it. Each namespace's /proc/PID/net/tcp and tcp6 tables
// are read once, through one process in that namespace; socket inodes are
// mapped to processes through /proc/PID/fd, and the mapping is cached so a
// steady-state pass only looks at the file descriptors of processes in
// namespaces where new sockets appeared.
package conn

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensor/process"
)

// Name is the probe's name in reports.
const Name = "conn"

// SocketLister returns the socket inodes a process holds open
// (process.Probe implements it).
type SocketLister interface {
	SocketInodes(pid int) ([]uint64, error)
}

// Config configures the probe.
type Config struct {
	// Proc is the proc filesystem (default os.DirFS("/proc")).
	Proc fs.FS
}

// Probe reads connections. It is not safe for concurrent use.
type Probe struct {
	cfg    Config
	owners map[uint64]int // socket inode -> pid
	// orphans are sockets no readable process was found to hold on the
	// last scan of their namespace (held by a process whose fds cannot be
	// read, or in flight); they do not trigger another scan.
	orphans map[uint64]bool
}

// New returns a probe.
func New(cfg Config) *Probe {
	if cfg.Proc == nil {
		cfg.Proc = process.DirFS("/proc")
	}
	return &Probe{cfg: cfg, owners: map[uint64]int{}, orphans: map[uint64]bool{}}
}

// Collect returns the TCP sockets of every namespace in pass, owned by their
// processes, and fills each process's Listen list. Sockets in TIME_WAIT and
// other states without an inode are left out (conntrack reports short-lived
// flows). Per-namespace failures are returned in errs; the rest goes on.
func (p *Probe) Collect(ctx context.Context, pass *process.Pass, fds SocketLister) (conns []report.Connection, errs []error) {
	byPID := make(map[int]*report.Process, len(pass.Processes))
	for i := range pass.Processes {
		byPID[pass.Processes[i].PID] = &pass.Processes[i]
	}
	owners := make(map[uint64]int, len(p.owners))
	orphans := map[uint64]bool{}
	for _, ns := range slices.Sorted(maps.Keys(pass.NetNS)) {
		if ctx.Err() != nil {
			return conns, append(errs, ctx.Err())
		}
		pids := pass.NetNS[ns]
		socks, err := p.readNS(pids)
		if errors.Is(err, errNSExited) {
			continue // its processes exited since the pass: nothing to read, nothing wrong
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("netns %d: %w", ns, err))
			continue
		}
		// Resolve owners: cached ones first, then the fds of this
		// namespace's processes when any socket is new.
		inNS := make(map[int]bool, len(pids))
		for _, pid := range pids {
			inNS[pid] = true
		}
		unknown := false
		for _, s := range socks {
			if pid, ok := p.owners[s.Inode]; ok && inNS[pid] {
				owners[s.Inode] = pid
			} else if !p.orphans[s.Inode] {
				unknown = true
			}
		}
		if unknown {
			for _, pid := range pids {
				inodes, err := fds.SocketInodes(pid)
				if err != nil {
					continue // exited, or not ours to read
				}
				for _, ino := range inodes {
					if _, ok := owners[ino]; !ok {
						owners[ino] = pid
					}
				}
			}
		}
		for _, s := range socks {
			if _, ok := owners[s.Inode]; !ok && (unknown || p.orphans[s.Inode]) {
				orphans[s.Inode] = true
			}
			c := report.Connection{Source: report.SourceProc, Proto: "tcp", State: s.State,
				Local:  report.Endpoint{Addr: s.Local.Addr().String(), Port: s.Local.Port()},
				Remote: report.Endpoint{Addr: s.Remote.Addr().String(), Port: s.Remote.Port()},
				NetNS:  ns, Inode: s.Inode}
			if s.State == "LISTEN" {
				c.Remote = report.Endpoint{}
			}
			if pid, ok := owners[s.Inode]; ok {
				c.PID = pid
				if proc := byPID[pid]; proc != nil {
					c.ProcessKey = proc.Key()
					if s.State == "LISTEN" {
						proc.Listen = append(proc.Listen, c.Local)
					}
				}
			}
			conns = append(conns, c)
		}
	}
	p.owners, p.orphans = owners, orphans
	return conns, errs
}

// errNSExited: every process the pass saw in a namespace has exited.
var errNSExited = errors.New("every process of the namespace exited")

// readNS reads the tcp and tcp6 tables of a namespace through the first of
// its processes whose tables can be read; errNSExited when they all exited
// since the pass listed them (short-lived containers and helpers).
func (p *Probe) readNS(pids []int) ([]socket, error) {
	var lastErr error
	exited := 0
	// gone: exited, or a zombie (its namespaces already released).
	gone := func(pid int) bool {
		b, err := fs.ReadFile(p.cfg.Proc, strconv.Itoa(pid)+"/stat")
		if errors.Is(err, fs.ErrNotExist) {
			return true
		}
		st := string(b)
		if i := strings.LastIndexByte(st, ')'); err == nil && i >= 0 && i+2 < len(st) {
			return st[i+2] == 'Z' || st[i+2] == 'X'
		}
		return false
	}
	for _, pid := range pids {
		var socks []socket
		seen := map[uint64]bool{}
		ok := false
		for _, table := range []string{"tcp", "tcp6"} {
			name := strconv.Itoa(pid) + "/net/" + table
			f, err := p.cfg.Proc.Open(name)
			if err != nil {
				lastErr = err
				if table == "tcp" && errors.Is(err, fs.ErrNotExist) && gone(pid) {
					exited++
					break
				}
				if errors.Is(err, fs.ErrNotExist) && table == "tcp6" && ok {
					continue // IPv6 disabled in this namespace
				}
				break
			}
			err = parseTCP(f, func(s socket) {
				if s.Inode == 0 || seen[s.Inode] {
					return
				}
				seen[s.Inode] = true
				socks = append(socks, s)
			})
			f.Close()
			if err != nil {
				return socks, fmt.Errorf("parse %s: %w", name, err)
			}
			ok = true
		}
		if ok {
			return socks, nil
		}
	}
	if exited == len(pids) {
		return nil, errNSExited
	}
	return nil, fmt.Errorf("no readable tcp table among %d processes: %w", len(pids), lastErr)
}
