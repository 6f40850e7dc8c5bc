package posture

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/store"
)

// CheckCounts are a set of checks counted by result. Pass counts pass and
// fixed (XCCDF: remediated during the run), Error the checks the engine
// could not evaluate, Other every other result (not applicable, not
// checked, not selected, informational, unknown). PassRate is
// pass / (pass + fail + error), nil when that is 0/0.
type CheckCounts struct {
	Pass     int      `json:"pass"`
	Fail     int      `json:"fail"`
	Error    int      `json:"error"`
	Other    int      `json:"other"`
	PassRate *float64 `json:"passRate"`
}

func (c *CheckCounts) add(result string, n int) {
	switch result {
	case sensorproto.CheckPass, sensorproto.CheckFixed:
		c.Pass += n
	case sensorproto.CheckFail:
		c.Fail += n
	case sensorproto.CheckError:
		c.Error += n
	default:
		c.Other += n
	}
}

func (c *CheckCounts) plus(o CheckCounts) {
	c.Pass += o.Pass
	c.Fail += o.Fail
	c.Error += o.Error
	c.Other += o.Other
}

// rate sets PassRate from the counts (rounded to 0.1 %).
func (c *CheckCounts) rate() {
	c.PassRate = nil
	if d := c.Pass + c.Fail + c.Error; d > 0 {
		r := float64(int(float64(c.Pass)/float64(d)*1000+0.5)) / 1000
		c.PassRate = &r
	}
}

// Filter narrows compliance results; every field optional.
type Filter struct {
	NodeID    string
	Benchmark string
	Profile   string
	// TargetKey keeps one target's line of scans.
	TargetKey string
}

// Run is one benchmark profile evaluated by one complete compliance scan
// of a target: its counts.
type Run struct {
	ScanID           string          `json:"scanId"`
	TargetKey        string          `json:"targetKey"`
	NodeID           string          `json:"nodeId,omitempty"`
	Target           findings.Target `json:"target"`
	Benchmark        string          `json:"benchmark"`
	BenchmarkVersion string          `json:"benchmarkVersion,omitempty"`
	Profile          string          `json:"profile"`
	CompletedAt      time.Time       `json:"completedAt"`
	CheckCounts
}

func (r Run) line() string { return r.TargetKey + "\x00" + r.Benchmark + "\x00" + r.Profile }

