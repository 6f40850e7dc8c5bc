// Package findings owns the console's findings and what users decide about
// them: the findings of every scan type in one model (the scan_findings
// table: the vulnerabilities a scan's inventory matched, the secrets and
// malware a sensor's engine found; migration 00040 says what each column
// holds per type), their exposure-aware risk on the node (internal/risk, rescored
// when the topology says a node changed), which findings are current (those
// of the latest complete scan of each target), VEX-like decisions (accepted,
// not affected) honoured by every query and exported as OpenVEX, the
// findings API and exports, and the events of findings appearing, being
// fixed and being decided.
//
// The scans module hands it a scan's matched findings (Match, ReplaceTx)
// and tells it, in the transaction that completes the scan, that they are
// now current (CommitTx). Findings never read the scans table: each
// finding row carries its scan's target.
package findings

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/risk"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/vulndb"
)

// Errors the HTTP layer maps to status codes.
var (
	ErrNotFound = console.ErrNotFound
	ErrInvalid  = console.ErrInvalid
)

// States of a stored finding.
const (
	// StatePending: its scan has not finished.
	StatePending = "pending"
	// StateCurrent: its scan is the latest complete scan of its target.
	StateCurrent = "current"
	// StateOld: a later scan of the target replaced it, or its scan
	// failed.
	StateOld = "old"
)

// ExposureSource is what findings need from the topology: a node's
// processes with their loaded files and listening sockets, and whether
// (and how) the internet reaches it.
type ExposureSource interface {
	Exposure(ctx context.Context, nodeID string) (risk.Exposure, error)
}

// KnowledgeBase gives the current knowledge base (nil: none loaded yet).
type KnowledgeBase interface {
	DB() *vulndb.DB
}

// Target is what a scan scanned and its findings were found on: a node of
// the topology (when it is one) and the sensor's target (kind and ref).
type Target struct {
	NodeID   string `json:"nodeId,omitempty"`
	SensorID string `json:"sensorId"`
	Kind     string `json:"kind"`
	Ref      string `json:"ref"`
}

// Finding types: one per scan type (sensorproto.ScanTypes).
const (
	TypeVulnerability = sensorproto.ScanVulnerability
	TypeSecret        = sensorproto.ScanSecret
	TypeMalware       = sensorproto.ScanMalware
	TypeCompliance    = sensorproto.ScanCompliance
)

// Origin is the scan findings come from.
type Origin struct {
	ScanID string
	// Type is the scan's type, its findings' type ("": vulnerability).
	Type   string
	Target Target
	// Key identifies the target across scans (the latest complete scan of
	// a key holds its current findings).
	Key string
}

// Config are the Service's dependencies.
type Config struct {
	Store    *store.Store
	KB       KnowledgeBase
	Exposure ExposureSource
	Logger   *slog.Logger
	Now      func() time.Time
	Version  string
}

// Service is the findings module.
type Service struct {
	st       *store.Store
	kb       KnowledgeBase
	exposure ExposureSource
	log      *slog.Logger
	now      func() time.Time
	version  string
	// memo is what Rescore found consistent (rescore.go).
	memo rescoreMemo
}

// New builds the module.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{st: cfg.Store, kb: cfg.KB, exposure: cfg.Exposure, log: cfg.Logger, now: cfg.Now, version: cfg.Version,
		memo: rescoreMemo{m: map[Target]memo{}}}
}

// Row is one finding, ready to store: a matched vulnerability, or (Type
// set) a finding of another type with its typed detail.
type Row struct {
	// Type is the finding's type ("": vulnerability).
	Type string
	// Finding is the vulnerability; for the other types the common core:
	// ID (the rule), Severity, Summary, Package.Name (the file) and Risk.
	Finding match.Finding
	Files   []string
	Risk    risk.Result
	// The other types: Subject (what it is in, for people), Fingerprint
	// (its identity across scans), IDs (what a decision may name), and
	// the typed finding.
	Subject     string
	Fingerprint string
	IDs         []string
	Secret      *sensorproto.SecretFinding
	Malware     *sensorproto.MalwareFinding
	Compliance  *sensorproto.ComplianceCheck
}

