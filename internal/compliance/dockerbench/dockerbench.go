// Package dockerbench checks a Docker engine and its running containers
// against the CIS Docker Benchmark v1.6.0, in Go, through the engine API
// (github.com/moby/moby/client) and the daemon's own configuration.
//
// Collect reads a Snapshot: the daemon's settings from `docker info`, from
// dockerd's command line (found in /proc by its process name) and from
// daemon.json (the --config-file it was given, else
// /etc/docker/daemon.json, read through the host's root); and, per running
// container, the settings the benchmark's runtime section looks at
// (privileges, namespaces, user, limits, mounts, capabilities, security
// options, restart policy, health check, published ports). Evaluate turns
// a Snapshot into compliance checks: the daemon checks of section 2 once,
// the container checks (4.1 and section 5) once per container with the
// container's name as the subject. A setting that could not be read makes
// its check notchecked, never a guess. The Snapshot (without environment
// variables or labels) is the results' raw document.
package dockerbench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/client"

	"github.com/riskmap/riskmap/internal/intake"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

// Name is the engine's name in results.
const Name = "riskmap-dockerbench"

// Benchmark is the ComplianceCheck.Benchmark of every check, Version the
// CIS Docker Benchmark version the checks follow.
const (
	Benchmark = "cis-docker"
	Version   = "1.6.0"
)

// RawFormat names the raw document: the Snapshot as JSON.
const RawFormat = "riskmap-docker-json"

// DefaultDaemonConfig is where dockerd reads daemon.json unless it is
// given --config-file.
const DefaultDaemonConfig = "/etc/docker/daemon.json"

// Bounds of what is read.
const (
	maxDaemonConfig = 1 << 20
	maxCmdline      = 64 << 10
	maxContainers   = 5000
)

// Config configures a scan.
type Config struct {
	// Host is the engine's address (default unix:///var/run/docker.sock).
	Host string
	// HostFS is the host's root filesystem (daemon.json); nil: os.DirFS("/").
	HostFS fs.FS
	// ProcFS is the host's /proc (dockerd's command line); nil:
	// os.DirFS("/proc"). The sensor must share the host's PID namespace
	// to see dockerd.
	ProcFS fs.FS
	// Container, when set, limits the container checks to one running
	// container (its id, an id prefix or its name); the daemon checks
	// are kept. A container that does not run is an error.
	Container string
}

// Snapshot is what the checks look at: the daemon's settings and each
// running container's.
type Snapshot struct {
	Daemon     Daemon      `json:"daemon"`
	Containers []Container `json:"containers"`
}

// Daemon holds the daemon's settings.
type Daemon struct {
	ServerVersion string `json:"serverVersion"`
	// Args is dockerd's command line without the program; ArgsRead tells
	// whether it was found (a remote engine's is not).
	Args     []string `json:"args,omitempty"`
	ArgsRead bool     `json:"argsRead"`
	// ConfigFile is daemon.json's path; Config its settings (nil when
	// the file does not exist); ConfigError why it could not be read.
	ConfigFile  string         `json:"configFile"`
	Config      map[string]any `json:"config,omitempty"`
	ConfigError string         `json:"configError,omitempty"`
	// From docker info.
	LiveRestore          bool     `json:"liveRestore"`
	Debug                bool     `json:"debug"`
	LoggingDriver        string   `json:"loggingDriver"`
	StorageDriver        string   `json:"storageDriver"`
	SecurityOptions      []string `json:"securityOptions"`
	Experimental         bool     `json:"experimental"`
	InsecureRegistries   []string `json:"insecureRegistries,omitempty"`
	AuthorizationPlugins []string `json:"authorizationPlugins,omitempty"`
	SwarmActive          bool     `json:"swarmActive"`
	// DefaultBridge is the default bridge network's driver options; nil
	// when the daemon has none (--bridge=none).
	DefaultBridge map[string]string `json:"defaultBridge,omitempty"`
	// Files are the engine's files section 3 looks at: the Unix socket,
	// /etc/docker and daemon.json, as the host root shows them.
	Files map[string]FileInfo `json:"files,omitempty"`
}

