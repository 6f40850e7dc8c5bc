// Package config is the console's typed configuration: every setting has a
// flag, a RISKMAP_* environment variable and a key in the optional YAML
// file, with one documented default. Precedence: flag > environment > file
// > default. The settings table in README.md is generated from here
// (Markdown) and checked by a test.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Console configures `riskmap console`.
type Console struct {
	ConfigFile string

	Listen    string
	PublicURL string
	DataDir   string
	Database  string
	TLSCert   string
	TLSKey    string
	// SecretsKeyFile holds the keys that seal stored secrets
	// (internal/secrets); default secrets.key in DataDir, made on first
	// start.
	SecretsKeyFile string

	LogLevel  string
	LogFormat string

	SessionTTL      time.Duration
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	InvitationTTL   time.Duration
	ResetTTL        time.Duration

	// Sign-in protection (internal/console): free failures per account
	// from one address and per address, the longest delay (and how long a
	// quiet counter is kept), and the operator's opt-in hard lock.
	LoginAccountLimit int
	LoginAddressLimit int
	LoginWindow       time.Duration
	LoginHardLock     bool

	MaxBodyBytes    int64
	ShutdownTimeout time.Duration
	TrustedProxies  string

	// Topology (internal/topology): the report interval sensors are told
	// (raised under load), when silent sensors' nodes are gone, and how
	// long gone nodes are kept.
	ReportInterval    time.Duration
	NodeGoneAfter     time.Duration
	TopologyRetention time.Duration

	Argon2MemoryKiB   uint
	Argon2Iterations  uint
	Argon2Parallelism uint

	// Scans (internal/scans).
	FeedInterval time.Duration // knowledge base refresh period; 0 disables (air-gapped: upload)
	// FeedMirror, when set, is the base URL of a mirror serving the feeds
	// (feeds.Config.Mirror: osv/ECOSYSTEM/all.zip, alpine/BRANCH/REPO.json,
	// kev/..., epss/...) instead of their public URLs; NVD is not fetched
	// through a mirror.
	FeedMirror string
	ScanLease  time.Duration // a running scan without a heartbeat this long is retried
	ScanRetry  time.Duration // delay before a failed scan's first retry (doubles per attempt)
}

// DefaultConsole returns the documented defaults.
func DefaultConsole() Console {
	return Console{
		Listen:            ":8443",
		DataDir:           DefaultDataDir(),
		LogLevel:          "info",
		LogFormat:         "auto",
		SessionTTL:        12 * time.Hour,
		AccessTokenTTL:    15 * time.Minute,
		RefreshTokenTTL:   30 * 24 * time.Hour,
		InvitationTTL:     48 * time.Hour,
		ResetTTL:          time.Hour,
		LoginAccountLimit: 5,
		LoginAddressLimit: 20,
		LoginWindow:       15 * time.Minute,
		MaxBodyBytes:      1 << 20,
		ShutdownTimeout:   15 * time.Second,
		ReportInterval:    15 * time.Second,
		NodeGoneAfter:     5 * time.Minute,
		TopologyRetention: 7 * 24 * time.Hour,
		Argon2MemoryKiB:   19 * 1024,
		Argon2Iterations:  2,
		Argon2Parallelism: 1,
		FeedInterval:      6 * time.Hour,
		ScanLease:         90 * time.Second,
		ScanRetry:         30 * time.Second,
	}
}

// DefaultDataDir is /var/lib/riskmap for root, else $XDG_DATA_HOME/riskmap
// (~/.local/share/riskmap).
func DefaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/riskmap"
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "riskmap")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "riskmap")
	}
	return "riskmap-data"
}

// docDefaults replaces machine-dependent defaults in the documentation.
var docDefaults = map[string]string{
	"data-dir": "`~/.local/share/riskmap` (root: `/var/lib/riskmap`)",
}

