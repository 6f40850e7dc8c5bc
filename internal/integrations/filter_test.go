package integrations

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/webhook"
	"github.com/riskmap/riskmap/internal/topology"
)

func TestFilterMatch(t *testing.T) {
	web := &topology.NodeContext{ID: "h1", Kind: "host", Label: "web-1", Host: "web-1", Cluster: "prod-eu", Internet: true}
	app := &topology.NodeContext{ID: "c1", Kind: "container", Label: "app", Host: "web-1", Cluster: "prod-eu", Namespace: "shop", Image: "ghcr.io/acme/app:1"}
	hub := &topology.NodeContext{ID: "c2", Kind: "container", Label: "cache", Host: "web-2", Cluster: "dev", Namespace: "shop", Image: "redis:7"}
	crit := &findings.FindingRef{VulnID: "CVE-1", Severity: "critical", RiskScore: 90, KEV: true}
	low := &findings.FindingRef{VulnID: "CVE-2", Severity: "low", RiskScore: 12}
	unknown := &findings.FindingRef{VulnID: "CVE-3", Severity: "", RiskScore: 0}
	type c = candidate
	for _, tc := range []struct {
		name   string
		filter Filter
		cands  map[string]candidate
		want   []string
	}{
		{"no_filter_lets_all_through", Filter{}, map[string]c{"crit": {finding: crit, place: web}, "low": {finding: low}, "offline": {host: "x"}},
			[]string{"crit", "low", "offline"}},
		{"min_severity_high", Filter{MinSeverity: "high"}, map[string]c{"crit": {finding: crit}, "low": {finding: low}, "unknown": {finding: unknown}, "offline": {host: "x"}},
			[]string{"crit", "offline"}},
		{"min_risk", Filter{MinRiskScore: 50}, map[string]c{"crit": {finding: crit}, "low": {finding: low}}, []string{"crit"}},
		{"kev_only", Filter{KEVOnly: true}, map[string]c{"crit": {finding: crit}, "low": {finding: low}, "scan": {place: app}}, []string{"crit", "scan"}},
		{"internet_only", Filter{InternetOnly: true}, map[string]c{"web": {finding: low, place: web}, "app": {finding: low, place: app}, "nowhere": {finding: low}},
			[]string{"web"}},
		{"cluster_glob", Filter{Clusters: []string{"PROD-*"}}, map[string]c{"web": {place: web}, "hub": {place: hub}, "nowhere": {}}, []string{"web"}},
		{"namespace", Filter{Namespaces: []string{"shop"}}, map[string]c{"web": {place: web}, "app": {place: app}, "hub": {place: hub}}, []string{"app", "hub"}},
		{"host_from_node_or_event", Filter{Hosts: []string{"web-1", "batch-*"}}, map[string]c{"app": {place: app}, "hub": {place: hub}, "offline": {host: "batch-7"}},
			[]string{"app", "offline"}},
		{"registry", Filter{Registries: []string{"ghcr.io"}}, map[string]c{"app": {place: app}, "hub": {place: hub}, "web": {place: web}}, []string{"app"}},
		{"docker_hub_short_names", Filter{Registries: []string{"docker.io"}}, map[string]c{"app": {place: app}, "hub": {place: hub}}, []string{"hub"}},
		{"all_together", Filter{MinSeverity: "critical", KEVOnly: true, InternetOnly: true, Clusters: []string{"prod-*"}, Hosts: []string{"web-*"}},
			map[string]c{"yes": {finding: crit, place: web}, "not_reachable": {finding: crit, place: app}, "low": {finding: low, place: web}}, []string{"yes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, name := range sortedKeysOf(tc.cands) {
				if tc.filter.match(tc.cands[name]) {
					got = append(got, name)
				}
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("matched (-want +got):\n%s", d)
			}
		})
	}
}

