// Command transport measures what carrying sensor reports costs a TLS
// server before it does anything with them: the CPU the server process
// spends per report, for a fleet of sensors each sending a report
// (REPORT_BYTES of random, incompressible bytes, as big as a gzip-compressed
// delta) every interval over its own connection, and reading a small JSON
// acknowledgement. Three ways are compared:
//
//   - post: one HTTP/2 request per report (how sensors report today),
//   - post1: one HTTP/1.1 request per report, on a kept-alive connection,
//   - h2stream: one long-lived HTTP/2 request per sensor, reports and
//     acknowledgements as length-prefixed frames of its bodies,
//   - upgrade: one HTTP/1.1 request per sensor upgraded to the bare TLS
//     connection (as WebSocket does), read and answered by one goroutine.
//
// The server runs as a child process (this program with -serve) so that
// its CPU is measured apart from the simulated sensors'. Everything stays
// on loopback. Usage:
//
//	go run ./bench/transport [-sensors 2000] [-interval 10s] [-duration 30s] [-modes post,post1,h2stream,upgrade]
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/riskmap/riskmap/internal/sensor"
)

const reportBytes = 1100

var ack = []byte(`{"nextReportSeconds":10,"fullReportRequested":false}` + "\n")

func main() {
	serve := flag.Bool("serve", false, "run the server (internal)")
	sensors := flag.Int("sensors", 2000, "simulated sensors, one connection each")
	interval := flag.Duration("interval", 10*time.Second, "time between a sensor's reports")
	duration := flag.Duration("duration", 30*time.Second, "measured time, after one interval of warm-up")
	modes := flag.String("modes", "post,post1,h2stream,upgrade", "transports to measure")
	flag.Parse()
	if *serve {
		runServer()
		return
	}
	fmt.Printf("%d sensors, a %d-byte report each every %s, %s measured after %s of warm-up\n", *sensors, reportBytes, *interval, *duration, *interval)
	for _, m := range strings.Split(*modes, ",") {
		if err := measure(m, *sensors, *interval, *duration); err != nil {
			fmt.Fprintln(os.Stderr, "transport:", err)
			os.Exit(1)
		}
	}
}

// measure starts a server, a fleet reporting by mode, and prints the
// server's CPU per report over duration.
func measure(mode string, sensors int, interval, duration time.Duration) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "-serve")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { in.Close(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		return fmt.Errorf("server: no address")
	}
	url := lines.Text()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range sensors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := report(ctx, mode, url, interval, time.Duration(i)*interval/time.Duration(sensors)); err != nil && ctx.Err() == nil {
				failed.Add(1)
			}
		}()
	}
	time.Sleep(interval)
	ask := func() (cpu time.Duration, msgs int64, err error) {
		if _, err := fmt.Fprintln(in, "figures"); err != nil {
			return 0, 0, err
		}
		if !lines.Scan() {
			return 0, 0, fmt.Errorf("server: no figures")
		}
		_, err = fmt.Sscan(lines.Text(), &cpu, &msgs)
		return cpu, msgs, err
	}
	c0, m0, err := ask()
	if err != nil {
		return err
	}
	time.Sleep(duration)
	c1, m1, err := ask()
	if err != nil {
		return err
	}
	cancel()
	wg.Wait() // this fleet gone before the next transport's is measured
	if m1 == m0 {
		return fmt.Errorf("%s: no report arrived", mode)
	}
	fmt.Printf("  %-9s %6d reports, server CPU %.3f ms per report (%.0f%% of one core); sensors failed: %d\n", mode, m1-m0,
		float64((c1-c0).Microseconds())/1000/float64(m1-m0), 100*(c1-c0).Seconds()/duration.Seconds(), failed.Load())
	return nil
}

