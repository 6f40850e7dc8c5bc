package s3

import (
	"cmp"
	"fmt"
	"io"

	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/match/report"
	"github.com/riskmap/riskmap/internal/risk"
	"github.com/riskmap/riskmap/internal/vulndb"
)

// render writes message m in one format. The JSON object is the message
// itself; the others reuse the console's renderers over the message's
// findings: the CSV export (findings.WriteCSV: same columns as
// GET /api/v1/findings/export?format=csv) and match/report's SARIF and
// CycloneDX. A message carries findings, not the scanned inventory, so
// the CycloneDX document lists the affected packages (with their
// vulnerabilities), not every package of the target.
func render(w io.Writer, m *dest.Message, f string) error {
	switch f {
	case formatJSON:
		b, err := messageJSON(m)
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	case formatCSV:
		return findings.WriteCSV(w, nodeFindings(m))
	case formatSARIF:
		return document(m).Write(w, "sarif")
	case formatCycloneDX:
		return document(m).Write(w, "cyclonedx-json")
	}
	return fmt.Errorf("unknown format %q", f)
}

func nodeOf(m *dest.Message, f *dest.Finding) *dest.Node { return cmp.Or(f.Node, m.Node) }

func nodeFindings(m *dest.Message) []findings.NodeFinding {
	out := make([]findings.NodeFinding, 0, len(m.Findings))
	for i := range m.Findings {
		f := &m.Findings[i]
		nf := findings.NodeFinding{ScanID: m.Fields["scan"], Finding: matchFinding(m, f), Risk: risk.Result{Score: f.RiskScore}}
		if n := nodeOf(m, f); n != nil {
			nf.NodeID = n.ID
			nf.Target = findings.Target{NodeID: n.ID, Kind: n.Kind, Ref: cmp.Or(n.Image, n.Name, n.ID)}
		}
		out = append(out, nf)
	}
	return out
}

func matchFinding(m *dest.Message, f *dest.Finding) match.Finding {
	mf := match.Finding{
		ID: f.VulnID, Aliases: f.Aliases,
		Package:  match.PackageRef{Name: f.Package, Version: f.Version, Ecosystem: f.Ecosystem},
		Severity: cmp.Or(f.Severity, "unknown"), Summary: f.Summary,
		Risk: match.Risk{Score: f.RiskScore},
	}
	if f.FixedVersion != "" {
		mf.FixedVersions = []string{f.FixedVersion}
	}
	if f.CVSS > 0 {
		mf.CVSS = &match.CVSSInfo{BaseScore: f.CVSS}
	}
	if f.EPSS > 0 {
		mf.EPSS = &match.EPSSInfo{Score: f.EPSS}
	}
	if f.KEV {
		mf.KEV = &match.KEVInfo{}
	}
	if u := cmp.Or(f.URL, m.URL); u != "" {
		mf.References = []string{u}
	}
	if n := nodeOf(m, f); n != nil {
		// SARIF locates a result by its package's first location: the node.
		mf.Package.Locations = []string{cmp.Or(n.Name, n.ID)}
	}
	return mf
}

// document builds match/report's document from the message: the target is
// the message's node (or the digest), the inventory the affected
// packages, the time the message's (so a retry writes the same bytes).
func document(m *dest.Message) *report.Document {
	target := inventory.Target{Kind: "host", Ref: "riskmap " + m.Event}
	if m.Node != nil {
		target = inventory.Target{Kind: cmp.Or(m.Node.Kind, "host"), Ref: cmp.Or(m.Node.Image, m.Node.Name, m.Node.ID)}
	}
	inv := &inventory.Inventory{Target: target}
	res := &match.Result{}
	seen := map[[3]string]bool{}
	for i := range m.Findings {
		mf := matchFinding(m, &m.Findings[i])
		res.Findings = append(res.Findings, mf)
		k := [3]string{mf.Package.Ecosystem, mf.Package.Name, mf.Package.Version}
		if !seen[k] {
			seen[k] = true
			inv.Packages = append(inv.Packages, inventory.Package{Name: mf.Package.Name, Version: mf.Package.Version, Ecosystem: mf.Package.Ecosystem})
		}
	}
	res.Packages = len(inv.Packages)
	return report.New(inv, res, vulndb.Meta{}, nil, "", m.Time)
}
