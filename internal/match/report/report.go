// Package report renders match results: a terminal table, Riskmap's JSON,
// SARIF 2.1.0, CycloneDX 1.6 JSON (every component plus vulnerabilities
// with affects refs) and OpenVEX 0.2.0. It also applies ignore rules
// (OpenVEX documents or an ID list with reasons and expiries) and the
// --fail-on policy.
package report

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/malwarescan"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/secretscan"
	"github.com/riskmap/riskmap/internal/vulndb"
)

// SchemaVersion of the JSON document.
const SchemaVersion = "1.0.0"

// Formats are the output formats.
var Formats = []string{"table", "json", "sarif", "cyclonedx-json", "openvex"}

// Ignored is a finding suppressed by an ignore rule.
type Ignored struct {
	ID      string `json:"id"`
	Package string `json:"package"`
	Reason  string `json:"reason"`
	Source  string `json:"source"`
}

// Document is everything a report renders.
type Document struct {
	SchemaVersion string            `json:"schemaVersion"`
	Tool          Tool              `json:"tool"`
	Target        inventory.Target  `json:"target"`
	Distro        *inventory.Distro `json:"distro,omitempty"`
	DB            DBInfo            `json:"db"`
	Summary       Summary           `json:"summary"`
	Findings      []match.Finding   `json:"findings"`
	Ignored       []Ignored         `json:"ignored,omitempty"`
	Skipped       []match.Skipped   `json:"skipped,omitempty"`
	// Uncovered are the ecosystems of the inventory the knowledge base
	// knows nothing of: "0 findings" does not mean clean for them.
	Uncovered []match.Uncovered     `json:"uncovered,omitempty"`
	Errors    []inventory.FileError `json:"inventoryErrors,omitempty"`
	// Scanners are the scanners run (--scanners); empty means vuln.
	Scanners []string `json:"scanners,omitempty"`
	// Secrets is the secret scan's result (--scanners secret): findings
	// with a redacted excerpt and a fingerprint, never the secret.
	Secrets *secretscan.Result `json:"secrets,omitempty"`
	// Malware is the malware scan's result (--scanners malware).
	Malware     *malwarescan.Result `json:"malware,omitempty"`
	GeneratedAt time.Time           `json:"generatedAt"`

	inv *inventory.Inventory
}

// Tool names the producer.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// DBInfo describes the knowledge base used.
type DBInfo struct {
	BuiltAt time.Time       `json:"builtAt"`
	Schema  int             `json:"schema"`
	Sources []vulndb.Source `json:"sources"`
}

// Summary counts findings by severity.
type Summary struct {
	Packages   int            `json:"packages"`
	Findings   int            `json:"findings"`
	BySeverity map[string]int `json:"bySeverity"`
	KEV        int            `json:"kev"`
	Fixable    int            `json:"fixable"`
	// Secrets counts the secret findings (--scanners secret).
	Secrets int `json:"secrets,omitempty"`
	// Malware counts the malware findings (--scanners malware).
	Malware int `json:"malware,omitempty"`
}

// New assembles a document.
func New(inv *inventory.Inventory, res *match.Result, meta vulndb.Meta, ignored []Ignored, version string, now time.Time) *Document {
	d := &Document{
		SchemaVersion: SchemaVersion, Tool: Tool{"riskmap", version}, Target: inv.Target, Distro: inv.Distro,
		DB:       DBInfo{BuiltAt: meta.BuiltAt, Schema: meta.Schema, Sources: meta.Sources},
		Findings: res.Findings, Ignored: ignored, Skipped: res.Skipped, Uncovered: res.Uncovered, Errors: inv.Errors, GeneratedAt: now.UTC(), inv: inv,
	}
	d.Summary = Summary{Packages: len(inv.Packages), Findings: len(res.Findings), BySeverity: map[string]int{}}
	for _, f := range res.Findings {
		d.Summary.BySeverity[f.Severity]++
		if f.KEV != nil {
			d.Summary.KEV++
		}
		if len(f.FixedVersions) > 0 {
			d.Summary.Fixable++
		}
	}
	return d
}

