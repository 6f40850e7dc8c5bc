package conn

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strconv"
)

// socket is one row of /proc/net/tcp or tcp6.
type socket struct {
	Local, Remote netip.AddrPort
	State         string
	UID           int
	Inode         uint64
}

var tcpStates = map[string]string{
	"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
	"06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN",
	"0B": "CLOSING", "0C": "NEW_SYN_RECV",
}

// maxRows bounds how many sockets are read from one table.
const maxRows = 1 << 20

// parseTCP streams a /proc/net/tcp or tcp6 table, calling fn for each row.
// A malformed row is an error naming its line; rows already passed to fn
// stay valid.
func parseTCP(r io.Reader, fn func(socket)) error {
	sc := bufio.NewScanner(r)
	// A large first read: the kernel walks its socket hash for every read
	// of the table, so fewer reads are much cheaper.
	sc.Buffer(make([]byte, 0, 256<<10), 256<<10)
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			continue // header
		}
		if line > maxRows {
			return fmt.Errorf("more than %d rows", maxRows)
		}
		s, err := parseTCPRow(sc.Bytes())
		if err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		fn(s)
	}
	return sc.Err()
}

func parseTCPRow(b []byte) (socket, error) {
	var s socket
	var f [10][]byte
	n := 0
	for n < len(f) {
		b = bytes.TrimLeft(b, " ")
		if len(b) == 0 {
			break
		}
		i := bytes.IndexByte(b, ' ')
		if i < 0 {
			i = len(b)
		}
		f[n], b = b[:i], b[i:]
		n++
	}
	if n < len(f) {
		return s, fmt.Errorf("%d fields, want at least %d", n, len(f))
	}
	var err error
	if s.Local, err = parseAddrPort(f[1]); err != nil {
		return s, fmt.Errorf("local address %q: %w", f[1], err)
	}
	if s.Remote, err = parseAddrPort(f[2]); err != nil {
		return s, fmt.Errorf("remote address %q: %w", f[2], err)
	}
	st, ok := tcpStates[string(f[3])]
	if !ok {
		return s, fmt.Errorf("state %q", f[3])
	}
	s.State = st
	if s.UID, err = strconv.Atoi(string(f[7])); err != nil || s.UID < 0 {
		return s, fmt.Errorf("uid %q", f[7])
	}
	if s.Inode, err = strconv.ParseUint(string(f[9]), 10, 64); err != nil {
		return s, fmt.Errorf("inode %q", f[9])
	}
	return s, nil
}

// parseAddrPort parses the kernel's hex "ADDR:PORT": the address is a
// sequence of 32-bit words, each in host (little-endian) byte order.
func parseAddrPort(b []byte) (netip.AddrPort, error) {
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("no port")
	}
	port, err := strconv.ParseUint(string(b[i+1:]), 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port: %w", err)
	}
	hx := b[:i]
	var raw [16]byte
	if len(hx) != 8 && len(hx) != 32 {
		return netip.AddrPort{}, fmt.Errorf("address of %d hex digits", len(hx))
	}
	n, err := hex.Decode(raw[:], hx)
	if err != nil {
		return netip.AddrPort{}, err
	}
	for w := 0; w < n; w += 4 {
		v := binary.LittleEndian.Uint32(raw[w:])
		binary.BigEndian.PutUint32(raw[w:], v)
	}
	var a netip.Addr
	if n == 4 {
		a = netip.AddrFrom4([4]byte(raw[:4]))
	} else {
		a = netip.AddrFrom16(raw).Unmap()
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}