// runs reads the runs of complete scans, newest first.
func (s *Service) runs(ctx context.Context, f Filter) ([]Run, error) {
	var w store.Where
	w.Add("s.state = 'complete'")
	if f.NodeID != "" {
		w.Add("s.node_id = ?", f.NodeID)
	}
	if f.TargetKey != "" {
		w.Add("s.target_key = ?", f.TargetKey)
	}
	if f.Benchmark != "" {
		w.Add("c.benchmark = ?", f.Benchmark)
	}
	if f.Profile != "" {
		w.Add("c.profile = ?", f.Profile)
	}
	const cols = `s.scan_id, s.target_key, s.node_id, s.sensor_id, s.target_kind, s.target_ref, s.completed_at, c.benchmark, c.benchmark_version, c.profile, c.result`
	rows, err := s.st.Read().QueryContext(ctx, `SELECT `+cols+`, COUNT(*) FROM compliance_scans s JOIN compliance_checks c ON c.scan_id = s.scan_id`+
		w.SQL()+` GROUP BY `+cols+` ORDER BY s.completed_at DESC, s.scan_id DESC, c.benchmark, c.profile`, w.Args()...)
	if err != nil {
		return nil, fmt.Errorf("read compliance runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	idx := map[string]int{}
	for rows.Next() {
		var r Run
		var done int64
		var result string
		var n int
		if err := rows.Scan(&r.ScanID, &r.TargetKey, &r.NodeID, &r.Target.SensorID, &r.Target.Kind, &r.Target.Ref, &done,
			&r.Benchmark, &r.BenchmarkVersion, &r.Profile, &result, &n); err != nil {
			return nil, fmt.Errorf("read compliance runs: %w", err)
		}
		k := r.ScanID + "\x00" + r.Benchmark + "\x00" + r.Profile
		i, ok := idx[k]
		if !ok {
			r.Target.NodeID, r.CompletedAt = r.NodeID, store.FromMillis(done)
			i = len(out)
			idx[k] = i
			out = append(out, r)
		}
		out[i].add(result, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read compliance runs: %w", err)
	}
	for i := range out {
		out[i].rate()
	}
	return out, nil
}

// latest keeps the newest run of each target, benchmark and profile.
func latest(runs []Run) []Run {
	seen := map[string]bool{}
	var out []Run
	for _, r := range runs {
		if !seen[r.line()] {
			seen[r.line()] = true
			out = append(out, r)
		}
	}
	return out
}

// BenchmarkSummary is one benchmark profile across the targets whose
// latest scan evaluated it.
type BenchmarkSummary struct {
	Benchmark string `json:"benchmark"`
	Profile   string `json:"profile"`
	// Targets counts the targets; Failing those with a failed check.
	Targets int `json:"targets"`
	Failing int `json:"failing"`
	CheckCounts
}

// ComplianceSummary is the compliance posture: the checks of the latest run of
// every target, benchmark and profile, counted overall, per benchmark
// profile and per target.
type ComplianceSummary struct {
	CheckCounts
	Benchmarks []BenchmarkSummary `json:"benchmarks"`
	Targets    []Run              `json:"targets"`
}

// Summary counts the latest runs.
func (s *Service) Summary(ctx context.Context, f Filter) (ComplianceSummary, error) {
	all, err := s.runs(ctx, f)
	if err != nil {
		return ComplianceSummary{}, err
	}
	out := ComplianceSummary{Benchmarks: []BenchmarkSummary{}, Targets: latest(all)}
	if out.Targets == nil {
		out.Targets = []Run{}
	}
	idx := map[string]int{}
	for _, r := range out.Targets {
		out.plus(r.CheckCounts)
		k := r.Benchmark + "\x00" + r.Profile
		i, ok := idx[k]
		if !ok {
			i = len(out.Benchmarks)
			idx[k] = i
			out.Benchmarks = append(out.Benchmarks, BenchmarkSummary{Benchmark: r.Benchmark, Profile: r.Profile})
		}
		b := &out.Benchmarks[i]
		b.Targets++
		if r.Fail > 0 {
			b.Failing++
		}
		b.plus(r.CheckCounts)
	}
	out.rate()
	for i := range out.Benchmarks {
		out.Benchmarks[i].rate()
	}
	slices.SortFunc(out.Benchmarks, func(a, b BenchmarkSummary) int {
		return cmp.Or(cmp.Compare(a.Benchmark, b.Benchmark), cmp.Compare(a.Profile, b.Profile))
	})
	return out, nil
}

// TrendPoint is one run of a trend.
type TrendPoint struct {
	ScanID      string    `json:"scanId"`
	CompletedAt time.Time `json:"completedAt"`
	CheckCounts
}

// TrendSeries is the trend of one target's benchmark profile: its latest runs,
// oldest first.
type TrendSeries struct {
	TargetKey string          `json:"targetKey"`
	NodeID    string          `json:"nodeId,omitempty"`
	Target    findings.Target `json:"target"`
	Benchmark string          `json:"benchmark"`
	Profile   string          `json:"profile"`
	Points    []TrendPoint    `json:"points"`
}

// MaxTrend bounds the runs of one series.
const MaxTrend = 100

// Trend is the pass rate of each target's benchmark profile over its
// latest n runs (default 10).
func (s *Service) Trend(ctx context.Context, f Filter, n int) ([]TrendSeries, error) {
	if n <= 0 {
		n = 10
	}
	n = min(n, MaxTrend)
	all, err := s.runs(ctx, f)
	if err != nil {
		return nil, err
	}
	out := []TrendSeries{}
	idx := map[string]int{}
	for _, r := range all {
		i, ok := idx[r.line()]
		if !ok {
			i = len(out)
			idx[r.line()] = i
			out = append(out, TrendSeries{TargetKey: r.TargetKey, NodeID: r.NodeID, Target: r.Target, Benchmark: r.Benchmark, Profile: r.Profile})
		}
		if len(out[i].Points) < n {
			out[i].Points = append(out[i].Points, TrendPoint{ScanID: r.ScanID, CompletedAt: r.CompletedAt, CheckCounts: r.CheckCounts})
		}
	}
	for i := range out {
		slices.Reverse(out[i].Points)
	}
	return out, nil
}

// Check is one stored check.
type Check struct {
	ScanID string `json:"scanId"`
	sensorproto.ComplianceCheck
}

const checkCols = `scan_id, benchmark, benchmark_version, profile, rule, title, severity, result, subject, refs, rationale, fix, evidence`

func scanCheck(rows *sql.Rows) (Check, error) {
	var c Check
	var refs string
	err := rows.Scan(&c.ScanID, &c.Benchmark, &c.BenchmarkVersion, &c.Profile, &c.Rule, &c.Title, &c.Severity, &c.Result, &c.Subject,
		&refs, &c.Rationale, &c.Fix, &c.Evidence)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal([]byte(refs), &c.References); err != nil {
		return c, fmt.Errorf("references of %s: %w", c.Rule, err)
	}
	return c, nil
}

// Checks returns the checks of a compliance scan in upload order, those
// of one result only when result is set.
func (s *Service) Checks(ctx context.Context, scanID, result string) ([]Check, error) {
	if _, err := s.scanState(ctx, scanID); err != nil {
		return nil, err
	}
	var w store.Where
	w.Add("scan_id = ?", scanID)
	if result != "" {
		w.Add("result = ?", result)
	}
	return s.checks(ctx, `SELECT `+checkCols+` FROM compliance_checks`+w.SQL()+` ORDER BY seq`, w.Args()...)
}

func (s *Service) checks(ctx context.Context, q string, args ...any) ([]Check, error) {
	rows, err := s.st.Read().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read compliance checks: %w", err)
	}
	defer rows.Close()
	out := []Check{}
	for rows.Next() {
		c, err := scanCheck(rows)
		if err != nil {
			return nil, fmt.Errorf("read compliance checks: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// scanState is the state of a scan's stored results (ErrNotFound: none).
func (s *Service) scanState(ctx context.Context, scanID string) (string, error) {
	var st string
	err := s.st.Read().QueryRowContext(ctx, `SELECT state FROM compliance_scans WHERE scan_id = ?`, scanID).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("compliance results of scan %s: %w", scanID, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("compliance results of scan %s: %w", scanID, err)
	}
	return st, nil
}

// latestChecks are the checks of the latest runs that f selects, each
// with its run.
func (s *Service) latestChecks(ctx context.Context, f Filter) ([]Check, map[string]Run, error) {
	all, err := s.runs(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	runOf := map[string]Run{} // scan, benchmark, profile
	var scanIDs []string
	for _, r := range latest(all) {
		runOf[r.ScanID+"\x00"+r.Benchmark+"\x00"+r.Profile] = r
		if !slices.Contains(scanIDs, r.ScanID) {
			scanIDs = append(scanIDs, r.ScanID)
		}
	}
	var out []Check
	for chunk := range slices.Chunk(scanIDs, 500) {
		var w store.Where
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		w.Add("scan_id IN ("+strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")+")", args...)
		if f.Benchmark != "" {
			w.Add("benchmark = ?", f.Benchmark)
		}
		if f.Profile != "" {
			w.Add("profile = ?", f.Profile)
		}
		got, err := s.checks(ctx, `SELECT `+checkCols+` FROM compliance_checks`+w.SQL()+` ORDER BY scan_id, seq`, w.Args()...)
		if err != nil {
			return nil, nil, err
		}
		for _, c := range got {
			if _, ok := runOf[c.ScanID+"\x00"+c.Benchmark+"\x00"+c.Profile]; ok {
				out = append(out, c)
			}
		}
	}
	return out, runOf, nil
}

// ControlTarget is one target's result of a control.
type ControlTarget struct {
	ScanID  string          `json:"scanId"`
	NodeID  string          `json:"nodeId,omitempty"`
	Target  findings.Target `json:"target"`
	Result  string          `json:"result"`
	Subject string          `json:"subject,omitempty"`
}

// Control is one rule of a benchmark profile across the targets whose
// latest run evaluated it.
type Control struct {
	Benchmark  string                  `json:"benchmark"`
	Profile    string                  `json:"profile"`
	Rule       string                  `json:"rule"`
	Title      string                  `json:"title,omitempty"`
	Severity   string                  `json:"severity,omitempty"`
	References []sensorproto.Reference `json:"references,omitempty"`
	CheckCounts
	Targets []ControlTarget `json:"targets"`
}

// ControlFilter selects controls: those of f's latest runs, with a check
// of Result (fail: failing somewhere), of one of Severity.
type ControlFilter struct {
	Filter
	Result   string
	Severity []string
}

// Controls counts each control of the latest runs, the most failing
// first (then by severity).
func (s *Service) Controls(ctx context.Context, cf ControlFilter) ([]Control, error) {
	checks, runOf, err := s.latestChecks(ctx, cf.Filter)
	if err != nil {
		return nil, err
	}
	out := []Control{}
	idx := map[string]int{}
	for _, c := range checks {
		k := c.Benchmark + "\x00" + c.Profile + "\x00" + c.Rule
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Control{Benchmark: c.Benchmark, Profile: c.Profile, Rule: c.Rule, Title: c.Title, Severity: c.Severity, References: c.References})
		}
		r := runOf[c.ScanID+"\x00"+c.Benchmark+"\x00"+c.Profile]
		out[i].add(c.Result, 1)
		out[i].Targets = append(out[i].Targets, ControlTarget{ScanID: c.ScanID, NodeID: r.NodeID, Target: r.Target, Result: c.Result, Subject: c.Subject})
	}
	out = slices.DeleteFunc(out, func(c Control) bool {
		if len(cf.Severity) > 0 && !slices.Contains(cf.Severity, c.Severity) {
			return true
		}
		return cf.Result != "" && !slices.ContainsFunc(c.Targets, func(t ControlTarget) bool { return t.Result == cf.Result })
	})
	for i := range out {
		out[i].rate()
	}
	slices.SortStableFunc(out, func(a, b Control) int {
		return cmp.Or(cmp.Compare(b.Fail+b.Error, a.Fail+a.Error), cmp.Compare(match.SeverityRank(b.Severity), match.SeverityRank(a.Severity)),
			cmp.Compare(a.Benchmark, b.Benchmark), cmp.Compare(a.Rule, b.Rule))
	})
	return out, nil
}

// FailedControl is a failed control on a target: a current finding of type
// compliance, with its risk (severity × a failed control's evidence × the
// node's exposure) and the decision that covers it, if any.
type FailedControl struct {
	FindingID string             `json:"findingId"`
	Benchmark string             `json:"benchmark"`
	Profile   string             `json:"profile"`
	Rule      string             `json:"rule"`
	Title     string             `json:"title,omitempty"`
	Severity  string             `json:"severity"`
	Result    string             `json:"result"`
	Subject   string             `json:"subject,omitempty"`
	NodeID    string             `json:"nodeId,omitempty"`
	Target    findings.Target    `json:"target"`
	RiskScore float64            `json:"riskScore"`
	Exposure  string             `json:"exposure,omitempty"`
	Decision  *findings.Decision `json:"decision,omitempty"`
}

// Failures lists the failed controls of the current compliance findings,
// highest risk first (severity and the node's exposure), those a decision
// covers last.
func (s *Service) Failures(ctx context.Context, f Filter, limit int) ([]FailedControl, error) {
	if s.findings == nil {
		return nil, errors.New("failed controls: no findings module")
	}
	all, err := s.findings.All(ctx, findings.Filter{Type: findings.TypeCompliance, NodeID: f.NodeID, IncludeSuppressed: true})
	if err != nil {
		return nil, err
	}
	out := []FailedControl{}
	for _, nf := range all {
		c := nf.Compliance
		if c == nil || (f.Benchmark != "" && c.Benchmark != f.Benchmark) || (f.Profile != "" && c.Profile != f.Profile) {
			continue
		}
		fl := FailedControl{FindingID: nf.ID, Benchmark: c.Benchmark, Profile: c.Profile, Rule: c.Rule, Title: c.Title, Severity: nf.Finding.Severity,
			Result: c.Result, Subject: c.Subject, NodeID: nf.NodeID, Target: nf.Target, RiskScore: nf.Risk.Score, Decision: nf.Decision}
		for _, fc := range nf.Risk.Factors {
			if fc.Name == "exposure" {
				fl.Exposure = fc.Reason
			}
		}
		out = append(out, fl)
	}
	slices.SortStableFunc(out, func(a, b FailedControl) int {
		return cmp.Or(cmp.Compare(boolInt(a.Decision != nil), boolInt(b.Decision != nil)), cmp.Compare(b.RiskScore, a.RiskScore),
			cmp.Compare(match.SeverityRank(b.Severity), match.SeverityRank(a.Severity)), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.NodeID, b.NodeID))
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ControlChange is a control whose result differs between two scans.
type ControlChange struct {
	Benchmark string `json:"benchmark"`
	Profile   string `json:"profile"`
	Rule      string `json:"rule"`
	Title     string `json:"title,omitempty"`
	Severity  string `json:"severity,omitempty"`
	Subject   string `json:"subject,omitempty"`
	// From is the result in the older scan ("" when it did not evaluate
	// the control), To in the newer.
	From string `json:"from"`
	To   string `json:"to"`
}

// ComplianceDiff compares the checks of two compliance scans of a target: the
// controls failing in To that did not fail in From, those passing in To
// that failed in From, and how many kept their result.
type ComplianceDiff struct {
	From         string          `json:"from"`
	To           string          `json:"to"`
	NewlyFailing []ControlChange `json:"newlyFailing"`
	NewlyPassing []ControlChange `json:"newlyPassing"`
	// Resolved are controls that failed in From and are neither failing
	// nor passing in To (no longer evaluated, not applicable).
	Resolved  []ControlChange `json:"resolved"`
	Unchanged int             `json:"unchanged"`
}

// Diff compares scan from (older) with scan to (newer).
func (s *Service) Diff(ctx context.Context, from, to string) (ComplianceDiff, error) {
	a, err := s.Checks(ctx, from, "")
	if err != nil {
		return ComplianceDiff{}, err
	}
	b, err := s.Checks(ctx, to, "")
	if err != nil {
		return ComplianceDiff{}, err
	}
	key := func(c Check) string { return findings.ControlFingerprint(&c.ComplianceCheck) + "\x00" + c.Profile }
	before := map[string]Check{}
	for _, c := range a {
		before[key(c)] = c
	}
	d := ComplianceDiff{From: from, To: to, NewlyFailing: []ControlChange{}, NewlyPassing: []ControlChange{}, Resolved: []ControlChange{}}
	pass := func(r string) bool { return r == sensorproto.CheckPass || r == sensorproto.CheckFixed }
	for _, c := range b {
		k := key(c)
		old, had := before[k]
		delete(before, k)
		ch := ControlChange{Benchmark: c.Benchmark, Profile: c.Profile, Rule: c.Rule, Title: c.Title, Severity: c.Severity, Subject: c.Subject, To: c.Result}
		if had {
			ch.From = old.Result
		}
		switch {
		case findings.ControlFailed(c.Result) && !(had && findings.ControlFailed(old.Result)):
			d.NewlyFailing = append(d.NewlyFailing, ch)
		case pass(c.Result) && had && findings.ControlFailed(old.Result):
			d.NewlyPassing = append(d.NewlyPassing, ch)
		case !pass(c.Result) && !findings.ControlFailed(c.Result) && had && findings.ControlFailed(old.Result):
			d.Resolved = append(d.Resolved, ch)
		default:
			d.Unchanged++
		}
	}
	for _, old := range a {
		if _, gone := before[key(old)]; gone && findings.ControlFailed(old.Result) {
			d.Resolved = append(d.Resolved, ControlChange{Benchmark: old.Benchmark, Profile: old.Profile, Rule: old.Rule, Title: old.Title,
				Severity: old.Severity, Subject: old.Subject, From: old.Result})
		}
	}
	return d, nil
}

// Raw is a compliance scan's engine document as the sensor sent it: gzip,
// and its format (RawFormat of sensorproto.Results). ErrNotFound when the
// scan has none.
func (s *Service) Raw(ctx context.Context, scanID string) (format string, gz []byte, err error) {
	err = s.st.Read().QueryRowContext(ctx, `SELECT raw_format, raw FROM compliance_scans WHERE scan_id = ?`, scanID).Scan(&format, &gz)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && len(gz) == 0) {
		return "", nil, fmt.Errorf("raw compliance results of scan %s: %w", scanID, ErrNotFound)
	}
	if err != nil {
		return "", nil, fmt.Errorf("raw compliance results of scan %s: %w", scanID, err)
	}
	return format, gz, nil
}

// Reported lists the benchmark profiles sensors have reported results of.
func (s *Service) Reported(ctx context.Context) ([]ReportedProfile, error) {
	rows, err := s.st.Read().QueryContext(ctx, `SELECT benchmark, profile, COUNT(DISTINCT scan_id) FROM compliance_checks GROUP BY benchmark, profile ORDER BY benchmark, profile`)
	if err != nil {
		return nil, fmt.Errorf("reported compliance profiles: %w", err)
	}
	defer rows.Close()
	out := []ReportedProfile{}
	for rows.Next() {
		var p ReportedProfile
		if err := rows.Scan(&p.Benchmark, &p.Profile, &p.Scans); err != nil {
			return nil, fmt.Errorf("reported compliance profiles: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ReportedProfile is a benchmark profile scans have evaluated.
type ReportedProfile struct {
	Benchmark string `json:"benchmark"`
	Profile   string `json:"profile"`
	Scans     int    `json:"scans"`
}
