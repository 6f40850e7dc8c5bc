// Package process is the sensor's process probe: one pass over /proc lists
// every user-space process with its parent, command line, user, executable,
// container (from its cgroup), CPU and memory use, network namespace and the
// executables and libraries it has mapped (/proc/PID/maps). Static facts are
// cached per process (keyed by PID and start time) so a steady-state pass
// reads only /proc/PID/stat and the namespace link of each process.
package process

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/riskmap/riskmap/internal/report"
)

// Name is the probe's name in reports.
const Name = "process"

// ClockTicks is USER_HZ, the unit of /proc/PID/stat times (100 on every
// Linux architecture Go supports).
const ClockTicks = 100

// Config configures the probe.
type Config struct {
	// Proc is the proc filesystem (default os.DirFS("/proc")); the sensor
	// must run in the host PID namespace to see every process.
	Proc fs.FS
	// HostRoot is the host's root filesystem, for /etc/passwd (default
	// os.DirFS("/"); a sensor container mounts / at /host).
	HostRoot fs.FS
	// MapsRefresh is how often a process's mapped files are re-read.
	MapsRefresh time.Duration
	// PageSize is the memory page size (default os.Getpagesize()).
	PageSize int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultConfig returns the probe's defaults on the live system.
func DefaultConfig() Config {
	return Config{Proc: DirFS("/proc"), HostRoot: os.DirFS("/"), MapsRefresh: 5 * time.Minute,
		PageSize: os.Getpagesize(), Now: time.Now}
}

type entry struct {
	start       uint64
	cmdline     []string
	exe         string
	uid         int
	containerID string
	loaded      []string
	mapsAt      time.Time
	ticks       uint64
	seenAt      time.Time
	pass        uint64
}

// Probe lists processes. It is not safe for concurrent use.
type Probe struct {
	cfg     Config
	cache   map[int]*entry
	users   map[int]string
	usersAt time.Time
	pass    uint64
}

// New returns a probe; zero fields of cfg take DefaultConfig's values.
func New(cfg Config) *Probe {
	d := DefaultConfig()
	if cfg.Proc == nil {
		cfg.Proc = d.Proc
	}
	if cfg.HostRoot == nil {
		cfg.HostRoot = d.HostRoot
	}
	if cfg.MapsRefresh <= 0 {
		cfg.MapsRefresh = d.MapsRefresh
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = d.PageSize
	}
	if cfg.Now == nil {
		cfg.Now = d.Now
	}
	return &Probe{cfg: cfg, cache: map[int]*entry{}}
}

// Pass is the result of one pass.
type Pass struct {
	Processes []report.Process
	// NetNS maps each network namespace inode to the PIDs in it.
	NetNS map[uint64][]int
	// Errors are per-process failures other than a process exiting
	// during the pass; the pass goes on without that process's detail.
	Errors []error
}

// Pass lists every user-space process (kernel threads are left out).
func (p *Probe) Pass(ctx context.Context) (*Pass, error) {
	p.pass++
	now := p.cfg.Now()
	p.refreshUsers(now)
	ents, err := fs.ReadDir(p.cfg.Proc, ".")
	if err != nil {
		return nil, fmt.Errorf("process pass: read proc: %w", err)
	}
	out := &Pass{NetNS: map[uint64][]int{}}
	out.Processes = make([]report.Process, 0, len(ents))
	for _, de := range ents {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := de.Name()
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		proc, ok, err := p.one(pid, name, now)
		if err != nil {
			if !gone(err) {
				out.Errors = append(out.Errors, err)
			}
			continue
		}
		if !ok {
			continue
		}
		if proc.NetNS != 0 {
			out.NetNS[proc.NetNS] = append(out.NetNS[proc.NetNS], pid)
		}
		out.Processes = append(out.Processes, proc)
	}
	for pid, e := range p.cache {
		if e.pass != p.pass {
			delete(p.cache, pid)
		}
	}
	return out, nil
}

// gone reports an error caused by the process exiting during the pass.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

func (p *Probe) one(pid int, dir string, now time.Time) (report.Process, bool, error) {
	var proc report.Process
	b, err := fs.ReadFile(p.cfg.Proc, dir+"/stat")
	if err != nil {
		return proc, false, fmt.Errorf("read %s/stat: %w", dir, err)
	}
	st, err := parseStat(b)
	if err != nil {
		return proc, false, fmt.Errorf("parse %s/stat: %w", dir, err)
	}
	if pid == 2 || st.PPID == 2 {
		return proc, false, nil // kernel thread
	}
	e := p.cache[pid]
	fresh := e == nil || e.start != st.StartTicks
	if fresh {
		e = &entry{start: st.StartTicks, uid: -1}
		if b, err := fs.ReadFile(p.cfg.Proc, dir+"/cmdline"); err == nil {
			e.cmdline = parseCmdline(b)
		}
		if st.State == 'Z' {
			// Zombies have no cmdline, exe or maps.
		} else if len(e.cmdline) == 0 {
			return proc, false, nil // kernel thread not parented by kthreadd
		}
		if exe, err := fs.ReadLink(p.cfg.Proc, dir+"/exe"); err == nil {
			e.exe = exe
		}
		if b, err := fs.ReadFile(p.cfg.Proc, dir+"/status"); err == nil {
			if uid, err := parseUID(b); err == nil {
				e.uid = uid
			}
		}
		if b, err := fs.ReadFile(p.cfg.Proc, dir+"/cgroup"); err == nil {
			e.containerID = parseContainerID(b)
		}
		p.cache[pid] = e
	}
	e.pass = p.pass
	if now.Sub(e.mapsAt) >= p.cfg.MapsRefresh && st.State != 'Z' {
		if b, err := fs.ReadFile(p.cfg.Proc, dir+"/maps"); err == nil {
			e.loaded = parseMaps(b, report.MaxLoaded)
		}
		e.mapsAt = now
	}
	ticks := st.UTime + st.STime
	cpu := 0.0
	if !fresh && now.After(e.seenAt) && ticks >= e.ticks {
		cpu = float64(ticks-e.ticks) / ClockTicks / now.Sub(e.seenAt).Seconds() * 100
		cpu = math.Round(cpu*10) / 10
	}
	e.ticks, e.seenAt = ticks, now
	var netns uint64
	if l, err := fs.ReadLink(p.cfg.Proc, dir+"/ns/net"); err == nil {
		netns, _ = parseNSLink(l)
	}
	proc = report.Process{PID: pid, PPID: st.PPID, StartTicks: st.StartTicks, Name: st.Comm,
		Cmdline: e.cmdline, Exe: e.exe, UID: e.uid, User: p.users[e.uid], ContainerID: e.containerID,
		NetNS: netns, CPUPercent: cpu, RSSBytes: st.RSSPages * uint64(p.cfg.PageSize), Loaded: e.loaded}
	return proc, true, nil
}

func (p *Probe) refreshUsers(now time.Time) {
	if p.users != nil && now.Sub(p.usersAt) < 5*time.Minute {
		return
	}
	p.usersAt = now
	b, err := fs.ReadFile(p.cfg.HostRoot, "etc/passwd")
	if err != nil {
		p.users = map[int]string{}
		return
	}
	p.users = parsePasswd(b)
}

// SocketInodes returns the inodes of the sockets process pid holds open
// (from the links in /proc/PID/fd).
func (p *Probe) SocketInodes(pid int) ([]uint64, error) {
	dir := strconv.Itoa(pid) + "/fd"
	ents, err := fs.ReadDir(p.cfg.Proc, dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var out []uint64
	for _, de := range ents {
		l, err := fs.ReadLink(p.cfg.Proc, dir+"/"+de.Name())
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := parseSocketLink(l); ok {
			out = append(out, ino)
		}
	}
	slices.Sort(out)
	return out, nil
}
