package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// NetHelperEnv selects the role of a test binary started as a network
// helper process (by NetHelper, or inside a container with -e).
const NetHelperEnv = "RISKMAP_TESTENV_NET_HELPER"

// RunNetHelper turns this test binary into a network helper process when
// NetHelperEnv is set, and never returns then; call it first in TestMain.
// Roles:
//
//	listen[:ADDR]   listen on ADDR (default 127.0.0.1:0), print the address, accept and hold
//	connect:ADDR    connect to ADDR, print the local address, hold
//	pair[:ADDR]     listen as above and start a connect child in the same namespaces
//
// A helper prints "ERR ..." and exits 1 when it cannot do its part.
func RunNetHelper() {
	h := os.Getenv(NetHelperEnv)
	if h == "" {
		return
	}
	mode, addr, _ := strings.Cut(h, ":")
	fail := func(err error) {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	switch mode {
	case "listen", "pair":
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fail(err)
		}
		fmt.Println(ln.Addr().String())
		if mode == "pair" {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), NetHelperEnv+"=connect:"+ln.Addr().String())
			cmd.Stdout = os.Stdout
			if err := cmd.Start(); err != nil {
				fail(err)
			}
		}
		var held []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				os.Exit(1)
			}
			held = append(held, c)
		}
	case "connect":
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fail(err)
		}
		fmt.Println(c.LocalAddr().String())
		select {}
	default:
		fail(fmt.Errorf("%s=%q: unknown role", NetHelperEnv, h))
	}
}

// NetHelper starts this test binary as a network helper process in the
// given role (see RunNetHelper, which TestMain must call) and returns the
// first line it prints and its pid. The process is killed when the test
// ends.
func NetHelper(t testing.TB, role string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), NetHelperEnv+"="+role)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.HasPrefix(line, "ERR") {
		t.Fatalf("network helper %s: %q %v", role, line, err)
	}
	return strings.TrimSpace(line), cmd.Process.Pid
}