// typedDetail is the detail column of a finding that is not a
// vulnerability.
type typedDetail struct {
	Finding match.Finding               `json:"finding"`
	Secret  *sensorproto.SecretFinding  `json:"secret,omitempty"`
	Malware *sensorproto.MalwareFinding `json:"malware,omitempty"`
	// Compliance is a failed check (its result fail or error).
	Compliance *sensorproto.ComplianceCheck `json:"compliance,omitempty"`
}

// ResultRows turns the results of a secret, malware or compliance scan
// into rows, each scored on the target node's present exposure
// (risk.ScoreOnNode). Of a compliance scan's checks, the failed ones
// (fail, error) are findings; internal/posture keeps every check.
func (s *Service) ResultRows(ctx context.Context, o Origin, res *sensorproto.Results) []Row {
	ex, hop := s.exposureOf(ctx, o.Target)
	rows := make([]Row, 0, len(res.Secrets)+len(res.Malware)+len(res.Compliance))
	for i := range res.Secrets {
		sf := res.Secrets[i]
		where := sf.File
		if sf.Line > 0 {
			where = fmt.Sprintf("%s:%d", sf.File, sf.Line)
		}
		r := Row{Type: TypeSecret, Secret: &sf, Files: []string{sf.File}, Subject: where, Fingerprint: sf.Fingerprint,
			IDs: []string{sf.Rule, sf.Fingerprint}}
		r.Finding = match.Finding{ID: sf.Rule, Severity: cmpOr(sf.Severity, risk.DefaultSeverity("secret")), Summary: sf.Description,
			Package: match.PackageRef{Name: sf.File}}
		r.score(ex, hop, "secret", sf.Severity, sf.Rule+" in "+where)
		rows = append(rows, r)
	}
	for i := range res.Malware {
		mf := res.Malware[i]
		r := Row{Type: TypeMalware, Malware: &mf, Files: []string{mf.File}, Subject: mf.File, Fingerprint: mf.Rule + " " + mf.SHA256,
			IDs: []string{mf.Rule, mf.SHA256}}
		r.Finding = match.Finding{ID: mf.Rule, Severity: cmpOr(mf.Severity, risk.DefaultSeverity("malware")), Summary: mf.Description,
			Package: match.PackageRef{Name: mf.File}}
		r.score(ex, hop, "malware", mf.Severity, mf.Rule+" in "+mf.File)
		rows = append(rows, r)
	}
	for i := range res.Compliance {
		c := res.Compliance[i]
		if !ControlFailed(c.Result) {
			continue
		}
		r := Row{Type: TypeCompliance, Compliance: &c, Subject: controlSubject(&c), Fingerprint: ControlFingerprint(&c), IDs: controlIDs(&c)}
		r.Finding = match.Finding{ID: c.Rule, Aliases: r.IDs[1:], Severity: cmpOr(c.Severity, risk.DefaultSeverity(controlKind)), Summary: c.Title,
			Package: match.PackageRef{Name: c.Benchmark}}
		r.score(ex, hop, controlKind, c.Severity, controlName(&c))
		rows = append(rows, r)
	}
	return rows
}

// controlKind is the risk engine's kind of a failed compliance check.
const controlKind = "control"

// ControlFailed reports whether a check's result makes it a finding: it
// failed, or the engine could not evaluate it (error).
func ControlFailed(result string) bool {
	return result == sensorproto.CheckFail || result == sensorproto.CheckError
}

// ControlFingerprint is a check's identity across scans of its target:
// the benchmark, the rule and, for a rule evaluated on several objects,
// the object.
func ControlFingerprint(c *sensorproto.ComplianceCheck) string {
	fp := c.Benchmark + " " + c.Rule
	if c.Subject != "" {
		fp += " " + c.Subject
	}
	return fp
}

