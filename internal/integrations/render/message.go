package render

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"

	"github.com/riskmap/riskmap/internal/integrations/dest"
)

// Title is what a message is called: its title, else its event.
func Title(m dest.Message) string { return cmp.Or(m.Title, m.Event) }

// Body is the text a message shows under its title: its text, else the
// summary of its one finding.
func Body(m dest.Message) string {
	if t := strings.TrimSpace(m.Text); t != "" {
		return t
	}
	if len(m.Findings) == 1 {
		return m.Findings[0].Summary
	}
	return ""
}

// Fact is a named value a message shows beside its text (a Slack section
// field, a Teams FactSet row).
type Fact struct {
	Name, Value string
}

// Facts are what a message shows as facts, in order, without empty
// values: for a digest its number of findings and their counts by
// severity; otherwise the severity, the one finding's vulnerability,
// package, CVSS, risk and KEV, the node, and the message's fields by name.
func Facts(m dest.Message) []Fact {
	var out []Fact
	add := func(name, value string) {
		if value != "" {
			out = append(out, Fact{name, value})
		}
	}
	if m.Event == dest.EventDigest {
		add("Findings", strconv.Itoa(len(m.Findings)))
		for _, c := range Counts(m.Findings) {
			add(Label(c.Severity), strconv.Itoa(c.N))
		}
		return out
	}
	if m.Severity != "" {
		add("Severity", Label(m.Severity))
	}
	if len(m.Findings) == 1 {
		f := m.Findings[0]
		add("Vulnerability", f.VulnID)
		add("Package", Package(f))
		if f.CVSS > 0 {
			add("CVSS", strconv.FormatFloat(f.CVSS, 'f', 1, 64))
		}
		if f.RiskScore > 0 {
			add("Risk", strconv.FormatFloat(f.RiskScore, 'f', 1, 64))
		}
		if f.KEV {
			add("Known exploited", "yes (CISA KEV)")
		}
	}
	add("Node", Node(m.Node))
	for _, k := range SortedKeys(m.Fields) {
		add(k, m.Fields[k])
	}
	return out
}

// TopFindings reads the top_findings setting, how many findings a digest
// lists: def when empty, else a number from 1 to max.
func TopFindings(settings map[string]string, def, max int) (int, error) {
	v := settings["top_findings"]
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, fmt.Errorf("top_findings %q: a number from 1 to %d", v, max)
	}
	return n, nil
}

// Record is one record a log or search target stores of a message (a
// Splunk event, a Sumo Logic line, an Elasticsearch document).
type Record struct {
	// Finding is the message's one finding, or the digest's Item-th.
	Finding *dest.Finding
	// Node is the finding's node, else the message's.
	Node *dest.Node
	// Item is the finding's place in a digest (from 1) and Total the
	// digest's size; both 0 for a message that is not split.
	Item, Total int
}

// Records are the records of a message: one, or one per finding of a
// digest, so that searches count findings.
func Records(m dest.Message) []Record {
	if m.Event != dest.EventDigest || len(m.Findings) == 0 {
		r := Record{Node: m.Node}
		if len(m.Findings) == 1 {
			r.Finding = &m.Findings[0]
		}
		return []Record{r}
	}
	out := make([]Record, len(m.Findings))
	for i := range m.Findings {
		f := &m.Findings[i]
		out[i] = Record{Finding: f, Node: cmp.Or(f.Node, m.Node), Item: i + 1, Total: len(m.Findings)}
	}
	return out
}