func TestGlobAndRegistry(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"web-1", "web-1", true}, {"web-*", "web-12", true}, {"*-eu", "prod-eu", true}, {"*", "", true}, {"a*b*c", "axxbyyc", true},
		{"a*b*c", "acb", false}, {"web-*", "db-1", false}, {"ab*ba", "aba", false}, {"**", "x", true}, {"x", "xx", false},
	} {
		if got := glob(c.p, c.s); got != c.want {
			t.Errorf("glob(%q, %q) = %v", c.p, c.s, got)
		}
	}
	for in, want := range map[string]string{
		"nginx": "docker.io", "library/nginx:1.25": "docker.io", "ghcr.io/acme/app:1": "ghcr.io", "localhost:5000/x": "localhost:5000",
		"registry.example:5000/team/app@sha256:abc": "registry.example:5000", "localhost/app": "localhost", "": "",
	} {
		if got := Registry(in); got != want {
			t.Errorf("Registry(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRuleInputErrorsNameTheField: every refusal says which member.
func TestRuleInputErrorsNameTheField(t *testing.T) {
	ok := func() RuleInput { return RuleInput{Name: "r", Events: []string{dest.EventFindingNew}} }
	for _, c := range []struct {
		name  string
		edit  func(*RuleInput)
		field string
	}{
		{"no_name", func(r *RuleInput) { r.Name = " " }, "name"},
		{"control_in_name", func(r *RuleInput) { r.Name = "a\x01" }, "name"},
		{"no_events", func(r *RuleInput) { r.Events = nil }, "events"},
		{"unknown_event", func(r *RuleInput) { r.Events = []string{"finding.old"} }, "events"},
		{"digest_event_is_not_a_rule_event", func(r *RuleInput) { r.Events = []string{dest.EventDigest} }, "events"},
		{"bad_mode", func(r *RuleInput) { r.Mode = "weekly" }, "mode"},
		{"digest_too_often", func(r *RuleInput) { r.Mode, r.DigestMinutes = ModeDigest, 1 }, "digestMinutes"},
		{"minutes_without_digest", func(r *RuleInput) { r.DigestMinutes = 60 }, "digestMinutes"},
		{"severity", func(r *RuleInput) { r.Filter.MinSeverity = "urgent" }, "filter.minSeverity"},
		{"risk", func(r *RuleInput) { r.Filter.MinRiskScore = 101 }, "filter.minRiskScore"},
		{"empty_pattern", func(r *RuleInput) { r.Filter.Hosts = []string{"a", ""} }, "filter.hosts[1]"},
		{"long_pattern", func(r *RuleInput) { r.Filter.Clusters = []string{strings.Repeat("x", 201)} }, "filter.clusters[0]"},
		{"many_patterns", func(r *RuleInput) { r.Filter.Registries = make([]string, 51) }, "filter.registries"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := ok()
			c.edit(&in)
			err := in.Check()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.field+":") {
				t.Errorf("error %v; want invalid naming %s", err, c.field)
			}
		})
	}
	in := ok()
	in.Events = []string{dest.EventScanFailed, dest.EventFindingNew, dest.EventScanFailed}
	in.Filter.MinSeverity = " HIGH "
	if err := in.Check(); err != nil || in.Mode != ModeImmediate || !cmp.Equal(in.Events, []string{dest.EventFindingNew, dest.EventScanFailed}) || in.Filter.MinSeverity != "high" {
		t.Errorf("normalised: %+v, %v", in, err)
	}
}

// TestDestinationInputErrorsNameTheField checks a destination against
// the webhook kind's form.
func TestDestinationInputErrorsNameTheField(t *testing.T) {
	k := webhook.Kind()
	good := func() DestinationInput {
		return DestinationInput{Kind: "webhook", Name: "n", Secrets: map[string]string{"url": "https://h.example/x", "secret": strings.Repeat("s", 20)}}
	}
	for _, c := range []struct {
		name  string
		edit  func(*DestinationInput)
		field string
	}{
		{"no_name", func(d *DestinationInput) { d.Name = "" }, "name"},
		{"unknown_setting", func(d *DestinationInput) { d.Settings = map[string]string{"colour": "red"} }, "settings.colour"},
		{"secret_in_settings", func(d *DestinationInput) { d.Settings = map[string]string{"url": "https://x.example"} }, "settings.url"},
		{"plain_in_secrets", func(d *DestinationInput) { d.Secrets["batch"] = "2" }, "secrets.batch"},
		{"number", func(d *DestinationInput) { d.Settings = map[string]string{"batch": "lots"} }, "settings.batch"},
		{"url_scheme", func(d *DestinationInput) { d.Secrets["url"] = "ftp://h.example/x" }, "secrets.url"},
		{"required_secret", func(d *DestinationInput) { delete(d.Secrets, "secret") }, "secrets.secret"},
		{"clear_unknown", func(d *DestinationInput) { d.ClearSecrets = []string{"token"} }, "clearSecrets"},
		{"ca_not_pem", func(d *DestinationInput) { d.CACert = ptr("hello") }, "caCert"},
		{"rate", func(d *DestinationInput) { d.RatePerMinute = 100000 }, "ratePerMinute"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := good()
			c.edit(&in)
			_, err := checkDestination(k, in, nil)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.field+":") {
				t.Errorf("error %v; want invalid naming %s", err, c.field)
			}
		})
	}
	c, err := checkDestination(k, good(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.hints["url"] != "https://h.example/…" || c.hints["secret"] != "" || c.rate != defaultRate || !c.enabled {
		t.Errorf("checked: hints %v rate %d enabled %v", c.hints, c.rate, c.enabled)
	}
	// A change keeps secrets given as "" and clears those asked.
	upd, err := checkDestination(k, DestinationInput{Secrets: map[string]string{"url": ""}, ClearSecrets: []string{"headers"}}, &c)
	if err != nil || upd.secrets["url"] != "https://h.example/x" || upd.name != "n" {
		t.Errorf("update: %+v, %v", upd, err)
	}
	if _, err := checkDestination(k, DestinationInput{ClearSecrets: []string{"secret"}}, &c); err == nil || !strings.Contains(err.Error(), "secrets.secret: required") {
		t.Errorf("clearing a required secret: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// FuzzRuleInput: any rule body is either refused as invalid or checked
// into a rule whose filter matches without panicking.
func FuzzRuleInput(f *testing.F) {
	f.Add([]byte(`{"name":"r","events":["finding.new"],"filter":{"minSeverity":"high","clusters":["prod-*"]}}`))
	f.Add([]byte(`{"name":"d","events":["scan.failed","node.exposed"],"mode":"digest","digestMinutes":60,"filter":{"hosts":["*a*b*"],"registries":["ghcr.io"]}}`))
	f.Add([]byte(`{"name":"x","events":[],"filter":{"minRiskScore":-1}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var in RuleInput
		if json.Unmarshal(body, &in) != nil {
			return
		}
		if err := in.Check(); err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("not an invalid-input error: %v", err)
			}
			return
		}
		place := &topology.NodeContext{Label: "web-1", Host: "web-1", Cluster: "prod-eu", Namespace: "shop", Image: "ghcr.io/a/b:1", Internet: true}
		in.Filter.match(candidate{finding: &findings.FindingRef{Severity: "high", RiskScore: 50}, place: place})
		in.Filter.match(candidate{host: string(body)})
	})
}

// FuzzDestinationInput: any destination body is refused as invalid or
// makes a webhook whose hints never hold a secret's path or query.
func FuzzDestinationInput(f *testing.F) {
	f.Add([]byte(`{"kind":"webhook","name":"n","secrets":{"url":"https://h.example/tok/abc?k=v","secret":"0123456789abcdefgh"},"settings":{"batch":"5"}}`))
	f.Add([]byte(`{"name":"n","secrets":{"url":"https://h/","headers":"A: b\nC: d"},"clearSecrets":["headers"],"caCert":"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----"}`))
	f.Add([]byte(`{"name":"\u0000","settings":{"url":"x"},"ratePerMinute":-4}`))
	k := webhook.Kind()
	f.Fuzz(func(t *testing.T, body []byte) {
		var in DestinationInput
		if json.Unmarshal(body, &in) != nil {
			return
		}
		c, err := checkDestination(k, in, nil)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("not an invalid-input error: %v", err)
			}
			return
		}
		if _, err := k.New(dest.Config{Settings: c.settings, Secrets: c.secrets}); err != nil {
			return
		}
		for name, hint := range c.hints {
			v := c.secrets[name]
			if hint != "" && len(v) > len(hint) && strings.Contains(hint, v) {
				t.Fatalf("hint %q shows secret %s", hint, name)
			}
			if i := strings.Index(v, "?"); i >= 0 && strings.Contains(hint, v[i:]) {
				t.Fatalf("hint %q shows the query of %s", hint, name)
			}
		}
	})
}

func FuzzGlob(f *testing.F) {
	f.Add("a*b", "axxb")
	f.Add("***", "")
	f.Fuzz(func(t *testing.T, p, s string) {
		if glob(p, s) && !strings.Contains(p, "*") && p != s {
			t.Fatalf("glob(%q, %q) without a star matched a different string", p, s)
		}
		if glob(p, p) != true && !strings.Contains(p, "*") {
			t.Fatalf("glob(%q) does not match itself", p)
		}
	})
}