// report sends a sensor's reports by mode until ctx ends.
func report(ctx context.Context, mode, url string, interval, offset time.Duration) error {
	body := make([]byte, reportBytes)
	_, _ = rand.Read(body)
	tlsConf := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the bench's own throwaway server on loopback
	wait := func(d time.Duration) bool { return sensor.Sleep(ctx, d) }
	jitter := func() time.Duration { return interval - interval/20 + time.Duration(mrand.Int64N(int64(interval/10))) }
	if !wait(offset) {
		return nil
	}
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	frame = append(frame, body...)
	switch mode {
	case "post", "post1":
		tr := &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: mode == "post"}
		if mode == "post1" {
			tr.TLSClientConfig = tlsConf.Clone()
			tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
		}
		hc := &http.Client{Transport: tr}
		defer hc.CloseIdleConnections()
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/post", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer rms_0123456789abcdef0123456789abcdef")
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Content-Encoding", "gzip")
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if !wait(jitter()) {
				return nil
			}
		}
	case "h2stream":
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: true}}
		defer hc.CloseIdleConnections()
		pr, pw := io.Pipe()
		defer pw.Close()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/stream", pr)
		req.Header.Set("Authorization", "Bearer rms_0123456789abcdef0123456789abcdef")
		go func() {
			for {
				if _, err := pw.Write(frame); err != nil || !wait(jitter()) {
					return
				}
			}
		}()
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		go func() { <-ctx.Done(); resp.Body.Close() }() // the read below does not end with ctx
		br := bufio.NewReader(resp.Body)
		for {
			if _, err := br.ReadBytes('\n'); err != nil {
				return err
			}
		}
	case "upgrade":
		conf := tlsConf.Clone()
		conf.NextProtos = []string{"http/1.1"}
		c, err := tls.Dial("tcp", strings.TrimPrefix(url, "https://"), conf)
		if err != nil {
			return err
		}
		defer c.Close()
		go func() { <-ctx.Done(); c.Close() }()
		fmt.Fprintf(c, "GET /upgrade HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer rms_0123456789abcdef0123456789abcdef\r\nConnection: Upgrade\r\nUpgrade: riskmap-reports\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusSwitchingProtocols {
			return fmt.Errorf("upgrade: %s", resp.Status)
		}
		for {
			if _, err := c.Write(frame); err != nil {
				return err
			}
			if _, err := br.ReadBytes('\n'); err != nil {
				return err
			}
			if !wait(jitter()) {
				return nil
			}
		}
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// runServer serves the three transports, prints its address, and answers
// each "figures" line on stdin with its CPU time and reports so far.
func runServer() {
	var msgs atomic.Int64
	readFrames := func(r io.Reader, answer func() error) {
		br := bufio.NewReader(r)
		buf := make([]byte, 64<<10)
		for {
			var l [4]byte
			if _, err := io.ReadFull(br, l[:]); err != nil {
				return
			}
			n := binary.BigEndian.Uint32(l[:])
			if n > uint32(len(buf)) {
				return
			}
			if _, err := io.ReadFull(br, buf[:n]); err != nil {
				return
			}
			msgs.Add(1)
			if answer() != nil {
				return
			}
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /post", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(ack)
		msgs.Add(1)
	})
	mux.HandleFunc("POST /stream", func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		_ = rc.Flush()
		readFrames(r.Body, func() error {
			if _, err := w.Write(ack); err != nil {
				return err
			}
			return rc.Flush()
		})
	})
	mux.HandleFunc("GET /upgrade", func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: riskmap-reports\r\n\r\n")
		if brw.Flush() != nil {
			return
		}
		readFrames(brw, func() error { _, err := conn.Write(ack); return err })
	})
	s := httptest.NewUnstartedServer(mux)
	s.EnableHTTP2 = true
	s.StartTLS() // never closed: the process ends with its parent's stdin
	fmt.Println(s.URL)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		fmt.Println(int64(time.Duration(ru.Utime.Nano()+ru.Stime.Nano())), msgs.Load())
	}
}
