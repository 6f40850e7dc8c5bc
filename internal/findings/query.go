package findings

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/risk"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/store"
)

// NodeFinding is a stored finding as the API returns it.
//
// Every type shares the envelope: Type, Subject (what the finding is in),
// Finding (for a vulnerability the match; for another type the common
// core: id is the rule, severity, summary, package.name the file) and
// Risk; a secret or malware finding adds its typed detail.
type NodeFinding struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	ScanID string `json:"scanId"`
	NodeID string `json:"nodeId,omitempty"`
	Target Target `json:"target"`
	// Subject is name@version of a package, file:line of a secret, the
	// file of malware.
	Subject string                      `json:"subject"`
	Finding match.Finding               `json:"finding"`
	Secret  *sensorproto.SecretFinding  `json:"secret,omitempty"`
	Malware *sensorproto.MalwareFinding `json:"malware,omitempty"`
	// Compliance is the failed check of a compliance finding.
	Compliance *sensorproto.ComplianceCheck `json:"compliance,omitempty"`
	Risk       risk.Result                  `json:"risk"`
	Decision   *Decision                    `json:"decision,omitempty"`
}

// Filter selects findings. Without ScanID, the current findings are those
// of the latest complete scan of each target.
type Filter struct {
	ScanID string
	// Type keeps the findings of one type (vulnerability, secret...).
	Type              string
	NodeID            string
	Severity          []string
	KEV               *bool
	FixAvailable      *bool
	Package           string
	VulnID            string
	MinScore          float64
	IncludeSuppressed bool
	// Search keeps the findings whose vulnerability id or alias, package,
	// subject, target reference or node (its name, its image's, its
	// Kubernetes namespace or cluster) contains it, case-insensitively.
	Search string
	// Image keeps the findings of an image (node id or name) and of the
	// containers running it; Cluster and Namespace those of the nodes in a
	// Kubernetes cluster or namespace (by name; a cluster also by id).
	Image     string
	Cluster   string
	Namespace string
	// nodes is Image, Cluster, Namespace and Search resolved to node ids.
	nodes nodeScope
	// Sort is risk (default), severity, cvss, epss, package, vuln; Order
	// is asc or desc (default: desc for numbers, asc for names).
	Sort   string
	Order  string
	Limit  int
	Offset int
	// NoCount skips the total (returned as -1).
	NoCount bool
}

var sortColumns = map[string]string{
	"risk": "f.score", "severity": "f.severity_rank", "cvss": "f.cvss", "epss": "f.epss",
	"package": "f.package_name", "vuln": "f.vuln_id",
}

// decisionMatch is the SQL condition "an unexpired decision covers f".
//
// A decision's id holds no '%' or '|' (Decide refuses them); a '_' (in
// the XCCDF rule ids of compliance decisions) is escaped to match itself.
const decisionMatch = `EXISTS (SELECT 1 FROM finding_decisions d WHERE d.finding_type = f.finding_type
	AND f.aliases LIKE '%|' || REPLACE(d.vuln_id, '_', '!_') || '|%' ESCAPE '!'
	AND (d.package_name = '' OR d.package_name = f.package_name) AND (d.node_id = '' OR d.node_id = f.node_id)
	AND (d.expires_at IS NULL OR d.expires_at > ?))`

