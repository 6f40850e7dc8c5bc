package oscap

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/riskmap/riskmap/internal/sensorproto"
)

// XCCDF12 is the XCCDF 1.2 namespace; the parser reads elements of this
// namespace only (SSG data streams and oscap's results are XCCDF 1.2).
const XCCDF12 = "http://checklists.nist.gov/xccdf/1.2"

// Limits bound what the parser reads from a results document.
type Limits struct {
	// Bytes is the largest document read (an ARF holds the data stream
	// and the OVAL results: tens of MB).
	Bytes int64
	// Rules bounds the benchmark's rules and the test result's
	// rule-results.
	Rules int
}

// DefaultLimits: 512 MiB documents, sensorproto.MaxResultFindings rules.
func DefaultLimits() Limits {
	return Limits{Bytes: 512 << 20, Rules: sensorproto.MaxResultFindings}
}

// ErrLimit is returned when a document exceeds its Limits.
var ErrLimit = errors.New("results document over its limits")

// Report is an XCCDF TestResult joined with its benchmark's rules.
type Report struct {
	// Benchmark is the benchmark's id, BenchmarkVersion its version.
	Benchmark        string
	BenchmarkVersion string
	// Profile is the evaluated profile's id (empty: the benchmark's
	// default selection); ProfileTitle its title when the document holds
	// the profile.
	Profile      string
	ProfileTitle string
	// Target is the evaluated target's name (TestResult/target).
	Target string
	// Checks are the rules the profile selected, in the TestResult's
	// order; NotSelected counts the rule-results left out (notselected).
	Checks      []sensorproto.ComplianceCheck
	NotSelected int
	// Score is the default XCCDF score (0-100), when present.
	Score float64
}

// Counts returns how many checks have each result.
func (r *Report) Counts() map[string]int {
	out := map[string]int{}
	for _, c := range r.Checks {
		out[c.Result]++
	}
	return out
}

// rule is what the benchmark says about a rule.
type rule struct {
	title, severity, rationale, fix string
	fixScript                       string
	refs                            []sensorproto.Reference
}

type ruleResult struct {
	idref, severity, result, message string
}

// Bounds of collected texts: the check's fields (sensorproto's limits).
const (
	maxText  = 4000
	maxTitle = 1000
	maxID    = 200
	maxRefs  = 200
)

// Parse reads an XCCDF 1.2 results document (a Benchmark holding a
// TestResult, as `oscap xccdf eval --results` writes) or an ARF 1.1 report
// (`--results-arf`: the data stream and the TestResult) in one streaming
// pass, and joins the TestResult's rule-results with the benchmark's Rule
// elements (title, severity, rationale, fix text, references). The first
// TestResult is read; rule-results of rules the profile did not select
// are counted, not kept. Texts are cut to the sensorproto bounds.
func Parse(r io.Reader, lim Limits) (*Report, error) {
	if lim.Bytes <= 0 || lim.Rules <= 0 {
		lim = DefaultLimits()
	}
	lr := &io.LimitedReader{R: r, N: lim.Bytes + 1}
	d := xml.NewDecoder(lr)
	d.Strict = true
	// The documents are UTF-8; a declared other charset is refused by
	// the decoder (no CharsetReader).
	p := parser{d: d, lim: lim, rules: map[string]*rule{}, profiles: map[string]string{}}
	err := p.run()
	if lr.N <= 0 {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrLimit, lim.Bytes)
	}
	if err != nil {
		return nil, err
	}
	if !p.sawResult {
		return nil, errors.New("no XCCDF 1.2 TestResult in the document")
	}
	return p.report()
}

type parser struct {
	d        *xml.Decoder
	lim      Limits
	rules    map[string]*rule
	profiles map[string]string // id → title
	results  []ruleResult

	benchmark, version string
	benchmarkDepth     int
	sawResult          bool
	inResult           bool
	rep                Report
}