// EnvName is the environment variable of a setting.
func EnvName(flagName string) string {
	return "RISKMAP_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// bind declares every setting on fs, bound to c's fields.
func (c *Console) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.ConfigFile, "config", c.ConfigFile, "optional YAML file of settings (keys are the flag names)")
	fs.StringVar(&c.Listen, "listen", c.Listen, "HTTPS listen address (host:port)")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "URL users and sensors reach the console at, used in invitation and reset links (default: https://<host name>:<port>)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for the embedded database, TLS certificate and key")
	fs.StringVar(&c.Database, "database", c.Database, "postgres://user:pass@host/db for PostgreSQL (default: SQLite file riskmap.db in the data directory)")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "PEM certificate (chain) file; with --tls-key replaces the generated self-signed certificate")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "PEM private key file for --tls-cert")
	fs.StringVar(&c.SecretsKeyFile, "secrets-key-file", c.SecretsKeyFile, "file of the AES-256 keys that encrypt stored credentials (registry accounts, integration tokens); keep it out of database backups, and give every console replica the same file (default: secrets.key in the data directory, made on first start)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "auto (text on a terminal, JSON otherwise), text or json")
	fs.DurationVar(&c.SessionTTL, "session-ttl", c.SessionTTL, "lifetime of a browser session")
	fs.DurationVar(&c.AccessTokenTTL, "access-token-ttl", c.AccessTokenTTL, "lifetime of an access token from /auth/token")
	fs.DurationVar(&c.RefreshTokenTTL, "refresh-token-ttl", c.RefreshTokenTTL, "lifetime of a refresh token")
	fs.DurationVar(&c.InvitationTTL, "invitation-ttl", c.InvitationTTL, "how long an invitation link stays valid")
	fs.DurationVar(&c.ResetTTL, "reset-ttl", c.ResetTTL, "how long a password reset link stays valid")
	fs.IntVar(&c.LoginAccountLimit, "login-account-limit", c.LoginAccountLimit, "failed sign-ins to one account from one client address before each further attempt from there waits (1 s, doubling up to --login-window); other addresses are not slowed")
	fs.IntVar(&c.LoginAddressLimit, "login-address-limit", c.LoginAddressLimit, "failed sign-ins, token exchanges, refreshes, reset and invitation look-ups from one client address (IPv6: its /64), whatever the account, before each further attempt from there waits (1 s, doubling up to --login-window)")
	fs.DurationVar(&c.LoginWindow, "login-window", c.LoginWindow, "longest sign-in delay; failure counts are forgotten this long after their last delay ends")
	fs.BoolVar(&c.LoginHardLock, "login-hard-lock", c.LoginHardLock, "also lock an account for --login-window after --login-account-limit failed sign-ins from any addresses, the right password included (anyone who knows an email can then lock its owner out)")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", c.MaxBodyBytes, "largest request body accepted by default (bytes)")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", c.TrustedProxies, "comma-separated addresses or CIDRs of reverse proxies/load balancers whose X-Forwarded-For names the client (default: none; the TCP peer is the client)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long graceful shutdown waits for requests in flight")
	fs.DurationVar(&c.ReportInterval, "report-interval", c.ReportInterval, "report interval sensors are told to use (the console raises it under load)")
	fs.DurationVar(&c.NodeGoneAfter, "node-gone-after", c.NodeGoneAfter, "mark a sensor's nodes gone when it has not reported for this long")
	fs.DurationVar(&c.TopologyRetention, "topology-retention", c.TopologyRetention, "delete nodes and connections gone for this long")
	fs.UintVar(&c.Argon2MemoryKiB, "argon2-memory", c.Argon2MemoryKiB, "argon2id memory cost in KiB for new password hashes")
	fs.UintVar(&c.Argon2Iterations, "argon2-iterations", c.Argon2Iterations, "argon2id time cost (passes)")
	fs.UintVar(&c.Argon2Parallelism, "argon2-parallelism", c.Argon2Parallelism, "argon2id parallelism (lanes)")
	fs.DurationVar(&c.FeedInterval, "feed-interval", c.FeedInterval, "how often the vulnerability feeds are updated from the internet (0: never; upload them with POST /api/v1/feeds/import)")
	fs.StringVar(&c.FeedMirror, "feed-mirror", c.FeedMirror, "base URL of a mirror serving osv/ECOSYSTEM/all.zip, alpine/BRANCH/REPO.json, kev/known_exploited_vulnerabilities.json and epss/epss_scores-current.csv.gz, used instead of the feeds' public URLs")
	fs.DurationVar(&c.ScanRetry, "scan-retry", c.ScanRetry, "delay before a failed or lost scan is retried; doubles per attempt, at most 3 attempts")
	fs.DurationVar(&c.ScanLease, "scan-lease", c.ScanLease, "a running scan with no sensor heartbeat for this long is retried (sensors beat every 15 s)")
}

