package jirafake

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidateADF(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		// The example of POST /rest/api/3/issue/{issueIdOrKey}/comment in the OpenAPI document.
		{"openapi_example", `{"content":[{"content":[{"text":"Lorem ipsum dolor sit amet","type":"text"}],"type":"paragraph"}],"type":"doc","version":1}`, ""},
		{"rich", `{"type":"doc","version":1,"content":[
			{"type":"heading","attrs":{"level":2},"content":[{"type":"text","text":"CVE"}]},
			{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph","content":[
				{"type":"text","text":"a","marks":[{"type":"strong"}]},
				{"type":"text","text":"b","marks":[{"type":"code"},{"type":"link","attrs":{"href":"https://x"}}]},
				{"type":"hardBreak"}]}]}]},
			{"type":"rule"},{"type":"codeBlock","attrs":{"language":"text"},"content":[{"type":"text","text":"x"}]},
			{"type":"paragraph"}]}`, ""},
		{"string", `"plain text"`, "Operation value must be an Atlassian Document"},
		{"version_2", `{"type":"doc","version":2,"content":[]}`, "doc: version 2, want 1"},
		{"no_content", `{"type":"doc","version":1}`, `doc: missing property "content"`},
		{"extra_property", `{"type":"doc","version":1,"content":[],"title":"x"}`, `doc: unknown property "title"`},
		{"empty_text", `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":""}]}]}`, "text must be a non-empty string"},
		{"code_and_strong", `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"x","marks":[{"type":"code"},{"type":"strong"}]}]}]}`, "a code mark combines only with link, not strong"},
		{"link_without_href", `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"x","marks":[{"type":"link","attrs":{}}]}]}]}`, `missing attribute "href"`},
		{"heading_level_7", `{"type":"doc","version":1,"content":[{"type":"heading","attrs":{"level":7},"content":[]}]}`, "level 7, want 1 to 6"},
		{"heading_without_attrs", `{"type":"doc","version":1,"content":[{"type":"heading","content":[]}]}`, `missing property "attrs"`},
		{"empty_list", `{"type":"doc","version":1,"content":[{"type":"bulletList","content":[]}]}`, "content needs at least one listItem"},
		{"list_item_starts_with_list", `{"type":"doc","version":1,"content":[{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"bulletList","content":[]}]}]}]}`, "not allowed here"},
		{"text_at_top", `{"type":"doc","version":1,"content":[{"type":"text","text":"x"}]}`, `node type "text" not allowed here`},
		{"table_unsupported", `{"type":"doc","version":1,"content":[{"type":"table","content":[]}]}`, "valid ADF but not supported by jirafake"},
		{"duplicate_mark", `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"x","marks":[{"type":"em"},{"type":"em"}]}]}]}`, "mark given twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateADF([]byte(tc.doc))
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseJQL(t *testing.T) {
	for _, tc := range []struct {
		name, q string
		want    *Query
		err     string
	}{
		{"riskmap_search", `project = "SEC" AND labels = "riskmap-0123" AND statusCategory != Done ORDER BY created ASC`, &Query{
			Clauses: []Clause{{"project", "=", []string{"SEC"}}, {"labels", "=", []string{"riskmap-0123"}}, {"statuscategory", "!=", []string{"Done"}}},
			Order:   []Order{{Field: "created"}},
		}, ""},
		{"in_lists_and_escapes", `labels in ("a\"b", 'c') and status NOT IN (Done) order by key desc, created`, &Query{
			Clauses: []Clause{{"labels", "in", []string{`a"b`, "c"}}, {"status", "not in", []string{"Done"}}},
			Order:   []Order{{Field: "key", Desc: true}, {Field: "created"}},
		}, ""},
		{"empty", ``, &Query{}, ""},
		{"unknown_field", `reporter = me`, nil, "Field 'reporter' does not exist"},
		{"or_unsupported", `project = A OR project = B`, nil, "expecting AND or ORDER BY"},
		{"unterminated", `labels = "abc`, nil, "unterminated string"},
		{"reserved", `labels ~ abc`, nil, "reserved JQL character"},
		{"order_without_by", `project = A ORDER created`, nil, "expecting 'BY'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseJQL(tc.q)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseJQL(f *testing.F) {
	f.Add(`project = "SEC" AND labels = "riskmap-0123" AND statusCategory != Done ORDER BY created ASC`)
	f.Add(`labels in ("a\"b", 'c') and status NOT IN (Done) order by key desc, created`)
	f.Add(`"`)
	f.Fuzz(func(t *testing.T, q string) {
		got, err := ParseJQL(q)
		if err == nil && got == nil {
			t.Fatal("nil query without an error")
		}
	})
}

func FuzzValidateADF(f *testing.F) {
	f.Add(`{"type":"doc","version":1,"content":[{"type":"heading","attrs":{"level":2},"content":[{"type":"text","text":"x","marks":[{"type":"link","attrs":{"href":"h"}}]}]}]}`)
	f.Add(`{"type":"doc","version":1,"content":[{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph"}]}]}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		_ = ValidateADF([]byte(doc))
		_ = ADFText([]byte(doc))
	})
}