func (p *parser) run() error {
	depth := 0
	for {
		tok, err := p.d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("xml: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if t.Name.Space != XCCDF12 {
				continue
			}
			switch t.Name.Local {
			case "Benchmark":
				if p.benchmark == "" {
					p.benchmark, p.benchmarkDepth = attr(t, "id"), depth
				}
			case "version":
				if depth == p.benchmarkDepth+1 && p.version == "" && !p.inResult {
					v, err := p.text(t, maxID, true)
					if err != nil {
						return err
					}
					p.version = v
					depth--
				}
			case "Profile":
				if err := p.profile(t); err != nil {
					return err
				}
				depth--
			case "Rule":
				if len(p.rules) >= p.lim.Rules {
					return fmt.Errorf("%w: more than %d rules", ErrLimit, p.lim.Rules)
				}
				id := attr(t, "id")
				ru, err := p.rule(t)
				if err != nil {
					return fmt.Errorf("rule %q: %w", cut(id, 100), err)
				}
				if _, dup := p.rules[id]; !dup {
					p.rules[id] = ru
				}
				depth--
			case "TestResult":
				if p.sawResult {
					// Only the first TestResult: skip the others.
					if err := p.d.Skip(); err != nil {
						return fmt.Errorf("xml: %w", err)
					}
					depth--
					continue
				}
				p.sawResult, p.inResult = true, true
				if v := attr(t, "version"); v != "" && p.version == "" {
					p.version = v
				}
			case "benchmark":
				if p.inResult && p.rep.Benchmark == "" {
					p.rep.Benchmark = attr(t, "id")
				}
			case "profile":
				if p.inResult {
					p.rep.Profile = attr(t, "idref")
				}
			case "target":
				if p.inResult {
					v, err := p.text(t, maxID, true)
					if err != nil {
						return err
					}
					p.rep.Target = v
					depth--
				}
			case "score":
				if p.inResult && (attr(t, "system") == "urn:xccdf:scoring:default" || attr(t, "system") == "") {
					v, err := p.text(t, 100, true)
					if err != nil {
						return err
					}
					p.rep.Score, _ = strconv.ParseFloat(v, 64)
					depth--
				}
			case "rule-result":
				if !p.inResult {
					continue
				}
				if len(p.results) >= p.lim.Rules {
					return fmt.Errorf("%w: more than %d rule results", ErrLimit, p.lim.Rules)
				}
				rr, err := p.ruleResult(t)
				if err != nil {
					return err
				}
				p.results = append(p.results, rr)
				depth--
			}
		case xml.EndElement:
			depth--
			if t.Name.Space == XCCDF12 && t.Name.Local == "TestResult" {
				p.inResult = false
			}
		}
	}
}

func (p *parser) report() (*Report, error) {
	rep := p.rep
	if rep.Benchmark == "" {
		rep.Benchmark = p.benchmark
	}
	rep.BenchmarkVersion = cut(p.version, maxID)
	rep.ProfileTitle = p.profiles[rep.Profile]
	if rep.Benchmark == "" || !printable(rep.Benchmark) {
		return nil, fmt.Errorf("benchmark id %q: want printable text", cut(rep.Benchmark, 100))
	}
	profile := rep.Profile
	if profile == "" {
		profile = "(default)"
	}
	if !printable(profile) {
		return nil, fmt.Errorf("profile id %q: want printable text", cut(profile, 100))
	}
	for _, rr := range p.results {
		if rr.result == sensorproto.CheckNotSelected {
			rep.NotSelected++
			continue
		}
		c := sensorproto.ComplianceCheck{Benchmark: cut(rep.Benchmark, maxID), BenchmarkVersion: rep.BenchmarkVersion,
			Profile: cut(profile, maxID), Rule: rr.idref, Result: rr.result, Severity: severity(rr.severity), Evidence: rr.message}
		if ru := p.rules[rr.idref]; ru != nil {
			c.Title, c.Rationale, c.Fix, c.References = ru.title, ru.rationale, ru.fix, ru.refs
			if c.Fix == "" {
				c.Fix = ru.fixScript
			}
			if c.Severity == "" {
				c.Severity = severity(ru.severity)
			}
		}
		rep.Checks = append(rep.Checks, c)
	}
	return &rep, nil
}

