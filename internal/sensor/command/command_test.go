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

// TestRunnerScanTypes: the sensor declares the types it runs in its
// polls; a scan of a type it has no engine for fails at once with a
// message naming the type; a type it has an engine for uploads results.
func TestRunnerScanTypes(t *testing.T) {
	con := consoletest.Start(t)
	cl, err := client.New(client.Config{ConsoleURL: con.URL(), Key: con.Key, PinSHA256: con.Pin()})
	if err != nil {
		t.Fatal(err)
	}
	scan := func(ctx context.Context, target sensorproto.CommandTarget, progress func(float64)) (*inventory.Inventory, error) {
		return &inventory.Inventory{SchemaVersion: inventory.SchemaVersion, Target: inventory.Target{Kind: target.Kind, Ref: target.Ref}}, nil
	}
	secrets := func(ctx context.Context, target sensorproto.CommandTarget, progress func(float64)) (*sensorproto.Results, error) {
		return &sensorproto.Results{Engine: sensorproto.Engine{Name: "test-secrets"}, Files: 2, Secrets: []sensorproto.SecretFinding{{
			Rule: "aws-access-token", File: "/app/.env", Line: 3, Fingerprint: "0123456789abcdef0123", Excerpt: "AWS_KEY=" + sensorproto.RedactionMark}}}, nil
	}
	run := func(engines map[string]command.EngineFunc) (stop func()) {
		r := command.New(command.Config{SensorID: "s1", PollInterval: 50 * time.Millisecond, Heartbeat: 100 * time.Millisecond, Scan: scan, Engines: engines}, cl)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		return func() { cancel(); <-done }
	}

	stop := run(nil)
	waitFor(t, "a poll", func() bool { return len(con.Polls()) > 0 })
	if got := con.PollTypes(); !slices.Equal(got, []string{"vulnerability"}) {
		t.Errorf("poll declared %v, want [vulnerability]", got)
	}
	start := time.Now()
	con.Queue(sensorproto.Command{ID: "1", Kind: "scan", ScanID: "sec", ScanType: "secret", Target: sensorproto.CommandTarget{Kind: "host"}})
	waitFor(t, "the secret scan to fail", func() bool { return last(statuses(con, "sec")) == "error" })
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the unsupported scan took %v to fail", took)
	}
	st := con.Statuses("sec")
	if msg := st[len(st)-1].Message; msg != "this sensor cannot run secret scans (it runs: vulnerability)" {
		t.Errorf("message %q", msg)
	}
	if slices.Contains(statuses(con, "sec"), "running") {
		t.Errorf("statuses %v: the unsupported scan was started", statuses(con, "sec"))
	}
	stop()

	stop = run(map[string]command.EngineFunc{sensorproto.ScanSecret: secrets})
	defer stop()
	waitFor(t, "a poll declaring secret", func() bool { return slices.Equal(con.PollTypes(), []string{"vulnerability", "secret"}) })
	con.Queue(sensorproto.Command{ID: "2", Kind: "scan", ScanID: "sec2", ScanType: "secret", Target: sensorproto.CommandTarget{Kind: "host"}})
	waitFor(t, "the secret scan to complete", func() bool { return last(statuses(con, "sec2")) == "complete" })
	res := con.Results("sec2")
	if res == nil || res.Type != "secret" || len(res.Secrets) != 1 || res.Secrets[0].Rule != "aws-access-token" {
		t.Fatalf("results %+v", res)
	}
	if con.Inventory("sec2") != nil {
		t.Error("a secret scan uploaded an inventory")
	}
}

// TestRunnerEngineCommand: an engine reads the command it runs for (a
// compliance scan's profile) from its context; the complete status counts
// the checks and the failed ones.
func TestRunnerEngineCommand(t *testing.T) {
	con := consoletest.Start(t)
	cl, err := client.New(client.Config{ConsoleURL: con.URL(), Key: con.Key, PinSHA256: con.Pin()})
	if err != nil {
		t.Fatal(err)
	}
	profiles := make(chan string, 1)
	comp := func(ctx context.Context, target sensorproto.CommandTarget, progress func(float64)) (*sensorproto.Results, error) {
		c, _ := command.CommandOf(ctx)
		profiles <- c.Profile
		check := sensorproto.ComplianceCheck{Benchmark: "b", Profile: "p", Rule: "r1", Result: "fail"}
		pass := check
		pass.Rule, pass.Result = "r2", "pass"
		return &sensorproto.Results{Engine: sensorproto.Engine{Name: "test-compliance"}, Compliance: []sensorproto.ComplianceCheck{check, pass}}, nil
	}
	r := command.New(command.Config{SensorID: "s1", PollInterval: 50 * time.Millisecond, Heartbeat: 100 * time.Millisecond,
		Engines: map[string]command.EngineFunc{sensorproto.ScanCompliance: comp}}, cl)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	con.Queue(sensorproto.Command{ID: "1", Kind: "scan", ScanID: "c1", ScanType: "compliance", Profile: "cis-level1-server", Target: sensorproto.CommandTarget{Kind: "host"}})
	waitFor(t, "the compliance scan to complete", func() bool { return last(statuses(con, "c1")) == "complete" })
	if got := <-profiles; got != "cis-level1-server" {
		t.Errorf("engine saw profile %q", got)
	}
	st := con.Statuses("c1")
	if msg := st[len(st)-1].Message; msg != "2 checks, 1 failed" {
		t.Errorf("complete message %q", msg)
	}
}
