// Package match turns a package inventory into vulnerability findings using
// the local knowledge base (internal/vulndb): OSV range and version-list
// semantics with per-ecosystem version ordering (osv-scalibr/semantic),
// distribution-aware keys (Debian/Ubuntu by source package and release,
// Alpine by origin and branch, RPM families by major release), aliases merged
// into one finding per vulnerability per package, enrichment with CVSS, CISA
// KEV and EPSS, and a static risk score. Finding is the type the console
// reuses.
package match

import (
	"context"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"strings"

	"github.com/google/osv-scalibr/semantic"
	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/vuln/cvss"
	"github.com/riskmap/riskmap/internal/vulndb"
)

// Options tune matching.
type Options struct {
	// RunningKernel is `uname -r` of a live host. When set, kernel CVEs
	// count only for the packages of the running kernel; image and
	// directory scans leave it empty and judge every kernel package.
	RunningKernel string
	// OnlyFixed drops findings without a fixed version.
	OnlyFixed bool
}

// Skip reasons.
const (
	SkipOwnedByOS      = "owned-by-os-package"
	SkipKernel         = "kernel-not-running"
	SkipNoVersion      = "no-version"
	SkipBadVersion     = "unparseable-version"
	SkipNoEcosystem    = "no-ecosystem"
	SkipUnsupportedEco = "unsupported-ecosystem"
)

// Skipped is a package not matched, and why.
type Skipped struct {
	Package PackageRef `json:"package"`
	Reason  string     `json:"reason"`
	Detail  string     `json:"detail,omitempty"`
}

// Result is the outcome of matching one inventory.
type Result struct {
	Findings []Finding `json:"findings"`
	Skipped  []Skipped `json:"skipped,omitempty"`
	// Packages is the number of packages looked up.
	Packages int `json:"packages"`
	// Uncovered lists the ecosystems (a distribution release, a language)
	// of looked-up packages that the knowledge base holds nothing for:
	// their packages found nothing because nothing is known of them.
	Uncovered []Uncovered `json:"uncovered,omitempty"`
}

// Uncovered is an ecosystem the knowledge base does not cover, with how
// many looked-up packages were of it.
type Uncovered struct {
	Ecosystem string `json:"ecosystem"`
	Packages  int    `json:"packages"`
}

// Sentence says what an uncovered ecosystem means for the scan.
func (u Uncovered) Sentence() string {
	return fmt.Sprintf("the knowledge base holds no vulnerability data for %s: its %d packages were not judged (update or import its feed)", u.Ecosystem, u.Packages)
}

// Matcher matches inventories against one knowledge base.
type Matcher struct {
	db *vulndb.DB
}

// New returns a matcher over db.
func New(db *vulndb.DB) *Matcher { return &Matcher{db: db} }

var osBases = map[string]bool{
	"Debian": true, "Ubuntu": true, "Alpine": true, "AlmaLinux": true, "Rocky Linux": true,
	"Red Hat": true, "SUSE": true, "openSUSE": true, "Oracle": true, "openEuler": true, "Mageia": true,
	"Wolfi": true, "Chainguard": true,
}

// IsOSEcosystem reports whether eco is a distribution's ecosystem.
func IsOSEcosystem(eco string) bool { return osBases[vulndb.BaseEcosystem(eco)] }

// lookupName returns the name and version advisories are keyed by.
func lookupName(p *inventory.Package) (name, version string) {
	name, version = p.Name, p.Version
	switch vulndb.BaseEcosystem(p.Ecosystem) {
	case "Debian", "Ubuntu":
		if p.SourceName != "" {
			name = p.SourceName
		}
		if p.SourceVersion != "" {
			version = p.SourceVersion
		}
	case "Alpine", "Wolfi", "Chainguard":
		if p.SourceName != "" {
			name = p.SourceName
		}
	case "AlmaLinux", "Rocky Linux", "Red Hat", "Oracle", "openEuler", "SUSE", "openSUSE", "Mageia":
		// RPM advisories carry the epoch ("32:9.16.23-1.el9"); inventories
		// keep it in the purl's epoch qualifier.
		if !strings.Contains(version, ":") {
			if e := purlQualifier(p.PURL, "epoch"); e != "" && e != "0" {
				version = e + ":" + version
			}
		}
	case "Go":
		if name == "stdlib" || name == "go" || name == "toolchain" {
			version = strings.TrimPrefix(version, "go")
		}
	}
	return name, version
}

