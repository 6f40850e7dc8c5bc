package jirafake

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Query is a parsed JQL query of the subset the fake understands:
// clauses "field = value", "field != value", "field in (v, ...)" and
// "field not in (v, ...)" joined by AND, then an optional
// "ORDER BY field [ASC|DESC], ...". Fields: project, key, labels,
// status, statusCategory, issuetype, created. Values are bare words or
// strings in double or single quotes with backslash escapes, as in Jira.
type Query struct {
	Clauses []Clause
	Order   []Order
}

// Clause is one condition.
type Clause struct {
	Field  string // lower case
	Op     string // =, !=, in, not in
	Values []string
}

// Order is one ORDER BY term.
type Order struct {
	Field string
	Desc  bool
}

var jqlFields = []string{"project", "key", "labels", "status", "statuscategory", "issuetype", "created"}

// ParseJQL parses q, answering errors worded like Jira's.
func ParseJQL(q string) (*Query, error) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	out := &Query{}
	for !p.done() && !p.isWord("order") {
		if len(out.Clauses) > 0 {
			if !p.isWord("and") {
				return nil, fmt.Errorf("Error in the JQL Query: expecting AND or ORDER BY but got '%s'. (the fake understands AND only)", p.peek().text)
			}
			p.next()
		}
		c, err := p.clause()
		if err != nil {
			return nil, err
		}
		out.Clauses = append(out.Clauses, c)
	}
	if p.isWord("order") {
		p.next()
		if !p.isWord("by") {
			return nil, fmt.Errorf("Error in the JQL Query: expecting 'BY' after 'ORDER'")
		}
		p.next()
		for {
			t := p.next()
			if t.kind != word {
				return nil, fmt.Errorf("Error in the JQL Query: expecting a field name in ORDER BY, got '%s'", t.text)
			}
			f := strings.ToLower(t.text)
			if !slices.Contains(jqlFields, f) {
				return nil, fmt.Errorf("Not able to sort using field '%s'.", t.text)
			}
			o := Order{Field: f}
			if p.isWord("asc") {
				p.next()
			} else if p.isWord("desc") {
				p.next()
				o.Desc = true
			}
			out.Order = append(out.Order, o)
			if p.peek().kind != comma {
				break
			}
			p.next()
		}
	}
	if !p.done() {
		return nil, fmt.Errorf("Error in the JQL Query: unexpected '%s' at the end of the query", p.peek().text)
	}
	return out, nil
}

func (p *parser) clause() (Clause, error) {
	t := p.next()
	if t.kind != word && t.kind != str {
		return Clause{}, fmt.Errorf("Error in the JQL Query: expecting a field name but got '%s'", t.text)
	}
	c := Clause{Field: strings.ToLower(t.text)}
	if !slices.Contains(jqlFields, c.Field) {
		return Clause{}, fmt.Errorf("Field '%s' does not exist or you do not have permission to view it.", t.text)
	}
	op := p.next()
	switch {
	case op.kind == operator:
		c.Op = op.text
	case op.kind == word && strings.EqualFold(op.text, "in"):
		c.Op = "in"
	case op.kind == word && strings.EqualFold(op.text, "not") && p.isWord("in"):
		p.next()
		c.Op = "not in"
	default:
		return Clause{}, fmt.Errorf("Error in the JQL Query: expecting an operator after '%s' but got '%s'", t.text, op.text)
	}
	if c.Op == "=" || c.Op == "!=" {
		v := p.next()
		if v.kind != word && v.kind != str {
			return Clause{}, fmt.Errorf("Error in the JQL Query: expecting a value after '%s %s'", t.text, c.Op)
		}
		c.Values = []string{v.text}
		return c, nil
	}
	if p.next().kind != lparen {
		return Clause{}, fmt.Errorf("Error in the JQL Query: expecting '(' after %s", strings.ToUpper(c.Op))
	}
	for {
		v := p.next()
		if v.kind != word && v.kind != str {
			return Clause{}, fmt.Errorf("Error in the JQL Query: expecting a value in the list")
		}
		c.Values = append(c.Values, v.text)
		sep := p.next()
		if sep.kind == rparen {
			return c, nil
		}
		if sep.kind != comma {
			return Clause{}, fmt.Errorf("Error in the JQL Query: expecting ',' or ')' in the list")
		}
	}
}

type tokKind int

const (
	eof tokKind = iota
	word
	str
	operator
	lparen
	rparen
	comma
)

type token struct {
	kind tokKind
	text string
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) done() bool  { return p.i >= len(p.toks) }
func (p *parser) peek() token { return p.at(p.i) }
func (p *parser) next() token { t := p.at(p.i); p.i++; return t }
func (p *parser) at(i int) token {
	if i >= len(p.toks) {
		return token{kind: eof, text: "<EOF>"}
	}
	return p.toks[i]
}
func (p *parser) isWord(w string) bool {
	t := p.peek()
	return t.kind == word && strings.EqualFold(t.text, w)
}

func lex(q string) ([]token, error) {
	var out []token
	r := []rune(q)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '(':
			out = append(out, token{lparen, "("})
			i++
		case c == ')':
			out = append(out, token{rparen, ")"})
			i++
		case c == ',':
			out = append(out, token{comma, ","})
			i++
		case c == '=':
			out = append(out, token{operator, "="})
			i++
		case c == '!':
			if i+1 < len(r) && r[i+1] == '=' {
				out = append(out, token{operator, "!="})
				i += 2
				continue
			}
			return nil, fmt.Errorf("Error in the JQL Query: The character '!' is a reserved JQL character.")
		case c == '"' || c == '\'':
			var b strings.Builder
			j := i + 1
			for ; j < len(r) && r[j] != c; j++ {
				if r[j] == '\\' {
					j++
					if j >= len(r) {
						break
					}
					switch r[j] {
					case 'n':
						b.WriteRune('\n')
					case 't':
						b.WriteRune('\t')
					default:
						b.WriteRune(r[j])
					}
					continue
				}
				b.WriteRune(r[j])
			}
			if j >= len(r) {
				return nil, fmt.Errorf("Error in the JQL Query: unterminated string starting at character %d", i)
			}
			out = append(out, token{str, b.String()})
			i = j + 1
		case strings.ContainsRune("<>~[]{}*/%+^$#@;&|?", c):
			return nil, fmt.Errorf("Error in the JQL Query: The character '%c' is a reserved JQL character; the fake does not implement it.", c)
		default:
			j := i
			for j < len(r) && !unicode.IsSpace(r[j]) && !strings.ContainsRune("()=,!\"'<>~", r[j]) {
				j++
			}
			out = append(out, token{word, string(r[i:j])})
			i = j
		}
	}
	return out, nil
}
