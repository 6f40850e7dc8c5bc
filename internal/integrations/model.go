package integrations

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/fields"
	"github.com/riskmap/riskmap/internal/integrations/dest"
)

// Errors the handlers map to statuses (console.Error).
var (
	ErrInvalid  = console.ErrInvalid
	ErrNotFound = console.ErrNotFound
	ErrConflict = console.ErrConflict
)

// Destination is a configured destination as the API shows it: its
// secrets only as set or not (with a hint for URLs: scheme and host).
type Destination struct {
	ID       string                 `json:"id"`
	Kind     string                 `json:"kind"`
	Name     string                 `json:"name"`
	Enabled  bool                   `json:"enabled"`
	Settings map[string]string      `json:"settings"`
	Secrets  map[string]SecretState `json:"secrets"`
	// CACert is PEM: certificates trusted for this destination beside the
	// system's.
	CACert        string    `json:"caCert,omitempty"`
	RatePerMinute int       `json:"ratePerMinute"`
	CreatedBy     string    `json:"createdBy"`
	CreatedAt     time.Time `json:"createdAt"`
	UpdatedBy     string    `json:"updatedBy"`
	UpdatedAt     time.Time `json:"updatedAt"`
	Status        Status    `json:"status"`
}

// SecretState says whether a secret setting is set, never its value.
type SecretState struct {
	Set  bool   `json:"set"`
	Hint string `json:"hint,omitempty"`
}

// Status is a destination's delivery state.
type Status struct {
	// Pending messages wait in the outbox; Dead ones in the dead letters.
	Pending int `json:"pending"`
	Dead    int `json:"dead"`
	// Failures in a row since the last success, the last error, and when
	// the next attempt is due (after a failure).
	Failures        int        `json:"failures"`
	LastError       string     `json:"lastError,omitempty"`
	LastSuccessAt   *time.Time `json:"lastSuccessAt,omitempty"`
	NextAttemptAt   *time.Time `json:"nextAttemptAt,omitempty"`
	OldestPendingAt *time.Time `json:"oldestPendingAt,omitempty"`
}

// DestinationInput creates or changes a destination. On a change, absent
// members keep their value; a secret given as "" keeps its value too
// (clear one with ClearSecrets).
type DestinationInput struct {
	Kind          string            `json:"kind,omitempty" maxLength:"40" doc:"The destination kind (GET /api/v1/integrations/kinds); on a change, if given, the current one"`
	Name          string            `json:"name,omitempty" maxLength:"200"`
	Enabled       *bool             `json:"enabled,omitempty"`
	Settings      map[string]string `json:"settings,omitempty" doc:"The kind's fields that are not secret, by name"`
	Secrets       map[string]string `json:"secrets,omitempty" doc:"The kind's secret fields, by name (stored encrypted, never returned)"`
	ClearSecrets  []string          `json:"clearSecrets,omitempty" maxItems:"20" doc:"Optional secret fields to clear"`
	CACert        *string           `json:"caCert,omitempty" maxLength:"65536" doc:"PEM certificates to trust for this destination besides the system's (\"\" removes them)"`
	RatePerMinute int               `json:"ratePerMinute,omitempty" minimum:"0" maximum:"6000" doc:"At most this many messages a minute, in bursts of up to a sixth of it (default 60)"`
}

// Limits of destination settings.
const (
	maxName        = 200
	maxSettingLen  = 4096
	maxSecretLen   = 8192
	maxSettings    = 50
	defaultRate    = 60
	maxRate        = 6000
	maxFilterItems = 50
	maxPatternLen  = 200
)

// Rule events: what a rule may ask for.
var ruleEvents = []string{dest.EventFindingNew, dest.EventFindingFixed, dest.EventKEVReachable, dest.EventScanFailed, dest.EventSensorOffline, dest.EventNodeExposed}

// Rule modes.
const (
	ModeImmediate = "immediate"
	ModeDigest    = "digest"
)

// Digest intervals.
const (
	minDigestMinutes = 5
	maxDigestMinutes = 7 * 24 * 60
)

