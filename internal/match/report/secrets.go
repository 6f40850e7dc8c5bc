package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/secretscan"
)

// SecretFormats are the formats that carry secret findings.
var SecretFormats = []string{"table", "json", "sarif"}

// AddSecrets puts a secret scan's result in the document: a "secrets"
// section of the table, JSON and SARIF (never the secret itself: the
// findings hold a redacted excerpt and a fingerprint).
func (d *Document) AddSecrets(res *secretscan.Result) {
	d.Secrets = res
	if res == nil {
		return
	}
	d.Summary.Secrets = len(res.Findings)
}

func (d *Document) secretsTable(w io.Writer) error {
	s := d.Secrets
	if s == nil {
		return nil
	}
	if len(d.Scanners) == 0 || slices.Contains(d.Scanners, "vuln") {
		fmt.Fprintln(w)
	}
	if len(s.Findings) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SEVERITY\tSECRET RULE\tFILE\tLAYER\tEXCERPT\tFINGERPRINT")
		for _, f := range s.Findings {
			layer := shortDigest(f.Layer)
			if f.Deleted {
				layer += " (deleted later)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s:%d\t%s\t%s\t%s\n", f.Severity, f.RuleID, f.Path, f.Line, layer, f.Redacted, f.Fingerprint[:16])
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%d secrets in %d files read (%d binary files skipped)", len(s.Findings), s.Files, s.Binary)
	if s.Allowed > 0 {
		fmt.Fprintf(w, "; %d allowed by the allow-list", s.Allowed)
	}
	fmt.Fprintln(w, ".")
	if len(s.Skipped) > 0 {
		fmt.Fprintf(w, "%d files over the size limit were not read (see JSON \"secrets.skipped\").\n", len(s.Skipped))
	}
	if s.Dropped > 0 {
		fmt.Fprintf(w, "%d more secrets were found and not kept (at most %d are).\n", s.Dropped, len(s.Findings))
	}
	if s.Truncated {
		fmt.Fprintln(w, "NOT COMPLETE: the secret scan stopped at its total size limit.")
	}
	return nil
}

func shortDigest(d string) string {
	if d == "" {
		return "-"
	}
	if _, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return hex[:12]
	}
	return d
}

// secretSeverityScore is SARIF's security-severity of a secret finding.
func secretSeverityScore(sev string) string {
	switch sev {
	case "critical":
		return "9.5"
	case "high":
		return "8.0"
	case "medium":
		return "5.5"
	}
	return "3.0"
}

// sarifSecrets appends the secret findings' rules and results.
func (d *Document) sarifSecrets(rules *[]map[string]any, results *[]map[string]any) {
	if d.Secrets == nil {
		return
	}
	type msg struct {
		Text string `json:"text"`
	}
	seen := map[string]bool{}
	for _, f := range d.Secrets.Findings {
		id := "secret/" + f.RuleID
		if !seen[id] {
			seen[id] = true
			*rules = append(*rules, map[string]any{
				"id":               id,
				"name":             f.RuleID,
				"shortDescription": msg{"Secret: " + f.RuleID},
				"fullDescription":  msg{f.Description},
				"help":             msg{"Remove the secret from the file, rotate it, and keep it in a secret store. An allow-list entry (secret:fingerprint=" + f.Fingerprint + ") suppresses this finding."},
				"properties": map[string]any{
					"security-severity": secretSeverityScore(f.Severity), "tags": []string{"security", "secret", f.Severity},
				},
			})
		}
		text := fmt.Sprintf("%s (%s) at %s:%d: %s", f.Description, f.RuleID, f.Path, f.Line, f.Redacted)
		if f.Layer != "" {
			text += " in layer " + f.Layer
			if f.Deleted {
				text += " (deleted by a later layer, still in this layer's blob)"
			}
		}
		props := map[string]any{"entropy": f.Entropy, "fingerprint": f.Fingerprint}
		if f.Layer != "" {
			props["layer"], props["deleted"] = f.Layer, f.Deleted
		}
		*results = append(*results, map[string]any{
			"ruleId":  id,
			"level":   level(f.Severity),
			"message": msg{text},
			"locations": []any{map[string]any{"physicalLocation": map[string]any{
				"artifactLocation": map[string]any{"uri": strings.TrimPrefix(f.Path, "/")},
				"region":           map[string]any{"startLine": f.Line},
			}}},
			"partialFingerprints": map[string]string{"riskmap/secret/v1": f.Fingerprint},
			"properties":          props,
		})
	}
}

// CountSecrets counts the secret findings that reach the gate's
// thresholds: --fail-on secret counts every one, a severity those of that
// severity or above; --fail-on-risk does not apply to secrets (they have
// no risk score yet), so a gate with only a risk threshold counts none.
// With no threshold, every secret counts (as every vulnerability does).
func (g Gate) CountSecrets(fs []secretscan.Finding) int {
	if !g.Active() {
		return 0
	}
	n := 0
	for _, f := range fs {
		switch {
		case g.Severity == "secret":
			n++
		case g.Severity != "":
			if min := match.SeverityRank(g.Severity); min > 0 && !g.RiskSet && match.SeverityRank(f.Severity) >= min {
				n++
			}
		case !g.RiskSet:
			n++
		}
	}
	return n
}
