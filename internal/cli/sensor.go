package cli

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/malwarescan"
	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensor"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensor/command"
	"github.com/riskmap/riskmap/internal/sensor/kubernetes"
	"github.com/riskmap/riskmap/internal/sensor/privileges"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

const sensorUsage = `Usage: riskmap sensor --console https://HOST:PORT --enrolment-token-file FILE [flags]

Discovers this host's processes, connections, containers, images and pods,
reports them to the console and runs the scans it asks for. TLS to the
console is always verified; pin a self-signed console with
--console-ca-sha256 (the fingerprint the console prints).

The first start enrols the sensor with an enrolment token an admin created
(console: Sensors, or POST /api/v1/enrolment-tokens): the console assigns
the sensor an id and a key of its own, kept in --state-dir/identity.json
(mode 0600); later starts use that identity, and the token is no longer
needed. The key is rotated every --key-rotation.

  riskmap sensor --once --output report.json   one pass, no console
  riskmap sensor --dry-run                     run the loop, drop reports

Flags:
`

func runSensor(ctx context.Context, args []string, stdio IO) error {
	fs := flag.NewFlagSet("sensor", flag.ContinueOnError)
	fs.SetOutput(stdio.Stderr)
	fs.Usage = func() { io.WriteString(stdio.Stderr, sensorUsage); fs.PrintDefaults() }
	d := sensor.Default()
	var (
		consoleURL = fs.String("console", os.Getenv("RISKMAP_CONSOLE"), "console base URL, https:// (env RISKMAP_CONSOLE)")
		token      = fs.String("enrolment-token", "", "enrolment token for the first start (prefer env RISKMAP_ENROLMENT_TOKEN or --enrolment-token-file: flags show in ps)")
		tokenFile  = fs.String("enrolment-token-file", "", "file holding the enrolment token (mode 0600)")
		stateDir   = fs.String("state-dir", envOr("RISKMAP_SENSOR_STATE_DIR", "/var/lib/riskmap-sensor"), "directory of the sensor's identity (env RISKMAP_SENSOR_STATE_DIR)")
		rotate     = fs.Duration("key-rotation", 30*24*time.Hour, "rotate the sensor's key this often (0: never)")
		keepPriv   = fs.Bool("allow-full-privileges", false, "run on when dropping privileges fails (otherwise the sensor stops)")
		pin        = fs.String("console-ca-sha256", os.Getenv("RISKMAP_CONSOLE_CA_SHA256"), "SHA-256 (hex) of the console's certificate, for a self-signed console")
		caFile     = fs.String("console-ca", "", "PEM file of CA certificates to verify the console with (default: system roots)")
		sensorID   = fs.String("sensor-id", "", "with --once or --dry-run: the sensor id in reports (default: from the host's machine id); an enrolled sensor uses the id the console assigned")
		procRoot   = fs.String("proc", d.ProcRoot, "proc filesystem of the host PID namespace")
		hostRoot   = fs.String("host-root", d.HostRoot, "host root filesystem (a sensor container mounts / read-only at /host)")
		interval   = fs.Duration("interval", d.Interval, "report interval until the console sets one")
		dockerHost = fs.String("docker-host", d.DockerHost, `Docker engine address, or "off"`)
		ctrdSocks  = fs.String("containerd-sockets", strings.Join(d.ContainerdSockets, ","), `containerd sockets (comma-separated), or "off"`)
		noCT       = fs.Bool("no-conntrack", false, "do not read conntrack flows")
		cloudURL   = fs.String("cloud-metadata", "", `instance metadata base URL (default http://169.254.169.254), or "off"`)
		k8sMode    = fs.String("kubernetes", "auto", `Kubernetes discovery: auto (in-cluster when run as a pod, or --kubeconfig), off`)
		kubeconfig = fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig for Kubernetes discovery outside a cluster")
		nodeName   = fs.String("node-name", os.Getenv("NODE_NAME"), "this node's Kubernetes name (env NODE_NAME from the downward API)")
		cluster    = fs.String("cluster-name", os.Getenv("RISKMAP_CLUSTER_NAME"), "cluster name shown in the console")
		slots      = fs.Int("scan-slots", 1, "scans run at the same time")
		yaraPath   = fs.String("yara", "", "the yara program malware scans run (default: yara on PATH; without it the sensor runs no malware scan)")
		mwRules    = fs.String("malware-rules", "", "data directory whose malware rule bundle malware scans use (riskmap malware-rules import --db DIR; default: --state-dir; none imported: the built-in rules)")
		once       = fs.Bool("once", false, "collect once, write the full report to --output and exit")
		output     = fs.String("output", "-", "with --once: report file (.gz for gzip), - for stdout")
		dryRun     = fs.Bool("dry-run", false, "run the collection loop without a console (reports are dropped)")
		logLevel   = fs.String("log-level", "info", "debug, info, warn or error")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &ExitError{Code: 2, Err: err}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("--log-level %q: %w", *logLevel, err)}
	}
	log := slog.New(slog.NewTextHandler(stdio.Stderr, &slog.HandlerOptions{Level: lvl}))
	// A sensor is a small, long-running guest on someone's host: collect
	// garbage more eagerly than Go's default unless the operator set GOGC
	// or GOMEMLIMIT.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(128 << 20)
	}
	cfg := sensor.Config{SensorID: *sensorID, Version: Version, ProcRoot: *procRoot, HostRoot: *hostRoot, Interval: *interval,
		DockerHost: *dockerHost, ContainerdSockets: strings.Split(*ctrdSocks, ","), Conntrack: !*noCT,
		CloudMetadataURL: *cloudURL, Logger: log, YaraPath: *yaraPath, MalwareRulesDir: malwarescan.StoreDir(cmp.Or(*mwRules, *stateDir))}
	if *ctrdSocks == "" {
		cfg.ContainerdSockets = []string{"off"}
	}
	k8s, err := kubernetesProbe(*k8sMode, *kubeconfig, *nodeName, *cluster, log)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	cfg.Kubernetes = k8s
	if *once || *dryRun {
		s, err := sensor.New(cfg)
		if err != nil {
			return &ExitError{Code: 2, Err: err}
		}
		defer s.Close()
		if err := dropPrivileges(!*noCT, *keepPriv, log); err != nil {
			return &ExitError{Code: 2, Err: err}
		}
		if *once {
			return writeOnce(ctx, s, *output, stdio)
		}
		log.Info("sensor dry run: collecting without a console", "sensor", s.ID(), "interval", *interval)
		return s.Run(ctx, &sensor.Discard{})
	}

	idPath := filepath.Join(*stateDir, sensor.IdentityFile)
	saved, err := sensor.LoadIdentity(idPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return &ExitError{Code: 2, Err: fmt.Errorf("sensor: %w", err)}
	}
	tok := *token
	if tok == "" {
		tok = os.Getenv("RISKMAP_ENROLMENT_TOKEN")
	}
	if *tokenFile != "" {
		if err := sensor.CheckPrivateFile(*tokenFile); err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("--enrolment-token-file: %w", err)}
		}
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("--enrolment-token-file: %w", err)}
		}
		tok = strings.TrimSpace(string(b))
	}
	console, pinned := *consoleURL, *pin
	if saved != nil {
		if console != "" && strings.TrimRight(console, "/") != strings.TrimRight(saved.Console, "/") {
			return &ExitError{Code: 2, Err: fmt.Errorf("sensor: --console %s, but %s was enrolled with %s (remove it to enrol with another console)", console, idPath, saved.Console)}
		}
		console = saved.Console
		if pinned == "" {
			pinned = saved.Pin
		}
	}
	if console == "" || (saved == nil && tok == "") {
		fs.Usage()
		return &ExitError{Code: 2, Err: fmt.Errorf("--console and, for the first start, an enrolment token (--enrolment-token-file, RISKMAP_ENROLMENT_TOKEN) are required (no identity in %s), or use --once / --dry-run", *stateDir)}
	}
	ccfg := client.Config{ConsoleURL: console, PinSHA256: pinned, Version: Version, Logger: log, UserAgent: "riskmap-sensor/" + Version}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("--console-ca: %w", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return &ExitError{Code: 2, Err: fmt.Errorf("--console-ca %s: no PEM certificates", *caFile)}
		}
		ccfg.RootCAs = pool
	}
	if saved != nil {
		ccfg.Key = saved.Key
	}
	cl, err := client.New(ccfg)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	defer cl.CloseStream()
	hostname, machineID := sensor.HostFacts(*hostRoot, *procRoot)
	// The first start enrols (retrying while the console is away); a
	// refused token or a wrong certificate is fatal.
	var id *sensor.Identity
	for {
		id, err = sensor.Enrol(ctx, cl, sensor.EnrolConfig{Path: idPath, Console: console, Pin: pinned, Token: tok,
			Hostname: hostname, MachineID: machineID, Version: Version})
		if err == nil {
			break
		}
		var se *client.StatusError
		if errors.Is(err, client.ErrPinMismatch) || (errors.As(err, &se) && se.Code < 500 && se.Code != http.StatusTooManyRequests) || ctx.Err() != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("sensor: enrol: %w", err)}
		}
		log.Warn("console not reachable for enrolment yet; will keep trying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
		}
	}
	if saved == nil {
		log.Info("sensor enrolled", "sensor", id.SensorID, "identity", idPath)
	}
	cfg.SensorID = id.SensorID
	s, err := sensor.New(cfg)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	defer s.Close()
	if err := dropPrivileges(!*noCT, *keepPriv, log); err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	// A revoked sensor or a wrong certificate is fatal at start; an
	// unreachable console is not (the sensor retries with backoff).
	if err := cl.Authenticate(ctx); err != nil {
		var se *client.StatusError
		if errors.Is(err, client.ErrPinMismatch) || (errors.As(err, &se) && se.Code == http.StatusUnauthorized) {
			return &ExitError{Code: 2, Err: fmt.Errorf("sensor: %w", err)}
		}
		log.Warn("console not reachable yet; will keep trying", "err", err)
	}
	log.Info("sensor starting", "sensor", s.ID(), "console", console, "pinned", pinned != "", "scan_slots", *slots)
	go sensor.RotateKeys(ctx, cl, idPath, *id, *rotate, log)
	return runWithCommands(ctx, s, cl, *slots, *stateDir, log)
}

