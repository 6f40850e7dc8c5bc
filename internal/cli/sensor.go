package cli

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensor"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensor/command"
	"github.com/riskmap/riskmap/internal/sensor/kubernetes"
	"github.com/riskmap/riskmap/internal/sensor/privileges"
)

const sensorUsage = `Usage: riskmap sensor --console https://HOST:PORT --api-key KEY [flags]

Discovers this host's processes, connections, containers, images and pods,
reports them to the console and runs the scans it asks for. TLS to the
console is always verified; pin a self-signed console with
--console-ca-sha256 (the fingerprint the console prints).

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
		apiKey     = fs.String("api-key", "", "sensor API key (prefer env RISKMAP_API_KEY or --api-key-file: flags show in ps)")
		apiKeyFile = fs.String("api-key-file", "", "file holding the API key")
		pin        = fs.String("console-ca-sha256", os.Getenv("RISKMAP_CONSOLE_CA_SHA256"), "SHA-256 (hex) of the console's certificate, for a self-signed console")
		caFile     = fs.String("console-ca", "", "PEM file of CA certificates to verify the console with (default: system roots)")
		sensorID   = fs.String("sensor-id", "", "sensor id (default: from the host's machine id)")
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
		CloudMetadataURL: *cloudURL, Logger: log}
	if *ctrdSocks == "" {
		cfg.ContainerdSockets = []string{"off"}
	}
	k8s, err := kubernetesProbe(*k8sMode, *kubeconfig, *nodeName, *cluster, log)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	cfg.Kubernetes = k8s
	s, err := sensor.New(cfg)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	defer s.Close()
	// Keep only the capabilities the sensor needs (docs/privileges.md).
	if err := privileges.Drop(privileges.Needed(!*noCT)); err != nil {
		log.Warn("could not drop privileges", "err", err)
	} else if eff, err := privileges.Effective(); err == nil {
		log.Debug("privileges dropped", "effective_capabilities", fmt.Sprintf("%#x", eff))
	}

	if *once {
		return writeOnce(ctx, s, *output, stdio)
	}
	if *dryRun {
		log.Info("sensor dry run: collecting without a console", "sensor", s.ID(), "interval", *interval)
		return s.Run(ctx, &sensor.Discard{})
	}
	key := *apiKey
	if key == "" {
		key = os.Getenv("RISKMAP_API_KEY")
	}
	if *apiKeyFile != "" {
		b, err := os.ReadFile(*apiKeyFile)
		if err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("--api-key-file: %w", err)}
		}
		key = strings.TrimSpace(string(b))
	}
	if *consoleURL == "" || key == "" {
		fs.Usage()
		return &ExitError{Code: 2, Err: errors.New("--console and an API key (--api-key, --api-key-file or RISKMAP_API_KEY) are required, or use --once / --dry-run")}
	}
	ccfg := client.Config{ConsoleURL: *consoleURL, APIKey: key, PinSHA256: *pin, Logger: log, UserAgent: "riskmap-sensor/" + Version}
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
	cl, err := client.New(ccfg)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	// A wrong key or certificate is fatal at start; an unreachable console
	// is not (the sensor retries with backoff).
	if err := cl.Authenticate(ctx); err != nil {
		var se *client.StatusError
		if errors.Is(err, client.ErrPinMismatch) || (errors.As(err, &se) && se.Code == 401) {
			return &ExitError{Code: 2, Err: fmt.Errorf("sensor: %w", err)}
		}
		log.Warn("console not reachable yet; will keep trying", "err", err)
	}
	log.Info("sensor starting", "sensor", s.ID(), "console", *consoleURL, "pinned", *pin != "", "scan_slots", *slots)
	return runWithCommands(ctx, s, cl, *slots, log)
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

// runWithCommands runs the report loop and the command loop until ctx ends.
func runWithCommands(ctx context.Context, s *sensor.Sensor, cl *client.Client, slots int, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- command.New(command.Config{SensorID: s.ID(), Slots: slots, Scan: s.Scan, Logger: log}, cl).Run(ctx)
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
