// Command vulnapp links golang.org/x/text v0.3.0 (GO-2020-0015) and, with
// "listen PORT", accepts TCP connections on 127.0.0.1:PORT.
package main

import (
	"net"
	"os"
	"time"

	"golang.org/x/text/encoding/unicode"
)

func main() {
	_ = unicode.UTF16(unicode.BigEndian, unicode.UseBOM).NewDecoder()
	if len(os.Args) == 3 && os.Args[1] == "listen" {
		ln, err := net.Listen("tcp", "127.0.0.1:"+os.Args[2])
		if err != nil {
			os.Exit(1)
		}
		for {
			c, err := ln.Accept()
			if err == nil {
				c.Close()
			}
		}
	}
	for {
		time.Sleep(time.Hour)
	}
}
