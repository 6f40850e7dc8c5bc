package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// PGServer is a PostgreSQL server of the test's own: a cluster initialised
// in a temporary directory and listening on a free loopback port, so a test
// may stop and start it (a database restart) without disturbing the shared
// server other tests use. It is stopped and removed when the test ends.
type PGServer struct {
	t    testing.TB
	bin  string // the directory of initdb, pg_ctl, postgres
	dir  string // the cluster
	log  string
	port int
	cred *syscall.Credential // the postgres user when running as root
	// URL connects to the server's postgres database as the superuser
	// (trust authentication, loopback only).
	URL string
}

// PostgresServer initialises and starts a new cluster with Debian's
// PostgreSQL binaries (/usr/lib/postgresql/N/bin, the newest N). PostgreSQL
// refuses to run as root: as root the cluster belongs to the postgres user
// the Debian package creates.
func PostgresServer(t testing.TB) *PGServer {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		Missing(t, "PostgreSQL server binaries", "apt-get install postgresql (initdb and pg_ctl under /usr/lib/postgresql/N/bin)")
	}
	slices.SortFunc(bins, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(a))))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(b))))
		return va - vb
	})
	s := &PGServer{t: t, bin: filepath.Dir(bins[len(bins)-1])}
	// t.TempDir's parents are private to root; the postgres user needs its
	// own directory it can reach.
	root, err := os.MkdirTemp("", "riskmap-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	s.dir, s.log = filepath.Join(root, "data"), filepath.Join(root, "server.log")
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			Missing(t, "the postgres system user", "apt-get install postgresql creates it (PostgreSQL does not run as root)")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(root, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	s.run("initdb", "-D", s.dir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
	s.Start()
	t.Cleanup(func() {
		cmd := s.command("pg_ctl", "-D", s.dir, "-m", "immediate", "-w", "stop")
		_ = cmd.Run()
	})
	return s
}

func (s *PGServer) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = filepath.Dir(s.dir)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

func (s *PGServer) run(name string, args ...string) {
	s.t.Helper()
	out, err := s.command(name, args...).CombinedOutput()
	if err != nil {
		logb, _ := os.ReadFile(s.log)
		s.t.Fatalf("%s %v: %v\n%s\nserver log:\n%s", name, args, err, tail(out, 2000), tail(logb, 2000))
	}
}

// Start starts the server (again) on its port and waits until it accepts
// connections.
func (s *PGServer) Start() {
	s.t.Helper()
	start := time.Now()
	s.run("pg_ctl", "-D", s.dir, "-l", s.log, "-w", "-t", "60", "start", "-o",
		fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories='' -c max_connections=50", s.port))
	s.t.Logf("PostgreSQL on 127.0.0.1:%d started in %s", s.port, time.Since(start).Round(time.Millisecond))
}

// Stop stops the server the way an administrator's restart does
// (pg_ctl stop -m fast: clients are disconnected, the server shuts down
// cleanly).
func (s *PGServer) Stop() {
	s.t.Helper()
	s.run("pg_ctl", "-D", s.dir, "-m", "fast", "-w", "-t", "60", "stop")
	s.t.Logf("PostgreSQL on 127.0.0.1:%d stopped", s.port)
}