// controlSubject is what a failed check is in, for people: its benchmark,
// and the object it was evaluated on, if any.
func controlSubject(c *sensorproto.ComplianceCheck) string {
	if c.Subject != "" {
		return c.Benchmark + " / " + c.Subject
	}
	return c.Benchmark
}

func controlName(c *sensorproto.ComplianceCheck) string {
	if c.Subject != "" {
		return c.Rule + " on " + c.Subject
	}
	return c.Rule
}

// controlIDs are what a decision on a failed check may name: its rule,
// then the ids of its references (a CIS number, a CCE, a NIST control)
// that are usable as decision ids.
func controlIDs(c *sensorproto.ComplianceCheck) []string {
	ids := []string{c.Rule}
	for _, ref := range c.References {
		if ref.ID != c.Rule && !strings.ContainsAny(ref.ID, "|% ") && !slices.Contains(ids, ref.ID) {
			ids = append(ids, ref.ID)
		}
	}
	return ids
}

// score sets a typed row's risk from the node's exposure.
func (r *Row) score(ex risk.Exposure, hop risk.Hop, kind, severity, name string) {
	r.Risk = risk.ScoreOnNode(risk.Subject{Kind: kind, Name: name, Severity: severity}, ex, hop)
	r.Finding.Risk = match.Risk{Score: r.Risk.Score, Explanation: explain(r.Risk)}
}

