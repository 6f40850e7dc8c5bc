package dockerbench

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

func results(snap *Snapshot, subject string) map[string]string {
	out := map[string]string{}
	for _, c := range Evaluate(snap) {
		if c.Subject == subject {
			out[c.Rule] = c.Result
		}
	}
	return out
}

// TestEvaluateContainers: settings the real-engine test cannot start here
// (--privileged needs every capability in the bounding set) and the edges
// of the container rules.
func TestEvaluateContainers(t *testing.T) {
	daemon := Daemon{SecurityOptions: []string{"name=apparmor", "name=seccomp,profile=builtin"}, ArgsRead: true}
	for _, tc := range []struct {
		name string
		c    Container
		want map[string]string // rules checked (others ignored)
	}{
		{"privileged", Container{Name: "p", Privileged: true, AppArmor: "unconfined", NetworkMode: "none"},
			map[string]string{"5.2": "fail", "5.4": "fail", "5.5": "fail", "5.18": "fail", "5.22": "fail"}},
		{"default_caps_added_back_after_drop_all", Container{Name: "c", CapDrop: []string{"ALL"}, CapAdd: []string{"NET_BIND_SERVICE", "CAP_CHOWN"}},
			map[string]string{"5.4": "pass"}},
		{"cap_add_all", Container{Name: "c", CapAdd: []string{"ALL"}}, map[string]string{"5.4": "fail"}},
		{"restart_policies", Container{Name: "c", Restart: RestartPolicy{Name: "on-failure", MaxRetries: 0}}, map[string]string{"5.15": "fail"}},
		{"restart_unless_stopped", Container{Name: "c", Restart: RestartPolicy{Name: "unless-stopped"}}, map[string]string{"5.15": "fail"}},
		{"restart_on_failure_5", Container{Name: "c", Restart: RestartPolicy{Name: "on-failure", MaxRetries: 5}}, map[string]string{"5.15": "pass"}},
		{"ports", Container{Name: "c", NetworkMode: "bridge", Ports: []PortBinding{{ContainerPort: "80/tcp", HostPort: 80}, {ContainerPort: "443/tcp", HostIP: "127.0.0.1", HostPort: 8443}}},
			map[string]string{"5.8": "fail", "5.14": "fail", "5.30": "pass"}}, // no default bridge in this daemon
		{"ports_bound", Container{Name: "c", Ports: []PortBinding{{ContainerPort: "443/tcp", HostIP: "127.0.0.1", HostPort: 8443}}},
			map[string]string{"5.8": "pass", "5.14": "pass"}},
		{"sensitive_mounts", Container{Name: "c", Mounts: []Mount{{Type: "bind", Source: "/", Destination: "/host"}, {Type: "volume", Source: "/etc", Destination: "/x"},
			{Type: "bind", Source: "/run/docker.sock", Destination: "/d.sock", RW: true, Propagation: "rshared"}}},
			map[string]string{"5.6": "fail", "5.32": "fail", "5.20": "fail"}},
		{"root_users", Container{Name: "c", User: "0:0"}, map[string]string{"4.1": "fail"}},
		{"named_user", Container{Name: "c", User: "app"}, map[string]string{"4.1": "pass"}},
		{"healthcheck_none", Container{Name: "c", Healthcheck: "NONE"}, map[string]string{"5.27": "fail"}},
		{"cpu_shares_default", Container{Name: "c", CPUShares: 1024}, map[string]string{"5.12": "fail"}},
		{"cpu_shares", Container{Name: "c", CPUShares: 512}, map[string]string{"5.12": "pass"}},
		{"apparmor_default", Container{Name: "c", AppArmor: "docker-default"}, map[string]string{"5.2": "pass"}},
		{"no_new_privileges_false", Container{Name: "c", SecurityOpt: []string{"no-new-privileges=false"}}, map[string]string{"5.26": "fail"}},
		{"seccomp_unconfined_colon", Container{Name: "c", SecurityOpt: []string{"seccomp:unconfined"}}, map[string]string{"5.22": "fail"}},
		{"userns_host", Container{Name: "c", UsernsMode: "host"}, map[string]string{"5.31": "fail"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := results(&Snapshot{Daemon: daemon, Containers: []Container{tc.c}}, tc.c.Name)
			for rule, want := range tc.want {
				if got[rule] != want {
					t.Errorf("%s = %q, want %q", rule, got[rule], want)
				}
			}
		})
	}
	// Daemon-wide no-new-privileges covers the containers.
	d := Daemon{ArgsRead: true, Args: []string{"--no-new-privileges"}}
	if got := results(&Snapshot{Daemon: d, Containers: []Container{{Name: "c"}}}, "c")["5.26"]; got != "pass" {
		t.Errorf("5.26 with a daemon-wide no-new-privileges = %q", got)
	}
}