// Keys of Daemon.Files.
const (
	FileSocket       = "socket"
	FileEtcDocker    = "etc-docker"
	FileDaemonConfig = "daemon.json"
)

// FileInfo is a file's ownership and permissions.
type FileInfo struct {
	Path   string `json:"path"`
	Exists bool   `json:"exists"`
	// Mode is the permission bits; Owner and Group the owner's and
	// group's names (their numeric ids when the host's passwd or group
	// file does not name them); OwnerKnown false when the file system
	// gave no ownership.
	Mode       fs.FileMode `json:"mode"`
	Owner      string      `json:"owner,omitempty"`
	Group      string      `json:"group,omitempty"`
	OwnerKnown bool        `json:"ownerKnown"`
	Error      string      `json:"error,omitempty"`
}

// Container holds a running container's settings.
type Container struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Image string `json:"image"`
	User  string `json:"user"`

	Privileged     bool     `json:"privileged"`
	NetworkMode    string   `json:"networkMode"`
	PidMode        string   `json:"pidMode"`
	IpcMode        string   `json:"ipcMode"`
	UTSMode        string   `json:"utsMode"`
	UsernsMode     string   `json:"usernsMode"`
	CapAdd         []string `json:"capAdd,omitempty"`
	CapDrop        []string `json:"capDrop,omitempty"`
	SecurityOpt    []string `json:"securityOpt,omitempty"`
	AppArmor       string   `json:"appArmorProfile"`
	ReadonlyRootfs bool     `json:"readonlyRootfs"`

	Memory       int64    `json:"memory"`
	CPUShares    int64    `json:"cpuShares"`
	NanoCPUs     int64    `json:"nanoCpus"`
	CPUQuota     int64    `json:"cpuQuota"`
	CpusetCpus   string   `json:"cpusetCpus,omitempty"`
	PidsLimit    int64    `json:"pidsLimit"`
	CgroupParent string   `json:"cgroupParent,omitempty"`
	Devices      []string `json:"devices,omitempty"`

	Mounts  []Mount       `json:"mounts,omitempty"`
	Ports   []PortBinding `json:"ports,omitempty"`
	Restart RestartPolicy `json:"restart"`
	// Healthcheck is the health check's test ("" none; NONE disabled).
	Healthcheck string `json:"healthcheck,omitempty"`
}

// Mount is a container mount.
type Mount struct {
	Type        string `json:"type"`
	Source      string `json:"source"`
	Destination string `json:"destination"`
	RW          bool   `json:"rw"`
	Propagation string `json:"propagation,omitempty"`
}

// PortBinding is a published port.
type PortBinding struct {
	ContainerPort string `json:"containerPort"` // "80/tcp"
	HostIP        string `json:"hostIp,omitempty"`
	HostPort      int    `json:"hostPort"`
}

// RestartPolicy is a container's restart policy.
type RestartPolicy struct {
	Name       string `json:"name"`
	MaxRetries int    `json:"maxRetries,omitempty"`
}

// Scan collects a snapshot of the engine at cfg.Host and evaluates it.
func Scan(ctx context.Context, cfg Config) (*sensorproto.Results, error) {
	if cfg.Host == "" {
		cfg.Host = "unix:///var/run/docker.sock"
	}
	cli, err := client.New(client.WithHost(cfg.Host))
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", cfg.Host, err)
	}
	defer cli.Close()
	snap, err := Collect(ctx, cli, cfg)
	if err != nil {
		return nil, err
	}
	if ref := strings.TrimPrefix(cfg.Container, "/"); ref != "" {
		i := slices.IndexFunc(snap.Containers, func(c Container) bool {
			return c.Name == ref || len(ref) >= 4 && strings.HasPrefix(c.ID, ref)
		})
		if i < 0 {
			return nil, fmt.Errorf("docker benchmark: container %q is not running on %s", cfg.Container, cfg.Host)
		}
		snap.Containers = snap.Containers[i : i+1]
	}
	return Results(snap)
}