// rescore scores a stored typed finding again.
func (d *typedDetail) rescore(ex risk.Exposure, hop risk.Hop) (risk.Result, bool) {
	var r Row
	switch {
	case d.Secret != nil:
		where := d.Secret.File
		if d.Secret.Line > 0 {
			where = fmt.Sprintf("%s:%d", d.Secret.File, d.Secret.Line)
		}
		r.score(ex, hop, "secret", d.Secret.Severity, d.Secret.Rule+" in "+where)
	case d.Malware != nil:
		r.score(ex, hop, "malware", d.Malware.Severity, d.Malware.Rule+" in "+d.Malware.File)
	case d.Compliance != nil:
		r.score(ex, hop, controlKind, d.Compliance.Severity, controlName(d.Compliance))
	default:
		return risk.Result{}, false
	}
	d.Finding.Risk = r.Finding.Risk
	return r.Risk, true
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// KBMeta is the loaded knowledge base's header (zero without one).
func (s *Service) KBMeta() (m vulndb.Meta) {
	if s.kb != nil {
		if db := s.kb.DB(); db != nil {
			return db.Meta()
		}
	}
	return m
}

// Match matches an inventory against the knowledge base and scores each
// finding with the target node's present exposure. Without a knowledge
// base there are no findings.
//
// uncovered lists the ecosystems of the inventory (a distribution release,
// a language) the knowledge base holds nothing for, with how many packages
// of each were therefore not judged; without a knowledge base, every
// ecosystem of the inventory.
func (s *Service) Match(ctx context.Context, o Origin, inv *inventory.Inventory) (rows []Row, uncovered []match.Uncovered, err error) {
	m := s.NewMatching(o)
	for i := range inv.Packages {
		if err := m.Add(ctx, &inv.Packages[i]); err != nil {
			return nil, nil, err
		}
	}
	if rows, err = m.Rows(ctx); err != nil {
		return nil, nil, err
	}
	return rows, m.Uncovered(), nil
}

// Matching is Match of an inventory whose packages come one at a time (an
// upload being decoded): it keeps the findings and the files of the
// packages that have some, not the inventory.
type Matching struct {
	s      *Service
	o      Origin
	stream *match.Stream
	files  map[string][]string
	// unjudged counts the packages by ecosystem when there is no
	// knowledge base: none of them is judged.
	unjudged map[string]int
}

// NewMatching starts matching one inventory of o.
func (s *Service) NewMatching(o Origin) *Matching {
	m := &Matching{s: s, o: o, files: map[string][]string{}}
	if s.kb != nil {
		if db := s.kb.DB(); db != nil {
			// The inventory does not carry the running kernel: every kernel
			// package is judged.
			m.stream = match.New(db).Stream(match.Options{})
		}
	}
	return m
}

// Add matches one package.
func (m *Matching) Add(ctx context.Context, p *inventory.Package) error {
	if m.stream == nil {
		if eco := unjudgedEcosystem(p); eco != "" {
			if m.unjudged == nil {
				m.unjudged = map[string]int{}
			}
			m.unjudged[eco]++
		}
		return nil
	}
	n, err := m.stream.Add(ctx, p)
	if err != nil {
		return fmt.Errorf("match inventory of scan %s: %w", m.o.ScanID, err)
	}
	if n > 0 && len(p.Files) > 0 {
		m.files[pkgKey(p.Name, p.Version, p.Ecosystem, p.Locations)] = p.Files
	}
	return nil
}

// unjudgedEcosystem is the ecosystem a package would have been looked up
// in ("" for a package the matcher skips whatever it knows: no ecosystem
// or version, a language package whose files a distribution package owns).
func unjudgedEcosystem(p *inventory.Package) string {
	if p.Ecosystem == "" || p.Version == "" || (p.OwnedBy != "" && !match.IsOSEcosystem(p.Ecosystem)) {
		return ""
	}
	return vulndb.NormalizeEcosystem(p.Ecosystem)
}

// Uncovered lists the ecosystems of the packages added so far that the
// knowledge base holds nothing for (every one without a knowledge base),
// with how many packages of each were not judged.
func (m *Matching) Uncovered() []match.Uncovered {
	if m.stream != nil {
		return m.stream.Uncovered()
	}
	var out []match.Uncovered
	for _, eco := range slices.Sorted(maps.Keys(m.unjudged)) {
		out = append(out, match.Uncovered{Ecosystem: eco, Packages: m.unjudged[eco]})
	}
	return out
}

// Len is the number of findings so far.
func (m *Matching) Len() int {
	if m.stream == nil {
		return 0
	}
	return m.stream.Len()
}

// Rows scores the findings.
func (m *Matching) Rows(ctx context.Context) ([]Row, error) {
	if m.stream == nil {
		return nil, nil
	}
	res := m.stream.Result()
	ex, hop := m.s.exposureOf(ctx, m.o.Target)
	rows := make([]Row, 0, len(res.Findings))
	for _, f := range res.Findings {
		fl := m.files[pkgKey(f.Package.Name, f.Package.Version, f.Package.Ecosystem, f.Package.Locations)]
		r := risk.Score(&f, fl, ex, hop)
		f.Risk = match.Risk{Score: r.Score, Explanation: explain(r)}
		rows = append(rows, Row{Finding: f, Files: fl, Risk: r})
	}
	return rows, nil
}

func pkgKey(name, version, eco string, locs []string) string {
	return name + "\x00" + version + "\x00" + eco + "\x00" + strings.Join(locs, "\x00")
}

func explain(r risk.Result) string {
	var parts []string
	for _, f := range r.Factors {
		parts = append(parts, fmt.Sprintf("%s %.2f (%s)", f.Name, f.Value, f.Reason))
	}
	return strings.Join(parts, " × ")
}

func (s *Service) exposureOf(ctx context.Context, t Target) (risk.Exposure, risk.Hop) {
	hop := risk.Hop{NodeID: t.NodeID, Kind: t.Kind, Name: t.Ref}
	if hop.Name == "" {
		hop.Name = t.SensorID
	}
	if s.exposure == nil || t.NodeID == "" {
		return risk.Exposure{}, hop
	}
	ex, err := s.exposure.Exposure(ctx, t.NodeID)
	if err != nil {
		s.log.Warn("exposure of node unavailable; risk uses unknown exposure", "node", t.NodeID, "err", err)
		return risk.Exposure{}, hop
	}
	return ex, hop
}

// ReplaceTx stores a scan's findings in the caller's transaction, replacing
// any it had, as pending (the scan is not finished) or, for a complete
// scan matched again, as current.
func (s *Service) ReplaceTx(ctx context.Context, tx store.Querier, o Origin, rows []Row, state string) error {
	if state != StatePending && state != StateCurrent {
		return fmt.Errorf("store findings of scan %s: state %q", o.ScanID, state)
	}
	var before map[string]FindingRef
	if state == StateCurrent {
		var err error
		if before, err = s.refs(ctx, tx, `scan_id = ?`, o.ScanID); err != nil {
			return err
		}
	}
	s.memo.forget(o.Target) // its findings are about to change
	if _, err := tx.ExecContext(ctx, `DELETE FROM scan_findings WHERE scan_id = ?`, o.ScanID); err != nil {
		return fmt.Errorf("store findings of scan %s: %w", o.ScanID, err)
	}
	t := o.Target
	err := store.ExecValues(ctx, tx, `INSERT INTO scan_findings (id, scan_id, node_id, sensor_id, target_kind, target_ref, target_key, state,
		vuln_id, aliases, package_name, package_version, ecosystem, fixed_version, severity, severity_rank, cvss, kev, epss, score, explanation, files, detail,
		finding_type, subject, fingerprint)`,
		26, len(rows), "", func(i int, args []any) ([]any, error) {
			r := rows[i]
			f := r.Finding
			if r.Type != "" && r.Type != TypeVulnerability {
				detail, _ := json.Marshal(typedDetail{Finding: f, Secret: r.Secret, Malware: r.Malware, Compliance: r.Compliance})
				expl, _ := json.Marshal(r.Risk)
				files, _ := json.Marshal(r.Files)
				return append(args, fmt.Sprintf("%s-%05d", o.ScanID, i), o.ScanID, t.NodeID, t.SensorID, t.Kind, t.Ref, o.Key, state,
					f.ID, "|"+strings.Join(r.IDs, "|")+"|", f.Package.Name, "", "", "", f.Severity, match.SeverityRank(f.Severity),
					0.0, 0, 0.0, r.Risk.Score, string(expl), string(files), string(detail), r.Type, r.Subject, r.Fingerprint), nil
			}
			detail, _ := json.Marshal(f)
			expl, _ := json.Marshal(r.Risk)
			files, _ := json.Marshal(r.Files)
			fixed := ""
			if len(f.FixedVersions) > 0 {
				fixed = f.FixedVersions[0]
			}
			var cvss, epss float64
			if f.CVSS != nil {
				cvss = f.CVSS.BaseScore
			}
			if f.EPSS != nil {
				epss = f.EPSS.Score
			}
			kev := 0
			if f.KEV != nil {
				kev = 1
			}
			aliases := "|" + strings.Join(f.AllIDs(), "|") + "|"
			return append(args, fmt.Sprintf("%s-%05d", o.ScanID, i), o.ScanID, t.NodeID, t.SensorID, t.Kind, t.Ref, o.Key, state,
				f.ID, aliases, f.Package.Name, f.Package.Version, f.Package.Ecosystem, fixed, f.Severity, match.SeverityRank(f.Severity),
				cvss, kev, epss, r.Risk.Score, string(expl), string(files), string(detail),
				TypeVulnerability, f.Package.Name+"@"+f.Package.Version, vulnKey(f.ID, f.Package.Name, f.Package.Version)), nil
		})
	if err != nil {
		return fmt.Errorf("store findings of scan %s: %w", o.ScanID, err)
	}
	if state == StateCurrent {
		after, err := s.refs(ctx, tx, `scan_id = ?`, o.ScanID)
		if err != nil {
			return err
		}
		return s.emitChanges(ctx, tx, o, before, after)
	}
	return nil
}

// CommitTx makes a complete scan's findings the current findings of its
// target (the previous scan's become old), in the transaction that
// completes the scan, and publishes which findings are new and which are
// fixed.
func (s *Service) CommitTx(ctx context.Context, tx store.Querier, o Origin) error {
	before, err := s.refs(ctx, tx, `target_key = ? AND state = 'current'`, o.Key)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE scan_findings SET state = 'old' WHERE target_key = ? AND state = 'current' AND scan_id <> ?`, o.Key, o.ScanID); err != nil {
		return fmt.Errorf("commit findings of scan %s: %w", o.ScanID, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE scan_findings SET state = 'current' WHERE scan_id = ?`, o.ScanID); err != nil {
		return fmt.Errorf("commit findings of scan %s: %w", o.ScanID, err)
	}
	after, err := s.refs(ctx, tx, `scan_id = ?`, o.ScanID)
	if err != nil {
		return err
	}
	return s.emitChanges(ctx, tx, o, before, after)
}

