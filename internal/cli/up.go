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
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/sensor"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/store"
)

// LocalSensorEmail is the account `riskmap up` creates for its own sensor.
// It has the standard role and no usable password: it cannot sign in, only
// report through its API key (kept in the data directory, mode 0600). An
// admin sees it in the user list and may disable or delete it.
const LocalSensorEmail = "local-sensor@riskmap.invalid"

// LocalSensorKeyFile is where `riskmap up` keeps its sensor's API key.
const LocalSensorKeyFile = "local-sensor.key"

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

// runLocalSensor waits for the first registration, makes sure the local
// sensor account and key exist, and runs a sensor against this console with
// its certificate pinned.
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
	key, err := localSensorKey(ctx, app.store, app.cfg.DataDir)
	if err != nil {
		return err
	}
	if key == "" {
		log.Info("the local sensor account is disabled by an admin; not starting the local sensor")
		return nil
	}
	cfg := sensor.Default()
	cfg.Version = Version
	cfg.Logger = log
	s, err := sensor.New(cfg)
	if err != nil {
		return fmt.Errorf("local sensor: %w", err)
	}
	defer s.Close()
	url := "https://" + loopbackAddr(app.run.Addr)
	cl, err := client.New(client.Config{ConsoleURL: url, APIKey: key, PinSHA256: app.run.Fingerprint, Logger: log, UserAgent: "riskmap-sensor/" + Version})
	if err != nil {
		return fmt.Errorf("local sensor: %w", err)
	}
	log.Info("local sensor starting", "sensor", s.ID(), "console", url)
	return runWithCommands(ctx, s, cl, 1, log)
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

// localSensorKey returns the API key of the local sensor account, creating
// the account (standard role, no usable password) and a key when needed. It
// returns "" when an admin has disabled the account.
func localSensorKey(ctx context.Context, st *store.Store, dataDir string) (string, error) {
	path := filepath.Join(dataDir, LocalSensorKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		key := strings.TrimSpace(string(b))
		if auth.WellFormed(key, auth.APIKeyPrefix) {
			_, u, err := st.APIKeyUser(ctx, auth.HashSecret(key))
			if err == nil {
				if u.Disabled {
					return "", nil
				}
				return key, nil
			}
		}
	}
	u, err := st.UserByEmail(ctx, LocalSensorEmail)
	switch {
	case errors.Is(err, store.ErrNotFound):
		u, err = createLocalSensorUser(ctx, st)
		if err != nil {
			return "", err
		}
	case err != nil:
		return "", fmt.Errorf("local sensor account: %w", err)
	}
	if u.Disabled {
		return "", nil
	}
	key, err := auth.NewSecret(auth.APIKeyPrefix)
	if err != nil {
		return "", err
	}
	if _, err := st.SetAPIKey(ctx, u.ID, auth.HashSecret(key), auth.SecretHint(key)); err != nil {
		return "", fmt.Errorf("local sensor API key: %w", err)
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("local sensor API key: %w", err)
	}
	org, err := st.Org(ctx)
	if err == nil {
		_, _ = st.AppendAudit(ctx, store.AuditEntry{OrgID: org.ID, Actor: "system", Action: "apikey.reset", Target: LocalSensorEmail, Detail: "riskmap up: local sensor key"})
	}
	return key, nil
}

// createLocalSensorUser adds the local sensor account through the same
// invitation path every user takes, so it follows the same rules.
func createLocalSensorUser(ctx context.Context, st *store.Store) (store.User, error) {
	org, err := st.Org(ctx)
	if err != nil {
		return store.User{}, fmt.Errorf("local sensor account: %w", err)
	}
	token, err := auth.NewSecret(auth.InvitationPrefix)
	if err != nil {
		return store.User{}, err
	}
	if _, err := st.CreateInvitation(ctx, org.ID, LocalSensorEmail, auth.RoleStandard, auth.HashSecret(token), "", time.Minute); err != nil {
		return store.User{}, fmt.Errorf("local sensor account: %w", err)
	}
	// "!" is no PHC string: no password ever verifies against it.
	u, _, err := st.AcceptInvitation(ctx, auth.HashSecret(token), "Local sensor (riskmap up)", "!")
	if err != nil {
		return store.User{}, fmt.Errorf("local sensor account: %w", err)
	}
	_, _ = st.AppendAudit(ctx, store.AuditEntry{OrgID: org.ID, Actor: "system", Action: "user.create", Target: LocalSensorEmail, Detail: "riskmap up: local sensor account (standard role, cannot sign in)"})
	return u, nil
}
