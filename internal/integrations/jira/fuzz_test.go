package jira

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/jira/jirafake"
)

// FuzzParseAnswers feeds every decoder of Jira's answers (search v2/v3,
// created issue, transitions, project) arbitrary bytes: none may panic,
// and what a search keeps always has a numeric id and a well-formed key.
func FuzzParseAnswers(f *testing.F) {
	f.Add([]byte(`{"issues":[{"id":"10001","key":"SEC-1","fields":{"labels":["riskmap"],"status":{"name":"To Do","statusCategory":{"key":"new"}}}}],"isLast":true}`))
	f.Add([]byte(`{"startAt":0,"maxResults":10,"total":1,"issues":[{"id":"10001","key":"SEC-1","fields":{}}]}`))
	f.Add([]byte(`{"id":"10000","key":"ED-24","self":"https://your-domain.atlassian.net/rest/api/3/issue/10000"}`))
	f.Add([]byte(`{"transitions":[{"id":"31","name":"Done","to":{"name":"Done"}}]}`))
	f.Add([]byte(`{"key":"SEC","issueTypes":[{"id":"10001","name":"Bug","subtask":false}]}`))
	f.Add([]byte(`{"issues":[{"id":"x","key":"SEC-1"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if is, err := parseSearch(b); err == nil {
			for _, i := range is {
				if !numeric.MatchString(i.ID) || !issueKey.MatchString(i.Key) {
					t.Fatalf("kept issue %q %q", i.ID, i.Key)
				}
			}
		}
		_, _, _ = parseCreated(b)
		_, _ = parseTransitions(b)
		_, _ = parseProject(b)
	})
}

// FuzzDocuments renders findings made of arbitrary text: the ADF must be
// valid for Jira Cloud (as the fake checks it), the wiki markup must keep
// every markup character of the text escaped, and summaries stay one line
// of at most 255 characters.
func FuzzDocuments(f *testing.F) {
	f.Add("CVE-2026-0001", "openssl", "Buffer *overflow* in [x] {y} | z!", "https://console.example/f?id=1", "web-1")
	f.Add("", "", "", "javascript:alert(1)", "")
	f.Add("GHSA-\n", "pkg\x00", "\t-strike- _em_", "https://a|b]c", strings.Repeat("n", 300))
	f.Fuzz(func(t *testing.T, vuln, pkg, text, url, node string) {
		d := &Destination{s: Settings{Grouping: PerVulnerabilityPerNode}}
		n := &dest.Node{ID: node, Name: node, Kind: "host", Cluster: text}
		m := dest.Message{Event: dest.EventFindingNew, Title: text, Text: text, URL: url, Node: n,
			Fields: map[string]string{text: url}}
		fnd := &dest.Finding{VulnID: vuln, Package: pkg, Version: text, Summary: text, URL: url, Aliases: []string{text}, FixedVersion: text}
		for _, s := range []subject{d.findingSubject(m, fnd), d.eventSubject(m)} {
			for _, doc := range []document{s.desc, s.again, s.fixed} {
				b, err := json.Marshal(doc.adf())
				if err != nil {
					t.Fatal(err)
				}
				if err := jirafake.ValidateADF(b); err != nil {
					t.Fatalf("invalid ADF: %v\n%s", err, b)
				}
				_ = doc.wiki()
			}
			if len([]rune(s.summary)) > 255 || strings.ContainsAny(s.summary, "\r\n") || s.summary == "" {
				t.Fatalf("summary %q", s.summary)
			}
		}
		esc := wikiEscape(oneLine(text))
		for i := 0; i < len(esc); i++ {
			if strings.IndexByte(`{}[]|!`, esc[i]) >= 0 && (i == 0 || esc[i-1] != '\\') {
				t.Fatalf("unescaped %q in %q", esc[i], esc)
			}
			if esc[i] == '\\' {
				i++ // the escaped character
			}
		}
	})
}
