package command_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensor/client/consoletest"
	"github.com/riskmap/riskmap/internal/sensor/command"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func statuses(con *consoletest.Console, id string) []string {
	var out []string
	for _, s := range con.Statuses(id) {
		out = append(out, s.Status)
	}
	return out
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// TestRunnerAgainstConsole drives the runner through the contract console:
// a scan completes and uploads its inventory; a slow scan sends heartbeats
// and stops promptly on cancel; a failing scan ends in error; the second
// slot is offered only while a scan runs; a cancel for an unknown scan is
// answered.
func TestRunnerAgainstConsole(t *testing.T) {
	con := consoletest.Start(t)
	cl, err := client.New(client.Config{ConsoleURL: con.URL(), Key: con.Key, PinSHA256: con.Pin()})
	if err != nil {
		t.Fatal(err)
	}
	scan := func(ctx context.Context, target sensorproto.CommandTarget, progress func(float64)) (*inventory.Inventory, error) {
		switch target.Ref {
		case "slow":
			progress(0.25)
			<-ctx.Done()
			return nil, ctx.Err()
		case "broken":
			return nil, errors.New("image not found")
		}
		return &inventory.Inventory{SchemaVersion: inventory.SchemaVersion, Target: inventory.Target{Kind: target.Kind, Ref: target.Ref},
			Packages: []inventory.Package{{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Ecosystem: "Debian:12"}}}, nil
	}
	r := command.New(command.Config{SensorID: "s1", Slots: 2, PollInterval: 50 * time.Millisecond, Heartbeat: 100 * time.Millisecond, Scan: scan}, cl)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	con.Queue(sensorproto.Command{ID: "1", Kind: "scan", ScanID: "ok", Target: sensorproto.CommandTarget{Kind: "image", Ref: "debian:12"}})
	waitFor(t, "scan ok to complete", func() bool { return last(statuses(con, "ok")) == "complete" })
	if got := statuses(con, "ok"); got[0] != "running" {
		t.Errorf("statuses %v, want running first", got)
	}
	if inv := con.Inventory("ok"); inv == nil || len(inv.Packages) != 1 {
		t.Errorf("inventory of scan ok = %+v", inv)
	}

	con.Queue(sensorproto.Command{ID: "2", Kind: "scan", ScanID: "slow", Target: sensorproto.CommandTarget{Kind: "container", Ref: "slow"}})
	waitFor(t, "heartbeats of the slow scan", func() bool { return len(con.Statuses("slow")) >= 3 })
	hb := con.Statuses("slow")
	if hb[len(hb)-1].Status != "running" || hb[len(hb)-1].Progress != 0.25 {
		t.Errorf("heartbeat = %+v, want running with progress 0.25", hb[len(hb)-1])
	}
	waitFor(t, "one free slot offered while the slow scan runs", func() bool {
		p := con.Polls()
		return len(p) > 0 && p[len(p)-1] == 1
	})
	con.Queue(sensorproto.Command{ID: "3", Kind: "cancel", ScanID: "slow"})
	waitFor(t, "the slow scan to be cancelled", func() bool { return last(statuses(con, "slow")) == "cancelled" })

	con.Queue(sensorproto.Command{ID: "4", Kind: "scan", ScanID: "bad", Target: sensorproto.CommandTarget{Kind: "image", Ref: "broken"}})
	waitFor(t, "the broken scan to fail", func() bool { return last(statuses(con, "bad")) == "error" })
	if s := con.Statuses("bad"); s[len(s)-1].Message != "image not found" {
		t.Errorf("error message %q", s[len(s)-1].Message)
	}
	con.Queue(sensorproto.Command{ID: "5", Kind: "cancel", ScanID: "never-started"})
	waitFor(t, "a cancel for an unknown scan to be answered", func() bool { return last(statuses(con, "never-started")) == "cancelled" })
	waitFor(t, "both slots free again", func() bool {
		p := con.Polls()
		return len(p) > 0 && p[len(p)-1] == 2
	})

	// Stopping the sensor cancels running scans and reports it.
	con.Queue(sensorproto.Command{ID: "6", Kind: "scan", ScanID: "stopped", Target: sensorproto.CommandTarget{Kind: "container", Ref: "slow"}})
	waitFor(t, "the last scan to run", func() bool { return slices.Contains(statuses(con, "stopped"), "running") })
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if got := last(statuses(con, "stopped")); got != "cancelled" {
		t.Errorf("scan running at shutdown ended %q, want cancelled", got)
	}
}