// Results evaluates a snapshot into compliance results with the snapshot
// as the raw document.
func Results(snap *Snapshot) (*sensorproto.Results, error) {
	res := &sensorproto.Results{Type: sensorproto.ScanCompliance,
		Engine:     sensorproto.Engine{Name: Name, Version: Version, RulesSet: "CIS Docker Benchmark v" + Version},
		Compliance: Evaluate(snap)}
	raw, err := json.Marshal(snap)
	if err != nil {
		return nil, fmt.Errorf("encode docker snapshot: %w", err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress docker snapshot: %w", err)
	}
	if buf.Len() <= sensorproto.MaxRawGzip {
		res.Raw, res.RawFormat = buf.Bytes(), RawFormat
	}
	return res, nil
}

// Collect reads the daemon's and the running containers' settings.
func Collect(ctx context.Context, cli *client.Client, cfg Config) (*Snapshot, error) {
	if cfg.HostFS == nil {
		cfg.HostFS = os.DirFS("/")
	}
	if cfg.ProcFS == nil {
		cfg.ProcFS = os.DirFS("/proc")
	}
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return nil, fmt.Errorf("docker: ping: %w", err)
	}
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return nil, fmt.Errorf("docker: info: %w", err)
	}
	in := info.Info
	d := Daemon{ServerVersion: in.ServerVersion, LiveRestore: in.LiveRestoreEnabled, Debug: in.Debug, LoggingDriver: in.LoggingDriver,
		StorageDriver: in.Driver, SecurityOptions: in.SecurityOptions, Experimental: in.ExperimentalBuild,
		AuthorizationPlugins: in.Plugins.Authorization, SwarmActive: in.Swarm.LocalNodeState == "active"}
	if rc := in.RegistryConfig; rc != nil {
		for _, p := range rc.InsecureRegistryCIDRs {
			if !p.Addr().IsLoopback() {
				d.InsecureRegistries = append(d.InsecureRegistries, p.String())
			}
		}
		for name, ix := range rc.IndexConfigs {
			if ix != nil && !ix.Secure {
				d.InsecureRegistries = append(d.InsecureRegistries, name)
			}
		}
		slices.Sort(d.InsecureRegistries)
	}
	if nw, err := cli.NetworkInspect(ctx, "bridge", client.NetworkInspectOptions{}); err == nil && nw.Network.Driver == "bridge" {
		d.DefaultBridge = map[string]string{}
		for k, v := range nw.Network.Options {
			d.DefaultBridge[k] = v
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if args, ok := DaemonArgs(cfg.ProcFS); ok {
		d.Args, d.ArgsRead = args, true
	}
	d.ConfigFile = DefaultDaemonConfig
	if v, ok := argValue(d.Args, "config-file", ""); ok && v != "" {
		d.ConfigFile = v
	}
	b, err := readBounded(cfg.HostFS, strings.TrimPrefix(path.Clean("/"+d.ConfigFile), "/"), maxDaemonConfig)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		d.ConfigError = err.Error()
	default:
		if d.Config, err = ParseDaemonConfig(b); err != nil {
			d.ConfigError = err.Error()
		}
	}

	d.Files = engineFiles(cfg.HostFS, &d)

	snap := &Snapshot{Daemon: d}
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{})
	if err != nil {
		return nil, fmt.Errorf("docker: list containers: %w", err)
	}
	for i, s := range list.Items {
		if i >= maxContainers {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ins, err := cli.ContainerInspect(ctx, s.ID, client.ContainerInspectOptions{})
		if err != nil {
			// Gone since the list: not running any more.
			continue
		}
		snap.Containers = append(snap.Containers, containerOf(ins))
	}
	slices.SortFunc(snap.Containers, func(a, b Container) int { return strings.Compare(a.Name, b.Name) })
	return snap, nil
}

