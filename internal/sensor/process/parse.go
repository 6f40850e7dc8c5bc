package process

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// stat is what a pass needs from /proc/PID/stat.
type stat struct {
	Comm       string
	State      byte
	PPID       int
	UTime      uint64 // clock ticks
	STime      uint64
	StartTicks uint64
	RSSPages   uint64
}

// parseStat parses /proc/PID/stat. The command name is in parentheses and
// may itself contain spaces and parentheses, so fields are counted from the
// last ')'.
func parseStat(b []byte) (stat, error) {
	var s stat
	open := bytes.IndexByte(b, '(')
	close := bytes.LastIndexByte(b, ')')
	if open < 0 || close < open {
		return s, errors.New("stat: no (comm)")
	}
	s.Comm = string(b[open+1 : close])
	rest := b[close+1:]
	// Fields after comm, 0-based: 0 state, 1 ppid, 11 utime, 12 stime,
	// 19 starttime, 21 rss.
	var f [22][]byte
	n := 0
	for n < len(f) {
		rest = bytes.TrimLeft(rest, " ")
		if len(rest) == 0 {
			break
		}
		i := bytes.IndexByte(rest, ' ')
		if i < 0 {
			i = len(rest)
		}
		f[n] = bytes.TrimRight(rest[:i], "\n")
		rest = rest[i:]
		n++
	}
	if n < len(f) {
		return s, fmt.Errorf("stat: %d fields after comm, want at least %d", n, len(f))
	}
	if len(f[0]) != 1 {
		return s, fmt.Errorf("stat: state %q", f[0])
	}
	s.State = f[0][0]
	var err error
	ppid, err := strconv.Atoi(string(f[1]))
	if err != nil || ppid < 0 {
		return s, fmt.Errorf("stat: ppid %q", f[1])
	}
	s.PPID = ppid
	for _, x := range []struct {
		dst *uint64
		i   int
	}{{&s.UTime, 11}, {&s.STime, 12}, {&s.StartTicks, 19}, {&s.RSSPages, 21}} {
		v, err := strconv.ParseInt(string(f[x.i]), 10, 64)
		if err != nil {
			return s, fmt.Errorf("stat: field %d %q: %w", x.i+3, f[x.i], err)
		}
		if v < 0 {
			v = 0
		}
		*x.dst = uint64(v)
	}
	return s, nil
}

// parseUID returns the effective uid from /proc/PID/status.
func parseUID(b []byte) (int, error) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if !bytes.HasPrefix(line, []byte("Uid:")) {
			continue
		}
		f := strings.Fields(string(line[4:]))
		if len(f) < 2 {
			return -1, fmt.Errorf("status: Uid line %q", line)
		}
		uid, err := strconv.Atoi(f[1])
		if err != nil || uid < 0 {
			return -1, fmt.Errorf("status: Uid line %q", line)
		}
		return uid, nil
	}
	return -1, errors.New("status: no Uid line")
}

// parseCmdline splits /proc/PID/cmdline (NUL-separated, possibly rewritten
// by the process into one space-separated string). It keeps at most
// maxArgs arguments of at most maxArg bytes each.
func parseCmdline(b []byte) []string {
	const maxArgs, maxArg = 64, 1024
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	var out []string
	for part := range bytes.SplitSeq(b, []byte{0}) {
		if len(out) == maxArgs {
			out = append(out, "...")
			break
		}
		if len(part) > maxArg {
			part = append(part[:maxArg:maxArg], "..."...)
		}
		out = append(out, strings.ToValidUTF8(string(part), "\uFFFD"))
	}
	return out
}

