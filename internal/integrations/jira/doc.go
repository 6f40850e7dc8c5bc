package jira

import (
	"net/url"
	"strings"
	"unicode"
)

// A document is the rich text of an issue description or a comment, built
// once and rendered for each deployment: Atlassian Document Format for
// Jira Cloud (REST v3), wiki markup for Data Center (REST v2).
type document []block

type block struct {
	kind  string // heading, paragraph, bullets, rule
	level int    // heading level, 1 to 6
	text  []span // heading and paragraph
	items [][]span
}

// A span is a run of text: plain, strong, code, or a link.
type span struct {
	text   string
	href   string
	strong bool
	code   bool
}

func heading(level int, s ...span) block { return block{kind: "heading", level: level, text: s} }
func para(s ...span) block               { return block{kind: "paragraph", text: s} }
func bullets(items ...[]span) block      { return block{kind: "bullets", items: items} }
func rule() block                        { return block{kind: "rule"} }
func plain(s string) span                { return span{text: s} }
func strong(s string) span               { return span{text: s, strong: true} }
func code(s string) span                 { return span{text: s, code: true} }
func link(text, href string) span        { return span{text: text, href: href} }
func line(s ...span) []span              { return s }

// adf renders the document as an ADF "doc" node (version 1). Empty text
// runs are dropped (ADF text nodes need at least one character) and a code
// run carries no other mark than a link (the ADF schema's code_inline_node).
func (d document) adf() map[string]any {
	content := []any{}
	for _, b := range d {
		switch b.kind {
		case "heading":
			content = append(content, map[string]any{"type": "heading", "attrs": map[string]any{"level": b.level}, "content": adfInline(b.text)})
		case "paragraph":
			content = append(content, map[string]any{"type": "paragraph", "content": adfInline(b.text)})
		case "bullets":
			if len(b.items) == 0 {
				continue
			}
			var items []any
			for _, it := range b.items {
				items = append(items, map[string]any{"type": "listItem", "content": []any{
					map[string]any{"type": "paragraph", "content": adfInline(it)},
				}})
			}
			content = append(content, map[string]any{"type": "bulletList", "content": items})
		case "rule":
			content = append(content, map[string]any{"type": "rule"})
		}
	}
	return map[string]any{"type": "doc", "version": 1, "content": content}
}

func adfInline(spans []span) []any {
	out := []any{}
	for _, s := range spans {
		t := oneLine(s.text)
		if t == "" {
			continue
		}
		var marks []any
		if s.code {
			marks = append(marks, map[string]any{"type": "code"})
		} else if s.strong {
			marks = append(marks, map[string]any{"type": "strong"})
		}
		if href := safeURL(s.href); href != "" {
			marks = append(marks, map[string]any{"type": "link", "attrs": map[string]any{"href": href}})
		}
		n := map[string]any{"type": "text", "text": t}
		if marks != nil {
			n["marks"] = marks
		}
		out = append(out, n)
	}
	return out
}

// wiki renders the document as Jira wiki markup, the text format of
// Data Center's REST v2 descriptions and comments.
func (d document) wiki() string {
	var b strings.Builder
	for i, bl := range d {
		if i > 0 {
			b.WriteString("\n")
		}
		switch bl.kind {
		case "heading":
			b.WriteString("h" + string(rune('0'+min(max(bl.level, 1), 6))) + ". ")
			wikiInline(&b, bl.text)
			b.WriteString("\n")
		case "paragraph":
			wikiInline(&b, bl.text)
			b.WriteString("\n")
		case "bullets":
			for _, it := range bl.items {
				b.WriteString("* ")
				wikiInline(&b, it)
				b.WriteString("\n")
			}
		case "rule":
			b.WriteString("----\n")
		}
	}
	return b.String()
}

func wikiInline(b *strings.Builder, spans []span) {
	for _, s := range spans {
		t := oneLine(s.text)
		if t == "" {
			continue
		}
		var out string
		switch {
		case s.code:
			// {{...}} is monospace; braces inside would end it early.
			out = "{{" + wikiEscape(t) + "}}"
		case s.strong:
			out = "*" + wikiEscape(t) + "*"
		default:
			out = wikiEscape(t)
		}
		if href := safeURL(s.href); href != "" {
			out = "[" + out + "|" + strings.NewReplacer("|", "%7C", "]", "%5D", "[", "%5B").Replace(href) + "]"
		}
		b.WriteString(out)
	}
}

// wikiEscape makes text literal in wiki markup: characters that open
// macros, links, tables and images are always escaped with a backslash;
// the emphasis characters only where they could start or end markup (at a
// word boundary), so "CVE-2024-1234" stays readable in the raw text.
func wikiEscape(s string) string {
	var b strings.Builder
	r := []rune(s)
	for i, c := range r {
		switch c {
		case '\\', '{', '}', '[', ']', '|', '!':
			b.WriteRune('\\')
		case '*', '_', '+', '^', '~', '?', '-', '#':
			prevWord := i > 0 && isWord(r[i-1])
			nextWord := i+1 < len(r) && isWord(r[i+1])
			if !prevWord || !nextWord {
				b.WriteRune('\\')
			}
		}
		b.WriteRune(c)
	}
	return b.String()
}

func isWord(c rune) bool { return unicode.IsLetter(c) || unicode.IsDigit(c) }

// safeURL returns an http(s) link target re-encoded by net/url (so it has
// no spaces or control characters), or "" for anything else.
func safeURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.String()
}

// oneLine folds line breaks and control characters into spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