func containerOf(ins client.ContainerInspectResult) Container {
	c := ins.Container
	out := Container{ID: c.ID, Name: strings.TrimPrefix(c.Name, "/"), AppArmor: c.AppArmorProfile}
	if c.Config != nil {
		out.Image, out.User = c.Config.Image, c.Config.User
		if hc := c.Config.Healthcheck; hc != nil && len(hc.Test) > 0 {
			out.Healthcheck = strings.Join(hc.Test, " ")
		}
	}
	if h := c.HostConfig; h != nil {
		out.Privileged, out.NetworkMode, out.PidMode, out.IpcMode = h.Privileged, string(h.NetworkMode), string(h.PidMode), string(h.IpcMode)
		out.UTSMode, out.UsernsMode, out.CapAdd, out.CapDrop = string(h.UTSMode), string(h.UsernsMode), h.CapAdd, h.CapDrop
		out.SecurityOpt, out.ReadonlyRootfs = h.SecurityOpt, h.ReadonlyRootfs
		out.Memory, out.CPUShares, out.NanoCPUs, out.CPUQuota, out.CpusetCpus = h.Memory, h.CPUShares, h.NanoCPUs, h.CPUQuota, h.CpusetCpus
		if h.PidsLimit != nil {
			out.PidsLimit = *h.PidsLimit
		}
		out.CgroupParent = h.CgroupParent
		for _, dv := range h.Devices {
			out.Devices = append(out.Devices, dv.PathOnHost+":"+dv.PathInContainer)
		}
		out.Restart = RestartPolicy{Name: string(h.RestartPolicy.Name), MaxRetries: h.RestartPolicy.MaximumRetryCount}
		for port, bs := range h.PortBindings {
			for _, b := range bs {
				pb := PortBinding{ContainerPort: port.String(), HostPort: portNum(b.HostPort)}
				if b.HostIP.IsValid() {
					pb.HostIP = b.HostIP.String()
				}
				out.Ports = append(out.Ports, pb)
			}
		}
		slices.SortFunc(out.Ports, func(a, b PortBinding) int { return strings.Compare(a.ContainerPort, b.ContainerPort) })
	}
	for _, m := range c.Mounts {
		out.Mounts = append(out.Mounts, Mount{Type: string(m.Type), Source: m.Source, Destination: m.Destination, RW: m.RW, Propagation: string(m.Propagation)})
	}
	return out
}

// portNum reads a published host port ("8080"; "8000-8010" counts as its
// first port; "" as 0: a port the engine chose, above 1024).
func portNum(s string) int {
	s, _, _ = strings.Cut(s, "-")
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 {
		return 0
	}
	return n
}

// DaemonArgs finds dockerd in a /proc tree by its process name and returns
// its arguments (without the program name); ok is false when no dockerd
// runs there (a remote engine, or a sensor without the host's PID
// namespace).
func DaemonArgs(proc fs.FS) (args []string, ok bool) {
	ents, err := fs.ReadDir(proc, ".")
	if err != nil {
		return nil, false
	}
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		comm, err := readBounded(proc, e.Name()+"/comm", 64)
		if err != nil || strings.TrimSpace(string(comm)) != "dockerd" {
			continue
		}
		b, err := readBounded(proc, e.Name()+"/cmdline", maxCmdline)
		if err != nil || len(b) == 0 {
			continue
		}
		return ParseCmdline(b), true
	}
	return nil, false
}

// ParseCmdline splits a /proc/PID/cmdline (NUL-separated) and drops the
// program name.
func ParseCmdline(b []byte) []string {
	parts := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if len(parts) <= 1 {
		return nil
	}
	return parts[1:]
}

// ParseDaemonConfig reads daemon.json: a JSON object, bounded in size and
// depth.
func ParseDaemonConfig(b []byte) (map[string]any, error) {
	if len(b) > maxDaemonConfig {
		return nil, fmt.Errorf("daemon.json: %d bytes, more than %d", len(b), maxDaemonConfig)
	}
	d := intake.NewDecoder(bytes.NewReader(b), intake.Limits{MaxInput: maxDaemonConfig, MaxBytes: maxDaemonConfig, MaxDepth: 16,
		MaxString: 64 << 10, MaxItems: 10_000, MaxElement: maxDaemonConfig})
	var m map[string]any
	err := d.Decode(&m)
	if err == nil {
		err = d.End()
	}
	if err != nil {
		return nil, fmt.Errorf("daemon.json: %w", err)
	}
	if m == nil {
		return nil, errors.New("daemon.json: not a JSON object")
	}
	return m, nil
}

