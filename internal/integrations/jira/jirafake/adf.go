package jirafake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// ValidateADF checks that raw is an Atlassian Document Format document as
// the published JSON schema (@atlaskit/adf-schema, json-schema/v1) defines
// it, for the nodes and marks an integration writes: doc, paragraph,
// heading, bulletList, orderedList, listItem, blockquote, codeBlock, rule,
// text, hardBreak; marks strong, em, strike, underline, code, link. Every
// object is closed (additionalProperties: false), text is never empty, a
// code mark combines only with a link, and the document is version 1.
// Other valid nodes (tables, panels, mentions, media...) are refused as
// unsupported by this fake, so a payload using them fails loudly.
func ValidateADF(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("Operation value must be an Atlassian Document (see the Atlassian Document Format)")
	}
	if err := keys(doc, "doc", []string{"type", "version", "content"}, []string{"type", "version", "content"}); err != nil {
		return err
	}
	if doc["type"] != "doc" {
		return fmt.Errorf("doc: type %v, want doc", doc["type"])
	}
	if n, ok := doc["version"].(json.Number); !ok || n.String() != "1" {
		return fmt.Errorf("doc: version %v, want 1", doc["version"])
	}
	return eachNode(doc, "doc", func(n map[string]any, path string) error {
		return block(n, path, []string{"paragraph", "heading", "bulletList", "orderedList", "blockquote", "codeBlock", "rule"})
	}, false)
}

func block(n map[string]any, path string, allowed []string) error {
	t, _ := n["type"].(string)
	path += "/" + t
	if !slices.Contains(allowed, t) {
		if slices.Contains(unsupported, t) {
			return fmt.Errorf("%s: node type %q is valid ADF but not supported by jirafake", path, t)
		}
		return fmt.Errorf("%s: node type %q not allowed here (want one of %s)", path, t, strings.Join(allowed, ", "))
	}
	switch t {
	case "paragraph":
		if err := keys(n, path, []string{"type", "content", "attrs", "marks"}, []string{"type"}); err != nil {
			return err
		}
		if err := noMarks(n, path); err != nil {
			return err
		}
		if err := attrs(n, path, map[string]string{"localId": "string"}, nil); err != nil {
			return err
		}
		return eachNode(n, path, inline, true)
	case "heading":
		if err := keys(n, path, []string{"type", "content", "attrs", "marks"}, []string{"type", "attrs"}); err != nil {
			return err
		}
		if err := noMarks(n, path); err != nil {
			return err
		}
		if err := attrs(n, path, map[string]string{"level": "number", "localId": "string"}, []string{"level"}); err != nil {
			return err
		}
		lv, _ := n["attrs"].(map[string]any)["level"].(json.Number).Int64()
		if lv < 1 || lv > 6 {
			return fmt.Errorf("%s: level %v, want 1 to 6", path, n["attrs"].(map[string]any)["level"])
		}
		return eachNode(n, path, inline, true)
	case "bulletList", "orderedList":
		if err := keys(n, path, []string{"type", "content", "attrs"}, []string{"type", "content"}); err != nil {
			return err
		}
		spec := map[string]string{"localId": "string"}
		if t == "orderedList" {
			spec["order"] = "number"
		}
		if err := attrs(n, path, spec, nil); err != nil {
			return err
		}
		if c, _ := n["content"].([]any); len(c) == 0 {
			return fmt.Errorf("%s: content needs at least one listItem", path)
		}
		return eachNode(n, path, func(c map[string]any, p string) error {
			return block(c, p, []string{"listItem"})
		}, false)
	case "listItem":
		if err := keys(n, path, []string{"type", "content", "attrs"}, []string{"type", "content"}); err != nil {
			return err
		}
		if err := attrs(n, path, map[string]string{"localId": "string"}, nil); err != nil {
			return err
		}
		c, _ := n["content"].([]any)
		if len(c) == 0 {
			return fmt.Errorf("%s: content needs at least one node", path)
		}
		first := true
		return eachNode(n, path, func(c map[string]any, p string) error {
			allowed := []string{"paragraph", "bulletList", "orderedList", "codeBlock"}
			if first {
				allowed, first = []string{"paragraph", "codeBlock"}, false
			}
			return block(c, p, allowed)
		}, false)
	case "blockquote":
		if err := keys(n, path, []string{"type", "content", "attrs"}, []string{"type", "content"}); err != nil {
			return err
		}
		return eachNode(n, path, func(c map[string]any, p string) error {
			return block(c, p, []string{"paragraph", "bulletList", "orderedList", "codeBlock"})
		}, false)
	case "codeBlock":
		if err := keys(n, path, []string{"type", "content", "attrs", "marks"}, []string{"type"}); err != nil {
			return err
		}
		if err := noMarks(n, path); err != nil {
			return err
		}
		if err := attrs(n, path, map[string]string{"language": "string", "uniqueId": "string", "localId": "string"}, nil); err != nil {
			return err
		}
		return eachNode(n, path, func(c map[string]any, p string) error {
			if c["type"] != "text" {
				return fmt.Errorf("%s: codeBlock holds text only, not %v", p, c["type"])
			}
			if m, _ := c["marks"].([]any); len(m) > 0 {
				return fmt.Errorf("%s/text: no marks inside a codeBlock", p)
			}
			return inline(c, p)
		}, true)
	case "rule":
		if err := keys(n, path, []string{"type", "attrs"}, []string{"type"}); err != nil {
			return err
		}
		return attrs(n, path, map[string]string{"localId": "string"}, nil)
	}
	return nil
}

var unsupported = []string{"blockCard", "embedCard", "expand", "mediaGroup", "mediaSingle", "panel", "table", "taskList",
	"decisionList", "extension", "bodiedExtension", "layoutSection", "mention", "emoji", "date", "status", "inlineCard",
	"placeholder", "inlineExtension", "mediaInline"}

