package dockerbench

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/riskmap/riskmap/internal/sensorproto"
)

// Result values, short.
const (
	pass  = sensorproto.CheckPass
	fail  = sensorproto.CheckFail
	nc    = sensorproto.CheckNotChecked
	na    = sensorproto.CheckNotApplicable
	infoR = sensorproto.CheckInformational
)

// Rule is one recommendation of the benchmark: its CIS id and title, the
// severity riskmap gives it (CIS rates none), why it matters and how to
// fix it, and its evaluation on the daemon or on one container.
type Rule struct {
	ID, Title, Severity, Rationale, Fix string
	// Section is the benchmark section, the checks' profile.
	Section   string
	daemon    func(d *Daemon) (result, evidence string)
	container func(d *Daemon, c *Container) (result, evidence string)
}

// Sections of the benchmark used as profiles.
const (
	SectionDaemon    = "2-docker-daemon-configuration"
	SectionFiles     = "3-docker-daemon-configuration-files"
	SectionImages    = "4-container-images-and-build-file"
	SectionContainer = "5-container-runtime"
)

// Evaluate runs every rule: the daemon rules once, the container rules
// once per container (Subject: the container's name).
func Evaluate(snap *Snapshot) []sensorproto.ComplianceCheck {
	var out []sensorproto.ComplianceCheck
	d := &snap.Daemon
	for _, r := range Rules {
		if r.daemon == nil {
			continue
		}
		res, ev := r.daemon(d)
		out = append(out, r.check(res, ev, ""))
	}
	for i := range snap.Containers {
		c := &snap.Containers[i]
		for _, r := range Rules {
			if r.container == nil {
				continue
			}
			res, ev := r.container(d, c)
			subject := c.Name
			if subject == "" {
				subject = c.ID
			}
			out = append(out, r.check(res, ev, subject))
		}
	}
	return out
}

func (r *Rule) check(res, ev, subject string) sensorproto.ComplianceCheck {
	if len(ev) > 4000 {
		ev = ev[:3997] + "..."
	}
	return sensorproto.ComplianceCheck{Benchmark: Benchmark, BenchmarkVersion: Version, Profile: r.Section, Rule: r.ID, Title: r.Title,
		Severity: r.Severity, Result: res, Subject: subject, Rationale: r.Rationale, Fix: r.Fix, Evidence: ev,
		References: []sensorproto.Reference{{System: "cis", ID: "docker-" + Version + ":" + r.ID}}}
}

// setting finds a daemon setting on dockerd's command line (--name) or in
// daemon.json (key name, or jsonKey when it differs). known is false when
// the setting is not found and one of the two sources could not be read:
// its value is then unknown, not the default.
func (d *Daemon) setting(name, short, jsonKey string) (val, from string, found, known bool) {
	if v, ok := argValue(d.Args, name, short); ok {
		return v, "dockerd --" + name, true, true
	}
	if jsonKey == "" {
		jsonKey = name
	}
	if v, ok := d.Config[jsonKey]; ok {
		return jsonString(v), d.ConfigFile + " " + jsonKey, true, true
	}
	return "", "", false, d.ArgsRead && d.ConfigError == ""
}

// settings returns every value of a repeatable setting (-H, hosts).
func (d *Daemon) settings(name, short, jsonKey string) (vals []string, known bool) {
	vals = argValues(d.Args, name, short)
	if v, ok := d.Config[jsonKey]; ok {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				vals = append(vals, jsonString(e))
			}
		default:
			vals = append(vals, jsonString(x))
		}
	}
	return vals, d.ArgsRead && d.ConfigError == ""
}

func jsonString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

const unknownSetting = "dockerd's command line or daemon.json could not be read (remote engine, or no access to the host's /proc and /etc)"

// boolSetting evaluates a boolean setting: want is the compliant value,
// def the engine's default.
func boolSetting(name, jsonKey string, want, def bool) func(d *Daemon) (string, string) {
	return func(d *Daemon) (string, string) {
		v, from, found, known := d.setting(name, "", jsonKey)
		if !found {
			if !known {
				return nc, name + ": not set where readable; " + unknownSetting
			}
			if def == want {
				return pass, fmt.Sprintf("%s not set (default %t)", name, def)
			}
			return fail, fmt.Sprintf("%s not set (default %t)", name, def)
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fail, fmt.Sprintf("%s=%q (%s): not a boolean", name, v, from)
		}
		if b == want {
			return pass, fmt.Sprintf("%s=%t (%s)", name, b, from)
		}
		return fail, fmt.Sprintf("%s=%t (%s)", name, b, from)
	}
}

func hasSecurityOption(d *Daemon, name string) (string, bool) {
	for _, o := range d.SecurityOptions {
		for _, kv := range strings.Split(o, ",") {
			if kv == "name="+name {
				return o, true
			}
		}
	}
	return "", false
}

