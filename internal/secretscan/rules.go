package secretscan

import (
	"fmt"
	"regexp"

	"github.com/zricethezav/gitleaks/v8/config"
)

// URLPasswordRule is riskmap's one rule beside gitleaks' default set: a
// password in the user information of a URL, as in a database connection
// string ("postgres://app:PASSWORD@db:5432/app"), which no default rule
// covers. Placeholders (password, changeme, ${VAR}, <pass>, xxx, ...) and
// passwords of low entropy are not reported.
const URLPasswordRule = "riskmap-url-password"

// withOwnRules adds riskmap's rules to a gitleaks configuration.
func withOwnRules(cfg config.Config) (config.Config, error) {
	allow := &config.Allowlist{
		Description: "placeholders",
		Regexes: []*regexp.Regexp{
			regexp.MustCompile(`(?i)^(?:\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|<[^>]*>|\{\{[^}]*\}\}|%[A-Za-z_]+%|\*+|x+|(?:my)?pass(?:word)?\d*|secret|changeme|example|test(?:ing)?|dummy|redacted)$`),
		},
	}
	r := config.Rule{
		RuleID:      URLPasswordRule,
		Description: "A password in the user information of a URL (a database or broker connection string).",
		Regex:       regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]{1,30}://[A-Za-z0-9._~%!$&'()*+,;=-]{1,64}:([^\s:/?#@'"\x60]{6,128})@[A-Za-z0-9._-]+`),
		SecretGroup: 1,
		Entropy:     2.5,
		Keywords:    []string{"://"},
		Allowlists:  []*config.Allowlist{allow},
	}
	if err := allow.Validate(); err != nil {
		return cfg, fmt.Errorf("rule %s: %w", r.RuleID, err)
	}
	if err := r.Validate(); err != nil {
		return cfg, fmt.Errorf("rule %s: %w", r.RuleID, err)
	}
	if cfg.Rules == nil {
		cfg.Rules = map[string]config.Rule{}
	}
	if cfg.Keywords == nil {
		cfg.Keywords = map[string]struct{}{}
	}
	cfg.Rules[r.RuleID] = r
	cfg.OrderedRules = append(cfg.OrderedRules, r.RuleID)
	for _, k := range r.Keywords {
		cfg.Keywords[k] = struct{}{}
	}
	return cfg, nil
}
