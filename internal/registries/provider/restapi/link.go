package restapi

import (
	"fmt"
	"net/url"
	"strings"
)

// NextLink finds the target of the rel="next" link in Link header values
// (RFC 8288: `<https://h/api?page=2>; rel="next", <...>; rel="last"`),
// resolved against the URL of the request that got them. It returns ""
// when there is no next link, and an error when the next link is
// malformed or leaves the request's scheme and host: the client's
// credentials go only where the account points.
func NextLink(values []string, reqURL *url.URL) (string, error) {
	for _, v := range values {
		for len(v) > 0 {
			target, params, rest, err := linkValue(v)
			if err != nil {
				return "", err
			}
			v = rest
			if !relIsNext(params) {
				continue
			}
			return Next(target, reqURL)
		}
	}
	return "", nil
}

// Next resolves a next-page URL an answer gave (a Link target, or a
// "next" member of a JSON answer) against the request's URL and refuses
// one that leaves the request's scheme and host. "" stays "".
func Next(raw string, reqURL *url.URL) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("next page %q: not a URL", clip(raw))
	}
	if reqURL != nil {
		u = reqURL.ResolveReference(u)
		if u.Scheme != reqURL.Scheme || u.Host != reqURL.Host {
			return "", fmt.Errorf("next page %s leaves %s", Redact(u.String()), reqURL.Host)
		}
	}
	return u.String(), nil
}

// linkValue splits the first link-value off s: its target, its parameters
// (as written, e.g. `rel="next"`) and the rest after a comma.
func linkValue(s string) (target string, params []string, rest string, err error) {
	s = strings.TrimLeft(s, " \t,")
	if s == "" {
		return "", nil, "", nil
	}
	if s[0] != '<' {
		return "", nil, "", fmt.Errorf("link header: want <target> at %q", clip(s))
	}
	end := strings.IndexByte(s, '>')
	if end < 0 {
		return "", nil, "", fmt.Errorf("link header: unclosed <target> in %q", clip(s))
	}
	target, s = s[1:end], s[end+1:]
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return target, params, "", nil
		}
		switch s[0] {
		case ',':
			return target, params, s[1:], nil
		case ';':
			s = s[1:]
		default:
			return "", nil, "", fmt.Errorf("link header: unexpected %q", clip(s))
		}
		// One parameter: name [= token | quoted-string].
		i := 0
		quoted := false
		for i < len(s) {
			c := s[i]
			if c == '"' {
				quoted = !quoted
			} else if c == '\\' && quoted && i+1 < len(s) {
				i++
			} else if !quoted && (c == ';' || c == ',') {
				break
			}
			i++
		}
		if quoted {
			return "", nil, "", fmt.Errorf("link header: unclosed quote in %q", clip(s))
		}
		params = append(params, strings.TrimSpace(s[:i]))
		s = s[i:]
	}
}

// relIsNext reports whether one of params is rel with "next" among its
// space-separated relation types.
func relIsNext(params []string) bool {
	for _, p := range params {
		name, val, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
			continue
		}
		val = strings.Trim(strings.TrimSpace(val), `"`)
		for _, r := range strings.Fields(val) {
			if strings.EqualFold(r, "next") {
				return true
			}
		}
	}
	return false
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
