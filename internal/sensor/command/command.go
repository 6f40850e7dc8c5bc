// Package command runs the console's commands on the sensor: it polls for
// commands offering its free scan slots and the scan types it runs, runs
// each scan (a vulnerability scan: an inventory of the host, a running
// container or a local image, uploaded for the console to match; another
// type: its engine's findings, uploaded as results; a type this sensor has
// no engine for fails at once, naming it) and reports the scan's status (running with heartbeats every 15 s, then
// complete, error or cancelled). A cancel command stops a scan promptly
// through its context; every scan the sensor accepts reaches a terminal
// status it tries hard to deliver.
package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

// Console is the part of the console client the runner uses.
type Console interface {
	PollCommands(ctx context.Context, sensorID string, freeSlots int, scanTypes ...string) ([]sensorproto.Command, error)
	SetScanStatus(ctx context.Context, scanID string, st sensorproto.ScanStatus) error
	UploadInventory(ctx context.Context, scanID string, inv *inventory.Inventory) error
	UploadResults(ctx context.Context, scanID string, res *sensorproto.Results) error
}

// EngineFunc runs the engine of a scan type other than vulnerability (the
// secret or malware scanner) on a target and returns its findings; it
// reports progress in [0,1] and returns promptly with ctx's error when
// ctx is cancelled.
type EngineFunc func(ctx context.Context, target sensorproto.CommandTarget, progress func(float64)) (*sensorproto.Results, error)

// commandKey carries the scan command on an engine's context.
type commandKey struct{}

// CommandOf returns the scan command an EngineFunc runs for (its
// Profile, for a compliance engine), from the context the runner gives
// it. The command travels on the context so that EngineFunc keeps the
// signature every engine implements.
func CommandOf(ctx context.Context) (sensorproto.Command, bool) {
	c, ok := ctx.Value(commandKey{}).(sensorproto.Command)
	return c, ok
}

// WithCommand returns ctx carrying c, as the runner gives an engine
// (for tests that call an engine directly).
func WithCommand(ctx context.Context, c sensorproto.Command) context.Context {
	return context.WithValue(ctx, commandKey{}, c)
}

// ScanFunc builds the inventory of a target; it reports progress in [0,1]
// and returns promptly with ctx's error when ctx is cancelled.
type ScanFunc func(ctx context.Context, target sensorproto.CommandTarget, progress func(float64)) (*inventory.Inventory, error)

// Config configures a runner.
type Config struct {
	SensorID string
	// Slots is how many scans run at once (default 1).
	Slots int
	// PollInterval is the time between polls (default 5 s).
	PollInterval time.Duration
	// Heartbeat is the time between running statuses (default 15 s).
	Heartbeat time.Duration
	// Scan builds inventories (vulnerability scans).
	Scan ScanFunc
	// Engines run the other scan types, by type (sensorproto.ScanSecret,
	// ScanMalware...). The sensor declares vulnerability and these types
	// in its polls.
	Engines map[string]EngineFunc
	Logger  *slog.Logger
}

// Runner polls and runs commands.
type Runner struct {
	cfg     Config
	console Console

	mu      sync.Mutex
	running map[string]*job
	wg      sync.WaitGroup
}

type job struct {
	cancel    context.CancelFunc
	cancelled bool
	progress  float64
}

// New returns a runner.
func New(cfg Config, console Console) *Runner {
	if cfg.Slots <= 0 {
		cfg.Slots = 1
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{cfg: cfg, console: console, running: map[string]*job{}}
}

// Run polls until ctx ends; running scans are then cancelled and report it.
func (r *Runner) Run(ctx context.Context) error {
	failures := 0
	for {
		wait := r.cfg.PollInterval
		r.mu.Lock()
		free := r.cfg.Slots - len(r.running)
		r.mu.Unlock()
		cmds, err := r.console.PollCommands(ctx, r.cfg.SensorID, free, r.ScanTypes()...)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			wait = min(r.cfg.PollInterval<<min(failures, 4), 2*time.Minute)
			var se *client.StatusError
			if errors.As(err, &se) && se.RetryAfter > wait {
				wait = se.RetryAfter
			}
			if failures == 1 || failures%10 == 0 {
				r.cfg.Logger.Warn("command poll failed", "failures", failures, "retry_in", wait, "err", err)
			}
		} else {
			failures = 0
			for _, c := range cmds {
				r.handle(ctx, c)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
			continue
		}
		break
	}
	r.mu.Lock()
	for _, j := range r.running {
		j.cancelled = true
		j.cancel()
	}
	r.mu.Unlock()
	r.wg.Wait()
	return nil
}

// ScanTypes are the scan types this sensor runs: vulnerability, then those
// it has an engine for.
func (r *Runner) ScanTypes() []string {
	out := []string{sensorproto.ScanVulnerability}
	for _, t := range sensorproto.ScanTypes {
		if r.cfg.Engines[t] != nil && t != sensorproto.ScanVulnerability {
			out = append(out, t)
		}
	}
	return out
}

// Running returns the ids of running scans.
func (r *Runner) Running() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for id := range r.running {
		ids = append(ids, id)
	}
	return ids
}

