package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/secretscan"
)

// Rule suppresses a vulnerability, optionally for one package and until a
// date.
type Rule struct {
	ID      string
	Package string // name or purl; empty = every package
	Reason  string
	Expires time.Time // zero = never
	Source  string    // file:line or OpenVEX statement
}

// LoadIgnoreFile reads an OpenVEX document (statements with status
// not_affected or fixed) or an ID list: one rule per line,
//
//	<ID> [package=<name|purl>] [expires=YYYY-MM-DD] <reason…>
//
// with # comments. A reason is required. Lines starting with "secret:"
// are the secret scan's allow-list (secretscan.ParseIgnore), skipped here.
func LoadIgnoreFile(path string) ([]Rule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ignore file: %w", err)
	}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		return parseOpenVEX(path, data)
	}
	var rules []Rule
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, secretscan.IgnorePrefix) {
			continue // secret: lines are the secret scan's (secretscan.ParseIgnore)
		}
		f := strings.Fields(line)
		r := Rule{ID: f[0], Source: fmt.Sprintf("%s:%d", path, n)}
		var reason []string
		for _, tok := range f[1:] {
			switch {
			case strings.HasPrefix(tok, "package="):
				r.Package = strings.TrimPrefix(tok, "package=")
			case strings.HasPrefix(tok, "expires="):
				t, err := time.Parse("2006-01-02", strings.TrimPrefix(tok, "expires="))
				if err != nil {
					return nil, fmt.Errorf("ignore file %s:%d: bad expires date %q (want YYYY-MM-DD)", path, n, tok)
				}
				r.Expires = t.Add(24 * time.Hour) // through the end of that day
			default:
				reason = append(reason, tok)
			}
		}
		r.Reason = strings.TrimPrefix(strings.Join(reason, " "), "# ")
		if r.Reason == "" {
			return nil, fmt.Errorf("ignore file %s:%d: %s has no reason", path, n, r.ID)
		}
		rules = append(rules, r)
	}
	return rules, sc.Err()
}

func parseOpenVEX(path string, data []byte) ([]Rule, error) {
	var doc struct {
		Context    string `json:"@context"`
		Statements []struct {
			Vulnerability struct {
				Name    string   `json:"name"`
				Aliases []string `json:"aliases"`
			} `json:"vulnerability"`
			Products []struct {
				ID string `json:"@id"`
			} `json:"products"`
			Status          string `json:"status"`
			Justification   string `json:"justification"`
			ImpactStatement string `json:"impact_statement"`
		} `json:"statements"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("ignore file %s: OpenVEX: %w", path, err)
	}
	if !strings.Contains(doc.Context, "openvex") {
		return nil, fmt.Errorf("ignore file %s: JSON but not an OpenVEX document (@context %q)", path, doc.Context)
	}
	var rules []Rule
	for i, s := range doc.Statements {
		if s.Status != "not_affected" && s.Status != "fixed" {
			continue
		}
		reason := s.Status
		if j := strings.TrimSpace(s.Justification + " " + s.ImpactStatement); j != "" {
			reason += ": " + j
		}
		src := fmt.Sprintf("%s statement %d", path, i)
		ids := append([]string{s.Vulnerability.Name}, s.Vulnerability.Aliases...)
		prods := s.Products
		if len(prods) == 0 {
			prods = append(prods, struct {
				ID string `json:"@id"`
			}{""})
		}
		for _, id := range ids {
			for _, p := range prods {
				rules = append(rules, Rule{ID: id, Package: p.ID, Reason: reason, Source: src})
			}
		}
	}
	return rules, nil
}

// ApplyIgnores removes findings that a live rule covers. Expired rules are
// returned so the caller can warn about them.
func ApplyIgnores(fs []match.Finding, rules []Rule, now time.Time) (kept []match.Finding, ignored []Ignored, expired []Rule) {
	live := rules[:0:0]
	for _, r := range rules {
		if !r.Expires.IsZero() && now.After(r.Expires) {
			expired = append(expired, r)
			continue
		}
		live = append(live, r)
	}
	kept = []match.Finding{}
	for _, f := range fs {
		var hit *Rule
		for i := range live {
			r := &live[i]
			if !matchesID(f, r.ID) || !matchesPackage(f, r.Package) {
				continue
			}
			hit = r
			break
		}
		if hit == nil {
			kept = append(kept, f)
			continue
		}
		ignored = append(ignored, Ignored{ID: f.ID, Package: f.Package.Name + "@" + f.Package.Version, Reason: hit.Reason, Source: hit.Source})
	}
	return kept, ignored, expired
}

func matchesID(f match.Finding, id string) bool {
	for _, x := range f.AllIDs() {
		if strings.EqualFold(x, id) {
			return true
		}
	}
	for _, x := range f.Records {
		if strings.EqualFold(x, id) {
			return true
		}
	}
	return false
}

func matchesPackage(f match.Finding, p string) bool {
	if p == "" {
		return true
	}
	if strings.HasPrefix(p, "pkg:") {
		strip := func(s string) string { s, _, _ = strings.Cut(s, "?"); return s }
		return strip(p) == strip(f.Package.PURL)
	}
	return p == f.Package.Name || p == f.MatchedAs.Name
}

// FailOn reports the findings that reach a --fail-on threshold: a severity
// (low, medium, high, critical: that level or above) or kev.
func FailOn(fs []match.Finding, threshold string) (int, error) {
	if threshold == "" || threshold == "secret" || threshold == "malware" {
		return 0, nil // "secret" and "malware" count those findings only (Gate.CountSecrets, CountMalware)
	}
	n := 0
	if threshold == "kev" {
		for _, f := range fs {
			if f.KEV != nil {
				n++
			}
		}
		return n, nil
	}
	min := match.SeverityRank(threshold)
	if min == 0 {
		return 0, fmt.Errorf("--fail-on %q: want low, medium, high, critical, kev, secret or malware", threshold)
	}
	for _, f := range fs {
		if match.SeverityRank(f.Severity) >= min {
			n++
		}
	}
	return n, nil
}
