package v2

import (
	"errors"
	"fmt"
	"strings"
)

// Challenge is one authentication challenge of a WWW-Authenticate header
// (RFC 9110 section 11.6.1): a scheme and its parameters, names in lower
// case.
type Challenge struct {
	Scheme string // lower case: basic, bearer
	Params map[string]string
}

// maxChallengeHeader bounds what is parsed of a header.
const maxChallengeHeader = 8 << 10

// ParseChallenges parses the challenges of WWW-Authenticate header values,
// as registries send them: `Bearer realm="https://auth.example/token",
// service="registry.example",scope="repository:a/b:pull"` or `Basic
// realm="Registry"`. Quoted values may hold commas and backslash escapes;
// token68 credentials (a bare value after the scheme) are kept under the
// empty name. A malformed header is an error naming what is wrong.
func ParseChallenges(values []string) ([]Challenge, error) {
	var out []Challenge
	for _, v := range values {
		if len(v) > maxChallengeHeader {
			return nil, fmt.Errorf("WWW-Authenticate: longer than %d bytes", maxChallengeHeader)
		}
		cs, err := parseChallengeLine(v)
		if err != nil {
			return nil, fmt.Errorf("WWW-Authenticate %q: %w", truncate(v, 200), err)
		}
		out = append(out, cs...)
	}
	return out, nil
}

func parseChallengeLine(s string) ([]Challenge, error) {
	var out []Challenge
	p := &lexer{s: s}
	for {
		p.skipSpaceAndCommas()
		if p.done() {
			return out, nil
		}
		scheme := p.token()
		if scheme == "" {
			return nil, fmt.Errorf("expected an authentication scheme at offset %d, found %q", p.i, p.peek())
		}
		if len(out) == 16 {
			return nil, errors.New("more than 16 challenges")
		}
		c := Challenge{Scheme: strings.ToLower(scheme), Params: map[string]string{}}
		first := true
		for {
			save := p.i
			p.skipSpaceAndCommas()
			if p.done() {
				break
			}
			name := p.token()
			if name == "" {
				return nil, fmt.Errorf("unexpected %q at offset %d", p.peek(), p.i)
			}
			p.skipSpace()
			eq := 0
			for p.i+eq < len(p.s) && p.s[p.i+eq] == '=' {
				eq++
			}
			if eq == 0 {
				if first && (p.done() || p.peek() == ',') {
					c.Params[""] = name // token68 without padding
					first = false
					continue
				}
				p.i = save // the next challenge's scheme
				break
			}
			after := p.i + eq
			for after < len(p.s) && (p.s[after] == ' ' || p.s[after] == '\t') {
				after++
			}
			if eq > 1 || after == len(p.s) || p.s[after] == ',' {
				if !first {
					return nil, fmt.Errorf("parameter %q without a value", name)
				}
				c.Params[""] = name + strings.Repeat("=", eq) // token68 with padding
				p.i += eq
				first = false
				continue
			}
			p.i = after
			var val string
			if p.peek() == '"' {
				v, err := p.quoted()
				if err != nil {
					return nil, err
				}
				val = v
			} else {
				val = p.token()
				if val == "" {
					return nil, fmt.Errorf("unexpected %q at offset %d", p.peek(), p.i)
				}
			}
			key := strings.ToLower(name)
			if _, dup := c.Params[key]; dup {
				return nil, fmt.Errorf("parameter %q given twice", key)
			}
			c.Params[key] = val
			first = false
			p.skipSpace()
			if !p.done() && p.peek() != ',' {
				return nil, fmt.Errorf("expected a comma at offset %d, found %q", p.i, p.peek())
			}
		}
		out = append(out, c)
	}
}

type lexer struct {
	s string
	i int
}

func (p *lexer) done() bool { return p.i >= len(p.s) }
func (p *lexer) peek() byte { return p.s[p.i] }

func (p *lexer) skipSpace() {
	for !p.done() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *lexer) skipSpaceAndCommas() {
	for !p.done() && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == ',') {
		p.i++
	}
}

// tchar per RFC 9110, plus '/' which token68 allows.
func tchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~/:", c) >= 0
}

func (p *lexer) token() string {
	start := p.i
	for !p.done() && tchar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

func (p *lexer) quoted() (string, error) {
	start := p.i
	p.i++ // opening quote
	var b strings.Builder
	for !p.done() {
		c := p.s[p.i]
		switch c {
		case '"':
			p.i++
			return b.String(), nil
		case '\\':
			p.i++
			if p.done() {
				return "", fmt.Errorf("unterminated escape in the quoted value at offset %d", start)
			}
			b.WriteByte(p.s[p.i])
		default:
			if c < 0x20 && c != '\t' || c == 0x7f {
				return "", fmt.Errorf("control character in the quoted value at offset %d", p.i)
			}
			b.WriteByte(c)
		}
		p.i++
	}
	return "", fmt.Errorf("unterminated quoted value at offset %d", start)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