// Findings queries findings; it returns one page and the total count.
func (s *Service) Findings(ctx context.Context, ff Filter) ([]NodeFinding, int, error) {
	if ff.Limit <= 0 || ff.Limit > 1000 {
		ff.Limit = 100
	}
	col, ok := sortColumns[ff.Sort]
	if ff.Sort == "" {
		col, ok = sortColumns["risk"], true
	}
	if !ok {
		return nil, 0, fmt.Errorf("%w: sort %q (want risk, severity, cvss, epss, package or vuln)", ErrInvalid, ff.Sort)
	}
	if !ff.nodes.resolved {
		if err := s.resolve(ctx, &ff); err != nil {
			return nil, 0, err
		}
	}
	w := s.where(ff)
	cond := w.SQL()
	from := ` FROM scan_findings f`
	total := -1
	if !ff.NoCount {
		if err := s.st.Read().QueryRowContext(ctx, `SELECT COUNT(*)`+from+cond, w.Args()...).Scan(&total); err != nil {
			return nil, 0, fmt.Errorf("count findings: %w", err)
		}
	}
	dir := "DESC"
	if ff.Sort == "package" || ff.Sort == "vuln" {
		dir = "ASC"
	}
	switch strings.ToLower(ff.Order) {
	case "":
	case "asc":
		dir = "ASC"
	case "desc":
		dir = "DESC"
	default:
		return nil, 0, fmt.Errorf("%w: order %q (want asc or desc)", ErrInvalid, ff.Order)
	}
	q := `SELECT f.id, f.scan_id, f.node_id, f.explanation, f.detail, f.sensor_id, f.target_kind, f.target_ref, f.finding_type, f.subject` + from + cond +
		fmt.Sprintf(" ORDER BY %s %s, f.id LIMIT %d OFFSET %d", col, dir, ff.Limit, max(ff.Offset, 0))
	rows, err := s.st.Read().QueryContext(ctx, q, w.Args()...)
	if err != nil {
		return nil, 0, fmt.Errorf("query findings: %w", err)
	}
	defer rows.Close()
	out := []NodeFinding{}
	for rows.Next() {
		var f NodeFinding
		var expl, detail string
		if err := rows.Scan(&f.ID, &f.ScanID, &f.NodeID, &expl, &detail, &f.Target.SensorID, &f.Target.Kind, &f.Target.Ref, &f.Type, &f.Subject); err != nil {
			return nil, 0, fmt.Errorf("query findings: %w", err)
		}
		f.Target.NodeID = f.NodeID
		if f.Type != TypeVulnerability {
			var td typedDetail
			if err := json.Unmarshal([]byte(detail), &td); err != nil {
				return nil, 0, fmt.Errorf("finding %s: %w", f.ID, err)
			}
			f.Finding, f.Secret, f.Malware, f.Compliance = td.Finding, td.Secret, td.Malware, td.Compliance
		} else if err := json.Unmarshal([]byte(detail), &f.Finding); err != nil {
			return nil, 0, fmt.Errorf("finding %s: %w", f.ID, err)
		}
		if err := json.Unmarshal([]byte(expl), &f.Risk); err != nil {
			return nil, 0, fmt.Errorf("finding %s: %w", f.ID, err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("query findings: %w", err)
	}
	if ff.IncludeSuppressed && len(out) > 0 {
		if err := s.attachDecisions(ctx, out); err != nil {
			return nil, 0, err
		}
	}
	return out, total, nil
}

// where is the SQL condition of a filter: the current findings (or a
// scan's), narrowed by the filter, those a decision covers left out
// unless IncludeSuppressed.
func (s *Service) where(ff Filter) store.Where {
	var w store.Where
	if ff.ScanID != "" {
		w.Add("f.scan_id = ?", ff.ScanID)
	} else {
		w.Add("f.state = 'current'")
	}
	if ff.NodeID != "" {
		w.Add("f.node_id = ?", ff.NodeID)
	}
	if ff.Type != "" {
		w.Add("f.finding_type = ?", ff.Type)
	}
	if len(ff.Severity) > 0 {
		ph := strings.TrimSuffix(strings.Repeat("?,", len(ff.Severity)), ",")
		var a []any
		for _, v := range ff.Severity {
			a = append(a, strings.ToLower(v))
		}
		w.Add("f.severity IN ("+ph+")", a...)
	}
	if ff.KEV != nil {
		w.Add("f.kev = ?", boolInt(*ff.KEV))
	}
	if ff.FixAvailable != nil {
		if *ff.FixAvailable {
			w.Add("f.fixed_version <> ''")
		} else {
			w.Add("f.fixed_version = ''")
		}
	}
	if ff.Package != "" {
		w.Add("f.package_name = ?", ff.Package)
	}
	if ff.VulnID != "" {
		// '_' (in XCCDF rule ids) matches itself; '%' and '|' are dropped.
		w.Add("f.aliases LIKE ? ESCAPE '!'", "%|"+strings.NewReplacer("!", "!!", "_", "!_").Replace(strings.NewReplacer("%", "", "|", "").Replace(ff.VulnID))+"|%")
	}
	if ff.MinScore > 0 {
		w.Add("f.score >= ?", ff.MinScore)
	}
	ff.addNodeScope(&w)
	if !ff.IncludeSuppressed {
		w.Add("NOT "+decisionMatch, store.Millis(s.now()))
	}
	return w
}

func (s *Service) attachDecisions(ctx context.Context, fs []NodeFinding) error {
	ds, err := s.Decisions(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	for i := range fs {
		for _, d := range ds {
			if d.covers(&fs[i], now) {
				d := d
				fs[i].Decision = &d
				break
			}
		}
	}
	return nil
}

// All pages through every finding a filter selects (at most a million).
func (s *Service) All(ctx context.Context, ff Filter) ([]NodeFinding, error) {
	var out []NodeFinding
	ff.Limit = 1000
	if err := s.resolve(ctx, &ff); err != nil {
		return nil, err
	}
	for {
		page, total, err := s.Findings(ctx, ff)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		ff.Offset += len(page)
		if len(page) == 0 || ff.Offset >= total || len(out) >= 1_000_000 {
			return out, nil
		}
	}
}

// Top returns the highest-risk current findings across the estate
// (decisions honoured), each with its explanation and attack path.
func (s *Service) Top(ctx context.Context, limit int) ([]NodeFinding, error) {
	if limit <= 0 {
		limit = 20
	}
	got, _, err := s.Findings(ctx, Filter{Sort: "risk", Limit: limit, NoCount: true})
	return got, err
}

// Counts counts a scan's findings by severity (unknown for none), apart
// from those an unexpired decision covers, which are counted in
// suppressed.
func (s *Service) Counts(ctx context.Context, scanID string) (bySeverity map[string]int, suppressed int, err error) {
	rows, err := s.st.Read().QueryContext(ctx, `SELECT f.severity, `+decisionMatch+` AS suppressed, COUNT(*)
		FROM scan_findings f WHERE f.scan_id = ? GROUP BY f.severity, suppressed`, store.Millis(s.now()), scanID)
	if err != nil {
		return nil, 0, fmt.Errorf("count findings of scan %s: %w", scanID, err)
	}
	defer rows.Close()
	bySeverity = map[string]int{}
	for rows.Next() {
		var sev string
		var sup bool
		var n int
		if err := rows.Scan(&sev, &sup, &n); err != nil {
			return nil, 0, fmt.Errorf("count findings of scan %s: %w", scanID, err)
		}
		if sup {
			suppressed += n
			continue
		}
		if sev == "" {
			sev = "unknown"
		}
		bySeverity[sev] += n
	}
	return bySeverity, suppressed, rows.Err()
}

// Diff is the difference between two scans' findings.
type Diff struct {
	From      string   `json:"from"`
	To        string   `json:"to"`
	New       []string `json:"new"`
	Fixed     []string `json:"fixed"`
	Unchanged int      `json:"unchanged"`
}

// DiffScans compares the findings of two scans by fingerprint (a
// vulnerability: its id on package@version; a secret: the engine's
// fingerprint; malware: rule and file digest): present in to but not from
// are new, the reverse fixed. Scans of different types share no finding.
func (s *Service) DiffScans(ctx context.Context, from, to string) (Diff, error) {
	a, err := s.refs(ctx, s.st.Read(), `scan_id = ?`, from)
	if err != nil {
		return Diff{}, err
	}
	b, err := s.refs(ctx, s.st.Read(), `scan_id = ?`, to)
	if err != nil {
		return Diff{}, err
	}
	d := Diff{From: from, To: to, New: []string{}, Fixed: []string{}}
	for k := range b {
		if _, ok := a[k]; ok {
			d.Unchanged++
		} else {
			d.New = append(d.New, k)
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			d.Fixed = append(d.Fixed, k)
		}
	}
	slices.Sort(d.New)
	slices.Sort(d.Fixed)
	return d, nil
}

// CSVHeader is the header row of WriteCSV.
//
// Every type shares the columns: vulnerability is the finding's id (a
// rule for secrets and malware), package the file of a secret or malware,
// subject what it is in (file:line of a secret).
var CSVHeader = []string{"risk", "type", "vulnerability", "subject", "aliases", "severity", "cvss", "kev", "epss", "package", "version", "ecosystem", "fixed",
	"target_kind", "target", "node", "scan", "decision", "explanation"}

// WriteCSV writes findings as CSV, one row each.
func WriteCSV(w io.Writer, fs []NodeFinding) error {
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	for _, f := range fs {
		row := record(f)
		for i := range row {
			row[i] = console.CSVCell(row[i]) // names come from scanned images: no formulas for a spreadsheet
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// record is a finding's row of an export, in CSVHeader's order.
func record(f NodeFinding) []string {
	fd := f.Finding
	cvss, epss, kev, dec := "", "", "false", ""
	if fd.CVSS != nil {
		cvss = strconv.FormatFloat(fd.CVSS.BaseScore, 'f', 1, 64)
	}
	if fd.EPSS != nil {
		epss = strconv.FormatFloat(fd.EPSS.Score, 'f', 5, 64)
	}
	if fd.KEV != nil {
		kev = "true"
	}
	if f.Decision != nil {
		dec = f.Decision.Status
	}
	return []string{strconv.FormatFloat(f.Risk.Score, 'f', 1, 64), cmpOr(f.Type, TypeVulnerability), fd.ID, f.Subject, strings.Join(fd.Aliases, " "), fd.Severity, cvss, kev, epss,
		fd.Package.Name, fd.Package.Version, fd.Package.Ecosystem, strings.Join(fd.FixedVersions, " "),
		f.Target.Kind, f.Target.Ref, f.NodeID, f.ScanID, dec, fd.Risk.Explanation}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// EscapeLike drops the characters that would widen a LIKE pattern.
func EscapeLike(s string) string {
	r := strings.NewReplacer("%", "", "_", "", "|", "")
	return r.Replace(s)
}