// Rule says which events go to a destination, filtered, at once or
// gathered into a digest every DigestMinutes.
type Rule struct {
	ID            string     `json:"id"`
	DestinationID string     `json:"destinationId"`
	Name          string     `json:"name"`
	Enabled       bool       `json:"enabled"`
	Events        []string   `json:"events"`
	Filter        Filter     `json:"filter"`
	Mode          string     `json:"mode"`
	DigestMinutes int        `json:"digestMinutes,omitempty"`
	NextDigestAt  *time.Time `json:"nextDigestAt,omitempty"`
	// PendingDigest counts the messages waiting for the next digest.
	PendingDigest int       `json:"pendingDigest"`
	CreatedBy     string    `json:"createdBy"`
	CreatedAt     time.Time `json:"createdAt"`
	UpdatedBy     string    `json:"updatedBy"`
	UpdatedAt     time.Time `json:"updatedAt"`
}

// RuleInput creates or replaces a rule.
type RuleInput struct {
	DestinationID string   `json:"destinationId,omitempty" maxLength:"64" doc:"The destination (required to create; a rule does not move)"`
	Name          string   `json:"name" maxLength:"200"`
	Enabled       *bool    `json:"enabled,omitempty"`
	Events        []string `json:"events" nullable:"true" maxItems:"20" doc:"finding.new, finding.fixed, finding.kev_reachable, scan.failed, sensor.offline, node.exposed"`
	Filter        Filter   `json:"filter,omitempty"`
	Mode          string   `json:"mode,omitempty" doc:"immediate (default) or digest"`
	DigestMinutes int      `json:"digestMinutes,omitempty" doc:"For a digest: every this many minutes (5 to 10080)"`
}

// Filter narrows a rule. Finding filters (severity, risk, KEV) apply to
// finding events; place filters (internet, cluster, namespace, host,
// registry) to every event with a node, and an event that cannot show
// it passes a set filter is left out. Lists match any of their patterns,
// case-insensitively, with * standing for any characters.
type Filter struct {
	MinSeverity  string   `json:"minSeverity,omitempty" doc:"critical, high, medium or low: that or worse"`
	MinRiskScore float64  `json:"minRiskScore,omitempty" doc:"0 to 100"`
	KEVOnly      bool     `json:"kevOnly,omitempty" doc:"Only vulnerabilities known to be exploited (CISA KEV)"`
	InternetOnly bool     `json:"internetOnly,omitempty" doc:"Only nodes reachable from the internet"`
	Clusters     []string `json:"clusters,omitempty"`
	Namespaces   []string `json:"namespaces,omitempty"`
	Hosts        []string `json:"hosts,omitempty"`
	Registries   []string `json:"registries,omitempty" doc:"Image registries (docker.io, ghcr.io, registry.example:5000)"`
}

// severityRank orders severities (unknown 0).
func severityRank(s string) int {
	switch strings.ToLower(s) {
	case "critical":
		return 4
	case "high":
		return 3
	case "medium", "moderate":
		return 2
	case "low":
		return 1
	}
	return 0
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

func checkName(what, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", invalid("%s: required", what)
	}
	if len(s) > maxName {
		return "", invalid("%s: longer than %d characters", what, maxName)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", invalid("%s: control characters", what)
	}
	return s, nil
}

// Check validates a rule and fills its defaults (mode immediate, events
// sorted and unique, filter patterns trimmed).
func (in *RuleInput) Check() error {
	var err error
	if in.Name, err = checkName("name", in.Name); err != nil {
		return err
	}
	if len(in.Events) == 0 {
		return invalid("events: at least one of %s", strings.Join(ruleEvents, ", "))
	}
	for _, e := range in.Events {
		if !slices.Contains(ruleEvents, e) {
			return invalid("events: %q is not one of %s", e, strings.Join(ruleEvents, ", "))
		}
	}
	slices.Sort(in.Events)
	in.Events = slices.Compact(in.Events)
	switch in.Mode {
	case "", ModeImmediate:
		in.Mode = ModeImmediate
		if in.DigestMinutes != 0 {
			return invalid("digestMinutes: only for mode digest")
		}
	case ModeDigest:
		if in.DigestMinutes < minDigestMinutes || in.DigestMinutes > maxDigestMinutes {
			return invalid("digestMinutes: from %d to %d for a digest", minDigestMinutes, maxDigestMinutes)
		}
	default:
		return invalid("mode: %q (want immediate or digest)", in.Mode)
	}
	return in.Filter.Check()
}

