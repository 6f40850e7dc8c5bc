// Package privileges drops what the sensor does not need. The sensor runs
// as root (it reads every process's /proc entries and the runtimes'
// sockets) but keeps only three capabilities: CAP_SYS_PTRACE (read other
// users' /proc/PID/fd, exe, maps and namespace links), CAP_DAC_READ_SEARCH
// (read the host's and containers' files when scanning) and CAP_NET_ADMIN
// (dump conntrack over netlink; only when conntrack is on). Everything else
// leaves the effective, permitted, inheritable, ambient and bounding sets,
// and no_new_privs is set, on every thread of the process. See
// docs/privileges.md.
package privileges

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Capabilities the sensor may keep.
const (
	CapDACReadSearch = unix.CAP_DAC_READ_SEARCH
	CapNetAdmin      = unix.CAP_NET_ADMIN
	CapSysPtrace     = unix.CAP_SYS_PTRACE
)

// Needed returns the capabilities the sensor keeps.
func Needed(conntrack bool) []int {
	caps := []int{CapDACReadSearch, CapSysPtrace}
	if conntrack {
		caps = append(caps, CapNetAdmin)
	}
	return caps
}

// ErrCgo is returned when the binary uses cgo: capabilities are per thread
// and only a cgo-free Go program can change them on all its threads.
var ErrCgo = errors.New("capabilities cannot be dropped on all threads of a cgo binary (build with CGO_ENABLED=0)")

// Drop keeps only the capabilities in keep (those the process has) and
// sets no_new_privs, on all threads.
func Drop(keep []int) error {
	var mask uint64
	for _, c := range keep {
		mask |= 1 << uint(c)
	}
	if _, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		if e == syscall.ENOTSUP {
			return ErrCgo
		}
		return fmt.Errorf("drop privileges: set no_new_privs: %w", e)
	}
	if _, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 && e != syscall.EINVAL {
		return fmt.Errorf("drop privileges: clear ambient capabilities: %w", e)
	}
	last := lastCap()
	for c := 0; c <= last; c++ {
		if mask&(1<<uint(c)) != 0 {
			continue
		}
		// EPERM without CAP_SETPCAP (not root): the bounding set then only
		// limits what a root exec could get, and no_new_privs already
		// forbids gaining privileges.
		if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); e != 0 && e != syscall.EINVAL && e != syscall.EPERM {
			return fmt.Errorf("drop privileges: bounding set cap %d: %w", c, e)
		}
	}
	have, err := Effective()
	if err != nil {
		return err
	}
	set := mask & have
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(set), Permitted: uint32(set)},
		{Effective: uint32(set >> 32), Permitted: uint32(set >> 32)},
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("drop privileges: capset: %w", e)
	}
	return nil
}

// Effective returns this process's effective capability set.
func Effective() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("read capabilities: %w", err)
	}
	return ParseCapLine(b, "CapEff:")
}

// ParseCapLine reads a hex capability set such as "CapEff:" from a
// /proc/PID/status file.
func ParseCapLine(status []byte, field string) (uint64, error) {
	for line := range bytes.SplitSeq(status, []byte{'\n'}) {
		if v, ok := bytes.CutPrefix(line, []byte(field)); ok {
			return strconv.ParseUint(strings.TrimSpace(string(v)), 16, 64)
		}
	}
	return 0, fmt.Errorf("status: no %s line", field)
}

func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 63
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 || n > 63 {
		return 63
	}
	return n
}