// Validate checks values that parse but make no sense.
func (c Console) Validate() error {
	var errs []error
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key must be given together"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	for name, d := range map[string]time.Duration{"session-ttl": c.SessionTTL, "access-token-ttl": c.AccessTokenTTL,
		"refresh-token-ttl": c.RefreshTokenTTL, "invitation-ttl": c.InvitationTTL, "reset-ttl": c.ResetTTL,
		"login-window": c.LoginWindow, "shutdown-timeout": c.ShutdownTimeout, "report-interval": c.ReportInterval,
		"node-gone-after": c.NodeGoneAfter, "topology-retention": c.TopologyRetention} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("--%s must be positive (got %s)", name, d))
		}
	}
	if c.LoginAccountLimit < 1 || c.LoginAddressLimit < 1 {
		errs = append(errs, errors.New("--login-account-limit and --login-address-limit must be at least 1"))
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("--max-body-bytes must be at least 1024 (got %d)", c.MaxBodyBytes))
	}
	if c.Argon2MemoryKiB < 8 || c.Argon2Iterations < 1 || c.Argon2Parallelism < 1 || c.Argon2Parallelism > 255 {
		errs = append(errs, errors.New("argon2 parameters out of range (memory >= 8 KiB, iterations >= 1, 1 <= parallelism <= 255)"))
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("--public-url %q: want https://host[:port][/path]", c.PublicURL))
		}
	}
	if c.FeedMirror != "" {
		u, err := url.Parse(c.FeedMirror)
		loopback := false
		if err == nil {
			ip := net.ParseIP(u.Hostname())
			loopback = u.Hostname() == "localhost" || ip != nil && ip.IsLoopback()
		}
		if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || !(u.Scheme == "https" || u.Scheme == "http" && loopback) {
			errs = append(errs, fmt.Errorf("--feed-mirror %q: want https://host[:port][/path] (http only to this machine)", c.FeedMirror))
		}
	}
	if _, err := ParseCIDRs(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("--trusted-proxies: %w", err))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "auto", "text", "json":
	default:
		errs = append(errs, fmt.Errorf("--log-format %q: want auto, text or json", c.LogFormat))
	}
	return errors.Join(errs...)
}

// LoadConsole parses args (flags), then fills what they left unset from the
// environment (getenv) and the config file. It returns the remaining
// positional arguments. Usage goes to usageOut on -h.
func LoadConsole(name string, args []string, getenv func(string) string, usageOut io.Writer) (Console, []string, error) {
	c := DefaultConsole()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(usageOut)
	c.bind(fs)
	fs.Usage = func() {
		fmt.Fprintf(usageOut, "Usage: riskmap %s [flags]\n\nEvery flag can also be set as RISKMAP_<FLAG> in the environment or as a key in the --config YAML file.\n\nFlags:\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Console{}, nil, err
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })

	if !onCommandLine["config"] {
		if v := getenv(EnvName("config")); v != "" {
			c.ConfigFile = v
		}
	}
	if c.ConfigFile != "" {
		b, err := os.ReadFile(c.ConfigFile)
		if err != nil {
			return Console{}, nil, fmt.Errorf("config file: %w", err)
		}
		values, err := ParseFile(b)
		if err != nil {
			return Console{}, nil, fmt.Errorf("config file %s: %w", c.ConfigFile, err)
		}
		keys := make([]string, 0, len(values))
		for k := range values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f := fs.Lookup(k)
			if f == nil || k == "config" {
				return Console{}, nil, fmt.Errorf("config file %s: unknown setting %q", c.ConfigFile, k)
			}
			if onCommandLine[k] || getenv(EnvName(k)) != "" {
				continue
			}
			if err := f.Value.Set(values[k]); err != nil {
				return Console{}, nil, fmt.Errorf("config file %s: %s: %w", c.ConfigFile, k, err)
			}
		}
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if onCommandLine[f.Name] || f.Name == "config" {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", EnvName(f.Name), err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return Console{}, nil, err
	}
	if err := c.Validate(); err != nil {
		return Console{}, nil, err
	}
	return c, fs.Args(), nil
}

// ParseCIDRs parses a comma-separated list of IP addresses and CIDRs.
func ParseCIDRs(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a CIDR", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// ParseFile parses a YAML mapping of setting names to scalar values.
func ParseFile(b []byte) (map[string]string, error) {
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		switch v := v.(type) {
		case string, int, int64, uint64, float64, bool:
			out[k] = fmt.Sprint(v)
		case nil:
			return nil, fmt.Errorf("setting %q has no value", k)
		default:
			return nil, fmt.Errorf("setting %q: want a single value, got %T", k, v)
		}
	}
	return out, nil
}

// MarkdownTable documents every console setting (flag, environment
// variable, default, meaning) as a Markdown table.
func MarkdownTable() string {
	c := DefaultConsole()
	fs := flag.NewFlagSet("console", flag.ContinueOnError)
	c.bind(fs)
	var b strings.Builder
	b.WriteString("| flag / file key | environment | default | meaning |\n| --- | --- | --- | --- |\n")
	fs.VisitAll(func(f *flag.Flag) {
		def := "`" + f.DefValue + "`"
		if f.DefValue == "" {
			def = "(none)"
		}
		if d, ok := docDefaults[f.Name]; ok {
			def = d
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | %s | %s |\n", f.Name, EnvName(f.Name), def, strings.ReplaceAll(f.Usage, "|", "\\|"))
	})
	return b.String()
}

// SecretsKey returns the secrets key file's path, and whether it is the
// default one (made when missing) rather than one the operator named (which
// must exist).
func (c Console) SecretsKey() (path string, isDefault bool) {
	if c.SecretsKeyFile != "" {
		return c.SecretsKeyFile, false
	}
	return filepath.Join(c.DataDir, "secrets.key"), true
}
