package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/malwarescan"
	"github.com/riskmap/riskmap/internal/sensor"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/store"
)

// LocalSensorIdentityFile is where `riskmap up` keeps its own sensor's
// identity (id and key, mode 0600): the local sensor enrols like any other,
// with a single-use enrolment token the console makes for it, and an admin
// sees it in the sensor list and may revoke it.
const LocalSensorIdentityFile = "local-sensor.json"

// runUp is `riskmap up`: the console on the embedded database plus a sensor
// for this machine, in one process. It takes the console's flags.
func runUp(ctx context.Context, args []string, stdio IO) error {
	start := time.Now()
	if os.Getenv("RISKMAP_LISTEN") == "" {
		// The one-command start serves this machine only unless told otherwise.
		args = append([]string{"--listen=127.0.0.1:8443"}, args...)
	}
	cfg, rest, err := config.LoadConsole("up", args, os.Getenv, stdio.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("up: %w", err)}
	}
	if len(rest) > 0 {
		return &ExitError{Code: 2, Err: fmt.Errorf("up: unexpected argument %q", rest[0])}
	}
	log := newLogger(stdio.Stderr, cfg.LogLevel, cfg.LogFormat)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	app, err := openConsole(ctx, cfg, log)
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("up: %w", err)}
	}
	defer func() { cancel(); app.close() }()
	app.banner(stdio.Stdout, start)
	fmt.Fprintf(stdio.Stdout, "\nNext: open %s in your browser, accept the certificate after checking its fingerprint,\n", app.run.URL)
	fmt.Fprintln(stdio.Stdout, "create the first account (it becomes the admin), then open the topology map and start a scan.")
	fmt.Fprintln(stdio.Stdout, "The local sensor starts reporting this machine as soon as that account exists. Ctrl-C stops both.")

	if cfg.FeedInterval > 0 && app.kb.DB() == nil && !app.kb.NeedsRebuild() {
		// A newcomer's first scan needs vulnerability data: fetch the feeds
		// now rather than at the first scheduled update.
		fmt.Fprintln(stdio.Stdout, "The vulnerability knowledge base is empty: downloading the feeds now (--feed-interval=0 to skip; `riskmap feeds import` for offline sites).")
		if _, _, err := app.jobs.Insert(ctx, feeds.KindUpdate, nil, jobs.InsertOpts{UniqueKey: feeds.UpdateUniqueKey, Priority: jobs.PriorityHigh}); err != nil {
			log.Warn("initial feed update", "err", err)
		}
	}
	sensorDone := make(chan error, 1)
	go func() { sensorDone <- runLocalSensor(ctx, app, log.With("component", "sensor")) }()
	waitErr := app.run.Wait()
	cancel()
	select {
	case err := <-sensorDone:
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("local sensor stopped", "err", err)
		}
	case <-time.After(15 * time.Second):
		log.Warn("local sensor did not stop within 15s")
	}
	if waitErr != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("up: %w", waitErr)}
	}
	return nil
}

// runLocalSensor waits for the first registration, enrols the local
// sensor (once; later starts reuse its identity) and runs it against this
// console with its certificate pinned.
func runLocalSensor(ctx context.Context, app *consoleApp, log *slog.Logger) error {
	for {
		ok, err := app.store.Registered(ctx)
		if err != nil {
			log.Warn("checking registration", "err", err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	url := "https://" + loopbackAddr(app.run.Addr)
	idPath := filepath.Join(app.cfg.DataDir, LocalSensorIdentityFile)
	ccfg := client.Config{ConsoleURL: url, PinSHA256: app.run.Fingerprint, Version: Version, Logger: log, UserAgent: "riskmap-sensor/" + Version}
	saved, err := sensor.LoadIdentity(idPath)
	switch {
	case err == nil:
		ccfg.Key = saved.Key
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("local sensor: %w", err)
	}
	cl, err := client.New(ccfg)
	if err != nil {
		return fmt.Errorf("local sensor: %w", err)
	}
	defer cl.CloseStream()
	cfg := sensor.Default()
	cfg.Version = Version
	cfg.Logger = log
	// Malware scans use the rule bundle of the data directory
	// (riskmap malware-rules import --db DATA-DIR), else the built-in rules.
	cfg.MalwareRulesDir = malwarescan.StoreDir(app.cfg.DataDir)
	token := ""
	if saved == nil {
		if token, err = localEnrolmentToken(ctx, app.store); err != nil {
			return fmt.Errorf("local sensor: %w", err)
		}
	}
	hostname, machineID := sensor.HostFacts(cfg.HostRoot, cfg.ProcRoot)
	id, err := sensor.Enrol(ctx, cl, sensor.EnrolConfig{Path: idPath, Console: url, Pin: app.run.Fingerprint, Token: token,
		Hostname: hostname, MachineID: machineID, Version: Version})
	if err != nil {
		return fmt.Errorf("local sensor: %w", err)
	}
	if err := cl.Authenticate(ctx); err != nil {
		var se *client.StatusError
		if errors.As(err, &se) && se.Code == 401 {
			log.Info("the local sensor was revoked by an admin; not starting it (delete "+idPath+" to enrol it again)", "err", err)
			return nil
		}
		return fmt.Errorf("local sensor: %w", err)
	}
	cfg.SensorID = id.SensorID
	s, err := sensor.New(cfg)
	if err != nil {
		return fmt.Errorf("local sensor: %w", err)
	}
	defer s.Close()
	log.Info("local sensor starting", "sensor", s.ID(), "console", url)
	go sensor.RotateKeys(ctx, cl, idPath, *id, 30*24*time.Hour, log)
	return runWithCommands(ctx, s, cl, 1, app.cfg.DataDir, log)
}

// loopbackAddr turns the console's listening address into one this host can
// dial (a wildcard listener is reached on loopback).
func loopbackAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// localEnrolmentToken makes the single-use, short-lived enrolment token the
// local sensor enrols with, as an admin would (recorded in the audit log).
func localEnrolmentToken(ctx context.Context, st *store.Store) (string, error) {
	org, err := st.Org(ctx)
	if err != nil {
		return "", err
	}
	secret, err := auth.NewSecret(auth.EnrolmentTokenPrefix)
	if err != nil {
		return "", err
	}
	t, err := st.CreateEnrolmentToken(ctx, store.EnrolmentToken{OrgID: org.ID, Name: "riskmap up: local sensor", Prefix: auth.SecretHint(secret),
		MaxSensors: 1, ExpiresAt: time.Now().Add(10 * time.Minute), CreatedBy: "system"}, auth.HashSecret(secret))
	if err != nil {
		return "", err
	}
	_, _ = st.AppendAudit(ctx, store.AuditEntry{OrgID: org.ID, Actor: "system", Action: store.AuditEnrolmentTokenCreate,
		Target: "enrolment token " + t.ID, Detail: "riskmap up: single use, for the local sensor"})
	return secret, nil
}