// AbandonTx marks the findings of a scan that ended without completing as
// old (they stay readable by scan id).
func (s *Service) AbandonTx(ctx context.Context, tx store.Querier, scanID string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE scan_findings SET state = 'old' WHERE scan_id = ? AND state = 'pending'`, scanID); err != nil {
		return fmt.Errorf("abandon findings of scan %s: %w", scanID, err)
	}
	return nil
}

// vulnKey is a vulnerability finding's fingerprint: its id on the
// package's version.
func vulnKey(id, pkg, version string) string { return id + " in " + pkg + "@" + version }

// refs reads finding references by a condition, keyed by fingerprint (a
// vulnerability on a package version, a secret's fingerprint...).
func (s *Service) refs(ctx context.Context, tx store.Querier, cond string, args ...any) (map[string]FindingRef, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, vuln_id, package_name, package_version, ecosystem, severity, score, kev, fixed_version, cvss, epss,
		finding_type, subject, fingerprint FROM scan_findings WHERE `+cond, args...)
	if err != nil {
		return nil, fmt.Errorf("read findings: %w", err)
	}
	defer rows.Close()
	out := map[string]FindingRef{}
	for rows.Next() {
		var r FindingRef
		var kev int
		var fp string
		if err := rows.Scan(&r.ID, &r.VulnID, &r.Package, &r.Version, &r.Ecosystem, &r.Severity, &r.RiskScore, &kev, &r.FixedVersion, &r.CVSS, &r.EPSS,
			&r.Type, &r.Subject, &fp); err != nil {
			return nil, fmt.Errorf("read findings: %w", err)
		}
		r.KEV = kev != 0
		if r.Type != TypeVulnerability {
			r.Version, r.Ecosystem = "", ""
		}
		if fp == "" {
			fp = vulnKey(r.VulnID, r.Package, r.Version)
		}
		out[fp] = r
	}
	return out, rows.Err()
}

func (s *Service) emitChanges(ctx context.Context, tx store.Querier, o Origin, before, after map[string]FindingRef) error {
	var added, fixed []FindingRef
	for k, r := range after {
		if _, ok := before[k]; !ok {
			added = append(added, r)
		}
	}
	for k, r := range before {
		if _, ok := after[k]; !ok {
			fixed = append(fixed, r)
		}
	}
	sortRefs(added)
	sortRefs(fixed)
	var evs []events.Typed
	if len(added) > 0 {
		evs = append(evs, FindingsNew{ScanID: o.ScanID, Type: o.findingType(), Target: o.Target, Findings: added})
	}
	if len(fixed) > 0 {
		evs = append(evs, FindingsFixed{ScanID: o.ScanID, Type: o.findingType(), Target: o.Target, Findings: fixed})
	}
	return events.Emit(ctx, tx, s.now(), evs...)
}

func (o Origin) findingType() string { return cmpOr(o.Type, TypeVulnerability) }

// Count counts the stored findings (diagnosis).
func (s *Service) Count(ctx context.Context) (int, error) {
	var n int
	if err := s.st.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM scan_findings`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count findings: %w", err)
	}
	return n, nil
}