func (p *parser) profile(start xml.StartElement) error {
	id := attr(start, "id")
	for {
		tok, err := p.d.Token()
		if err != nil {
			return fmt.Errorf("profile %q: xml: %w", cut(id, 100), err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Space == XCCDF12 && t.Name.Local == "title" {
				title, err := p.text(t, maxTitle, true)
				if err != nil {
					return err
				}
				if len(p.profiles) < p.lim.Rules {
					p.profiles[id] = title
				}
				continue
			}
			if err := p.d.Skip(); err != nil {
				return fmt.Errorf("profile %q: xml: %w", cut(id, 100), err)
			}
		case xml.EndElement:
			return nil
		}
	}
}

func (p *parser) rule(start xml.StartElement) (*rule, error) {
	ru := &rule{severity: attr(start, "severity")}
	for {
		tok, err := p.d.Token()
		if err != nil {
			return nil, fmt.Errorf("xml: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Space != XCCDF12 {
				if err := p.d.Skip(); err != nil {
					return nil, fmt.Errorf("xml: %w", err)
				}
				continue
			}
			switch t.Name.Local {
			case "title":
				if ru.title, err = p.text(t, maxTitle, true); err != nil {
					return nil, err
				}
			case "rationale":
				if ru.rationale, err = p.text(t, maxText, true); err != nil {
					return nil, err
				}
			case "fixtext":
				v, err := p.text(t, maxText, true)
				if err != nil {
					return nil, err
				}
				if ru.fix == "" {
					ru.fix = v
				}
			case "fix":
				system := attr(t, "system")
				v, err := p.text(t, maxText, false)
				if err != nil {
					return nil, err
				}
				// The shell remediation reads best; another script only
				// when there is no shell one.
				if system == "urn:xccdf:fix:script:sh" || ru.fixScript == "" && strings.HasPrefix(system, "urn:xccdf:fix:script:") {
					ru.fixScript = v
				}
			case "ident":
				v, err := p.text(t, maxID, true)
				if err != nil {
					return nil, err
				}
				ru.addRef(identSystem(attr(t, "system")), v)
			case "reference":
				href := attr(t, "href")
				v, err := p.text(t, maxID, true)
				if err != nil {
					return nil, err
				}
				ru.addRef(referenceSystem(href, v), v)
			default:
				if err := p.d.Skip(); err != nil {
					return nil, fmt.Errorf("xml: %w", err)
				}
			}
		case xml.EndElement:
			return ru, nil
		}
	}
}

func (ru *rule) addRef(system, id string) {
	if system == "" || id == "" || len(ru.refs) >= maxRefs {
		return
	}
	// One reference element may list several ids ("AC-6(1),CM-6(a)").
	for _, one := range strings.Split(id, ",") {
		one = strings.TrimSpace(one)
		if one != "" && len(ru.refs) < maxRefs {
			ru.refs = append(ru.refs, sensorproto.Reference{System: system, ID: one})
		}
	}
}

func (p *parser) ruleResult(start xml.StartElement) (ruleResult, error) {
	rr := ruleResult{idref: attr(start, "idref"), severity: attr(start, "severity")}
	if rr.idref == "" || len(rr.idref) > maxID || !printable(rr.idref) {
		return rr, fmt.Errorf("rule-result idref %q: want 1-%d printable bytes", cut(rr.idref, 100), maxID)
	}
	for {
		tok, err := p.d.Token()
		if err != nil {
			return rr, fmt.Errorf("rule-result %q: xml: %w", rr.idref, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Space == XCCDF12 && t.Name.Local == "result":
				v, err := p.text(t, 50, true)
				if err != nil {
					return rr, err
				}
				rr.result = resultValue(v)
			case t.Name.Space == XCCDF12 && t.Name.Local == "message":
				v, err := p.text(t, maxText, true)
				if err != nil {
					return rr, err
				}
				if rr.message == "" {
					rr.message = v
				} else {
					rr.message = cut(rr.message+"\n"+v, maxText)
				}
			default:
				if err := p.d.Skip(); err != nil {
					return rr, fmt.Errorf("rule-result %q: xml: %w", rr.idref, err)
				}
			}
		case xml.EndElement:
			if rr.result == "" {
				return rr, fmt.Errorf("rule-result %q: no result", rr.idref)
			}
			return rr, nil
		}
	}
}

// text collects the character data of the element start opened (nested
// elements' too, their tags dropped), keeping at most max bytes; squash
// collapses runs of white space into one space (titles, rationales),
// otherwise the text is only trimmed (scripts).
func (p *parser) text(start xml.StartElement, max int, squash bool) (string, error) {
	var b strings.Builder
	depth := 1
	for depth > 0 {
		tok, err := p.d.Token()
		if err != nil {
			return "", fmt.Errorf("%s: xml: %w", start.Name.Local, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if t.Name.Local == "br" || t.Name.Local == "li" || t.Name.Local == "p" {
				b.WriteByte(' ')
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if b.Len() < max+1 {
				n := min(len(t), max+1-b.Len())
				b.Write(t[:n])
			}
		}
	}
	s := b.String()
	if squash {
		s = strings.Join(strings.Fields(s), " ")
	} else {
		s = strings.TrimSpace(s)
	}
	return cut(s, max), nil
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// cut shortens s to at most n bytes on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// severity maps XCCDF severities (unknown, info, low, medium, high).
func severity(s string) string {
	switch s {
	case "high", "medium", "low":
		return s
	}
	return ""
}

// resultValue maps an XCCDF result; an unknown word is "unknown".
func resultValue(s string) string {
	for _, r := range sensorproto.CheckResults {
		if s == r {
			return s
		}
	}
	return sensorproto.CheckUnknown
}