// dockerDefaultCaps is the capability set Docker grants a container.
var dockerDefaultCaps = []string{"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP",
	"SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"}

// sensitiveDirs are the host directories CIS 5.6 names.
var sensitiveDirs = []string{"/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr"}

func securityOpt(c *Container, key string) (string, bool) {
	for _, o := range c.SecurityOpt {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			k, v, ok = strings.Cut(o, ":")
		}
		if k == key {
			if !ok {
				v = "true"
			}
			return v, true
		}
	}
	return "", false
}

func nsShared(mode, name string) (string, string) {
	if mode == "host" {
		return fail, name + " mode host"
	}
	if mode == "" {
		return pass, name + " namespace private (default)"
	}
	return pass, name + " mode " + mode
}

func isRootUser(u string) bool {
	name, _, _ := strings.Cut(u, ":")
	return name == "" || name == "root" || name == "0"
}

// Rules are the checks, in benchmark order.
var Rules = []Rule{
	{ID: "2.1", Section: SectionDaemon, Severity: "low", Title: "Run the Docker daemon as a non-root user, if possible",
		Rationale: "A daemon running as root gives whoever controls it root on the host; rootless mode confines a compromise of the engine to an unprivileged user.",
		Fix:       "Where the workloads allow it, run the engine in rootless mode (dockerd-rootless-setuptool.sh install).",
		daemon: func(d *Daemon) (string, string) {
			if o, ok := hasSecurityOption(d, "rootless"); ok {
				return pass, "security option " + o
			}
			return infoR, "the daemon runs as root (no rootless security option); a manual check in CIS"
		}},
	{ID: "2.2", Section: SectionDaemon, Severity: "medium", Title: "Ensure network traffic is restricted between containers on the default bridge",
		Rationale: "Containers on the default bridge can reach each other on every port; disabling inter-container communication limits lateral movement.",
		Fix:       "Start dockerd with --icc=false (\"icc\": false in daemon.json) and link the containers that must talk on user-defined networks.",
		daemon: func(d *Daemon) (string, string) {
			if d.DefaultBridge == nil {
				return na, "the daemon has no default bridge network (--bridge=none)"
			}
			v, ok := d.DefaultBridge["com.docker.network.bridge.enable_icc"]
			if ok && v == "false" {
				return pass, "default bridge enable_icc=false"
			}
			return fail, "default bridge enable_icc=" + v
		}},
	{ID: "2.3", Section: SectionDaemon, Severity: "low", Title: "Ensure the logging level is set to 'info'",
		Rationale: "The info level records what an investigation needs without the bulk and sensitive detail of debug.",
		Fix:       "Run dockerd with --log-level=info (\"log-level\": \"info\") or without the setting, and without --debug.",
		daemon: func(d *Daemon) (string, string) {
			if d.Debug {
				return fail, "debug mode on (docker info)"
			}
			if v, from, found, _ := d.setting("debug", "D", ""); found && v == "true" {
				return fail, "debug mode on (" + from + ")"
			}
			v, from, found, known := d.setting("log-level", "l", "")
			switch {
			case !found && !known:
				return nc, "log-level: " + unknownSetting
			case !found:
				return pass, "log-level not set (default info)"
			case v == "info":
				return pass, "log-level=info (" + from + ")"
			}
			return fail, "log-level=" + v + " (" + from + ")"
		}},
	{ID: "2.4", Section: SectionDaemon, Severity: "medium", Title: "Ensure Docker is allowed to make changes to iptables",
		Rationale: "With iptables management off, published ports and network isolation depend on rules kept by hand, which drift from the containers' configuration.",
		Fix:       "Remove --iptables=false (\"iptables\": false) from the daemon's configuration.",
		daemon:    boolSetting("iptables", "", true, true)},
	{ID: "2.5", Section: SectionDaemon, Severity: "high", Title: "Ensure insecure registries are not used",
		Rationale: "Images pulled over plain HTTP or unverified TLS can be replaced in transit.",
		Fix:       "Remove every --insecure-registry (\"insecure-registries\") entry and give the registries certificates the host trusts.",
		daemon: func(d *Daemon) (string, string) {
			if len(d.InsecureRegistries) > 0 {
				return fail, "insecure registries: " + strings.Join(d.InsecureRegistries, ", ")
			}
			return pass, "no insecure registry besides loopback (docker info)"
		}},
	{ID: "2.6", Section: SectionDaemon, Severity: "medium", Title: "Ensure aufs storage driver is not used",
		Rationale: "aufs is unmaintained, absent from current kernels and has known crashes and leaks.",
		Fix:       "Use overlay2 (--storage-driver=overlay2) and migrate the images.",
		daemon: func(d *Daemon) (string, string) {
			if d.StorageDriver == "aufs" {
				return fail, "storage driver aufs"
			}
			return pass, "storage driver " + d.StorageDriver
		}},
	{ID: "2.7", Section: SectionDaemon, Severity: "critical", Title: "Ensure TLS authentication for Docker daemon is configured",
		Rationale: "The engine's API is root on the host: on a TCP socket without mutual TLS, anyone who reaches the port controls the host.",
		Fix:       "Listen on the Unix socket only, or set --tlsverify with --tlscacert, --tlscert and --tlskey for every TCP host.",
		daemon: func(d *Daemon) (string, string) {
			hosts, known := d.settings("host", "H", "hosts")
			var tcp []string
			for _, h := range hosts {
				if strings.HasPrefix(h, "tcp://") || strings.HasPrefix(h, "http") {
					tcp = append(tcp, h)
				}
			}
			if len(tcp) == 0 {
				if !known {
					return nc, "hosts: " + unknownSetting
				}
				if len(hosts) == 0 {
					return pass, "no TCP host: the daemon listens on its Unix socket only"
				}
				return pass, "no TCP host: " + strings.Join(hosts, ", ")
			}
			verify, _, _, _ := d.setting("tlsverify", "", "")
			var missing []string
			for _, k := range []string{"tlscacert", "tlscert", "tlskey"} {
				if _, _, found, _ := d.setting(k, "", ""); !found {
					missing = append(missing, k)
				}
			}
			if verify == "true" && len(missing) == 0 {
				return pass, "TCP hosts " + strings.Join(tcp, ", ") + " with tlsverify and certificates"
			}
			ev := "TCP hosts " + strings.Join(tcp, ", ")
			if verify != "true" {
				ev += " without tlsverify"
			}
			if len(missing) > 0 {
				ev += "; not set: " + strings.Join(missing, ", ")
			}
			return fail, ev
		}},
	{ID: "2.8", Section: SectionDaemon, Severity: "low", Title: "Ensure the default ulimit is configured appropriately",
		Rationale: "Default ulimits bound what a container can consume (open files, processes) before it harms the host.",
		Fix:       "Set --default-ulimit (\"default-ulimits\") to values that suit the workloads, e.g. nofile=1024:4096.",
		daemon: func(d *Daemon) (string, string) {
			v, from, found, known := d.setting("default-ulimit", "", "default-ulimits")
			switch {
			case found:
				return pass, "default ulimits " + v + " (" + from + ")"
			case !known:
				return nc, "default-ulimit: " + unknownSetting
			}
			return nc, "no default ulimit: containers inherit the daemon's limits (a manual check in CIS)"
		}},
	{ID: "2.9", Section: SectionDaemon, Severity: "medium", Title: "Enable user namespace support",
		Rationale: "With user namespace remapping, root in a container is an unprivileged user on the host.",
		Fix:       "Start dockerd with --userns-remap=default (\"userns-remap\": \"default\") and check the subordinate id ranges.",
		daemon: func(d *Daemon) (string, string) {
			if o, ok := hasSecurityOption(d, "userns"); ok {
				return pass, "security option " + o
			}
			return fail, "no userns security option (docker info): container root is host root"
		}},
	{ID: "2.10", Section: SectionDaemon, Severity: "low", Title: "Ensure the default cgroup usage has been confirmed",
		Rationale: "A custom cgroup parent moves every container's resource accounting; it should be deliberate.",
		Fix:       "Leave --cgroup-parent unset unless a specific cgroup is required.",
		daemon: func(d *Daemon) (string, string) {
			v, from, found, known := d.setting("cgroup-parent", "", "")
			switch {
			case found:
				return infoR, "cgroup-parent=" + v + " (" + from + "): confirm it is intended"
			case !known:
				return nc, "cgroup-parent: " + unknownSetting
			}
			return pass, "cgroup-parent not set (default)"
		}},
	{ID: "2.11", Section: SectionDaemon, Severity: "low", Title: "Ensure base device size is not changed until needed",
		Rationale: "A larger base device lets every container's filesystem grow and fill the host's storage.",
		Fix:       "Remove dm.basesize from --storage-opt unless needed.",
		daemon: func(d *Daemon) (string, string) {
			vals, known := d.settings("storage-opt", "", "storage-opts")
			for _, v := range vals {
				if strings.Contains(v, "dm.basesize") {
					return fail, "storage-opt " + v
				}
			}
			if !known {
				return nc, "storage-opt: " + unknownSetting
			}
			return pass, "dm.basesize not set"
		}},
	{ID: "2.12", Section: SectionDaemon, Severity: "medium", Title: "Ensure that authorization for Docker client commands is enabled",
		Rationale: "Without an authorization plugin every client that reaches the socket may run any command.",
		Fix:       "Install an authorization plugin and start dockerd with --authorization-plugin=NAME.",
		daemon: func(d *Daemon) (string, string) {
			if len(d.AuthorizationPlugins) > 0 {
				return pass, "authorization plugins: " + strings.Join(d.AuthorizationPlugins, ", ")
			}
			return fail, "no authorization plugin (docker info)"
		}},
	{ID: "2.13", Section: SectionDaemon, Severity: "low", Title: "Ensure centralized and remote logging is configured",
		Rationale: "Logs kept only on the host are lost with it and can be altered by whoever compromises it.",
		Fix:       "Set a remote log driver (--log-driver=syslog, journald forwarded, fluentd, gelf...) with its log-opts.",
		daemon: func(d *Daemon) (string, string) {
			switch d.LoggingDriver {
			case "json-file", "local", "none", "":
				return fail, "log driver " + d.LoggingDriver + " keeps logs on the host only"
			}
			return pass, "log driver " + d.LoggingDriver
		}},
	{ID: "2.14", Section: SectionDaemon, Severity: "medium", Title: "Ensure containers are restricted from acquiring new privileges",
		Rationale: "no-new-privileges stops setuid binaries and file capabilities from raising a container process's privileges.",
		Fix:       "Start dockerd with --no-new-privileges (\"no-new-privileges\": true).",
		daemon:    boolSetting("no-new-privileges", "", true, false)},
	{ID: "2.15", Section: SectionDaemon, Severity: "low", Title: "Ensure live restore is enabled",
		Rationale: "With live restore, containers keep running while the daemon restarts or is upgraded.",
		Fix:       "Start dockerd with --live-restore (\"live-restore\": true).",
		daemon: func(d *Daemon) (string, string) {
			if d.SwarmActive {
				return na, "swarm mode is active (live restore does not apply)"
			}
			if d.LiveRestore {
				return pass, "live restore enabled (docker info)"
			}
			return fail, "live restore disabled (docker info)"
		}},
	{ID: "2.16", Section: SectionDaemon, Severity: "low", Title: "Ensure Userland Proxy is Disabled",
		Rationale: "The userland proxy is a process per published port that widens the attack surface; hairpin NAT does the same in the kernel.",
		Fix:       "Start dockerd with --userland-proxy=false (\"userland-proxy\": false).",
		daemon:    boolSetting("userland-proxy", "", false, true)},
	{ID: "2.17", Section: SectionDaemon, Severity: "medium", Title: "Ensure that a daemon-wide custom seccomp profile is applied if appropriate",
		Rationale: "A seccomp profile limits the system calls containers may make; Docker's default blocks about 44 dangerous ones.",
		Fix:       "Keep seccomp enabled (the default profile, or --seccomp-profile=FILE for a stricter one).",
		daemon: func(d *Daemon) (string, string) {
			o, ok := hasSecurityOption(d, "seccomp")
			if !ok {
				return fail, "seccomp not enabled (docker info security options: " + strings.Join(d.SecurityOptions, " ") + ")"
			}
			if strings.Contains(o, "profile=unconfined") {
				return fail, "security option " + o
			}
			return pass, "security option " + o
		}},
	{ID: "2.18", Section: SectionDaemon, Severity: "low", Title: "Ensure that experimental features are not implemented in production",
		Rationale: "Experimental features are unsupported and may change or be insecure.",
		Fix:       "Remove --experimental (\"experimental\": true).",
		daemon: func(d *Daemon) (string, string) {
			if d.Experimental {
				return fail, "experimental features on (docker info)"
			}
			return pass, "experimental features off (docker info)"
		}},

	fileOwner("3.5", FileEtcDocker, "Ensure that the /etc/docker directory ownership is set to root:root", "root", "root",
		"/etc/docker holds the engine's configuration and TLS material; only root may change it.", "chown root:root /etc/docker"),
	fileMode("3.6", FileEtcDocker, "Ensure that /etc/docker directory permissions are set to 755 or more restrictively", 0o755,
		"Only root may write the engine's configuration directory.", "chmod 755 /etc/docker"),
	fileOwner("3.15", FileSocket, "Ensure that the Docker socket file ownership is set to root:docker", "root", "docker",
		"Whoever can write the engine's socket is root on the host: it must belong to root and the docker group only.", "chown root:docker /var/run/docker.sock"),
	fileMode("3.16", FileSocket, "Ensure that the Docker socket file permissions are set to 660 or more restrictively", 0o660,
		"Others must not reach the engine's socket: that would make every local user root.", "chmod 660 /var/run/docker.sock"),
	fileOwner("3.17", FileDaemonConfig, "Ensure that the daemon.json file ownership is set to root:root", "root", "root",
		"daemon.json sets the engine's security options; only root may change it.", "chown root:root /etc/docker/daemon.json"),
	fileMode("3.18", FileDaemonConfig, "Ensure that daemon.json file permissions are set to 644 or more restrictive", 0o644,
		"Only root may write the engine's configuration.", "chmod 644 /etc/docker/daemon.json"),

	{ID: "4.1", Section: SectionImages, Severity: "medium", Title: "Ensure that a user for the container has been created",
		Rationale: "A process running as root in a container is root on the host once it escapes (without user namespaces).",
		Fix:       "Create a user in the image (USER in the Dockerfile) or run the container with --user UID:GID.",
		container: func(_ *Daemon, c *Container) (string, string) {
			if isRootUser(c.User) {
				if c.User == "" {
					return fail, "no user: runs as root"
				}
				return fail, "user " + c.User
			}
			return pass, "user " + c.User
		}},

	{ID: "5.2", Section: SectionContainer, Severity: "medium", Title: "Ensure that, if applicable, an AppArmor Profile is enabled",
		Rationale: "AppArmor confines what a container's processes may access.",
		Fix:       "Keep the docker-default profile or run with --security-opt apparmor=PROFILE; never apparmor=unconfined.",
		container: func(d *Daemon, c *Container) (string, string) {
			if c.AppArmor == "unconfined" || c.Privileged {
				return fail, "AppArmor profile unconfined"
			}
			if c.AppArmor != "" {
				return pass, "AppArmor profile " + c.AppArmor
			}
			if _, ok := hasSecurityOption(d, "apparmor"); !ok {
				return na, "AppArmor is not enabled on the host"
			}
			return fail, "no AppArmor profile"
		}},
	{ID: "5.3", Section: SectionContainer, Severity: "low", Title: "Ensure that, if applicable, SELinux security options are set",
		Rationale: "SELinux labels confine a container's processes and files.",
		Fix:       "Run dockerd with --selinux-enabled and containers with --security-opt label=...",
		container: func(d *Daemon, c *Container) (string, string) {
			if _, ok := hasSecurityOption(d, "selinux"); !ok {
				return na, "SELinux is not enabled in the daemon"
			}
			if v, ok := securityOpt(c, "label"); ok {
				if v == "disable" {
					return fail, "label=disable"
				}
				return pass, "label=" + v
			}
			return pass, "default SELinux labels"
		}},
	{ID: "5.4", Section: SectionContainer, Severity: "high", Title: "Ensure that Linux kernel capabilities are restricted within containers",
		Rationale: "Capabilities beyond Docker's default set (SYS_ADMIN, NET_ADMIN, SYS_PTRACE...) give a container much of root's power over the host.",
		Fix:       "Drop every capability not needed (--cap-drop ALL) and add back only those required; never add ALL or SYS_ADMIN.",
		container: func(_ *Daemon, c *Container) (string, string) {
			if c.Privileged {
				return fail, "privileged: every capability"
			}
			var extra []string
			for _, cp := range c.CapAdd {
				n := strings.TrimPrefix(strings.ToUpper(cp), "CAP_")
				if n == "ALL" || !slices.Contains(dockerDefaultCaps, n) {
					extra = append(extra, n)
				}
			}
			ev := fmt.Sprintf("cap-add [%s] cap-drop [%s]", strings.Join(c.CapAdd, " "), strings.Join(c.CapDrop, " "))
			if len(extra) > 0 {
				return fail, ev + "; beyond the default set: " + strings.Join(extra, " ")
			}
			return pass, ev
		}},
	{ID: "5.5", Section: SectionContainer, Severity: "critical", Title: "Ensure that privileged containers are not used",
		Rationale: "A privileged container has every capability and device of the host and no confinement: it is root on the host.",
		Fix:       "Run without --privileged; grant only the capabilities and devices required.",
		container: func(_ *Daemon, c *Container) (string, string) {
			if c.Privileged {
				return fail, "privileged"
			}
			return pass, "not privileged"
		}},
	{ID: "5.6", Section: SectionContainer, Severity: "high", Title: "Ensure sensitive host system directories are not mounted on containers",
		Rationale: "Mounting /, /etc, /boot, /dev, /lib, /proc, /sys or /usr lets the container read or change the host's system files.",
		Fix:       "Remove the bind mounts of host system directories, or mount the specific files needed read-only.",
		container: func(_ *Daemon, c *Container) (string, string) {
			var bad []string
			for _, m := range c.Mounts {
				if m.Type != "bind" {
					continue
				}
				if slices.Contains(sensitiveDirs, path.Clean("/"+m.Source)) {
					bad = append(bad, fmt.Sprintf("%s:%s%s", m.Source, m.Destination, rwSuffix(m.RW)))
				}
			}
			if len(bad) > 0 {
				return fail, "host directories mounted: " + strings.Join(bad, ", ")
			}
			return pass, fmt.Sprintf("no sensitive host directory among %d mounts", len(c.Mounts))
		}},
	{ID: "5.8", Section: SectionContainer, Severity: "low", Title: "Ensure privileged ports are not mapped within containers",
		Rationale: "Ports below 1024 are reserved for services started by root; mapping them from containers blurs that trust boundary.",
		Fix:       "Publish container ports on host ports above 1024.",
		container: func(_ *Daemon, c *Container) (string, string) {
			var bad []string
			for _, p := range c.Ports {
				if p.HostPort > 0 && p.HostPort < 1024 {
					bad = append(bad, fmt.Sprintf("%d->%s", p.HostPort, p.ContainerPort))
				}
			}
			if len(bad) > 0 {
				return fail, "host ports below 1024: " + strings.Join(bad, ", ")
			}
			if c.NetworkMode == "host" {
				return na, "host network: no port mapping"
			}
			return pass, fmt.Sprintf("%d published ports, none below 1024", len(c.Ports))
		}},
	{ID: "5.10", Section: SectionContainer, Severity: "high", Title: "Ensure that the host's network namespace is not shared",
		Rationale: "A container on the host's network sees and can bind every host interface and reach services on loopback.",
		Fix:       "Run without --network host.",
		container: func(_ *Daemon, c *Container) (string, string) {
			if c.NetworkMode == "host" {
				return fail, "network mode host"
			}
			return pass, "network mode " + c.NetworkMode
		}},
	{ID: "5.11", Section: SectionContainer, Severity: "medium", Title: "Ensure that the memory usage for containers is limited",
		Rationale: "A container without a memory limit can exhaust the host's memory and starve other workloads.",
		Fix:       "Run with --memory (and --memory-swap).",
		container: func(_ *Daemon, c *Container) (string, string) {
			if c.Memory > 0 {
				return pass, fmt.Sprintf("memory limit %d bytes", c.Memory)
			}
			return fail, "no memory limit"
		}},
	{ID: "5.12", Section: SectionContainer, Severity: "low", Title: "Ensure that CPU priority is set appropriately on containers",
		Rationale: "Without CPU shares or a quota, one container can take the host's CPU from the others.",
		Fix:       "Run with --cpus, --cpu-shares or --cpu-quota.",
		container: func(_ *Daemon, c *Container) (string, string) {
			if c.NanoCPUs > 0 || c.CPUQuota > 0 || (c.CPUShares > 0 && c.CPUShares != 1024) || c.CpusetCpus != "" {
				return pass, fmt.Sprintf("cpus %g, cpu-shares %d, cpu-quota %d, cpuset %q", float64(c.NanoCPUs)/1e9, c.CPUShares, c.CPUQuota, c.CpusetCpus)
			}
			return fail, "no CPU limit or priority"
		}},
	{ID: "5.13", Section: SectionContainer, Severity: "medium", Title: "Ensure that the container's root filesystem is mounted as read only",
		Rationale: "A read-only root filesystem stops an intruder from changing the container's binaries and configuration.",
		Fix:       "Run with --read-only and mount writable volumes or tmpfs only where the application writes.",
		container: func(_ *Daemon, c *Container) (string, string) {
			if c.ReadonlyRootfs {
				return pass, "read-only root filesystem"
			}
			return fail, "writable root filesystem"
		}},
	{ID: "5.14", Section: SectionContainer, Severity: "low", Title: "Ensure that incoming container traffic is bound to a specific host interface",
		Rationale: "A port published on every interface is reachable from every network the host is on.",
		Fix:       "Publish ports on a specific address: -p 127.0.0.1:8080:80.",
		container: func(_ *Daemon, c *Container) (string, string) {
			var bad []string
			for _, p := range c.Ports {
				if p.HostIP == "" || p.HostIP == "0.0.0.0" || p.HostIP == "::" {
					bad = append(bad, fmt.Sprintf("%d->%s", p.HostPort, p.ContainerPort))
				}
			}
			if len(bad) > 0 {
				return fail, "published on all interfaces: " + strings.Join(bad, ", ")
			}
			if len(c.Ports) == 0 {
				return pass, "no published port"
			}
			return pass, "every published port bound to an address"
		}},
	{ID: "5.15", Section: SectionContainer, Severity: "low", Title: "Ensure that the 'on-failure' container restart policy is set to '5'",
		Rationale: "Restarting forever hides a failing container and can loop an exploit or a denial of service.",
		Fix:       "Run with --restart on-failure:5 (or no restart policy).",
		container: func(_ *Daemon, c *Container) (string, string) {
			switch c.Restart.Name {
			case "", "no":
				return pass, "restart policy no"
			case "on-failure":
				if c.Restart.MaxRetries > 0 && c.Restart.MaxRetries <= 5 {
					return pass, fmt.Sprintf("restart policy on-failure:%d", c.Restart.MaxRetries)
				}
				return fail, fmt.Sprintf("restart policy on-failure:%d", c.Restart.MaxRetries)
			}
			return fail, "restart policy " + c.Restart.Name
		}},
	{ID: "5.16", Section: SectionContainer, Severity: "high", Title: "Ensure that the host's process namespace is not shared",
		Rationale: "A container in the host's PID namespace sees and can signal or trace every host process.",
		Fix:       "Run without --pid host.",
		container: func(_ *Daemon, c *Container) (string, string) { return nsShared(c.PidMode, "pid") }},
	{ID: "5.17", Section: SectionContainer, Severity: "medium", Title: "Ensure that the host's IPC namespace is not shared",
		Rationale: "Sharing the host's IPC namespace exposes its shared memory and semaphores to the container.",
		Fix:       "Run without --ipc host.",
		container: func(_ *Daemon, c *Container) (string, string) { return nsShared(c.IpcMode, "ipc") }},
	{ID: "5.18", Section: SectionContainer, Severity: "medium", Title: "Ensure that host devices are not directly exposed to containers",
		Rationale: "A host device in a container (a disk, /dev/mem) gives it direct access to host hardware and data.",
		Fix:       "Remove --device options that are not required, and restrict their permissions (r, w, m).",
		container: func(_ *Daemon, c *Container) (string, string) {
			if c.Privileged {
				return fail, "privileged: every host device"
			}
			if len(c.Devices) > 0 {
				return fail, "devices: " + strings.Join(c.Devices, ", ")
			}
			return pass, "no host device"
		}},
	{ID: "5.20", Section: SectionContainer, Severity: "medium", Title: "Ensure mount propagation mode is not set to shared",
		Rationale: "A shared mount propagates mounts made in the container to the host and back.",
		Fix:       "Mount volumes with private or slave propagation (the default).",
		container: func(_ *Daemon, c *Container) (string, string) {
			var bad []string
			for _, m := range c.Mounts {
				if m.Propagation == "shared" || m.Propagation == "rshared" {
					bad = append(bad, m.Destination+" "+m.Propagation)
				}
			}
			if len(bad) > 0 {
				return fail, "shared propagation: " + strings.Join(bad, ", ")
			}
			return pass, "no shared mount"
		}},
	{ID: "5.21", Section: SectionContainer, Severity: "medium", Title: "Ensure that the host's UTS namespace is not shared",
		Rationale: "A container in the host's UTS namespace can change the host's hostname.",
		Fix:       "Run without --uts host.",
		container: func(_ *Daemon, c *Container) (string, string) { return nsShared(c.UTSMode, "uts") }},
	{ID: "5.22", Section: SectionContainer, Severity: "high", Title: "Ensure the default seccomp profile is not Disabled",
		Rationale: "Without seccomp every system call is open to the container, including those used in kernel exploits.",
		Fix:       "Remove --security-opt seccomp=unconfined (and --privileged, which disables seccomp).",
		container: func(_ *Daemon, c *Container) (string, string) {
			if c.Privileged {
				return fail, "privileged: seccomp disabled"
			}
			if v, ok := securityOpt(c, "seccomp"); ok {
				if v == "unconfined" {
					return fail, "seccomp=unconfined"
				}
				return pass, "seccomp profile " + v
			}
			return pass, "default seccomp profile"
		}},
	{ID: "5.25", Section: SectionContainer, Severity: "low", Title: "Ensure that cgroup usage is confirmed",
		Rationale: "A container in a custom cgroup escapes the resource accounting of the default one.",
		Fix:       "Run without --cgroup-parent unless required.",
		container: func(_ *Daemon, c *Container) (string, string) {
			if c.CgroupParent != "" {
				return fail, "cgroup parent " + c.CgroupParent
			}
			return pass, "default cgroup"
		}},
	{ID: "5.26", Section: SectionContainer, Severity: "medium", Title: "Ensure that the container is restricted from acquiring additional privileges",
		Rationale: "no-new-privileges stops setuid binaries in the container from raising a process's privileges.",
		Fix:       "Run with --security-opt no-new-privileges (or set it daemon-wide).",
		container: func(d *Daemon, c *Container) (string, string) {
			if v, ok := securityOpt(c, "no-new-privileges"); ok {
				if v == "true" {
					return pass, "no-new-privileges"
				}
				return fail, "no-new-privileges=" + v
			}
			if v, from, found, _ := d.setting("no-new-privileges", "", ""); found && v == "true" {
				return pass, "no-new-privileges daemon-wide (" + from + ")"
			}
			return fail, "no-new-privileges not set"
		}},
	{ID: "5.27", Section: SectionContainer, Severity: "low", Title: "Ensure that container health is checked at runtime",
		Rationale: "A health check lets the engine and orchestrators notice a container that runs but no longer works.",
		Fix:       "Add a HEALTHCHECK to the image or run with --health-cmd.",
		container: func(_ *Daemon, c *Container) (string, string) {
			if c.Healthcheck == "" || strings.HasPrefix(c.Healthcheck, "NONE") {
				return fail, "no health check"
			}
			return pass, "health check " + c.Healthcheck
		}},
	{ID: "5.29", Section: SectionContainer, Severity: "medium", Title: "Ensure that the PIDs cgroup limit is used",
		Rationale: "Without a PIDs limit a fork bomb in one container takes down the host.",
		Fix:       "Run with --pids-limit (e.g. 100).",
		container: func(_ *Daemon, c *Container) (string, string) {
			if c.PidsLimit > 0 {
				return pass, fmt.Sprintf("pids limit %d", c.PidsLimit)
			}
			return fail, "no pids limit"
		}},
	{ID: "5.30", Section: SectionContainer, Severity: "low", Title: "Ensure that Docker's default bridge 'docker0' is not used",
		Rationale: "Containers on the default bridge can reach one another; user-defined networks isolate them.",
		Fix:       "Attach containers to user-defined networks.",
		container: func(d *Daemon, c *Container) (string, string) {
			if (c.NetworkMode == "bridge" || c.NetworkMode == "default") && d.DefaultBridge != nil {
				return fail, "network mode " + c.NetworkMode + " (docker0)"
			}
			return pass, "network mode " + c.NetworkMode
		}},
	{ID: "5.31", Section: SectionContainer, Severity: "medium", Title: "Ensure that the host's user namespaces are not shared",
		Rationale: "--userns host turns off the daemon's user namespace remapping for the container.",
		Fix:       "Run without --userns host.",
		container: func(_ *Daemon, c *Container) (string, string) { return nsShared(c.UsernsMode, "userns") }},
	{ID: "5.32", Section: SectionContainer, Severity: "critical", Title: "Ensure that the Docker socket is not mounted inside any containers",
		Rationale: "The engine's socket is root on the host: a container that holds it can start a privileged container.",
		Fix:       "Remove the docker.sock mount; give tools that need the engine a restricted proxy.",
		container: func(_ *Daemon, c *Container) (string, string) {
			for _, m := range c.Mounts {
				if path.Base(m.Source) == "docker.sock" {
					return fail, "docker socket mounted: " + m.Source + ":" + m.Destination + rwSuffix(m.RW)
				}
			}
			return pass, "docker socket not mounted"
		}},
}