// purlQualifier returns a qualifier of a package URL ("" when absent).
func purlQualifier(purl, key string) string {
	_, q, ok := strings.Cut(purl, "?")
	if !ok {
		return ""
	}
	q, _, _ = strings.Cut(q, "#")
	for _, kv := range strings.Split(q, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// Match looks every package up and returns the findings, sorted by risk.
func (m *Matcher) Match(ctx context.Context, inv *inventory.Inventory, opts Options) (*Result, error) {
	s := m.Stream(opts)
	for i := range inv.Packages {
		if _, err := s.Add(ctx, &inv.Packages[i]); err != nil {
			return nil, err
		}
	}
	return s.Result(), nil
}

// Stream matches the packages of one inventory as they come (as a request
// body is decoded), so that what it holds is the answer (findings and
// skipped packages), not the inventory. A package identical to an earlier
// one in every field is matched and reported once.
type Stream struct {
	m     *Matcher
	opts  Options
	res   Result
	memo  map[memoKey]memoResult
	found [][]Finding // per package, concatenated once at the end
	total int
	seed  maphash.Seed
	seen  map[uint64]struct{}
	// uncovered counts looked-up packages by ecosystem the knowledge base
	// does not cover.
	uncovered map[string]int
}

// memoMax bounds the lookups remembered without findings (those with
// findings are always remembered: they are in the answer anyway).
const memoMax = 1 << 16

// Stream starts matching one inventory.
func (m *Matcher) Stream(opts Options) *Stream {
	return &Stream{m: m, opts: opts, seed: maphash.MakeSeed(), seen: map[uint64]struct{}{}}
}

// Len is the number of findings and skipped packages so far: the size of
// the answer.
func (s *Stream) Len() int { return s.total + len(s.res.Skipped) }

// Add matches one package; it returns how many findings it added (0 for a
// package seen before).
func (s *Stream) Add(ctx context.Context, p *inventory.Package) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	h := packageHash(s.seed, p)
	if _, dup := s.seen[h]; dup {
		return 0, nil
	}
	s.seen[h] = struct{}{}
	res, opts := &s.res, s.opts
	ref := refOf(p)
	if p.Ecosystem == "" {
		res.Skipped = append(res.Skipped, Skipped{ref, SkipNoEcosystem, ""})
		return 0, nil
	}
	if p.OwnedBy != "" && !IsOSEcosystem(p.Ecosystem) {
		res.Skipped = append(res.Skipped, Skipped{ref, SkipOwnedByOS, "files owned by " + p.OwnedBy + "; judged by the distribution feed, which tracks backported fixes"})
		return 0, nil
	}
	if opts.RunningKernel != "" && isKernelPackage(p) && !isRunningKernel(p, opts.RunningKernel) {
		res.Skipped = append(res.Skipped, Skipped{ref, SkipKernel, "kernel package other than the running kernel " + opts.RunningKernel})
		return 0, nil
	}
	name, version := lookupName(p)
	if version == "" {
		res.Skipped = append(res.Skipped, Skipped{ref, SkipNoVersion, ""})
		return 0, nil
	}
	res.Packages++
	if eco := vulndb.NormalizeEcosystem(p.Ecosystem); !s.m.db.Covers(eco) {
		if s.uncovered == nil {
			s.uncovered = map[string]int{}
		}
		s.uncovered[eco]++
	}
	// Packages looked up the same way (Debian binaries of one source
	// package, the same module in several binaries) share one match:
	// later ones copy its findings with their own package.
	mk := memoKey{p.Ecosystem, name, version}
	mr, seen := s.memo[mk]
	added := 0
	if !seen {
		fs, err := s.m.matchPackage(p, ref, name, version, opts)
		if err != nil {
			var skip *skipError
			if !asSkip(err, &skip) {
				return 0, err
			}
			mr.skip = skip
		}
		mr.findings = fs
		if s.memo == nil {
			s.memo = map[memoKey]memoResult{}
		}
		if len(fs) > 0 || mr.skip != nil || len(s.memo) < memoMax {
			s.memo[mk] = mr
		}
		if mr.skip == nil && len(fs) > 0 {
			s.found = append(s.found, fs)
			added = len(fs)
		}
	} else if mr.skip == nil && len(mr.findings) > 0 {
		fs := slices.Clone(mr.findings)
		for i := range fs {
			fs[i].Package = ref
		}
		s.found = append(s.found, fs)
		added = len(fs)
	}
	s.total += added
	if mr.skip != nil {
		res.Skipped = append(res.Skipped, Skipped{ref, mr.skip.reason, mr.skip.detail})
	}
	return added, nil
}

// Result is the answer: every finding so far, sorted by risk.
func (s *Stream) Result() *Result {
	all := make([]Finding, 0, s.total)
	for _, fs := range s.found {
		all = append(all, fs...)
	}
	res := s.res
	res.Findings = sortedFindings(all)
	res.Uncovered = s.Uncovered()
	return &res
}

// Uncovered lists, by ecosystem name, the ecosystems of the packages looked
// up so far that the knowledge base holds nothing for (nil when none).
func (s *Stream) Uncovered() []Uncovered {
	var out []Uncovered
	for _, eco := range slices.Sorted(maps.Keys(s.uncovered)) {
		out = append(out, Uncovered{eco, s.uncovered[eco]})
	}
	return out
}

// packageHash hashes every field of a package.
func packageHash(seed maphash.Seed, p *inventory.Package) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	str := func(s string) { // length-prefixed: no two field lists write the same bytes
		maphash.WriteComparable(&h, len(s))
		h.WriteString(s)
	}
	list := func(l []string) {
		for _, s := range l {
			str(s)
		}
		h.WriteByte(1)
	}
	for _, s := range []string{p.Name, p.Version, p.Ecosystem, p.PURL, p.SourceName, p.SourceVersion, p.Layer, p.OwnedBy, p.Extractor} {
		str(s)
	}
	list(p.Locations)
	list(p.Files)
	list(p.Licenses)
	return h.Sum64()
}