// parseContainerID finds the container id in /proc/PID/cgroup: the last
// 64-hex-digit path element (with or without a runtime prefix such as
// docker-, cri-containerd-, crio-, libpod- and a .scope suffix), which
// covers cgroup v1 and v2 layouts of Docker, containerd (CRI and moby
// namespaces), CRI-O, Podman and Kubernetes.
func parseContainerID(b []byte) string {
	id := ""
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		// hierarchy-ID:controllers:path
		i := bytes.IndexByte(line, ':')
		if i < 0 {
			continue
		}
		j := bytes.IndexByte(line[i+1:], ':')
		if j < 0 {
			continue
		}
		path := line[i+1+j+1:]
		for elem := range bytes.SplitSeq(path, []byte{'/'}) {
			e := bytes.TrimSuffix(elem, []byte(".scope"))
			if k := bytes.LastIndexAny(e, "-:"); k >= 0 {
				e = e[k+1:]
			}
			if len(e) == 64 && isHex(e) {
				id = string(e)
			}
		}
	}
	return id
}

func isHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// parseMaps returns the distinct files mapped with execute permission
// (executables and shared libraries), and the Java archives a JVM maps to
// read its classes from (.jar, .war, .ear: mapped read-only, their code is
// still the process's), from /proc/PID/maps, in first-seen order, at most
// max of them. Deleted files keep their " (deleted)" suffix.
func parseMaps(b []byte, max int) []string {
	var out []string
	seen := map[string]struct{}{}
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		// address perms offset dev inode pathname
		f := 0
		i := 0
		var perms []byte
		for f < 5 && i < len(line) {
			for i < len(line) && line[i] == ' ' {
				i++
			}
			start := i
			for i < len(line) && line[i] != ' ' {
				i++
			}
			if f == 1 {
				perms = line[start:i]
			}
			f++
		}
		if f < 5 || len(perms) < 3 {
			continue
		}
		for i < len(line) && line[i] == ' ' {
			i++
		}
		path := line[i:]
		if perms[2] != 'x' && !javaArchive(path) {
			continue
		}
		if len(path) == 0 || path[0] != '/' || bytes.HasPrefix(path, []byte("/memfd:")) || bytes.HasPrefix(path, []byte("/dev/")) {
			continue
		}
		if _, ok := seen[string(path)]; ok {
			continue
		}
		p := strings.ToValidUTF8(string(path), "\uFFFD")
		seen[p] = struct{}{}
		out = append(out, p)
		if len(out) == max {
			break
		}
	}
	return out
}

// javaArchive reports whether a mapped path is a Java archive.
func javaArchive(path []byte) bool {
	path = bytes.TrimSuffix(path, []byte(" (deleted)"))
	return bytes.HasSuffix(path, []byte(".jar")) || bytes.HasSuffix(path, []byte(".war")) || bytes.HasSuffix(path, []byte(".ear"))
}

// parsePasswd maps uids to names from an /etc/passwd file.
func parsePasswd(b []byte) map[int]string {
	users := map[int]string{}
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		f := bytes.SplitN(line, []byte{':'}, 4)
		if len(f) < 4 || len(f[0]) == 0 || f[0][0] == '#' {
			continue
		}
		uid, err := strconv.Atoi(string(f[2]))
		if err != nil {
			continue
		}
		if _, ok := users[uid]; !ok {
			users[uid] = string(f[0])
		}
	}
	return users
}

// parseNSLink parses a namespace link target such as "net:[4026531840]".
func parseNSLink(s string) (uint64, error) {
	i := strings.IndexByte(s, '[')
	if i < 0 || !strings.HasSuffix(s, "]") {
		return 0, fmt.Errorf("namespace link %q", s)
	}
	return strconv.ParseUint(s[i+1:len(s)-1], 10, 64)
}

// parseSocketLink parses an fd link target "socket:[12345]"; ok is false
// for other kinds of file.
func parseSocketLink(s string) (uint64, bool) {
	if !strings.HasPrefix(s, "socket:[") || !strings.HasSuffix(s, "]") {
		return 0, false
	}
	v, err := strconv.ParseUint(s[8:len(s)-1], 10, 64)
	return v, err == nil
}