func inline(n map[string]any, path string) error {
	t, _ := n["type"].(string)
	path += "/" + t
	switch t {
	case "text":
		if err := keys(n, path, []string{"type", "text", "marks"}, []string{"type", "text"}); err != nil {
			return err
		}
		s, ok := n["text"].(string)
		if !ok || s == "" {
			return fmt.Errorf("%s: text must be a non-empty string", path)
		}
		ms, ok := n["marks"].([]any)
		if n["marks"] != nil && !ok {
			return fmt.Errorf("%s: marks must be an array", path)
		}
		var seen []string
		for i, m := range ms {
			mm, ok := m.(map[string]any)
			if !ok {
				return fmt.Errorf("%s/marks[%d]: not an object", path, i)
			}
			mt, _ := mm["type"].(string)
			mp := fmt.Sprintf("%s/marks[%d]/%s", path, i, mt)
			if slices.Contains(seen, mt) {
				return fmt.Errorf("%s: mark given twice", mp)
			}
			seen = append(seen, mt)
			switch mt {
			case "strong", "em", "strike", "underline", "code":
				if err := keys(mm, mp, []string{"type"}, []string{"type"}); err != nil {
					return err
				}
			case "link":
				if err := keys(mm, mp, []string{"type", "attrs"}, []string{"type", "attrs"}); err != nil {
					return err
				}
				if err := attrs(mm, mp, map[string]string{"href": "string", "title": "string", "id": "string", "collection": "string", "occurrenceKey": "string"}, []string{"href"}); err != nil {
					return err
				}
			default:
				return fmt.Errorf("%s: mark type %q not supported by jirafake", mp, mt)
			}
		}
		if slices.Contains(seen, "code") {
			for _, m := range seen {
				if m != "code" && m != "link" {
					return fmt.Errorf("%s: a code mark combines only with link, not %s", path, m)
				}
			}
		}
		return nil
	case "hardBreak":
		if err := keys(n, path, []string{"type", "attrs"}, []string{"type"}); err != nil {
			return err
		}
		if a, ok := n["attrs"].(map[string]any); ok {
			if txt, ok := a["text"]; ok && txt != "\n" {
				return fmt.Errorf("%s: attrs.text must be a newline", path)
			}
		}
		return attrs(n, path, map[string]string{"text": "string", "localId": "string"}, nil)
	}
	if slices.Contains(unsupported, t) {
		return fmt.Errorf("%s: inline node %q is valid ADF but not supported by jirafake", path, t)
	}
	return fmt.Errorf("%s: %q is not an inline node", path, t)
}

// eachNode applies f to every element of n's content, which must be an
// array of objects (optional when maybeEmpty).
func eachNode(n map[string]any, path string, f func(map[string]any, string) error, optional bool) error {
	raw, present := n["content"]
	if !present && optional {
		return nil
	}
	c, ok := raw.([]any)
	if !ok {
		return fmt.Errorf("%s: content must be an array", path)
	}
	for i, x := range c {
		o, ok := x.(map[string]any)
		if !ok {
			return fmt.Errorf("%s/content[%d]: not an object", path, i)
		}
		if err := f(o, fmt.Sprintf("%s/content[%d]", path, i)); err != nil {
			return err
		}
	}
	return nil
}

func keys(n map[string]any, path string, allowed, required []string) error {
	for k := range n {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("%s: unknown property %q", path, k)
		}
	}
	for _, k := range required {
		if _, ok := n[k]; !ok {
			return fmt.Errorf("%s: missing property %q", path, k)
		}
	}
	return nil
}

func noMarks(n map[string]any, path string) error {
	if m, ok := n["marks"]; ok {
		if a, ok := m.([]any); !ok || len(a) > 0 {
			return fmt.Errorf("%s: block marks not supported by jirafake", path)
		}
	}
	return nil
}

// attrs checks n's attrs object against a closed spec of property types.
func attrs(n map[string]any, path string, spec map[string]string, required []string) error {
	raw, ok := n["attrs"]
	if !ok {
		if len(required) > 0 {
			return fmt.Errorf("%s: missing attrs", path)
		}
		return nil
	}
	a, ok := raw.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: attrs must be an object", path)
	}
	for k, v := range a {
		typ, ok := spec[k]
		if !ok {
			return fmt.Errorf("%s: unknown attribute %q", path, k)
		}
		switch typ {
		case "string":
			if _, ok := v.(string); !ok {
				return fmt.Errorf("%s: attribute %q must be a string", path, k)
			}
		case "number":
			if _, ok := v.(json.Number); !ok {
				return fmt.Errorf("%s: attribute %q must be a number", path, k)
			}
		}
	}
	for _, k := range required {
		if _, ok := a[k]; !ok {
			return fmt.Errorf("%s: missing attribute %q", path, k)
		}
	}
	return nil
}

// ADFText returns the text of an ADF document, blocks separated by
// newlines, for tests to read what an issue or comment says.
func ADFText(raw []byte) string {
	var n any
	if json.Unmarshal(raw, &n) != nil {
		return ""
	}
	var b strings.Builder
	var walk func(any)
	walk = func(x any) {
		o, ok := x.(map[string]any)
		if !ok {
			return
		}
		if s, ok := o["text"].(string); ok && o["type"] == "text" {
			b.WriteString(s)
		}
		if c, ok := o["content"].([]any); ok {
			for _, y := range c {
				walk(y)
			}
		}
		switch o["type"] {
		case "paragraph", "heading", "listItem", "codeBlock", "rule":
			b.WriteString("\n")
		}
	}
	walk(n)
	return b.String()
}