// Check validates a filter and normalises it.
func (f *Filter) Check() error {
	if f.MinSeverity != "" {
		f.MinSeverity = strings.ToLower(strings.TrimSpace(f.MinSeverity))
		if severityRank(f.MinSeverity) == 0 || f.MinSeverity == "moderate" {
			return invalid("filter.minSeverity: %q (want critical, high, medium or low)", f.MinSeverity)
		}
	}
	if math.IsNaN(f.MinRiskScore) || f.MinRiskScore < 0 || f.MinRiskScore > 100 {
		return invalid("filter.minRiskScore: from 0 to 100")
	}
	for _, l := range []struct {
		name string
		v    *[]string
	}{{"clusters", &f.Clusters}, {"namespaces", &f.Namespaces}, {"hosts", &f.Hosts}, {"registries", &f.Registries}} {
		if len(*l.v) > maxFilterItems {
			return invalid("filter.%s: more than %d patterns", l.name, maxFilterItems)
		}
		var out []string
		for i, p := range *l.v {
			p = strings.TrimSpace(p)
			switch {
			case p == "":
				return invalid("filter.%s[%d]: empty pattern", l.name, i)
			case len(p) > maxPatternLen:
				return invalid("filter.%s[%d]: longer than %d characters", l.name, i, maxPatternLen)
			case strings.IndexFunc(p, unicode.IsControl) >= 0:
				return invalid("filter.%s[%d]: control characters", l.name, i)
			}
			out = append(out, p)
		}
		*l.v = out
	}
	return nil
}

// matchAny reports whether s matches one of the patterns (no patterns:
// no restriction). A pattern's * stands for any run of characters; the
// match ignores case.
func matchAny(patterns []string, s string) bool {
	if len(patterns) == 0 {
		return true
	}
	if s == "" {
		return false
	}
	s = strings.ToLower(s)
	for _, p := range patterns {
		if glob(strings.ToLower(p), s) {
			return true
		}
	}
	return false
}