// Write renders the document in one of Formats.
func (d *Document) Write(w io.Writer, format string) error {
	switch format {
	case "table":
		return d.table(w)
	case "json":
		return writeJSON(w, d)
	case "sarif":
		return writeJSON(w, d.sarif())
	case "cyclonedx-json":
		return writeJSON(w, d.cyclonedx())
	case "openvex":
		return writeJSON(w, d.openvex())
	}
	return fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (d *Document) table(w io.Writer) error {
	if len(d.Scanners) > 0 && !slices.Contains(d.Scanners, "vuln") {
		if err := d.secretsTable(w); err != nil {
			return err
		}
		return d.malwareTable(w)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tRISK\tID\tPACKAGE\tVERSION\tFIXED IN\tKEV\tEPSS")
	for _, f := range d.Findings {
		kev := ""
		if f.KEV != nil {
			kev = "yes"
			if f.KEV.Ransomware {
				kev = "ransomware"
			}
		}
		ep := ""
		if f.EPSS != nil {
			ep = fmt.Sprintf("%.2f%%", 100*f.EPSS.Score)
		}
		name := f.Package.Name
		if f.MatchedAs.Name != f.Package.Name {
			name += " (" + f.MatchedAs.Name + ")"
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Severity, f.Risk.Score, f.ID, name, f.Package.Version, strings.Join(f.FixedVersions, ", "), kev, ep)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var parts []string
	for _, s := range []string{"critical", "high", "medium", "low", "unknown"} {
		if n := d.Summary.BySeverity[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	fmt.Fprintf(w, "\n%d findings in %d packages", d.Summary.Findings, d.Summary.Packages)
	if len(parts) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "; %d in CISA KEV; %d fixable.\n", d.Summary.KEV, d.Summary.Fixable)
	owned := 0
	for _, s := range d.Skipped {
		if s.Reason == match.SkipOwnedByOS {
			owned++
		}
	}
	if owned > 0 {
		fmt.Fprintf(w, "%d language packages are owned by OS packages and judged by the distribution feed (see JSON \"skipped\").\n", owned)
	}
	if len(d.Ignored) > 0 {
		fmt.Fprintf(w, "%d findings ignored by the ignore file.\n", len(d.Ignored))
	}
	for _, u := range d.Uncovered {
		fmt.Fprintf(w, "NOT COVERED: %s\n", u.Sentence())
	}
	if err := d.secretsTable(w); err != nil {
		return err
	}
	return d.malwareTable(w)
}

// ---- SARIF 2.1.0 ----

func level(sev string) string {
	switch sev {
	case "critical", "high":
		return "error"
	case "medium":
		return "warning"
	}
	return "note"
}

func (d *Document) sarif() any {
	type msg struct {
		Text string `json:"text"`
	}
	rules := []map[string]any{}
	seen := map[string]bool{}
	results := []map[string]any{}
	for _, f := range d.Findings {
		if !seen[f.ID] {
			seen[f.ID] = true
			score := "0.0"
			if f.CVSS != nil {
				score = fmt.Sprintf("%.1f", f.CVSS.BaseScore)
			}
			r := map[string]any{
				"id":               f.ID,
				"shortDescription": msg{cmp.Or(f.Summary, f.ID)},
				"fullDescription":  msg{cmp.Or(f.Summary, f.ID)},
				"properties": map[string]any{
					"security-severity": score, "tags": []string{"security", "vulnerability", f.Severity},
				},
			}
			if len(f.References) > 0 {
				r["helpUri"] = f.References[0]
			}
			rules = append(rules, r)
		}
		loc := cmp.Or(firstOr(f.Package.Locations), d.Target.Ref)
		text := fmt.Sprintf("%s %s is affected by %s (%s)", f.Package.Name, f.Package.Version, f.ID, f.Severity)
		if len(f.FixedVersions) > 0 {
			text += "; fixed in " + strings.Join(f.FixedVersions, ", ")
		}
		text += ". Risk " + fmt.Sprintf("%.0f: %s", f.Risk.Score, f.Risk.Explanation)
		results = append(results, map[string]any{
			"ruleId":  f.ID,
			"level":   level(f.Severity),
			"message": msg{text},
			"locations": []any{map[string]any{"physicalLocation": map[string]any{
				"artifactLocation": map[string]any{"uri": strings.TrimPrefix(loc, "/")},
			}}},
			"partialFingerprints": map[string]string{"riskmap/v1": fingerprint(f.ID, f.Package.PURL, f.Package.Name, loc)},
			"properties":          map[string]any{"purl": f.Package.PURL, "aliases": f.Aliases, "risk": f.Risk.Score},
		})
	}
	d.sarifSecrets(&rules, &results)
	d.sarifMalware(&rules, &results)
	return map[string]any{
		"$schema": "https://json.schemastore.org/sarif-2.1.0.json",
		"version": "2.1.0",
		"runs": []any{map[string]any{
			"tool": map[string]any{"driver": map[string]any{
				"name": "riskmap", "version": d.Tool.Version, "informationUri": "https://github.com/riskmap/riskmap", "rules": rules,
			}},
			"results":     results,
			"invocations": []any{d.sarifInvocation()},
		}},
	}
}

// sarifInvocation says whether the scan judged everything: each ecosystem
// the knowledge base does not cover is a warning notification.
func (d *Document) sarifInvocation() map[string]any {
	var notes []any
	for _, u := range d.Uncovered {
		notes = append(notes, map[string]any{"level": "warning", "message": map[string]any{"text": u.Sentence()},
			"descriptor": map[string]any{"id": "riskmap/uncovered-ecosystem"}, "properties": map[string]any{"ecosystem": u.Ecosystem, "packages": u.Packages}})
	}
	inv := map[string]any{"executionSuccessful": true}
	if len(notes) > 0 {
		inv["toolExecutionNotifications"] = notes
	}
	return inv
}

func firstOr(s []string) string {
	if len(s) > 0 {
		return s[0]
	}
	return ""
}

func fingerprint(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:16])
}

// ---- CycloneDX 1.6 ----

func (d *Document) cyclonedx() any {
	type comp struct {
		Type    string `json:"type"`
		BOMRef  string `json:"bom-ref"`
		Name    string `json:"name"`
		Version string `json:"version,omitempty"`
		PURL    string `json:"purl,omitempty"`
	}
	var comps []comp
	refOf := map[string]string{}
	key := func(name, version, eco, purl string) string {
		return purl + "\x00" + eco + "\x00" + name + "\x00" + version
	}
	for i, p := range d.inv.Packages {
		k := key(p.Name, p.Version, p.Ecosystem, p.PURL)
		if _, dup := refOf[k]; dup {
			continue
		}
		ref := p.PURL
		if ref == "" || slices.ContainsFunc(comps, func(c comp) bool { return c.BOMRef == ref }) {
			ref = fmt.Sprintf("pkg-%d", i)
		}
		refOf[k] = ref
		comps = append(comps, comp{Type: "library", BOMRef: ref, Name: p.Name, Version: p.Version, PURL: p.PURL})
	}
	type rating struct {
		Source   map[string]string `json:"source,omitempty"`
		Score    float64           `json:"score,omitempty"`
		Severity string            `json:"severity"`
		Method   string            `json:"method,omitempty"`
		Vector   string            `json:"vector,omitempty"`
	}
	byID := map[string]int{}
	var vulns []map[string]any
	for _, f := range d.Findings {
		ref := refOf[key(f.Package.Name, f.Package.Version, f.Package.Ecosystem, f.Package.PURL)]
		affect := map[string]any{"ref": ref, "versions": []any{map[string]string{"version": f.Package.Version, "status": "affected"}}}
		if i, ok := byID[f.ID]; ok {
			vulns[i]["affects"] = append(vulns[i]["affects"].([]any), affect)
			continue
		}
		r := rating{Severity: f.Severity}
		if f.CVSS != nil {
			r.Score, r.Vector = f.CVSS.BaseScore, f.CVSS.Vector
			r.Method = map[string]string{"2.0": "CVSSv2", "3.0": "CVSSv3", "3.1": "CVSSv31", "4.0": "CVSSv4"}[f.CVSS.Version]
			r.Source = map[string]string{"name": f.CVSS.Source}
		}
		var refs []any
		for _, a := range f.AllIDs()[1:] {
			refs = append(refs, map[string]any{"id": a, "source": map[string]string{"name": sourceName(a)}})
		}
		v := map[string]any{
			"bom-ref": "vuln-" + f.ID,
			"id":      f.ID,
			"source":  map[string]string{"name": sourceName(f.ID)},
			"ratings": []rating{r},
			"affects": []any{affect},
		}
		if len(refs) > 0 {
			v["references"] = refs
		}
		if f.Summary != "" {
			v["description"] = f.Summary
		}
		if len(f.FixedVersions) > 0 {
			v["recommendation"] = "Upgrade " + f.Package.Name + " to " + strings.Join(f.FixedVersions, " or ")
		}
		var props []map[string]string
		props = append(props, map[string]string{"name": "riskmap:risk", "value": fmt.Sprintf("%.0f", f.Risk.Score)})
		props = append(props, map[string]string{"name": "riskmap:risk-explanation", "value": f.Risk.Explanation})
		if f.KEV != nil {
			props = append(props, map[string]string{"name": "riskmap:kev", "value": "true"})
			props = append(props, map[string]string{"name": "riskmap:kev-ransomware", "value": fmt.Sprint(f.KEV.Ransomware)})
		}
		if f.EPSS != nil {
			props = append(props, map[string]string{"name": "riskmap:epss", "value": fmt.Sprintf("%.5f", f.EPSS.Score)})
			props = append(props, map[string]string{"name": "riskmap:epss-percentile", "value": fmt.Sprintf("%.5f", f.EPSS.Percentile)})
		}
		v["properties"] = props
		byID[f.ID] = len(vulns)
		vulns = append(vulns, v)
	}
	h := sha256.Sum256([]byte(d.Target.Kind + d.Target.Ref + d.GeneratedAt.String()))
	u := hex.EncodeToString(h[:16])
	serial := fmt.Sprintf("urn:uuid:%s-%s-4%s-8%s-%s", u[0:8], u[8:12], u[13:16], u[17:20], u[20:32])
	if comps == nil {
		comps = []comp{}
	}
	if vulns == nil {
		vulns = []map[string]any{}
	}
	return map[string]any{
		"bomFormat":    "CycloneDX",
		"specVersion":  "1.6",
		"serialNumber": serial,
		"version":      1,
		"metadata": map[string]any{
			"timestamp": d.GeneratedAt.Format(time.RFC3339),
			"tools":     map[string]any{"components": []any{map[string]string{"type": "application", "name": "riskmap", "version": d.Tool.Version}}},
			"component": map[string]string{"type": targetType(d.Target.Kind), "bom-ref": "target", "name": d.Target.Ref},
		},
		"components":      comps,
		"vulnerabilities": vulns,
	}
}

func targetType(kind string) string {
	switch kind {
	case "docker-archive", "oci-archive", "oci-dir", "docker", "registry", "container":
		return "container"
	}
	return "application"
}

func sourceName(id string) string {
	p, _, _ := strings.Cut(id, "-")
	switch p {
	case "CVE":
		return "NVD"
	case "GHSA":
		return "GitHub"
	case "GO":
		return "Go Vulnerability Database"
	case "PYSEC":
		return "PyPA"
	case "RUSTSEC":
		return "RustSec"
	case "DSA", "DLA":
		return "Debian"
	case "ALSA", "ALBA", "ALEA":
		return "AlmaLinux"
	}
	return "OSV"
}

// ---- OpenVEX 0.2.0 ----

func (d *Document) openvex() any {
	type stmt struct {
		Vulnerability map[string]any      `json:"vulnerability"`
		Products      []map[string]string `json:"products"`
		Status        string              `json:"status"`
		Action        string              `json:"action_statement,omitempty"`
	}
	var stmts []stmt
	for _, f := range d.Findings {
		prod := cmp.Or(f.Package.PURL, f.Package.Ecosystem+"/"+f.Package.Name+"@"+f.Package.Version)
		action := "No fix is available yet; mitigate or accept the risk."
		if len(f.FixedVersions) > 0 {
			action = "Upgrade " + f.Package.Name + " to " + strings.Join(f.FixedVersions, " or ") + "."
		}
		v := map[string]any{"name": f.ID}
		if len(f.Aliases) > 0 {
			v["aliases"] = f.Aliases
		}
		stmts = append(stmts, stmt{v, []map[string]string{{"@id": prod}}, "affected", action})
	}
	sort.SliceStable(stmts, func(i, j int) bool {
		return stmts[i].Vulnerability["name"].(string) < stmts[j].Vulnerability["name"].(string)
	})
	if stmts == nil {
		stmts = []stmt{}
	}
	return map[string]any{
		"@context":   "https://openvex.dev/ns/v0.2.0",
		"@id":        "https://openvex.dev/docs/public/riskmap-" + fingerprint(d.Target.Ref, d.GeneratedAt.String()),
		"author":     "riskmap",
		"timestamp":  d.GeneratedAt.Format(time.RFC3339),
		"version":    1,
		"tooling":    "riskmap " + d.Tool.Version,
		"statements": stmts,
	}
}
