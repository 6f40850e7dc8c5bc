package v2

import (
	"fmt"
	"strings"
)

// maxLinkHeader bounds what is parsed of a Link header.
const maxLinkHeader = 8 << 10

// NextLink returns the target of the rel="next" link among Link header
// values (RFC 8288), as the distribution spec paginates `_catalog` and
// `tags/list`: `</v2/_catalog?last=b&n=100>; rel="next"`. It returns ""
// when there is no next link. The target is returned as written (often a
// path relative to the registry); the caller resolves it.
func NextLink(values []string) (string, error) {
	for _, v := range values {
		if len(v) > maxLinkHeader {
			return "", fmt.Errorf("Link: longer than %d bytes", maxLinkHeader)
		}
		links, err := parseLinks(v)
		if err != nil {
			return "", fmt.Errorf("Link %q: %w", truncate(v, 200), err)
		}
		for _, l := range links {
			for _, rel := range strings.Fields(strings.ToLower(l.params["rel"])) {
				if rel == "next" {
					return l.target, nil
				}
			}
		}
	}
	return "", nil
}

type link struct {
	target string
	params map[string]string
}

func parseLinks(s string) ([]link, error) {
	var out []link
	p := &lexer{s: s}
	for {
		p.skipSpaceAndCommas()
		if p.done() {
			return out, nil
		}
		if p.peek() != '<' {
			return nil, fmt.Errorf("expected '<' at offset %d, found %q", p.i, p.peek())
		}
		end := strings.IndexByte(p.s[p.i:], '>')
		if end < 0 {
			return nil, fmt.Errorf("unterminated '<' at offset %d", p.i)
		}
		l := link{target: strings.TrimSpace(p.s[p.i+1 : p.i+end]), params: map[string]string{}}
		if strings.ContainsAny(l.target, "<\r\n\x00") {
			return nil, fmt.Errorf("link target %q has forbidden characters", truncate(l.target, 100))
		}
		p.i += end + 1
		for {
			p.skipSpace()
			if p.done() || p.peek() == ',' {
				break
			}
			if p.peek() != ';' {
				return nil, fmt.Errorf("expected ';' at offset %d, found %q", p.i, p.peek())
			}
			p.i++
			p.skipSpace()
			name := strings.ToLower(p.token())
			if name == "" {
				if p.done() {
					return nil, fmt.Errorf("empty parameter at the end")
				}
				return nil, fmt.Errorf("unexpected %q at offset %d", p.peek(), p.i)
			}
			p.skipSpace()
			val := ""
			if !p.done() && p.peek() == '=' {
				p.i++
				p.skipSpace()
				if !p.done() && p.peek() == '"' {
					v, err := p.quoted()
					if err != nil {
						return nil, err
					}
					val = v
				} else {
					val = p.token()
				}
			}
			// RFC 8288: the first occurrence of a parameter counts.
			if _, seen := l.params[name]; !seen {
				l.params[name] = val
			}
		}
		out = append(out, l)
		if len(out) > 64 {
			return nil, fmt.Errorf("more than 64 links")
		}
	}
}