// glob matches s against p where * is any run of characters (linear: no
// backtracking blow-up on hostile patterns).
func glob(p, s string) bool {
	parts := strings.Split(p, "*")
	if len(parts) == 1 {
		return p == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(s, part)
		if i < 0 {
			return false
		}
		s = s[i+len(part):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

// Registry is the registry host of an image reference: docker.io for
// short names (nginx, library/nginx:1.25), else the first path element
// when it looks like a host (has a dot or a port, or is localhost).
func Registry(image string) string {
	image = strings.TrimSpace(image)
	if image == "" {
		return ""
	}
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	first, _, ok := strings.Cut(image, "/")
	if !ok {
		return "docker.io"
	}
	if strings.ContainsAny(first, ".:") || first == "localhost" {
		return strings.ToLower(first)
	}
	return "docker.io"
}

// checkedDestination is a destination input checked against its kind:
// the plain settings and the secrets after the change.
type checkedDestination struct {
	name     string
	enabled  bool
	settings map[string]string
	secrets  map[string]string
	hints    map[string]string
	caPEM    string
	rate     int
}

// checkDestination validates in against kind, over the current values
// (old nil for a new destination).
func checkDestination(kind dest.Kind, in DestinationInput, old *checkedDestination) (checkedDestination, error) {
	var c checkedDestination
	form := map[string]dest.Field{}
	for _, f := range kind.Fields {
		form[f.Name] = f
	}
	if old != nil {
		c = *old
		c.settings, c.secrets = clone(old.settings), clone(old.secrets)
	} else {
		c = checkedDestination{enabled: true, rate: defaultRate, settings: map[string]string{}, secrets: map[string]string{}}
	}
	var err error
	if in.Name != "" || old == nil {
		if c.name, err = checkName("name", in.Name); err != nil {
			return c, err
		}
	}
	if in.Enabled != nil {
		c.enabled = *in.Enabled
	}
	if len(in.Settings)+len(in.Secrets) > maxSettings {
		return c, invalid("settings: more than %d", maxSettings)
	}
	for _, k := range sortedKeys(in.Settings) {
		v := in.Settings[k]
		f, ok := form[k]
		switch {
		case !ok:
			return c, invalid("settings.%s: not a setting of %s (its settings: %s)", k, kind.Name, fieldNames(kind, false))
		case f.Secret:
			return c, invalid("settings.%s: a secret; give it in secrets", k)
		case len(v) > maxSettingLen:
			return c, invalid("settings.%s: longer than %d characters", k, maxSettingLen)
		}
		v = strings.TrimSpace(v)
		if v == "" {
			delete(c.settings, k)
			continue
		}
		if err := checkValue(f, v); err != nil {
			return c, invalid("settings.%s: %v", k, err)
		}
		c.settings[k] = v
	}
	for _, k := range sortedKeys(in.Secrets) {
		v := in.Secrets[k]
		f, ok := form[k]
		switch {
		case !ok:
			return c, invalid("secrets.%s: not a setting of %s (its secrets: %s)", k, kind.Name, fieldNames(kind, true))
		case !f.Secret:
			return c, invalid("secrets.%s: not a secret; give it in settings", k)
		case len(v) > maxSecretLen:
			return c, invalid("secrets.%s: longer than %d characters", k, maxSecretLen)
		}
		if f.Type != "textarea" && f.Type != "password" {
			v = strings.TrimSpace(v)
		}
		if v == "" {
			continue // kept
		}
		if err := checkValue(f, v); err != nil {
			return c, invalid("secrets.%s: %v", k, err)
		}
		c.secrets[k] = v
	}
	for _, k := range in.ClearSecrets {
		f, ok := form[k]
		if !ok || !f.Secret {
			return c, invalid("clearSecrets: %q is not a secret of %s", k, kind.Name)
		}
		if _, given := in.Secrets[k]; given && in.Secrets[k] != "" {
			return c, invalid("clearSecrets: %s is also given a value", k)
		}
		delete(c.secrets, k)
	}
	for _, f := range kind.Fields {
		if !f.Required {
			continue
		}
		if f.Secret && c.secrets[f.Name] == "" {
			return c, invalid("secrets.%s: required", f.Name)
		}
		if !f.Secret && c.settings[f.Name] == "" && f.Default == "" {
			return c, invalid("settings.%s: required", f.Name)
		}
	}
	if in.CACert != nil {
		c.caPEM = strings.TrimSpace(*in.CACert)
		if c.caPEM != "" {
			if _, err := fields.Certificates(c.caPEM); err != nil {
				return c, invalid("caCert: %v", err)
			}
		}
	}
	if in.RatePerMinute != 0 {
		if in.RatePerMinute < 1 || in.RatePerMinute > maxRate {
			return c, invalid("ratePerMinute: from 1 to %d", maxRate)
		}
		c.rate = in.RatePerMinute
	}
	c.hints = map[string]string{}
	for k, v := range c.secrets {
		c.hints[k] = ""
		if form[k].Type == "url" {
			c.hints[k] = urlHint(v)
		}
	}
	return c, nil
}

// checkValue checks a value against its field's type.
func checkValue(f dest.Field, v string) error {
	switch f.Type {
	case "url":
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return fmt.Errorf("not an absolute http(s) URL")
		}
	case "number":
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
			return fmt.Errorf("not a number")
		}
	case "bool":
		if v != "true" && v != "false" {
			return fmt.Errorf("true or false, not %q", v)
		}
	case "select":
		if !slices.Contains(f.Options, v) {
			return fmt.Errorf("%q is not one of %s", v, strings.Join(f.Options, ", "))
		}
	}
	if f.Type != "textarea" && f.Type != "password" && strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return fmt.Errorf("control characters")
	}
	return nil
}

// urlHint shows a URL's scheme and host: enough to recognise it, none of
// the path or query that may hold its token.
func urlHint(v string) string {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Hostname() + "/…"
}

func fieldNames(k dest.Kind, secret bool) string {
	var out []string
	for _, f := range k.Fields {
		if f.Secret == secret {
			out = append(out, f.Name)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
