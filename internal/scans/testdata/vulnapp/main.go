// Command vulnapp links golang.org/x/text v0.3.0 (GO-2020-0015) and, with
// "listen PORT", accepts TCP connections on 127.0.0.1:PORT.
//
// With "serve ADDR LATER FILE...", it maps each FILE into memory (as a JVM
// maps its jars, so /proc/PID/maps lists them), accepts and holds
// connections on ADDR and, once it receives SIGUSR1, on LATER too ("-":
// none): a listener that opens while the process runs.
package main

import (
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/text/encoding/unicode"
)

func main() {
	_ = unicode.UTF16(unicode.BigEndian, unicode.UseBOM).NewDecoder()
	switch {
	case len(os.Args) == 3 && os.Args[1] == "listen":
		serve("127.0.0.1:" + os.Args[2])
	case len(os.Args) >= 4 && os.Args[1] == "serve":
		for _, name := range os.Args[4:] {
			mapFile(name) // a mapping lives until the process ends
		}
		later := os.Args[3]
		if later != "-" {
			usr1 := make(chan os.Signal, 1)
			signal.Notify(usr1, syscall.SIGUSR1)
			go func() {
				<-usr1
				serve(later)
			}()
		}
		serve(os.Args[2])
	}
	for {
		time.Sleep(time.Hour)
	}
}

// serve accepts and holds connections on addr until the process ends.
func serve(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	var held []net.Conn
	for {
		c, err := ln.Accept()
		if err == nil {
			held = append(held, c)
		}
	}
}

func mapFile(name string) {
	f, err := os.Open(name)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		os.Stderr.WriteString(name + ": empty or unreadable\n")
		os.Exit(1)
	}
	if _, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
}