// TestEvaluateDaemon: the daemon rules from the command line and
// daemon.json, and notchecked when neither could be read.
func TestEvaluateDaemon(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    Daemon
		want map[string]string
	}{
		{"hardened", Daemon{ArgsRead: true, Args: []string{"--userns-remap=default", "-H", "unix:///run/docker.sock", "--live-restore"},
			Config:          map[string]any{"icc": false, "userland-proxy": false, "no-new-privileges": true, "default-ulimits": map[string]any{"nofile": map[string]any{"Soft": 1024}}},
			SecurityOptions: []string{"name=seccomp,profile=builtin", "name=userns"}, LiveRestore: true, LoggingDriver: "syslog",
			AuthorizationPlugins: []string{"authz"}, DefaultBridge: map[string]string{"com.docker.network.bridge.enable_icc": "false"}},
			map[string]string{"2.2": "pass", "2.3": "pass", "2.4": "pass", "2.7": "pass", "2.8": "pass", "2.9": "pass", "2.12": "pass", "2.13": "pass",
				"2.14": "pass", "2.15": "pass", "2.16": "pass", "2.17": "pass", "2.18": "pass"}},
		{"exposed", Daemon{ArgsRead: true, Args: []string{"-H", "tcp://0.0.0.0:2375", "--debug", "--iptables=false"},
			Config:             map[string]any{"insecure-registries": []any{"10.0.0.0/8"}, "storage-opts": []any{"dm.basesize=50G"}},
			InsecureRegistries: []string{"10.0.0.0/8"}, StorageDriver: "aufs", Experimental: true, LoggingDriver: "json-file",
			SecurityOptions: []string{"name=seccomp,profile=unconfined"}, DefaultBridge: map[string]string{"com.docker.network.bridge.enable_icc": "true"}},
			map[string]string{"2.2": "fail", "2.3": "fail", "2.4": "fail", "2.5": "fail", "2.6": "fail", "2.7": "fail", "2.11": "fail", "2.13": "fail",
				"2.16": "fail", "2.17": "fail", "2.18": "fail"}},
		{"tls_verified", Daemon{ArgsRead: true, Args: []string{"--host=tcp://0.0.0.0:2376", "--tlsverify", "--tlscacert=/ca.pem", "--tlscert", "/c.pem", "--tlskey=/k.pem"}},
			map[string]string{"2.7": "pass"}},
		{"tls_without_verify", Daemon{ArgsRead: true, Config: map[string]any{"hosts": []any{"tcp://0.0.0.0:2376"}, "tlscert": "/c.pem", "tlskey": "/k.pem"}},
			map[string]string{"2.7": "fail"}},
		{"remote_engine", Daemon{ArgsRead: false},
			map[string]string{"2.4": "notchecked", "2.7": "notchecked", "2.14": "notchecked", "2.16": "notchecked", "2.3": "notchecked"}},
		{"unreadable_daemon_json", Daemon{ArgsRead: true, ConfigError: "permission denied"},
			map[string]string{"2.16": "notchecked", "2.4": "notchecked"}},
		{"swarm", Daemon{SwarmActive: true}, map[string]string{"2.15": "notapplicable"}},
		{"files", Daemon{Files: map[string]FileInfo{
			FileSocket:       {Path: "/run/docker.sock", Exists: true, Mode: 0o666, Owner: "root", Group: "root", OwnerKnown: true},
			FileEtcDocker:    {Path: "/etc/docker", Exists: true, Mode: 0o700, Owner: "root", Group: "root", OwnerKnown: true},
			FileDaemonConfig: {Path: "/etc/docker/daemon.json", Exists: true, Mode: 0o600}}},
			map[string]string{"3.15": "fail", "3.16": "fail", "3.5": "pass", "3.6": "pass", "3.17": "notchecked", "3.18": "pass"}},
		{"files_unreadable", Daemon{Files: map[string]FileInfo{FileSocket: {Path: "/run/docker.sock", Error: "permission denied"}}},
			map[string]string{"3.15": "notchecked", "3.16": "notchecked", "3.5": "notchecked"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := results(&Snapshot{Daemon: tc.d}, "")
			if len(got) != 24 {
				t.Errorf("%d daemon checks, want 24", len(got))
			}
			for rule, want := range tc.want {
				if got[rule] != want {
					t.Errorf("%s = %q, want %q", rule, got[rule], want)
				}
			}
		})
	}
}