func readBounded(fsys fs.FS, name string, max int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("read %s: larger than %d bytes", name, max)
	}
	return b, nil
}

// argValue finds a dockerd flag on the command line: --name=value,
// --name value, or --name alone for a boolean (value "true"); short is
// the one-letter form ("H" for --host) or "". The last occurrence wins.
func argValue(args []string, name, short string) (string, bool) {
	vals := argValues(args, name, short)
	if len(vals) == 0 {
		return "", false
	}
	return vals[len(vals)-1], true
}

// argValues returns every value of a flag (repeatable flags: -H).
func argValues(args []string, name, short string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		var flag string
		switch {
		case strings.HasPrefix(a, "--"):
			flag = a[2:]
		case short != "" && strings.HasPrefix(a, "-") && len(a) >= 2:
			flag = a[1:]
		default:
			continue
		}
		k, v, hasEq := strings.Cut(flag, "=")
		if k != name && (short == "" || k != short) {
			continue
		}
		if hasEq {
			out = append(out, v)
			continue
		}
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") && !boolFlags[name] {
			out = append(out, args[i+1])
			i++
			continue
		}
		out = append(out, "true")
	}
	return out
}

// boolFlags are dockerd's boolean flags among those the checks read: a
// bare flag is true and never takes the next argument.
var boolFlags = map[string]bool{"icc": true, "iptables": true, "userland-proxy": true, "live-restore": true, "no-new-privileges": true,
	"experimental": true, "tlsverify": true, "tls": true, "debug": true, "selinux-enabled": true}

// engineFiles stats the engine's socket (the daemon's unix:// host, else
// /run/docker.sock), /etc/docker and daemon.json in the host root.
func engineFiles(host fs.FS, d *Daemon) map[string]FileInfo {
	users, groups := idNames(host, "etc/passwd"), idNames(host, "etc/group")
	sock := "/run/docker.sock"
	for _, h := range argValues(d.Args, "host", "H") {
		if p, ok := strings.CutPrefix(h, "unix://"); ok && p != "" {
			sock = p
			break
		}
	}
	return map[string]FileInfo{
		FileSocket:       statFile(host, sock, users, groups),
		FileEtcDocker:    statFile(host, "/etc/docker", users, groups),
		FileDaemonConfig: statFile(host, d.ConfigFile, users, groups),
	}
}

func statFile(host fs.FS, p string, users, groups map[uint32]string) FileInfo {
	fi := FileInfo{Path: p}
	name := strings.TrimPrefix(path.Clean("/"+p), "/")
	// /var/run is a symbolic link to /run whose absolute target would
	// resolve outside the host root: read /run directly.
	if rest, ok := strings.CutPrefix(name, "var/run/"); ok {
		name = "run/" + rest
	}
	st, err := fs.Stat(host, name)
	if errors.Is(err, fs.ErrNotExist) {
		return fi
	}
	if err != nil {
		fi.Error = err.Error()
		return fi
	}
	fi.Exists, fi.Mode = true, st.Mode().Perm()
	if uid, gid, ok := ownerOf(st); ok {
		fi.OwnerKnown = true
		fi.Owner, fi.Group = idName(users, uid), idName(groups, gid)
	}
	return fi
}

func idName(names map[uint32]string, id uint32) string {
	if n, ok := names[id]; ok {
		return n
	}
	return strconv.FormatUint(uint64(id), 10)
}

// idNames reads the id → name map of a passwd or group file.
func idNames(host fs.FS, name string) map[uint32]string {
	b, err := readBounded(host, name, 4<<20)
	if err != nil {
		return nil
	}
	out := map[uint32]string{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 3 || f[0] == "" || strings.HasPrefix(f[0], "#") {
			continue
		}
		id, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		if _, dup := out[uint32(id)]; !dup {
			out[uint32(id)] = f[0]
		}
	}
	return out
}