func rwSuffix(rw bool) string {
	if rw {
		return " (rw)"
	}
	return " (ro)"
}

// fileState reads a file of Daemon.Files: ok false with a result when it
// cannot be judged (absent: not applicable; unreadable: notchecked).
func fileState(d *Daemon, key string) (FileInfo, string, string, bool) {
	f, ok := d.Files[key]
	switch {
	case !ok:
		return f, nc, "not read", false
	case f.Error != "":
		return f, nc, f.Path + ": " + f.Error, false
	case !f.Exists:
		return f, na, f.Path + " does not exist", false
	}
	return f, "", "", true
}

func fileOwner(id, key, title, owner, group, rationale, fix string) Rule {
	return Rule{ID: id, Section: SectionFiles, Severity: "medium", Title: title, Rationale: rationale, Fix: fix,
		daemon: func(d *Daemon) (string, string) {
			f, res, ev, ok := fileState(d, key)
			if !ok {
				return res, ev
			}
			if !f.OwnerKnown {
				return nc, f.Path + ": ownership not readable"
			}
			ev = fmt.Sprintf("%s %s:%s", f.Path, f.Owner, f.Group)
			if f.Owner == owner && f.Group == group {
				return pass, ev
			}
			return fail, ev
		}}
}

func fileMode(id, key, title string, max fs.FileMode, rationale, fix string) Rule {
	return Rule{ID: id, Section: SectionFiles, Severity: "medium", Title: title, Rationale: rationale, Fix: fix,
		daemon: func(d *Daemon) (string, string) {
			f, res, ev, ok := fileState(d, key)
			if !ok {
				return res, ev
			}
			ev = fmt.Sprintf("%s mode %03o", f.Path, f.Mode)
			if f.Mode&^max == 0 {
				return pass, ev
			}
			return fail, ev
		}}
}