// SortFindings orders by risk, then ID, package name, version, ecosystem
// and purl (a total order, so an unstable sort is deterministic). It sorts
// indices and permutes once: findings are large, and swapping them costs
// more than the comparisons.
func SortFindings(fs []Finding) { copy(fs, sortedFindings(fs)) }

// sortedFindings returns fs in SortFindings' order, in a new slice.
func sortedFindings(fs []Finding) []Finding {
	idx := make([]int32, len(fs))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(i, j int32) int {
		a, b := &fs[i], &fs[j]
		if a.Risk.Score != b.Risk.Score {
			if a.Risk.Score > b.Risk.Score {
				return -1
			}
			return 1
		}
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		if c := strings.Compare(a.Package.Name, b.Package.Name); c != 0 {
			return c
		}
		if c := strings.Compare(a.Package.Version, b.Package.Version); c != 0 {
			return c
		}
		if c := strings.Compare(a.Package.Ecosystem, b.Package.Ecosystem); c != 0 {
			return c
		}
		if c := strings.Compare(a.Package.PURL, b.Package.PURL); c != 0 {
			return c
		}
		return int(i - j)
	})
	sorted := make([]Finding, len(fs))
	for i, j := range idx {
		sorted[i] = fs[j]
	}
	return sorted
}

type memoKey struct{ eco, name, version string }