func (r *Runner) handle(ctx context.Context, c sensorproto.Command) {
	log := r.cfg.Logger.With("command", c.ID, "scan", c.ScanID)
	switch c.Kind {
	case "cancel":
		r.mu.Lock()
		j := r.running[c.ScanID]
		if j != nil {
			j.cancelled = true
			j.cancel()
		}
		r.mu.Unlock()
		if j == nil {
			// Not running here (finished, or never started): say so, so the
			// console can close it.
			r.status(ctx, c.ScanID, sensorproto.ScanStatus{Status: sensorproto.StatusCancelled, Message: "not running on this sensor"})
		}
		log.Info("scan cancel requested", "was_running", j != nil)
	case "scan":
		if typ := c.CommandScanType(); !slices.Contains(r.ScanTypes(), typ) {
			// A console that did not read the poll's types (or a type this
			// build knows nothing of): fail it now rather than let it wait.
			r.status(ctx, c.ScanID, sensorproto.ScanStatus{Status: sensorproto.StatusFailed,
				Message: fmt.Sprintf("this sensor cannot run %s scans (it runs: %s)", typ, strings.Join(r.ScanTypes(), ", "))})
			log.Warn("scan of a type this sensor cannot run refused", "type", typ)
			return
		}
		r.mu.Lock()
		if _, dup := r.running[c.ScanID]; dup {
			r.mu.Unlock()
			return
		}
		if len(r.running) >= r.cfg.Slots {
			r.mu.Unlock()
			r.status(ctx, c.ScanID, sensorproto.ScanStatus{Status: sensorproto.StatusFailed, Message: "no free scan slot on this sensor"})
			return
		}
		sctx, cancel := context.WithCancel(ctx)
		j := &job{cancel: cancel}
		r.running[c.ScanID] = j
		r.mu.Unlock()
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer cancel()
			r.scan(ctx, sctx, c, j, log)
		}()
	}
}

func (r *Runner) scan(ctx, sctx context.Context, c sensorproto.Command, j *job, log *slog.Logger) {
	start := time.Now()
	typ := c.CommandScanType()
	log.Info("scan started", "type", typ, "target", c.Target.Kind, "ref", c.Target.Ref)
	r.status(ctx, c.ScanID, sensorproto.ScanStatus{Status: sensorproto.StatusRunning})
	hbDone := make(chan struct{})
	go func() {
		t := time.NewTicker(r.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-hbDone:
				return
			case <-t.C:
				r.mu.Lock()
				p := j.progress
				r.mu.Unlock()
				r.status(sctx, c.ScanID, sensorproto.ScanStatus{Status: sensorproto.StatusRunning, Progress: p})
			}
		}
	}()
	progress := func(p float64) {
		r.mu.Lock()
		j.progress = min(max(p, 0), 1)
		r.mu.Unlock()
	}
	var inv *inventory.Inventory
	var res *sensorproto.Results
	var err error
	var done string // what the complete status says
	switch {
	case typ != sensorproto.ScanVulnerability:
		res, err = r.cfg.Engines[typ](WithCommand(sctx, c), c.Target, progress)
		if err == nil && res == nil {
			err = fmt.Errorf("%s engine returned no results", typ)
		}
		if err == nil {
			res.Type = typ
			err = r.console.UploadResults(sctx, c.ScanID, res)
			if err != nil {
				err = fmt.Errorf("upload %s results: %w", typ, err)
			}
			done = fmt.Sprintf("%d findings in %d files", len(res.Secrets)+len(res.Malware), res.Files)
			if len(res.Compliance) > 0 {
				failed := 0
				for _, ch := range res.Compliance {
					if ch.Result == sensorproto.CheckFail {
						failed++
					}
				}
				done = fmt.Sprintf("%d checks, %d failed", len(res.Compliance), failed)
			}
		}
	case r.cfg.Scan == nil:
		err = errors.New("this sensor build cannot scan")
	default:
		inv, err = r.cfg.Scan(sctx, c.Target, progress)
		if err == nil && inv == nil {
			err = errors.New("scanner returned no inventory")
		}
		if err == nil {
			err = r.console.UploadInventory(sctx, c.ScanID, inv)
			if err != nil {
				err = fmt.Errorf("upload inventory: %w", err)
			}
			done = fmt.Sprintf("%d packages", len(inv.Packages))
		}
	}
	close(hbDone)
	r.mu.Lock()
	// Cancelled by a command, or because the sensor is stopping.
	cancelled := j.cancelled || ctx.Err() != nil
	delete(r.running, c.ScanID)
	r.mu.Unlock()
	// The terminal status is sent even when the sensor is stopping.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	switch {
	case cancelled:
		r.status(fctx, c.ScanID, sensorproto.ScanStatus{Status: sensorproto.StatusCancelled, Message: "cancelled", Progress: j.progress})
		log.Info("scan cancelled", "after", time.Since(start).Round(time.Millisecond))
	case err != nil:
		r.status(fctx, c.ScanID, sensorproto.ScanStatus{Status: sensorproto.StatusFailed, Message: trunc(err.Error())})
		log.Warn("scan failed", "err", err)
	default:
		r.status(fctx, c.ScanID, sensorproto.ScanStatus{Status: sensorproto.StatusComplete, Progress: 1, Message: done})
		log.Info("scan complete", "result", done, "took", time.Since(start).Round(time.Millisecond))
	}
}

// status delivers a status, retrying a few times with backoff.
func (r *Runner) status(ctx context.Context, scanID string, st sensorproto.ScanStatus) {
	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := r.console.SetScanStatus(ctx, scanID, st)
		if err == nil {
			return
		}
		var se *client.StatusError
		if attempt == 5 || ctx.Err() != nil || (errors.As(err, &se) && se.Code >= 400 && se.Code < 500 && se.Code != 429 && se.Code != 401) {
			r.cfg.Logger.Warn("scan status not delivered", "scan", scanID, "status", st.Status, "err", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay *= 2
	}
}

func trunc(s string) string {
	if len(s) > 1000 {
		return s[:1000]
	}
	return s
}