func TestArgValue(t *testing.T) {
	args := []string{"-H", "fd://", "--host=tcp://1.2.3.4:2375", "--iptables=false", "--userland-proxy", "--log-level", "debug", "-l=warn", "--icc", "--data-root", "/x"}
	for _, tc := range []struct{ name, short, want string }{
		{"host", "H", "tcp://1.2.3.4:2375"}, {"iptables", "", "false"}, {"userland-proxy", "", "true"}, {"log-level", "l", "warn"},
		{"icc", "", "true"}, {"data-root", "", "/x"},
	} {
		if got, ok := argValue(args, tc.name, tc.short); !ok || got != tc.want {
			t.Errorf("argValue(%s) = %q %v, want %q", tc.name, got, ok, tc.want)
		}
	}
	if d := cmp.Diff([]string{"fd://", "tcp://1.2.3.4:2375"}, argValues(args, "host", "H")); d != "" {
		t.Errorf("argValues(host):\n%s", d)
	}
	if _, ok := argValue(args, "live-restore", ""); ok {
		t.Error("live-restore found")
	}
}

func TestDaemonArgs(t *testing.T) {
	proc := fstest.MapFS{
		"1/comm":      {Data: []byte("systemd\n")},
		"1/cmdline":   {Data: []byte("/sbin/init\x00")},
		"77/comm":     {Data: []byte("dockerd\n")},
		"77/cmdline":  {Data: []byte("/usr/bin/dockerd\x00--bridge=none\x00--iptables=false\x00")},
		"self/comm":   {Data: []byte("dockerd\n")},
		"sys/kernel/": {},
	}
	args, ok := DaemonArgs(proc)
	if !ok || !cmp.Equal(args, []string{"--bridge=none", "--iptables=false"}) {
		t.Errorf("DaemonArgs = %q %v", args, ok)
	}
	if _, ok := DaemonArgs(fstest.MapFS{"1/comm": {Data: []byte("init\n")}}); ok {
		t.Error("DaemonArgs found a dockerd where none runs")
	}
}

func TestParseDaemonConfig(t *testing.T) {
	m, err := ParseDaemonConfig([]byte(`{"icc": false, "log-level": "warn", "hosts": ["unix:///var/run/docker.sock"]}`))
	if err != nil || m["icc"] != false || m["log-level"] != "warn" {
		t.Errorf("ParseDaemonConfig = %v, %v", m, err)
	}
	for _, in := range []string{``, `[]`, `null`, `{"a":1} {}`, `{"a":`, strings.Repeat("[", 100)} {
		if _, err := ParseDaemonConfig([]byte(in)); err == nil {
			t.Errorf("ParseDaemonConfig(%.20q) accepted", in)
		}
	}
}

// FuzzDaemonSettings: daemon.json and dockerd's command line are read
// from the host; parsing and evaluating them never panics, and every
// check validates.
func FuzzDaemonSettings(f *testing.F) {
	f.Add([]byte(`{"icc": false, "hosts": ["tcp://0.0.0.0:2376"], "tlsverify": true}`), []byte("/usr/bin/dockerd\x00-H\x00tcp://x\x00--tlsverify"))
	f.Add([]byte(`{"storage-opts": "dm.basesize=1G", "default-ulimits": {"nofile": {"Soft": 1}}}`), []byte("dockerd\x00--log-level"))
	f.Fuzz(func(t *testing.T, daemonJSON, cmdline []byte) {
		d := Daemon{ArgsRead: true, Args: ParseCmdline(cmdline)}
		cfg, err := ParseDaemonConfig(daemonJSON)
		if err != nil {
			d.ConfigError = err.Error()
		}
		d.Config = cfg
		snap := &Snapshot{Daemon: d, Containers: []Container{{Name: "c"}}}
		res, err := Results(snap)
		if err != nil {
			t.Fatal(err)
		}
		res.Raw, res.RawFormat = nil, ""
		if err := res.Validate(); err != nil {
			t.Fatalf("results do not validate: %v", err)
		}
	})
}

// TestEngineFiles reads the files' modes and owners through an fs.FS of
// the host root, names from its passwd and group files, and the socket of
// the daemon's -H unix:// host.
func TestEngineFiles(t *testing.T) {
	host := fstest.MapFS{
		"etc/passwd":          {Data: []byte("root:x:0:0:root:/root:/bin/bash\n")},
		"etc/group":           {Data: []byte("root:x:0:\ndocker:x:105:\n")},
		"etc/docker":          {Mode: fs.ModeDir | 0o755},
		"srv/docker/api.sock": {Mode: fs.ModeSocket | 0o600},
	}
	d := Daemon{Args: []string{"-H", "unix:///srv/docker/api.sock"}, ConfigFile: DefaultDaemonConfig}
	files := engineFiles(host, &d)
	want := map[string]FileInfo{
		FileSocket:       {Path: "/srv/docker/api.sock", Exists: true, Mode: 0o600},
		FileEtcDocker:    {Path: "/etc/docker", Exists: true, Mode: 0o755},
		FileDaemonConfig: {Path: "/etc/docker/daemon.json"},
	}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("engine files (-want +got):\n%s", diff)
	}
	if got := idNames(host, "etc/group"); got[105] != "docker" || got[0] != "root" {
		t.Errorf("group names %v", got)
	}
}