type memoResult struct {
	findings []Finding
	skip     *skipError
}

type skipError struct{ reason, detail string }

func (e *skipError) Error() string { return e.reason + ": " + e.detail }

func asSkip(err error, target **skipError) bool {
	s, ok := err.(*skipError)
	if ok {
		*target = s
	}
	return ok
}

type hit struct {
	vuln  uint32
	fixed []string
}

func (m *Matcher) matchPackage(p *inventory.Package, ref PackageRef, name, version string, opts Options) ([]Finding, error) {
	entries, err := m.db.Lookup(p.Ecosystem, name)
	if err != nil {
		return nil, fmt.Errorf("match %s %s: %w", p.Ecosystem, name, err)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	base := vulndb.BaseEcosystem(p.Ecosystem)
	vp, err := semantic.Parse(version, base)
	if err != nil {
		return nil, &skipError{SkipBadVersion, fmt.Sprintf("%s version %q: %v", base, version, err)}
	}
	var hits []hit
	byVuln := map[uint32]int{}
	for _, e := range entries {
		ok, fixed := Affects(e, vp, version)
		if !ok {
			continue
		}
		if i, seen := byVuln[e.Vuln]; seen {
			hits[i].fixed = append(hits[i].fixed, fixed...)
			continue
		}
		byVuln[e.Vuln] = len(hits)
		hits = append(hits, hit{e.Vuln, fixed})
	}
	if len(hits) == 0 {
		return nil, nil
	}
	return m.findings(p, ref, name, version, hits, opts)
}

// Affects applies OSV semantics: the version is affected when it is listed
// in versions, or falls in an ECOSYSTEM/SEMVER range (events sorted by
// version: introduced opens, fixed/limit close exclusively, last_affected
// closes inclusively). fixed are the range's fixed versions above the
// installed one.
func Affects(e vulndb.Affected, vp semantic.Version, raw string) (bool, []string) {
	hit := matchVersionOrTag(e.Versions, raw)
	var fixed []string
	for _, r := range e.Ranges {
		aff := false
		closing := ""
		for _, ev := range r.Events {
			if aff {
				switch ev.Kind {
				case vulndb.Fixed, vulndb.Limit:
					c, err := vp.CompareStr(ev.Version)
					aff = err != nil || c < 0
					if aff && ev.Kind == vulndb.Fixed && closing == "" {
						closing = ev.Version
					}
				case vulndb.LastAffected:
					c, err := vp.CompareStr(ev.Version)
					aff = ev.Version == raw || err != nil || c <= 0
				}
			} else if ev.Kind == vulndb.Introduced {
				c, err := vp.CompareStr(ev.Version)
				aff = ev.Version == "0" || (err == nil && c >= 0)
			}
		}
		if aff {
			hit = true
			if closing != "" {
				fixed = append(fixed, closing)
			}
		}
	}
	return hit, fixed
}

func matchVersionOrTag(versions []string, target string) bool {
	t := strings.TrimPrefix(target, "v")
	for _, v := range versions {
		if v == target || strings.TrimPrefix(v, "v") == t {
			return true
		}
	}
	return false
}

func refOf(p *inventory.Package) PackageRef {
	return PackageRef{
		Name: p.Name, Version: p.Version, Ecosystem: p.Ecosystem, PURL: p.PURL,
		SourceName: p.SourceName, SourceVersion: p.SourceVersion,
		Locations: p.Locations, Layer: p.Layer, OwnedBy: p.OwnedBy,
	}
}

// findings merges hits whose records alias each other into one finding.
func (m *Matcher) findings(p *inventory.Package, ref PackageRef, name, version string, hits []hit, opts Options) ([]Finding, error) {
	vulns := make([]*vulndb.Vuln, len(hits))
	for i, h := range hits {
		v, err := m.db.Vuln(h.vuln)
		if err != nil {
			return nil, fmt.Errorf("match %s: %w", p.Name, err)
		}
		vulns[i] = v
	}
	// Union-find over shared IDs (the record's own id and its aliases).
	// Hits per package are few: a linear scan beats a map.
	parent := make([]int, len(hits))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	shares := func(a, b *vulndb.Vuln) bool {
		if a.ID == b.ID || slices.Contains(b.Aliases, a.ID) || slices.Contains(a.Aliases, b.ID) {
			return true
		}
		for _, x := range a.Aliases {
			if slices.Contains(b.Aliases, x) {
				return true
			}
		}
		return false
	}
	for i := 1; i < len(vulns); i++ {
		for j := 0; j < i; j++ {
			if find(i) != find(j) && shares(vulns[i], vulns[j]) {
				parent[find(i)] = find(j)
			}
		}
	}
	mergeUpstream(vulns, parent, find)
	out := make([]Finding, 0, len(hits))
	members := make([]int, 0, len(hits))
	for r := range hits {
		if find(r) != r {
			continue
		}
		members = members[:0]
		for i := range hits {
			if find(i) == r {
				members = append(members, i)
			}
		}
		f := m.build(ref, name, version, vulns, hits, members)
		if opts.OnlyFixed && len(f.FixedVersions) == 0 {
			continue
		}
		out = append(out, f)
	}
	return out, nil
}

// mergeUpstream joins a group of records that names no CVE of its own
// (PYSEC-2023-175 on pillow: upstream CVE-2023-4863) to the one group of
// the same package whose records carry one of its upstream or related
// CVEs as their id or alias (PYSEC-2026-1794, alias CVE-2023-4863): one
// vulnerability, one finding. When its CVEs lead to several groups (a DSA
// fixing two CVEs, each with its own record) it stays apart rather than
// joining distinct vulnerabilities.
func mergeUpstream(vulns []*vulndb.Vuln, parent []int, find func(int) int) {
	ownCVEs := func(v *vulndb.Vuln) []string {
		var out []string
		for _, id := range append([]string{v.ID}, v.Aliases...) {
			if strings.HasPrefix(id, "CVE-") {
				out = append(out, id)
			}
		}
		return out
	}
	groupHasCVE := map[int]bool{}
	for i, v := range vulns {
		if len(ownCVEs(v)) > 0 {
			groupHasCVE[find(i)] = true
		}
	}
	for i, v := range vulns {
		gi := find(i)
		if groupHasCVE[gi] {
			continue
		}
		target := -1
		for _, rel := range v.Related {
			if !strings.HasPrefix(rel, "CVE-") {
				continue
			}
			for j, w := range vulns {
				if gj := find(j); gj != gi && slices.Contains(ownCVEs(w), rel) {
					if target >= 0 && target != gj {
						target = -2 // more than one vulnerability: keep apart
					} else if target != -2 {
						target = gj
					}
				}
			}
		}
		if target >= 0 {
			parent[gi] = target
		}
	}
}

func (m *Matcher) build(ref PackageRef, name, version string, vulns []*vulndb.Vuln, hits []hit, members []int) Finding {
	var ids, related, records, fixed, refs []string
	var summary, dbSev string
	var osvSev []vulndbSeverity
	for _, i := range members {
		v := vulns[i]
		records = append(records, v.ID)
		ids = append(ids, v.ID)
		ids = append(ids, v.Aliases...)
		related = append(related, v.Related...)
		fixed = append(fixed, hits[i].fixed...)
		if summary == "" {
			summary = v.Summary
		}
		for _, u := range v.References {
			if len(refs) < 20 && !slices.Contains(refs, u) {
				refs = append(refs, u)
			}
		}
		if rank(v.DBSeverity) > rank(dbSev) {
			dbSev = v.DBSeverity
		}
		for _, s := range v.Severity {
			osvSev = append(osvSev, vulndbSeverity{v.ID, s.Type, s.Score})
		}
	}
	slices.Sort(records)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	f := Finding{
		ID:            primaryID(ids),
		Records:       records,
		Package:       ref,
		MatchedAs:     MatchedAs{Ecosystem: vulndb.NormalizeEcosystem(ref.Ecosystem), Name: name, Version: version},
		FixedVersions: uniqSorted(fixed),
		Summary:       summary,
		References:    refs,
	}
	if len(ids) > 1 {
		f.Aliases = make([]string, 0, len(ids)-1)
		for _, id := range ids {
			if id != f.ID {
				f.Aliases = append(f.Aliases, id)
			}
		}
	}
	// CVEs: own IDs/aliases plus upstream/related IDs.
	for _, id := range ids {
		if strings.HasPrefix(id, "CVE-") {
			f.CVEs = append(f.CVEs, id)
		}
	}
	for _, id := range related {
		if strings.HasPrefix(id, "CVE-") {
			f.CVEs = append(f.CVEs, id)
		}
	}
	slices.Sort(f.CVEs)
	f.CVEs = slices.Compact(f.CVEs)
	m.enrich(&f, osvSev, dbSev)
	return f
}

type vulndbSeverity struct{ id, typ, score string }

func (m *Matcher) enrich(f *Finding, osvSev []vulndbSeverity, dbSev string) {
	var best *cvss.Metric
	for _, c := range f.CVEs {
		info, ok := m.db.CVE(c)
		if !ok {
			continue
		}
		if info.CVSS != nil && (best == nil || info.CVSS.BaseScore > best.BaseScore) {
			mm := *info.CVSS
			mm.CVE = c
			best = &mm
		}
		if info.KEV != nil {
			if f.KEV == nil {
				f.KEV = &KEVInfo{CVE: c, DateAdded: info.KEV.DateAdded, DueDate: info.KEV.DueDate}
			}
			if info.KEV.Ransomware {
				f.KEV.Ransomware = true
			}
		}
		if info.HasEPSS && (f.EPSS == nil || info.EPSS > f.EPSS.Score) {
			f.EPSS = &EPSSInfo{CVE: c, Score: info.EPSS, Percentile: info.Percentile}
		}
	}
	if best == nil {
		// The records' own vectors (GHSA/RustSec severity).
		for _, s := range osvSev {
			if !strings.HasPrefix(s.typ, "CVSS_") {
				continue
			}
			mm, err := cvss.FromVector(s.score)
			if err != nil || mm.BaseScore == 0 {
				continue
			}
			mm.Source = "osv:" + s.id
			if best == nil || mm.BaseScore > best.BaseScore {
				best = &mm
			}
		}
	}
	if best != nil {
		f.CVSS = &CVSSInfo{CVE: best.CVE, Version: best.Version, Vector: best.Vector, BaseScore: best.BaseScore, Source: best.Source}
		f.Severity = cvss.SeverityOf(best.BaseScore)
	}
	if f.Severity == "" || f.Severity == "none" {
		f.Severity = dbSev
	}
	if f.Severity == "" {
		f.Severity = SeverityUnknown
	}
	f.Risk = RiskOf(f)
}

// primaryID prefers a CVE, then a GHSA, then the smallest ID; ids is
// sorted and not empty.
func primaryID(ids []string) string {
	best := ids[0]
	for _, id := range ids[1:] {
		if idPref(id) < idPref(best) {
			best = id
		}
	}
	return best
}

func idPref(id string) int {
	switch {
	case strings.HasPrefix(id, "CVE-"):
		return 0
	case strings.HasPrefix(id, "GHSA-"):
		return 1
	}
	return 2
}

func uniqSorted(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	if len(s) == 1 {
		return s
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}