// dropPrivileges keeps only the capabilities the sensor needs
// (docs/privileges.md); when that fails the sensor stops, unless the
// operator allowed it to run on with everything it was given.
func dropPrivileges(conntrack, keepOnError bool, log *slog.Logger) error {
	if err := privileges.Drop(privileges.Needed(conntrack)); err != nil {
		if !keepOnError {
			return fmt.Errorf("sensor: could not drop privileges: %w (--allow-full-privileges runs on anyway)", err)
		}
		log.Warn("could not drop privileges; running on with full privileges (--allow-full-privileges)", "err", err)
		return nil
	}
	if eff, err := privileges.Effective(); err == nil {
		log.Debug("privileges dropped", "effective_capabilities", fmt.Sprintf("%#x", eff))
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func writeOnce(ctx context.Context, s *sensor.Sensor, output string, stdio IO) error {
	r := s.Collect(ctx)
	r.Seq = 1
	if output == "-" {
		enc := json.NewEncoder(stdio.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	var b []byte
	var err error
	if strings.HasSuffix(output, ".gz") {
		b, err = report.Marshal(r, report.DefaultLimits())
	} else {
		b, err = json.MarshalIndent(r, "", "  ")
	}
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	if err := os.WriteFile(output, b, 0o600); err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("write report: %w", err)}
	}
	return nil
}

// runWithCommands runs the report loop and the command loop until ctx ends;
// scratch is a writable directory for the engines' files (the sensor's
// container is read-only but for its state directory).
func runWithCommands(ctx context.Context, s *sensor.Sensor, cl *client.Client, slots int, scratch string, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	engines := map[string]command.EngineFunc{sensorproto.ScanSecret: s.ScanSecrets}
	// Compliance scans: OpenSCAP (oscap and the SCAP Security Guide
	// content, in the sensor image or on the host), kube-bench, the CIS
	// Docker checks; declared when one of them runs here.
	if eng, notes := s.ComplianceEngine(ctx, sensor.ComplianceConfig{TempDir: scratch}); eng == nil {
		log.Info("compliance scans off", "engines", strings.Join(notes, "; "))
	} else {
		engines[sensorproto.ScanCompliance] = eng
		log.Info("compliance scans on", "engines", strings.Join(notes, "; "))
	}
	done := make(chan error, 1)
	// Malware scans run the yara program: declared only when it is here.
	if eng, err := s.MalwareEngine(); err != nil {
		log.Info("malware scans off", "reason", err)
	} else {
		engines[sensorproto.ScanMalware] = s.ScanMalware
		log.Info("malware scans on", "engine", eng.Yara, "version", eng.Version)
	}
	go func() {
		done <- command.New(command.Config{SensorID: s.ID(), Slots: slots, Scan: s.Scan, Logger: log, Engines: engines}, cl).Run(ctx)
	}()
	err := s.Run(ctx, cl)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	return err
}

// kubernetesProbe builds the Kubernetes probe: in auto mode, in-cluster
// when running as a pod, from --kubeconfig when given, else none.
func kubernetesProbe(mode, kubeconfig, node, cluster string, log *slog.Logger) (sensor.KubernetesProbe, error) {
	switch mode {
	case "off":
		return nil, nil
	case "auto", "":
	default:
		return nil, fmt.Errorf("--kubernetes %q: want auto or off", mode)
	}
	if kubeconfig == "" && !kubernetes.InCluster() {
		return nil, nil
	}
	p, err := kubernetes.New(kubernetes.Config{Kubeconfig: kubeconfig, NodeName: node, ClusterName: cluster, Logger: log})
	if err != nil {
		return nil, err
	}
	return p, nil
}
